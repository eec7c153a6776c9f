//! DNS from the pod's point of view, through `pods/exec` (the pod's own resolver path) or,
//! where the pod cannot run a lookup, from the observer with the pod's search rules.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, AttachParams};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::{DnsRead, LookupRead, Probe};
use podcheck_core::resolv::ResolvConf;
use podcheck_core::result::Provider;
use tokio::io::AsyncReadExt;

use super::{PROBE_DEADLINE, ms};
use crate::target::Target;

/// How a command run through `pods/exec` ended.
#[derive(Debug)]
enum Exec {
    /// It ran: its stdout and exit code.
    Ran { stdout: String, exit_code: i32 },
    /// It could not be run (no exec on the target, the runtime cannot, a timeout…).
    CouldNot(String),
}

/// Runs a command in the pod's first container through `pods/exec`.
async fn exec_command(pods: &Api<Pod>, name: &str, command: &[&str]) -> Exec {
    let run = async {
        let mut attached = match pods
            .exec(
                name,
                command.iter().copied(),
                &AttachParams::default()
                    .stdout(true)
                    .stderr(false)
                    .stdin(false),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return Exec::CouldNot(format!("pods/exec failed: {e}")),
        };
        let mut out = String::new();
        if let Some(mut stdout) = attached.stdout()
            && let Err(e) = stdout.read_to_string(&mut out).await
        {
            return Exec::CouldNot(e.to_string());
        }
        let status = match attached.take_status() {
            Some(s) => s.await,
            None => None,
        };
        let _ = attached.join().await;
        match status {
            Some(s) if s.status.as_deref() == Some("Failure") => {
                let exit_code = (s.reason.as_deref() == Some("NonZeroExitCode"))
                    .then(|| {
                        s.details
                            .as_ref()?
                            .causes
                            .as_ref()?
                            .iter()
                            .find(|c| c.reason.as_deref() == Some("ExitCode"))?
                            .message
                            .as_deref()?
                            .parse::<i32>()
                            .ok()
                    })
                    .flatten();
                match exit_code {
                    Some(exit_code) => Exec::Ran {
                        stdout: out,
                        exit_code,
                    },
                    None => Exec::CouldNot(format!(
                        "{} ({})",
                        s.message.unwrap_or_default(),
                        s.reason.unwrap_or_default()
                    )),
                }
            }
            _ => Exec::Ran {
                stdout: out,
                exit_code: 0,
            },
        }
    };
    tokio::time::timeout(PROBE_DEADLINE, run)
        .await
        .unwrap_or_else(|_| {
            Exec::CouldNot(format!("exec did not finish within {PROBE_DEADLINE:?}"))
        })
}

/// Runs a command that must succeed; its stdout, or why not.
async fn exec(pods: &Api<Pod>, name: &str, command: &[&str]) -> Result<String, String> {
    match exec_command(pods, name, command).await {
        Exec::Ran {
            stdout,
            exit_code: 0,
        } => Ok(stdout),
        Exec::Ran { exit_code, .. } => Err(format!(
            "command terminated with non-zero exit code {exit_code}"
        )),
        Exec::CouldNot(why) => Err(why),
    }
}

/// Resolves each name from inside the pod with busybox `nslookup`, one fully qualified
/// candidate at a time in the resolv.conf search order (busybox applies neither `ndots`
/// nor the search list faithfully), all in one exec. None when the pod cannot run it.
async fn lookup_in_pod(
    pods: &Api<Pod>,
    pod: &str,
    names: &[Vec<String>],
) -> Option<Vec<(Result<Vec<std::net::IpAddr>, String>, Vec<String>)>> {
    let script = podcheck_core::resolv::nslookup_script(names);
    let stdout = match exec_command(pods, pod, &["sh", "-c", &script]).await {
        Exec::CouldNot(why) => {
            tracing::debug!(%why, "no in-pod lookup");
            return None;
        }
        Exec::Ran { stdout, .. } => stdout,
    };
    let attempts = podcheck_core::resolv::parse_nslookup_script(&stdout);
    let answers = (0..names.len())
        .map(|i| {
            let mut tried = Vec::new();
            let mut answer = Err("nslookup did not run".to_string());
            for a in attempts.iter().filter(|a| a.name_index == i) {
                tried.push(a.candidate.clone());
                answer = podcheck_core::resolv::parse_nslookup(&a.output, a.exit_code);
                if answer.is_ok() {
                    break;
                }
            }
            (answer, tried)
        })
        .collect();
    Some(answers)
}

