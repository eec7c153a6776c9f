//! DNS from the pod's point of view: its resolv.conf read through `pods/exec`, then each
//! name resolved as the pod's resolver would — inside the pod (busybox `nslookup`, one
//! query per candidate of the search path, each with its own deadline) or, where the pod
//! cannot run a lookup, from the observer with the pod's search rules.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use podcheck_core::load::{CaseSpec, Lookup};
use podcheck_core::observation::{DnsRead, ExpectedAnswer, LookupRead, Probe};
use podcheck_core::resolv::{self, LookupPlan, QueryType, ResolvConf};
use podcheck_core::result::Provider;
use podcheck_core::suite::LookupAddress;

use super::exec::{Exec, InPod};
use super::ms;
use crate::target::Target;

/// How long one query may take: a candidate outside the cluster zone goes to the upstream
/// resolvers, which may be slow or out of reach (an air-gapped cluster); the lookup goes on
/// with the next candidate, as the pod's resolver would.
const QUERY_DEADLINE: Duration = Duration::from_secs(8);
/// How long reading resolv.conf may take.
const READ_DEADLINE: Duration = Duration::from_secs(10);

/// The Services DNS depends on, as read once the pod runs.
pub(super) struct DnsFacts<'a> {
    /// `default/kubernetes`, which every pod must resolve.
    pub kubernetes: Option<&'a Service>,
    pub admin: &'a kube::Client,
    pub namespace: &'a str,
}

/// DNS from the pod's point of view: its resolv.conf read from inside, then each name
/// resolved with the resolv.conf search rules against the cluster DNS.
pub(super) async fn dns_probe(
    target: &Target,
    in_pod: &InPod<'_>,
    case: &CaseSpec,
    facts: &DnsFacts<'_>,
    kube_dns: Option<&Service>,
    t0: std::time::Instant,
) -> Probe<DnsRead> {
    const SOURCE: &str = "pods/exec cat /etc/resolv.conf";
    let resolv_conf = in_pod
        .output(&["cat", "/etc/resolv.conf"], READ_DEADLINE)
        .await;
    let Ok(text) = &resolv_conf else {
        return Probe::Seen(DnsRead {
            resolv_source: SOURCE.into(),
            resolv_conf: resolv_conf.clone(),
            server: String::new(),
            provider: dns_provider(target),
            lookups: Vec::new(),
            at_ms: ms(t0),
        });
    };
    let conf = ResolvConf::parse(text);
    let zone = conf.cluster_domain(facts.namespace);
    let wanted = wanted(case, facts, zone.as_deref()).await;
    let nameserver = conf.nameservers.first().cloned().unwrap_or_default();
    // Inside the pod first: the pod's own resolver path, through the pod's network.
    if let Some(lookups) = resolve_in_pod(in_pod, &conf, &wanted).await {
        let server = dns_provider(target);
        return Probe::Seen(DnsRead {
            resolv_source: SOURCE.into(),
            resolv_conf,
            server: format!("{nameserver} from inside the pod (busybox nslookup via pods/exec)"),
            provider: Provider {
                component: "dns".into(),
                name: format!("in-pod lookup (busybox nslookup) → {}", server.name),
                real: true,
                version: server.version,
            },
            lookups,
            at_ms: ms(t0),
        });
    }
    // The embedded control plane says where the server behind the DNS ClusterIP answers on
    // this machine; only a loopback address is ever queried from here.
    let endpoint = kube_dns
        .and_then(|s| {
            s.metadata
                .annotations
                .as_ref()?
                .get(podcheck_controlplane::DNS_ENDPOINT_ANNOTATION)
                .cloned()
        })
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .filter(|a| a.ip().is_loopback());
    let Some(endpoint) = endpoint else {
        return Probe::Unavailable(
            "the cluster DNS is not reachable from the observer, and in-pod lookups need a real runtime"
                .into(),
        );
    };
    let mut lookups = Vec::new();
    for w in wanted {
        let mut plan = w.plan(&conf);
        while let Some((name, qtype)) = plan.next_query() {
            let answer = resolve(endpoint, name, qtype).await;
            plan.record(answer);
        }
        lookups.push(w.read(plan));
    }
    Probe::Seen(DnsRead {
        resolv_source: SOURCE.into(),
        resolv_conf,
        server: format!("{endpoint} (behind {nameserver})"),
        provider: dns_provider(target),
        lookups,
        at_ms: ms(t0),
    })
}

/// A name to look up, with what it must resolve to.
struct Wanted {
    name: String,
    expected: ExpectedAnswer,
}

impl Wanted {
    /// The queries a resolver in the pod makes for it; none when its address is unknown.
    fn plan(&self, conf: &ResolvConf) -> LookupPlan {
        let (candidates, types) = match &self.expected {
            ExpectedAnswer::Unknown(_) => (Vec::new(), Vec::new()),
            ExpectedAnswer::Nothing => (conf.candidates(&self.name), resolv::query_types(&[])),
            ExpectedAnswer::OneOf { addresses, .. } => {
                (conf.candidates(&self.name), resolv::query_types(addresses))
            }
        };
        LookupPlan::new(candidates, types)
    }

    fn read(self, plan: LookupPlan) -> LookupRead {
        LookupRead {
            name: self.name,
            attempts: plan.attempts(),
            expected: self.expected,
        }
    }
}

