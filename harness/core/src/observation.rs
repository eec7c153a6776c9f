//! What an observer recorded of one case: the raw material of the verdicts. Times are
//! milliseconds from the moment the create request was sent.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

use crate::result::Provider;

/// The apiserver's answer to the create request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOutcome {
    pub code: u16,
    /// The `Status` reason on failure (`Unauthorized`, `Forbidden`, `Invalid`).
    pub reason: Option<String>,
    pub message: Option<String>,
    /// Field causes of a 422.
    pub causes: Vec<(String, String)>,
    /// The created object's resourceVersion and uid (201 only).
    pub resource_version: Option<String>,
    pub uid: Option<String>,
    pub at_ms: f64,
}

/// How long the case's identity waited, before the create, for its RBAC grant to be live:
/// authorizers serve RBAC from caches, so a binding made in the case's setup takes effect
/// a moment later (upstream's e2e tests wait for it the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantWait {
    /// What was asked (`create pods in NS`).
    pub asked: String,
    /// The SelfSubjectAccessReview's last answer.
    pub allowed: bool,
    pub waited_ms: f64,
    /// How many reviews were sent.
    pub reviews: u32,
}

/// The pod as one watch event showed it.
#[derive(Debug, Clone)]
pub struct PodSighting {
    pub at_ms: f64,
    /// `ADDED`, `MODIFIED`, `DELETED`, or `RELISTED` (read by the list that followed an
    /// expired watch: see [`WatchGap`]).
    pub kind: String,
    pub pod: Pod,
}

/// A core/v1 Event about the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSighting {
    pub at_ms: f64,
    pub reason: String,
    pub message: String,
    pub warning: bool,
    /// `source.component`, else `reportingComponent`.
    pub component: String,
    pub field_path: Option<String>,
}

/// A probe's result: what it saw, or why it could not look.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe<T> {
    Seen(T),
    Unavailable(String),
}

impl<T> Probe<T> {
    pub fn seen(&self) -> Option<&T> {
        match self {
            Probe::Seen(t) => Some(t),
            Probe::Unavailable(_) => None,
        }
    }
}

/// A read of the pod's key in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRead {
    pub key: String,
    /// None when the key is absent.
    pub create_revision: Option<i64>,
    pub mod_revision: Option<i64>,
    pub value: Option<Value>,
    pub provider: Provider,
    pub at_ms: f64,
}

/// A consistent API read, the weaker stand-in for a store read.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRead {
    /// The HTTP code of the GET.
    pub code: u16,
    pub pod: Option<Pod>,
    pub at_ms: f64,
}

/// What the runtime said of the pod's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeRead {
    pub provider: Provider,
    /// (container name, runtime container ID without scheme, state: `running`, `created`, `exited`).
    pub containers: Vec<(String, String, String)>,
    pub at_ms: f64,
}

/// What the embedded registry served for the pod's images: the manifests of the
/// repositories its containers report, since the case began.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryRead {
    pub provider: Provider,
    /// (repository, the tag or digest asked for, the manifest digest served).
    pub served: Vec<(String, String, String)>,
    pub at_ms: f64,
}

/// What the pod's network namespace holds.
#[derive(Debug, Clone, PartialEq)]
pub struct NetnsRead {
    pub provider: Provider,
    /// (interface, address/prefix).
    pub addresses: Vec<(String, String)>,
    /// Whether the node reached the pod's IP from the host: how (Ok) or why not (Err).
    pub reach: Option<Result<String, String>>,
    pub at_ms: f64,
}

/// The pod's network as seen from inside it (`pods/exec ip -o addr`): the interfaces of its
/// own network namespace, on any target that lets the observer exec.
#[derive(Debug, Clone, PartialEq)]
pub struct InPodNetRead {
    /// (interface, address/prefix).
    pub addresses: Vec<(String, String)>,
    pub at_ms: f64,
}

