//! cniAttach: the pod got an IP from the range its CNI allocates from (see
//! [`crate::pod_network`]) that no other running pod has; the sandbox's network namespace
//! holds it and the node reaches it (where a probe sees the node); the pod's own interfaces
//! hold it (through `pods/exec`); and a second pod, on another node where there is one,
//! reaches it.

use k8s_openapi::api::core::v1::Pod;

use super::{api, failed, from, node_of, result, unavailable};
use crate::observation::{Observation, Probe};
use crate::pod_network::{RangeVerdict, range_verdict};
use crate::result::{Source, StageResult};
use crate::stage::Stage;

fn pod_ip(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

/// The range `ip` is held to on `node`: see [`crate::pod_network`].
fn range(obs: &Observation, pod: &Pod, ip: &str, node: &str) -> RangeVerdict {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return RangeVerdict::Outside {
            why: "any range: it is not an IP address".into(),
        };
    };
    let spec = obs
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))
        .and_then(|n| n.spec.as_ref());
    let pod_cidrs: Vec<ipnet::IpNet> = spec
        .and_then(|s| s.pod_cidrs.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let neighbours: Vec<std::net::IpAddr> = obs
        .pods
        .iter()
        .filter(|p| p.metadata.uid != pod.metadata.uid)
        .filter(|p| node_of(p) == Some(node) && !host_network(p) && !finished(p))
        .filter_map(|p| pod_ip(p)?.parse().ok())
        .collect();
    range_verdict(ip, node, &pod_cidrs, &obs.pod_networks, &neighbours)
}

fn finished(p: &Pod) -> bool {
    crate::path::finished(p)
}

fn host_network(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|sp| sp.host_network)
        .unwrap_or(false)
}

pub(super) fn cni_attach(obs: &Observation) -> StageResult {
    let Some(s) = obs.sightings.iter().find(|s| pod_ip(&s.pod).is_some()) else {
        let refusals = super::network_refusals(obs);
        if let Some(last) = refusals.last() {
            let evidence = refusals
                .iter()
                .map(|e| {
                    api(
                        obs,
                        format!("{} from {}: {}", e.reason, e.component, e.message),
                        Some(e.at_ms),
                    )
                })
                .collect();
            let r = result(
                Stage::CniAttach,
                false,
                "CNI ADD failed".into(),
                None,
                evidence,
            );
            return failed(
                r,
                format!(
                    "the pod network refused the sandbox {} time(s): {}",
                    refusals.len(),
                    last.message
                ),
                "the runtime ran the CNI plugins of its conflist and one failed its ADD: read the plugin's error, then the conflist and the plugins' binaries",
            );
        }
        let r = result(
            Stage::CniAttach,
            false,
            "no pod IP".into(),
            None,
            vec![api(obs, "status.podIP never set", None)],
        );
        return failed(
            r,
            "the pod never got an IP",
            "the runtime calls the CNI plugins while it creates the sandbox: check the CNI configuration and the sandbox events",
        );
    };
    let ip = pod_ip(&s.pod).unwrap_or_default().to_string();
    let node = node_of(&s.pod).unwrap_or_default().to_string();
    let mut f = Findings {
        evidence: vec![api(
            obs,
            format!("status.podIP = {ip} on {node}"),
            Some(s.at_ms),
        )],
        problems: Vec::new(),
    };
    if host_network(&s.pod) {
        // A hostNetwork pod has the node's address: no plugin ran, nothing else applies.
        f.evidence.push(api(obs, "hostNetwork pod: it uses the node's network, so the podCIDR, uniqueness and the pod's own interfaces do not apply", None));
    } else {
        address(obs, &s.pod, &ip, &node, &mut f);
        sandbox(obs, &ip, &mut f);
        inside(obs, &ip, &mut f);
        peer(obs, &ip, &mut f);
    }
    let r = result(
        Stage::CniAttach,
        true,
        format!("IP {ip}"),
        Some(s.at_ms),
        f.evidence,
    );
    with_problems(r, f.problems)
}

