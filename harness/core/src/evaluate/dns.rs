//! dns: the pod's resolv.conf is the cluster DNS's (nameserver, search path, ndots) when its
//! dnsPolicy asks for it, and every lookup the case names answers as expected.

use super::{api, failed, from, result, unavailable};
use crate::observation::{DnsRead, ExpectedAnswer, LookupAttempt, LookupRead, Observation, Probe};
use crate::resolv::ResolvConf;
use crate::result::{Evidence, Source, StageResult};
use crate::stage::Stage;

/// Whether the kubelet gives the pod the cluster DNS: ClusterFirst (unless on the host
/// network, where it means Default) and ClusterFirstWithHostNet.
fn uses_cluster_dns(obs: &Observation) -> bool {
    let (policy, host) = dns_policy(obs);
    match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host,
        _ => false,
    }
}

/// The pod's dnsPolicy (ClusterFirst when it names none) and whether it is on the host's
/// network.
fn dns_policy(obs: &Observation) -> (&str, bool) {
    let spec = obs.sightings.first().and_then(|s| s.pod.spec.as_ref());
    let host = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    (policy, host)
}

/// Nothing could run in the pod because its container had exited: DNS was not checked, and
/// the exit is statusUpdate's to report (the kubelet's status), not a DNS failure.
fn not_checked(obs: &Observation) -> Option<StageResult> {
    let exited = super::status_update::exited_container(obs)?;
    Some(super::skipped(
        Stage::Dns,
        "",
        format!("not checked: {exited}, so nothing could run in the pod; statusUpdate reports it"),
    ))
}

pub(super) fn dns(obs: &Observation) -> StageResult {
    let nothing_ran = match &obs.dns {
        Probe::Seen(d) => d.resolv_conf.is_err(),
        Probe::Unavailable(_) => true,
    };
    if nothing_ran && let Some(r) = not_checked(obs) {
        return r;
    }
    let d = match &obs.dns {
        Probe::Seen(d) => d,
        Probe::Unavailable(why) => {
            let r = result(
                Stage::Dns,
                false,
                "not checked".into(),
                None,
                vec![unavailable(Source::Dns, why)],
            );
            return failed(
                r,
                format!("DNS could not be checked from inside the pod: {why}"),
                "the dns stage needs pods/exec on the target (and a running container)",
            );
        }
    };
    let mut evidence = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut zone = None;
    match &d.resolv_conf {
        Ok(text) => {
            evidence.push(api(
                obs,
                format!("{}: {}", d.resolv_source, text.trim().replace('\n', "; ")),
                Some(d.at_ms),
            ));
            let conf = crate::resolv::ResolvConf::parse(text);
            zone = conf.cluster_domain(&obs.namespace);
            if uses_cluster_dns(obs) {
                cluster_first(obs, &conf, &mut evidence, &mut problems);
            }
        }
        Err(e) => problems.push((
            format!("could not read /etc/resolv.conf in the pod: {e}"),
            "exec into the container failed".into(),
        )),
    }
    // Where the pod does not ask the cluster DNS, a Service name that does not resolve is
    // the policy's doing, not the server's.
    let unresolved_hint = match dns_policy(obs) {
        _ if uses_cluster_dns(obs) => {
            "is the cluster DNS serving the Service's namespace and zone?".to_string()
        }
        ("ClusterFirst", true) => "the pod is on the host's network with dnsPolicy ClusterFirst, which there means Default: it asks the node's resolvers, which know no Services (ClusterFirstWithHostNet asks the cluster DNS)".into(),
        (policy, _) => format!(
            "the pod's dnsPolicy is {policy}: its resolv.conf is not the cluster DNS's (Default: the node's resolvers, which know no Services); ClusterFirst, the default, asks the cluster DNS"
        ),
    };
    for l in &d.lookups {
        lookup_verdict(
            d,
            l,
            zone.as_deref(),
            &unresolved_hint,
            &mut evidence,
            &mut problems,
        );
    }
    let observed = if problems.is_empty() {
        format!("{} lookup(s) answered as expected", d.lookups.len())
    } else {
        format!("{} problem(s)", problems.len())
    };
    let r = result(
        Stage::Dns,
        problems.is_empty(),
        observed,
        Some(d.at_ms),
        evidence,
    );
    match problems.into_iter().next() {
        Some((m, h)) => failed(r, m, h),
        None => r,
    }
}