/// `ip -o addr` (busybox or iproute2) as (interface, address/prefix) pairs.
pub fn parse_ip_addr(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let _index = words.next()?;
            let interface = words.next()?.trim_end_matches(':');
            let interface = interface.split('@').next().unwrap_or(interface);
            let family = words.next()?;
            let address = words.next()?;
            matches!(family, "inet" | "inet6").then(|| (interface.to_string(), address.to_string()))
        })
        .collect()
}

/// Whether a second pod reached the case's pod: pod-to-pod, across nodes where the
/// cluster has more than one (what a CNI exists for).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRead {
    /// The second pod, `namespace/name`, and its node.
    pub pod: String,
    pub node: String,
    /// Why it is on the case pod's own node, when it is.
    pub same_node: Option<String>,
    /// How the pod was reached, or why not.
    pub reached: Result<String, String>,
    pub at_ms: f64,
}

/// What the reach script printed ([`REACH_SCRIPT`]): reached (how) or not (why).
pub fn parse_reach(stdout: &str) -> Result<String, String> {
    if stdout.lines().any(|l| l.trim() == "icmp") {
        return Ok("an ICMP echo was answered".into());
    }
    if stdout.contains("refused") {
        return Ok("a TCP connection to port 9 was refused by the pod's stack (a reset): the packets arrived".into());
    }
    let said = stdout.trim().replace('\n', "; ");
    Err(format!(
        "neither an ICMP echo nor a TCP connection was answered within 2 s ({said})"
    ))
}

/// The script a second pod runs (`sh -c SCRIPT sh IP`) to reach the address `$1`: an ICMP echo, else a TCP connect
/// to a port nothing listens on (a reset proves the packets arrived as well as an echo).
pub const REACH_SCRIPT: &str = "ping -c 1 -W 2 \"$1\" >/dev/null 2>&1 && echo icmp || { nc -w 2 \"$1\" 9 </dev/null 2>&1; echo \"tcp $?\"; }";

/// DNS from the pod's point of view.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRead {
    /// How the resolv.conf was read (`pods/exec cat /etc/resolv.conf`).
    pub resolv_source: String,
    pub resolv_conf: Result<String, String>,
    /// The server the lookups were sent to, and who serves it.
    pub server: String,
    pub provider: Provider,
    pub lookups: Vec<LookupRead>,
    pub at_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LookupRead {
    /// As the case wrote it, with the cluster domain filled in.
    pub name: String,
    /// The fully qualified names tried, in the resolv.conf search order, each with its
    /// answer: the first that answers with addresses ends the lookup.
    pub attempts: Vec<LookupAttempt>,
    /// What the case expects.
    pub expected: ExpectedAnswer,
}

impl LookupRead {
    /// The addresses of the first name that answered, or the last complaint.
    pub fn answer(&self) -> Result<Vec<std::net::IpAddr>, String> {
        let mut last = Err("no name was tried".to_string());
        for a in &self.attempts {
            match &a.answer {
                Ok(ips) => return Ok(ips.clone()),
                Err(e) => last = Err(e.clone()),
            }
        }
        last
    }
}

/// One fully qualified name a lookup tried, and what came back: addresses, or the
/// resolver's complaint (`NXDOMAIN`, `SERVFAIL`, `timed out`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct LookupAttempt {
    pub candidate: String,
    pub answer: Result<Vec<std::net::IpAddr>, String>,
}

/// What a lookup must resolve to, as read from the case and the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedAnswer {
    /// It must not resolve.
    Nothing,
    /// One of these addresses; `source` says where they come from (the case, or a
    /// Service's ClusterIPs).
    OneOf {
        addresses: Vec<std::net::IpAddr>,
        source: String,
    },
    /// The case names an address the observer could not read (why).
    Unknown(String),
}