/// `kubernetes.default` (every pod must resolve it to the `kubernetes` Service) and the
/// case's own names, with the cluster domain filled in and each Service read.
async fn wanted(case: &CaseSpec, facts: &DnsFacts<'_>, zone: Option<&str>) -> Vec<Wanted> {
    let mut wanted = vec![Wanted {
        name: "kubernetes.default".into(),
        expected: match facts.kubernetes {
            Some(s) => service_answer(s, "default/kubernetes"),
            None => ExpectedAnswer::Unknown("the cluster has no Service default/kubernetes".into()),
        },
    }];
    for lookup in &case.dns_lookups {
        wanted.push(case_lookup(lookup, facts, zone).await);
    }
    wanted
}

async fn case_lookup(lookup: &Lookup, facts: &DnsFacts<'_>, zone: Option<&str>) -> Wanted {
    let name = match zone {
        Some(z) => lookup.name_in(z),
        None if lookup.needs_cluster_domain() => {
            return Wanted {
                name: lookup.name.clone(),
                expected: ExpectedAnswer::Unknown(
                    "the cluster domain is unknown: the pod's search path does not name it".into(),
                ),
            };
        }
        None => lookup.name.clone(),
    };
    let expected = match &lookup.address {
        None => ExpectedAnswer::Nothing,
        Some(LookupAddress::Ip(ip)) => ExpectedAnswer::OneOf {
            addresses: vec![*ip],
            source: "the case's address".into(),
        },
        Some(LookupAddress::Service { namespace, name }) => {
            let ns = namespace.as_deref().unwrap_or(facts.namespace);
            let services: Api<Service> = Api::namespaced(facts.admin.clone(), ns);
            match services.get_opt(name).await {
                Ok(Some(s)) => service_answer(&s, &format!("{ns}/{name}")),
                Ok(None) => ExpectedAnswer::Unknown(format!("there is no Service {ns}/{name}")),
                Err(e) => {
                    ExpectedAnswer::Unknown(format!("Service {ns}/{name} could not be read: {e}"))
                }
            }
        }
    };
    Wanted { name, expected }
}

/// What a Service's name must resolve to: its ClusterIPs.
fn service_answer(s: &Service, name: &str) -> ExpectedAnswer {
    let spec = s.spec.as_ref();
    let ips: Vec<String> = spec
        .and_then(|sp| sp.cluster_ips.clone())
        .or_else(|| spec.and_then(|sp| sp.cluster_ip.clone()).map(|ip| vec![ip]))
        .unwrap_or_default();
    if ips.iter().any(|ip| ip == "None") {
        return ExpectedAnswer::Unknown(format!(
            "Service {name} is headless: its name resolves to its endpoints, not to a ClusterIP"
        ));
    }
    let addresses: Vec<IpAddr> = ips.iter().filter_map(|ip| ip.parse().ok()).collect();
    if addresses.is_empty() {
        return ExpectedAnswer::Unknown(format!("Service {name} has no ClusterIP"));
    }
    ExpectedAnswer::OneOf {
        addresses,
        source: format!("the ClusterIP of Service {name}"),
    }
}

/// Every lookup, query by query, inside the pod; None when the pod cannot run nslookup
/// (the simulated runtime runs no process).
async fn resolve_in_pod(
    in_pod: &InPod<'_>,
    conf: &ResolvConf,
    wanted: &[Wanted],
) -> Option<Vec<LookupRead>> {
    let mut reads = Vec::new();
    let mut ran_once = false;
    for w in wanted {
        let mut plan = w.plan(conf);
        while let Some((name, qtype)) = plan.next_query() {
            let command = resolv::nslookup_command(name, qtype);
            let command: Vec<&str> = command.iter().map(String::as_str).collect();
            let answer = match in_pod.run(&command, QUERY_DEADLINE).await {
                Exec::Ran { stdout, exit_code } => {
                    ran_once = true;
                    resolv::parse_nslookup(&stdout, exit_code)
                }
                Exec::CouldNot(why) if !ran_once => {
                    tracing::debug!(%why, "no in-pod lookup");
                    return None;
                }
                Exec::CouldNot(why) => Err(why),
            };
            plan.record(answer);
        }
        reads.push(
            Wanted {
                name: w.name.clone(),
                expected: w.expected.clone(),
            }
            .read(plan),
        );
    }
    Some(reads)
}

fn dns_provider(target: &Target) -> Provider {
    target
        .info
        .providers
        .iter()
        .find(|p| p.component == "dns")
        .cloned()
        .unwrap_or(Provider {
            component: "dns".into(),
            name: "cluster DNS".into(),
            real: true,
            version: String::new(),
        })
}

/// One query from the observer, as the pod's resolver would send it.
async fn resolve(
    server: std::net::SocketAddr,
    name: &str,
    qtype: QueryType,
) -> Result<Vec<IpAddr>, String> {
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut ns = NameServerConfig::udp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 2;
    opts.timeout = Duration::from_secs(2);
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let resolver = hickory_resolver::TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| format!("resolver: {e}"))?;
    let record_type = match qtype {
        QueryType::A => hickory_resolver::proto::rr::RecordType::A,
        QueryType::Aaaa => hickory_resolver::proto::rr::RecordType::AAAA,
    };
    let lookup = async {
        resolver.lookup(name, record_type).await.map(|l| {
            l.answers()
                .iter()
                .filter_map(|r| r.data.ip_addr())
                .collect::<Vec<IpAddr>>()
        })
    };
    match tokio::time::timeout(QUERY_DEADLINE, lookup).await {
        Ok(Ok(ips)) => Ok(ips),
        Ok(Err(e)) if e.is_nx_domain() => Err("NXDOMAIN".into()),
        Ok(Err(e)) if e.is_no_records_found() => Err("No answer".into()),
        Ok(Err(e)) if e.to_string().contains("Refused") => Err("REFUSED".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}