/// What a ClusterFirst pod's resolv.conf must say: the cluster DNS (or a node-local cache
/// of it), the search path of its namespace in the cluster domain, ndots 5.
fn cluster_first(
    obs: &Observation,
    conf: &ResolvConf,
    evidence: &mut Vec<Evidence>,
    problems: &mut Vec<(String, String)>,
) {
    match &obs.cluster_dns_ip {
        Some(dns_ip) if conf.nameservers.contains(dns_ip) => {}
        Some(dns_ip) => match conf.nameservers.iter().find(|n| link_local(n)) {
            Some(cache) => evidence.push(api(
                obs,
                format!(
                    "nameserver {cache} is link-local, as NodeLocal DNSCache's address: a cache on the node that forwards to the cluster DNS {dns_ip}"
                ),
                None,
            )),
            None => problems.push((
                format!(
                    "resolv.conf names {:?}, not the cluster DNS {dns_ip}",
                    conf.nameservers
                ),
                "the kubelet's --cluster-dns does not match the cluster DNS Service".into(),
            )),
        },
        None => evidence.push(api(
            obs,
            "no kube-system/kube-dns Service: the nameserver is not checked, the lookups are",
            None,
        )),
    }
    match conf.cluster_domain(&obs.namespace) {
        Some(zone) => {
            let want = [
                format!("{}.svc.{zone}", obs.namespace),
                format!("svc.{zone}"),
                zone.clone(),
            ];
            if conf.search.len() < 3 || conf.search[..3] != want {
                problems.push((
                    format!(
                        "search path {:?}, expected it to start with {want:?}",
                        conf.search
                    ),
                    "the kubelet builds the search path from the namespace and --cluster-domain"
                        .into(),
                ));
            } else {
                let node = &conf.search[3..];
                let then = if node.is_empty() {
                    String::new()
                } else {
                    format!(", then the node's own search domains {node:?}")
                };
                evidence.push(api(
                    obs,
                    format!("cluster domain {zone}, from the search path the kubelet wrote{then}"),
                    None,
                ));
            }
        }
        None => problems.push((
            format!(
                "search path {:?} does not start with {}.svc.<cluster domain>",
                conf.search, obs.namespace
            ),
            "the kubelet builds the search path from the namespace and --cluster-domain".into(),
        )),
    }
    if conf.ndots != 5 {
        problems.push((
            format!("ndots is {}, expected 5", conf.ndots),
            "ClusterFirst pods get options ndots:5".into(),
        ));
    }
}

fn link_local(address: &str) -> bool {
    address
        .parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_link_local())
}