/// One copy of a batch (a case with `replicas` > 1; the case's own pod is the first).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPod {
    pub name: String,
    /// When its create request was sent.
    pub created_ms: f64,
    /// The apiserver's answer to its create.
    pub code: u16,
    /// When a watch event first showed it with a node, and that node.
    pub bound_ms: Option<f64>,
    pub node: Option<String>,
}

/// Which of the observer's watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WatchName {
    /// The case's pod.
    Pod,
    /// The core/v1 Events about the pod.
    Events,
    /// Every pod of the namespace (a batch: when each copy was bound).
    Batch,
}

impl std::fmt::Display for WatchName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WatchName::Pod => "the pod",
            WatchName::Events => "the pod's Events",
            WatchName::Batch => "the namespace's pods",
        })
    }
}

/// A time a watch was not open: what happened in it was seen late (resumed from the last
/// resourceVersion) or only as a later state (`relisted`), never in between.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchGap {
    pub watch: WatchName,
    /// When the watch broke.
    pub from_ms: f64,
    /// When it was watching again; None if it never was before recording stopped.
    #[serde(default)]
    pub until_ms: Option<f64>,
    /// Why it broke (the error, or the server closing it early).
    pub reason: String,
    /// Whether its resourceVersion had expired (410 Gone), so the state was read again
    /// by a list and the changes in between are lost.
    #[serde(default)]
    pub relisted: bool,
}

/// Everything the observer recorded of one case.
#[derive(Debug, Clone)]
pub struct Observation {
    pub identity: String,
    /// The wait for the identity's RBAC grant, where the case expects its create allowed.
    pub grant: Option<GrantWait>,
    pub namespace: String,
    pub pod_name: String,
    pub create: CreateOutcome,
    /// The watch on the case's pod, opened before the create.
    pub sightings: Vec<PodSighting>,
    pub events: Vec<EventSighting>,
    /// When a watch was not open (none in a run without watch errors).
    pub watch_gaps: Vec<WatchGap>,
    /// Nodes and all pods, read after binding (for the feasibility oracle and IP uniqueness).
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    /// Every copy of the pod when the case has `replicas` > 1 (empty otherwise).
    pub batch: Vec<BatchPod>,
    /// The store right after the create, and after the pod was Running.
    pub store_after_create: Probe<StoreRead>,
    pub store_after_running: Probe<StoreRead>,
    /// Consistent API reads, when the store cannot be read.
    pub api_after_create: Option<ApiRead>,
    pub api_after_running: Option<ApiRead>,
    pub runtime: Probe<RuntimeRead>,
    /// What the registry served the pulls, where podcheck runs the registry.
    pub registry: Probe<RegistryRead>,
    pub netns: Probe<NetnsRead>,
    /// The pod's interfaces as its own network namespace holds them, through `pods/exec`.
    pub in_pod_net: Probe<InPodNetRead>,
    /// A second pod reaching this one.
    pub peer: Probe<PeerRead>,
    pub dns: Probe<DnsRead>,
    /// The pod networks the cluster declares (kubeadm's podSubnet, Calico's IPPools).
    pub pod_networks: Vec<crate::pod_network::PodNetwork>,
    /// Cluster node name → the suite's name for it, where the suite's nodes were mapped
    /// onto the cluster's.
    pub node_aliases: std::collections::BTreeMap<String, String>,
    /// The `kubernetes` Service's ClusterIP and the cluster DNS Service's.
    pub kubernetes_service_ip: Option<String>,
    pub cluster_dns_ip: Option<String>,
    /// The apiserver's name for API evidence.
    pub apiserver: Provider,
    /// How long the observer waited, and whether it stopped at the case deadline.
    pub observed_ms: f64,
    pub timed_out: bool,
    /// The external scheduler under test, if any, as the observer found it when it stopped
    /// watching: a pod left alone proves nothing if that scheduler was not running.
    pub scheduler_under_test: Option<SchedulerState>,
    /// The case's faults: when each was injected and ended, and how (the observer adds
    /// them once recording has stopped, so that no fault's end is recorded).
    pub faults: Vec<crate::fault::FaultRecord>,
}