/// DNS from the pod's point of view: its resolv.conf read from inside, then each name
/// resolved with the resolv.conf search rules against the cluster DNS.
pub(super) async fn dns_probe(
    target: &Target,
    pods: &Api<Pod>,
    pod: &str,
    case: &CaseSpec,
    kubernetes_ip: Option<&str>,
    kube_dns: Option<&Service>,
    t0: Instant,
) -> Probe<DnsRead> {
    let resolv_conf = exec(pods, pod, &["cat", "/etc/resolv.conf"]).await;
    let mut wanted: Vec<(String, Option<std::net::IpAddr>)> = Vec::new();
    if let Some(ip) = kubernetes_ip.and_then(|ip| ip.parse().ok()) {
        wanted.push(("kubernetes.default".into(), Some(ip)));
    }
    wanted.extend(case.dns_lookups.iter().map(|l| (l.name.clone(), l.address)));
    let Ok(text) = &resolv_conf else {
        return Probe::Seen(DnsRead {
            resolv_source: "pods/exec cat /etc/resolv.conf".into(),
            resolv_conf: resolv_conf.clone(),
            server: String::new(),
            provider: dns_provider(target),
            lookups: Vec::new(),
            at_ms: ms(t0),
        });
    };
    let conf = ResolvConf::parse(text);
    // From inside the pod first: the pod's own resolver path, through the pod's network.
    let candidates: Vec<Vec<String>> = wanted.iter().map(|(n, _)| conf.candidates(n)).collect();
    let in_pod: Option<Vec<LookupRead>> =
        lookup_in_pod(pods, pod, &candidates).await.map(|answers| {
            wanted
                .iter()
                .zip(answers)
                .map(|((name, expected), (answer, tried))| LookupRead {
                    name: name.clone(),
                    tried,
                    answer,
                    expected: *expected,
                })
                .collect()
        });
    if let Some(in_pod) = in_pod {
        return Probe::Seen(DnsRead {
            resolv_source: "pods/exec cat /etc/resolv.conf".into(),
            resolv_conf,
            server: format!(
                "{} from inside the pod (busybox nslookup via pods/exec)",
                conf.nameservers.first().cloned().unwrap_or_default()
            ),
            provider: {
                let server = dns_provider(target);
                Provider {
                    component: "dns".into(),
                    name: format!("in-pod lookup (busybox nslookup) → {}", server.name),
                    real: true,
                    version: server.version,
                }
            },
            lookups: in_pod,
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
        return Probe::Unavailable("the cluster DNS is not reachable from the observer, and in-pod lookups need a real runtime".into());
    };
    let mut lookups = Vec::new();
    for (name, expected) in wanted {
        let tried = conf.candidates(&name);
        let answer = resolve(endpoint, &tried).await;
        lookups.push(LookupRead {
            name,
            tried: answer.1,
            answer: answer.0,
            expected,
        });
    }
    Probe::Seen(DnsRead {
        resolv_source: "pods/exec cat /etc/resolv.conf".into(),
        resolv_conf,
        server: format!(
            "{endpoint} (behind {})",
            conf.nameservers.first().cloned().unwrap_or_default()
        ),
        provider: dns_provider(target),
        lookups,
        at_ms: ms(t0),
    })
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

/// Tries the candidates in order until one answers; NXDOMAIN moves on to the next.
async fn resolve(
    server: std::net::SocketAddr,
    candidates: &[String],
) -> (Result<Vec<std::net::IpAddr>, String>, Vec<String>) {
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
    let resolver = match hickory_resolver::TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    {
        Ok(r) => r,
        Err(e) => return (Err(format!("resolver: {e}")), Vec::new()),
    };
    let mut tried = Vec::new();
    let mut last = "no candidates".to_string();
    for name in candidates {
        tried.push(name.clone());
        let lookup = tokio::time::timeout(PROBE_DEADLINE, resolver.lookup_ip(name.as_str())).await;
        match lookup {
            Ok(Ok(ips)) => return (Ok(ips.iter().collect()), tried),
            Ok(Err(e)) => {
                last = if e.is_nx_domain() {
                    "NXDOMAIN".into()
                } else if e.to_string().contains("Refused") {
                    "REFUSED".into()
                } else {
                    e.to_string()
                }
            }
            Err(_) => last = "timed out".into(),
        }
    }
    (Err(last), tried)
}