/// One lookup's verdict. Names outside the cluster zone (the node's search domains, a
/// bare name) go to the upstream resolvers: their timeouts are noted, never blamed on the
/// cluster DNS.
fn lookup_verdict(
    d: &DnsRead,
    l: &LookupRead,
    zone: Option<&str>,
    unresolved_hint: &str,
    evidence: &mut Vec<Evidence>,
    problems: &mut Vec<(String, String)>,
) {
    let tried = l
        .attempts
        .iter()
        .map(|a| match &a.answer {
            Ok(_) => a.candidate.clone(),
            Err(e) => format!("{}: {e}", a.candidate),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut note = |detail: String| evidence.push(from(Source::Dns, &d.provider, detail, d.at_ms));
    let outside: Vec<&LookupAttempt> = l
        .attempts
        .iter()
        .filter(|a| zone.is_some_and(|z| !crate::resolv::in_zone(&a.candidate, z)))
        .filter(|a| matches!(&a.answer, Err(e) if e != "NXDOMAIN"))
        .collect();
    if let (false, Some(z)) = (outside.is_empty(), zone) {
        let names: Vec<String> = outside
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    a.candidate,
                    a.answer.as_ref().err().map_or("", String::as_str)
                )
            })
            .collect();
        note(format!(
            "{}: {} lie outside the cluster zone {z}; the cluster DNS answers those only by forwarding them to its upstream resolvers (REFUSED: it forwards nothing), not a fault of its own zone",
            l.name,
            names.join(", ")
        ));
    }
    match (l.answer(), &l.expected) {
        (_, ExpectedAnswer::Unknown(why)) => problems.push((
            format!(
                "{}: the address it must resolve to is unknown: {why}",
                l.name
            ),
            "create the Service the lookup names in the case's setup, or name its namespace".into(),
        )),
        (Ok(ips), ExpectedAnswer::OneOf { addresses, source }) => {
            let matched = ips.iter().any(|ip| addresses.contains(ip));
            note(format!(
                "{} → {} (tried {tried}){}",
                l.name,
                fmt_ips(&ips),
                if matched {
                    format!(" via {}", d.server)
                } else {
                    String::new()
                }
            ));
            if !matched {
                problems.push((
                    format!(
                        "{} resolved to {}, expected {}, {source}",
                        l.name,
                        fmt_ips(&ips),
                        fmt_ips(addresses)
                    ),
                    "the DNS server's record disagrees with the Service".into(),
                ));
            }
        }
        (Err(e), ExpectedAnswer::OneOf { addresses, source }) => {
            note(format!("{} → {e} (tried {tried})", l.name));
            problems.push((
                format!(
                    "{} did not resolve (expected {}, {source}): {e}",
                    l.name,
                    fmt_ips(addresses)
                ),
                unresolved_hint.to_string(),
            ));
        }
        (Err(e), ExpectedAnswer::Nothing) => {
            note(format!("{} → {e}, as expected (tried {tried})", l.name))
        }
        (Ok(ips), ExpectedAnswer::Nothing) => {
            note(format!("{} → {} (tried {tried})", l.name, fmt_ips(&ips)));
            let by = l.attempts.iter().find(|a| a.answer.is_ok());
            let hint = match (by, zone) {
                (Some(a), Some(z)) if !crate::resolv::in_zone(&a.candidate, z) => format!(
                    "{} is outside the cluster zone: an upstream resolver answers for it (through the node's search domains, or as an absolute name)",
                    a.candidate
                ),
                _ => "the DNS server answers for a name that should not exist".into(),
            };
            problems.push((
                format!(
                    "{} resolved to {}, but the case expects it not to resolve",
                    l.name,
                    fmt_ips(&ips)
                ),
                hint,
            ));
        }
    }
}