/// What the checks found: evidence, and problems with their hints.
struct Findings {
    evidence: Vec<crate::result::Evidence>,
    problems: Vec<(String, &'static str)>,
}

/// The address itself: in the range the CNI allocates from, and no other running pod's.
fn address(obs: &Observation, pod: &Pod, ip: &str, node: &str, f: &mut Findings) {
    let range = range(obs, pod, ip, node);
    if range.ok() {
        f.evidence.push(api(obs, range.words(ip, node), None));
    } else {
        f.problems.push((
            range.words(ip, node),
            "the IPAM plugin hands out addresses from another range than the one it allocates the node's pods from",
        ));
    }
    // Finished pods keep their last podIP while the address is reused: not a clash.
    let twins: Vec<String> = obs
        .pods
        .iter()
        .filter(|p| {
            p.metadata.uid != pod.metadata.uid
                && pod_ip(p) == Some(ip)
                && !host_network(p)
                && !finished(p)
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if twins.is_empty() {
        f.evidence
            .push(api(obs, format!("no other running pod has {ip}"), None));
    } else {
        f.problems.push((
            format!("{ip} is also the IP of {}", twins.join(", ")),
            "IPAM handed out the same address twice",
        ));
    }
}

/// Interfaces in words, and whether one (other than `lo`) holds `ip`.
fn interfaces(addresses: &[(String, String)], ip: &str) -> (String, bool) {
    let holds = addresses
        .iter()
        .any(|(i, a)| i != "lo" && a.split('/').next() == Some(ip));
    let words: Vec<String> = addresses.iter().map(|(i, a)| format!("{i} {a}")).collect();
    (words.join(", "), holds)
}

/// The sandbox's network namespace, from the node (the runtime's word), and the node's reach.
fn sandbox(obs: &Observation, ip: &str, f: &mut Findings) {
    let n = match &obs.netns {
        Probe::Seen(n) => n,
        Probe::Unavailable(why) => return f.evidence.push(unavailable(Source::Netns, why)),
    };
    let (words, holds) = interfaces(&n.addresses, ip);
    f.evidence.push(from(
        Source::Netns,
        &n.provider,
        format!("the sandbox's netns holds {words}"),
        n.at_ms,
    ));
    if !holds {
        f.problems.push((
            format!("the sandbox's network namespace does not hold {ip}"),
            "the reported IP is not configured in the pod: the plugin's result and the namespace disagree",
        ));
    }
    match &n.reach {
        Some(Ok(how)) => f.evidence.push(from(
            Source::Netns,
            &n.provider,
            format!("the node reaches {ip}: {how}"),
            n.at_ms,
        )),
        Some(Err(why)) => f.problems.push((
            format!("the node cannot reach {ip}: {why}"),
            "the plugin must connect the pod to the node (bridge, veth, routes)",
        )),
        None => {}
    }
}

/// The pod's own interfaces, from inside it through the API.
fn inside(obs: &Observation, ip: &str, f: &mut Findings) {
    let n = match &obs.in_pod_net {
        Probe::Seen(n) => n,
        Probe::Unavailable(why) => return f.evidence.push(unavailable(Source::Netns, why)),
    };
    let (words, holds) = interfaces(&n.addresses, ip);
    f.evidence.push(from(
        Source::Netns,
        &obs.apiserver,
        format!("inside the pod (pods/exec ip -o addr): {words}"),
        n.at_ms,
    ));
    if !holds {
        f.problems.push((
            format!("the pod's own network namespace does not hold {ip}"),
            "the address in the pod's status is not on any interface of the pod: the plugin's result and what it configured disagree",
        ));
    }
}

/// A second pod, on another node where there is one, reaching this one.
fn peer(obs: &Observation, ip: &str, f: &mut Findings) {
    let p = match &obs.peer {
        Probe::Seen(p) => p,
        Probe::Unavailable(why) => return f.evidence.push(unavailable(Source::Netns, why)),
    };
    let placed = match &p.same_node {
        Some(why) => format!("on the same node {} ({why})", p.node),
        None => format!("on another node, {}", p.node),
    };
    match &p.reached {
        Ok(how) => f.evidence.push(from(
            Source::Netns,
            &obs.apiserver,
            format!("pod {} {placed} reached {ip}: {how}", p.pod),
            p.at_ms,
        )),
        Err(why) => f.problems.push((
            format!("pod {} {placed} cannot reach {ip}: {why}", p.pod),
            "every pod must reach every other pod, on any node, without NAT: check the CNI's routes (or tunnels) between nodes and any network policy",
        )),
    }
}

/// Fails `r` with every problem found, first one's hint.
fn with_problems(r: StageResult, problems: Vec<(String, &'static str)>) -> StageResult {
    match problems.first() {
        None => r,
        Some((_, hint)) => {
            let hint = hint.to_string();
            let messages: Vec<String> = problems.into_iter().map(|(m, _)| m).collect();
            failed(r, messages.join("; "), hint)
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::result::StageStatus;

    #[rstest]
    #[case::in_pod_cidr_and_unique(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::outside_pod_cidr(
        |o: &mut Observation| {
            set_pod_ip(o, "10.244.1.5");
            if let Probe::Seen(n) = &mut o.netns {
                n.addresses[1].1 = "10.244.1.5/24".into();
            }
        },
        StageStatus::Failed,
        Some("10.244.1.5 is outside node-1's podCIDR 10.244.0.0/24"),
        Some("the IPAM plugin hands out addresses from another range")
    )]
    #[case::duplicate_ip(
        |o: &mut Observation| o.pods.push(other_pod("twin", POD_IP)),
        StageStatus::Failed,
        Some("10.244.0.5 is also the IP of twin"),
        Some("IPAM handed out the same address twice")
    )]
    #[case::same_ip_as_a_host_network_pod(
        |o: &mut Observation| {
            let mut host = other_pod("node-exporter", POD_IP);
            if let Some(spec) = host.spec.as_mut() {
                spec.host_network = Some(true);
            }
            o.pods.push(host);
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::no_ip(
        |o: &mut Observation| each_web(o, |p| {
            if let Some(st) = p.status.as_mut() {
                st.pod_ip = None;
            }
        }),
        StageStatus::Failed,
        Some("the pod never got an IP"),
        Some("check the CNI configuration and the sandbox events")
    )]
    #[case::empty_ip(
        |o: &mut Observation| set_pod_ip(o, ""),
        StageStatus::Failed,
        Some("the pod never got an IP"),
        None
    )]
    #[case::netns_without_the_ip(
        |o: &mut Observation| {
            if let Probe::Seen(n) = &mut o.netns {
                n.addresses.retain(|(i, _)| i == "lo");
            }
        },
        StageStatus::Failed,
        Some("the sandbox's network namespace does not hold 10.244.0.5"),
        Some("the plugin's result and the namespace disagree")
    )]
    #[case::node_cannot_reach_the_pod(
        |o: &mut Observation| {
            if let Probe::Seen(n) = &mut o.netns {
                n.reach = Some(Err("no answer within 1 s".into()));
            }
        },
        StageStatus::Failed,
        Some("the node cannot reach 10.244.0.5: no answer within 1 s"),
        Some("the plugin must connect the pod to the node")
    )]
    #[case::reach_not_probed(
        |o: &mut Observation| {
            if let Probe::Seen(n) = &mut o.netns {
                n.reach = None;
            }
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::netns_probe_unavailable(
        |o: &mut Observation| o.netns = Probe::Unavailable("no access to the node".into()),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::pod_does_not_hold_its_ip(
        |o: &mut Observation| {
            if let Probe::Seen(n) = &mut o.in_pod_net {
                n.addresses[1].1 = "10.244.0.77/24".into();
            }
        },
        StageStatus::Failed,
        Some("the pod's own network namespace does not hold 10.244.0.5"),
        Some("not on any interface of the pod")
    )]
    #[case::in_pod_probe_unavailable(
        |o: &mut Observation| o.in_pod_net = Probe::Unavailable("the simulated runtime runs no process".into()),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::a_pod_on_another_node_cannot_reach_it(
        |o: &mut Observation| {
            if let Probe::Seen(p) = &mut o.peer {
                p.reached = Err("neither an ICMP echo nor a TCP connection was answered within 2 s".into());
            }
        },
        StageStatus::Failed,
        Some("pod podcheck-peers/peer-node-2 on another node, node-2 cannot reach 10.244.0.5: neither"),
        Some("every pod must reach every other pod, on any node")
    )]
    #[case::peer_probe_unavailable(
        |o: &mut Observation| o.peer = Probe::Unavailable("the simulated runtime runs no process".into()),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::node_without_pod_cidr(
        |o: &mut Observation| {
            if let Some(spec) = o.nodes[0].spec.as_mut() {
                spec.pod_cidr = None;
            }
        },
        StageStatus::Passed,
        None,
        None
    )]
    fn cni_attach_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::CniAttach,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn cni_attach_cites_the_range_the_uniqueness_and_the_netns() {
        let r = verdict(&Case::new().build(), &running(), Stage::CniAttach);
        assert_eq!(r.observed, "IP 10.244.0.5");
        assert_eq!(r.at_ms, Some(120.0));
        evidence(&r, Source::Api, "status.podIP = 10.244.0.5 on node-1");
        evidence(
            &r,
            Source::Api,
            "10.244.0.5 lies in node-1's podCIDR 10.244.0.0/24",
        );
        evidence(&r, Source::Api, "no other running pod has 10.244.0.5");
        let netns = evidence(
            &r,
            Source::Netns,
            "the sandbox's netns holds lo 127.0.0.1/8, eth0 10.244.0.5/24",
        );
        assert_eq!(netns.provider, "ptp 1.6");
        evidence(
            &r,
            Source::Netns,
            "inside the pod (pods/exec ip -o addr): lo 127.0.0.1/8, eth0 10.244.0.5/24",
        );
        evidence(
            &r,
            Source::Netns,
            "pod podcheck-peers/peer-node-2 on another node, node-2 reached 10.244.0.5: an ICMP echo was answered",
        );
    }

    #[test]
    fn cni_attach_says_when_the_range_was_not_checked() {
        let mut obs = running();
        if let Some(spec) = obs.nodes[0].spec.as_mut() {
            spec.pod_cidr = None;
            spec.pod_cidrs = None;
        }
        let r = verdict(&Case::new().build(), &obs, Stage::CniAttach);
        evidence(
            &r,
            Source::Api,
            "node-1 has no podCIDR and no pod network holds 10.244.0.5; the range was not checked",
        );
    }

    #[test]
    fn a_host_network_pod_is_not_held_to_the_pod_cidr() {
        let mut o = running();
        each_web(&mut o, |p| {
            p.spec.as_mut().unwrap().host_network = Some(true)
        });
        set_pod_ip(&mut o, "172.18.0.2");
        let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
        assert_eq!(r.status, StageStatus::Passed, "{r:?}");
        evidence(&r, Source::Api, "hostNetwork pod");
    }

    #[test]
    fn ipv6_pod_ips_are_checked_against_ipv6_ranges() {
        let mut o = running();
        set_pod_ip(&mut o, "fd00:10:244::5");
        o.netns = Probe::Unavailable("not inspected".into());
        for n in &mut o.nodes {
            n.spec.as_mut().unwrap().pod_cidr = Some("fd00:10:244::/64".into());
        }
        let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
        assert_eq!(r.status, StageStatus::Passed, "{r:?}");
    }

    /// Calico's IPAM hands out /26 blocks of its IPPool, not the node's podCIDR: a pod IP in
    /// the cluster's pod network passes, and says why the podCIDR does not apply.
    #[test]
    fn an_ip_from_a_pod_network_of_the_cni_own_passes() {
        let mut o = running();
        o.pods.retain(|p| p.metadata.name.as_deref() == Some("web"));
        set_pod_ip(&mut o, "192.168.35.70");
        o.netns = Probe::Unavailable("not inspected".into());
        o.pod_networks = vec![crate::pod_network::PodNetwork {
            cidr: "192.168.0.0/16".parse().unwrap(),
            source: "Calico IPPool default-ipv4-ippool".into(),
        }];
        let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
        assert_eq!(r.status, StageStatus::Passed, "{r:?}");
        evidence(
            &r,
            Source::Api,
            "192.168.35.70 lies outside node-1's podCIDR 10.244.0.0/24 but in the pod network 192.168.0.0/16 (Calico IPPool default-ipv4-ippool)",
        );
        // A neighbour on the podCIDR shows this CNI allocates from it after all.
        o.pods.push(other_pod("neighbour", "10.244.0.9"));
        let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
        assert_eq!(r.status, StageStatus::Failed, "{r:?}");
    }

    #[test]
    fn a_finished_pod_with_the_same_ip_is_no_clash() {
        let mut o = running();
        let mut done = other_pod("old", "10.244.0.5");
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        o.pods.push(done);
        assert_eq!(
            verdict(&Case::new().build(), &o, Stage::CniAttach).status,
            StageStatus::Passed
        );
    }

    #[test]
    fn every_cni_problem_is_reported() {
        let mut o = running();
        set_pod_ip(&mut o, "10.9.0.5");
        o.pods.push(other_pod("twin", "10.9.0.5"));
        let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
        let m = r.message.unwrap();
        assert!(
            m.contains("outside") && m.contains("also the IP of twin"),
            "{m}"
        );
    }
}