/// Whether the user's scheduler process was still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerState {
    /// The command, as reports name it.
    pub command: String,
    pub running: bool,
}

impl Observation {
    /// The suite's name for a cluster node, where it has one.
    pub fn suite_node<'a>(&'a self, node: &'a str) -> &'a str {
        self.node_aliases.get(node).map_or(node, String::as_str)
    }

    /// The watch events and Events, merged in time order, in words.
    pub fn timeline(&self) -> Vec<crate::result::TimelineEntry> {
        let mut entries: Vec<crate::result::TimelineEntry> = Vec::new();
        entries.push(crate::result::TimelineEntry {
            at_ms: round(self.create.at_ms),
            what: format!("create answered {}", self.create.code),
        });
        for s in &self.sightings {
            let status = s.pod.status.as_ref();
            let phase = status
                .and_then(|st| st.phase.clone())
                .unwrap_or_else(|| "-".into());
            let node = s
                .pod
                .spec
                .as_ref()
                .and_then(|sp| sp.node_name.clone())
                .unwrap_or_else(|| "-".into());
            let ip = status
                .and_then(|st| st.pod_ip.clone())
                .unwrap_or_else(|| "-".into());
            let conditions: Vec<String> = status
                .and_then(|st| st.conditions.clone())
                .unwrap_or_default()
                .iter()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.clone())
                .collect();
            entries.push(crate::result::TimelineEntry {
                at_ms: round(s.at_ms),
                what: format!(
                    "watch {}: phase {phase}, node {node}, podIP {ip}, conditions True: [{}]",
                    s.kind,
                    conditions.join(", ")
                ),
            });
        }
        for e in &self.events {
            let kind = if e.warning { "Warning" } else { "Normal" };
            entries.push(crate::result::TimelineEntry {
                at_ms: round(e.at_ms),
                what: format!(
                    "event {kind} {} from {}: {}",
                    e.reason, e.component, e.message
                ),
            });
        }
        for g in &self.watch_gaps {
            let resumed = match g.until_ms {
                Some(until) if g.relisted => format!(
                    "; relisted after {:.1} ms (changes in between are lost)",
                    until - g.from_ms
                ),
                Some(until) => format!("; resumed after {:.1} ms", until - g.from_ms),
                None => "; not resumed".into(),
            };
            entries.push(crate::result::TimelineEntry {
                at_ms: round(g.from_ms),
                what: format!("watch on {} broke: {}{resumed}", g.watch, g.reason),
            });
        }
        entries.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        entries
    }
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addr_lines_become_interfaces_and_addresses() {
        let busybox = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n3: eth0@if7    inet 10.244.0.5/24 brd 10.244.0.255 scope global eth0\\       valid_lft forever preferred_lft forever\n3: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n";
        assert_eq!(
            parse_ip_addr(busybox),
            [
                ("lo".to_string(), "127.0.0.1/8".to_string()),
                ("eth0".to_string(), "10.244.0.5/24".to_string()),
                ("eth0".to_string(), "fe80::1/64".to_string()),
            ]
        );
        assert!(parse_ip_addr("garbage\n").is_empty());
    }

    #[test]
    fn the_reach_script_says_how_the_pod_was_reached() {
        assert_eq!(
            parse_reach("icmp\n"),
            Ok("an ICMP echo was answered".into())
        );
        let reset = "nc: can't connect to remote host (10.244.1.5): Connection refused\ntcp 1\n";
        assert!(
            parse_reach(reset)
                .unwrap()
                .starts_with("a TCP connection to port 9 was refused")
        );
        let silent = "nc: timed out\ntcp 1\n";
        assert_eq!(
            parse_reach(silent),
            Err("neither an ICMP echo nor a TCP connection was answered within 2 s (nc: timed out; tcp 1)".into())
        );
    }
}