fn fmt_ips(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::result::StageStatus;

    #[rstest]
    #[case::cluster_first_and_lookups_as_expected(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::search_line_after_nameserver(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(
            "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:5 timeout:2\n".into()
        ),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::wrong_nameserver(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("10.96.0.10", "8.8.8.8")),
        StageStatus::Failed,
        Some(r#"resolv.conf names ["8.8.8.8"], not the cluster DNS 10.96.0.10"#),
        Some("--cluster-dns")
    )]
    #[case::wrong_search(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("team.svc", "default.svc")),
        StageStatus::Failed,
        Some(r#"search path ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"] does not start with team.svc.<cluster domain>"#),
        Some("--cluster-domain")
    )]
    #[case::search_in_another_order(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("svc.cluster.local cluster.local", "cluster.local svc.cluster.local")),
        StageStatus::Failed,
        Some(r#"search path ["team.svc.cluster.local", "cluster.local", "svc.cluster.local"], expected it to start with ["team.svc.cluster.local", "svc.cluster.local", "cluster.local"]"#),
        Some("--cluster-domain")
    )]
    #[case::short_search(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace(" cluster.local\n", "\n")),
        StageStatus::Failed,
        Some("search path"),
        None
    )]
    #[case::ndots_1(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("ndots:5", "ndots:1")),
        StageStatus::Failed,
        Some("ndots is 1, expected 5"),
        Some("ClusterFirst pods get options ndots:5")
    )]
    #[case::no_options(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("options ndots:5\n", "")),
        StageStatus::Failed,
        Some("ndots is 1, expected 5"),
        None
    )]
    #[case::resolv_conf_unreadable(
        |o: &mut Observation| dns_read(o).resolv_conf = Err("exec: container not running".into()),
        StageStatus::Failed,
        Some("could not read /etc/resolv.conf in the pod: exec: container not running"),
        Some("exec into the container failed")
    )]
    #[case::lookup_answers_another_ip(
        |o: &mut Observation| dns_read(o).lookups[0] = lookup("kubernetes.default", Ok("10.96.0.99"), Some(KUBERNETES_IP)),
        StageStatus::Failed,
        Some("kubernetes.default resolved to 10.96.0.99, expected 10.96.0.1, the case's address"),
        Some("the DNS server's record disagrees with the Service")
    )]
    #[case::lookup_does_not_resolve(
        |o: &mut Observation| dns_read(o).lookups[0] = lookup("kubernetes.default", Err("NXDOMAIN"), Some(KUBERNETES_IP)),
        StageStatus::Failed,
        Some("kubernetes.default did not resolve (expected 10.96.0.1, the case's address): NXDOMAIN"),
        Some("is the cluster DNS serving")
    )]
    #[case::name_expected_not_to_resolve_resolves(
        |o: &mut Observation| {
            let mut l = lookup("nothing-here", Err("NXDOMAIN"), None);
            l.attempts[0].answer = Ok(vec!["10.0.0.1".parse().unwrap()]);
            dns_read(o).lookups[1] = l;
        },
        StageStatus::Failed,
        Some("nothing-here resolved to 10.0.0.1, but the case expects it not to resolve"),
        Some("answers for a name that should not exist")
    )]
    #[case::probe_unavailable(
        |o: &mut Observation| o.dns = Probe::Unavailable("pods/exec is forbidden".into()),
        StageStatus::Failed,
        Some("DNS could not be checked from inside the pod: pods/exec is forbidden"),
        Some("needs pods/exec")
    )]
    #[case::no_cluster_dns_service(
        |o: &mut Observation| {
            o.cluster_dns_ip = None;
            dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("10.96.0.10", "10.0.0.53"));
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::node_local_dns_cache(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("10.96.0.10", "169.254.20.10")),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::another_cluster_domain(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("cluster.local", "corp.example")),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::no_namespace_in_the_search_path(
        |o: &mut Observation| dns_read(o).resolv_conf = Ok("search example.org\nnameserver 10.96.0.10\noptions ndots:5\n".into()),
        StageStatus::Failed,
        Some(r#"search path ["example.org"] does not start with team.svc.<cluster domain>"#),
        Some("--cluster-domain")
    )]
    #[case::unknown_expected_address(
        |o: &mut Observation| dns_read(o).lookups[0].expected = ExpectedAnswer::Unknown("Service team/web: 404 NotFound".into()),
        StageStatus::Failed,
        Some("kubernetes.default: the address it must resolve to is unknown: Service team/web: 404 NotFound"),
        Some("create the Service")
    )]
    #[case::dns_policy_default_is_not_held_to_cluster_first(
        |o: &mut Observation| {
            each_web(o, |p| {
                if let Some(spec) = p.spec.as_mut() {
                    spec.dns_policy = Some("Default".into());
                }
            });
            dns_read(o).resolv_conf = Ok("nameserver 1.1.1.1\n".into());
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::dns_policy_default_and_a_service_name_that_does_not_resolve(
        |o: &mut Observation| {
            each_web(o, |p| {
                if let Some(spec) = p.spec.as_mut() {
                    spec.dns_policy = Some("Default".into());
                }
            });
            dns_read(o).resolv_conf = Ok("nameserver 1.1.1.1\n".into());
            dns_read(o).lookups[0] = lookup("kubernetes.default", Err("NXDOMAIN"), Some(KUBERNETES_IP));
        },
        StageStatus::Failed,
        Some("kubernetes.default did not resolve"),
        Some("the pod's dnsPolicy is Default: its resolv.conf is not the cluster DNS's")
    )]
    fn dns_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::Dns,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn dns_cites_resolv_conf_and_every_lookup() {
        let r = verdict(&Case::new().build(), &running(), Stage::Dns);
        assert_eq!(r.observed, "2 lookup(s) answered as expected");
        assert_eq!(r.at_ms, Some(140.0));
        evidence(
            &r,
            Source::Api,
            "pods/exec cat /etc/resolv.conf: search team.svc.cluster.local svc.cluster.local cluster.local; nameserver 10.96.0.10; options ndots:5",
        );
        let found = evidence(
            &r,
            Source::Dns,
            "kubernetes.default → 10.96.0.1 (tried kubernetes.default.team.svc.cluster.local.: NXDOMAIN, kubernetes.default.) via 10.96.0.10",
        );
        assert_eq!(found.provider, "coredns 1.12.0");
        evidence(&r, Source::Dns, "nothing-here → NXDOMAIN, as expected");
    }

    #[test]
    fn dns_counts_every_problem_and_reports_the_first() {
        let mut obs = running();
        dns_read(&mut obs).resolv_conf = Ok("nameserver 8.8.8.8\nsearch example.org\n".into());
        let r = verdict(&Case::new().build(), &obs, Stage::Dns);
        assert_eq!(r.observed, "3 problem(s)");
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("not the cluster DNS 10.96.0.10"),
            None,
        );
    }

    #[rstest]
    #[case::host_network_cluster_first_means_default(
        Some("ClusterFirst"),
        true,
        "nameserver 1.1.1.1\n",
        StageStatus::Passed
    )]
    #[case::cluster_first_with_host_net_gets_cluster_dns(
        Some("ClusterFirstWithHostNet"),
        true,
        "nameserver 1.1.1.1\n",
        StageStatus::Failed
    )]
    #[case::default_policy_is_not_checked(
        Some("Default"),
        false,
        "nameserver 1.1.1.1\n",
        StageStatus::Passed
    )]
    fn dns_policy_decides_what_resolv_conf_must_say(
        #[case] policy: Option<&str>,
        #[case] host: bool,
        #[case] resolv: &str,
        #[case] status: StageStatus,
    ) {
        let mut o = running();
        each_web(&mut o, |p| {
            let spec = p.spec.as_mut().unwrap();
            spec.dns_policy = policy.map(str::to_string);
            spec.host_network = Some(host);
        });
        dns_read(&mut o).resolv_conf = Ok(resolv.to_string());
        assert_eq!(verdict(&Case::new().build(), &o, Stage::Dns).status, status);
    }

    #[test]
    fn a_name_that_should_not_resolve_but_does_leaves_evidence() {
        let mut o = running();
        dns_read(&mut o)
            .lookups
            .push(lookup("ghost", Ok("10.96.0.99"), None));
        let r = verdict(&Case::new().build(), &o, Stage::Dns);
        assert_eq!(r.status, StageStatus::Failed);
        evidence(&r, Source::Dns, "ghost → 10.96.0.99");
    }

    #[test]
    fn the_node_search_domains_follow_the_cluster_ones() {
        let mut o = running();
        dns_read(&mut o).resolv_conf =
            Ok(RESOLV_CONF.replace("cluster.local\n", "cluster.local corp.example.org\n"));
        let r = verdict(&Case::new().build(), &o, Stage::Dns);
        assert_eq!(r.status, StageStatus::Passed, "{r:?}");
        evidence(
            &r,
            Source::Api,
            "cluster domain cluster.local, from the search path the kubelet wrote, then the node's own search domains [\"corp.example.org\"]",
        );
    }

    /// `no-such-service` also goes out through the node's search domains; a slow upstream
    /// is noted, and the cluster DNS is not blamed for it.
    #[test]
    fn upstream_timeouts_outside_the_zone_are_noted_not_blamed() {
        let mut o = running();
        let mut l = lookup("no-such-service", Err("NXDOMAIN"), None);
        l.attempts.insert(
            1,
            LookupAttempt {
                candidate: "no-such-service.corp.example.org.".into(),
                answer: Err("timed out".into()),
            },
        );
        l.attempts[2].answer = Err("SERVFAIL".into());
        dns_read(&mut o).lookups.push(l);
        let r = verdict(&Case::new().build(), &o, Stage::Dns);
        assert_eq!(r.status, StageStatus::Passed, "{r:?}");
        evidence(
            &r,
            Source::Dns,
            "no-such-service: no-such-service.corp.example.org. (timed out), no-such-service. (SERVFAIL) lie outside the cluster zone cluster.local; the cluster DNS answers those only by forwarding them to its upstream resolvers (REFUSED: it forwards nothing), not a fault of its own zone",
        );
        evidence(&r, Source::Dns, "no-such-service → SERVFAIL, as expected");
    }

    #[test]
    fn a_name_the_upstream_answers_is_named_as_such() {
        let mut o = running();
        dns_read(&mut o)
            .lookups
            .push(lookup("ghost", Ok("192.0.2.9"), None));
        let r = verdict(&Case::new().build(), &o, Stage::Dns);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("ghost resolved to 192.0.2.9, but the case expects it not to resolve"),
            Some("ghost. is outside the cluster zone"),
        );
    }
}
