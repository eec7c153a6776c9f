//! A kubelet for one simulated node: registers the Node, renews its Lease, and runs one
//! worker per pod bound to it, driving the runtime and reporting status through the API.

pub mod image_pull;
pub mod pod_dns;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use crate::runtime::{ContainerConfig, ContainerState, Runtime, Sandbox, SandboxConfig};
use crate::static_pod::{StaticPod, is_mirror};
use image_pull::PullBackOff;
use pod_dns::ClusterDnsSettings;
use status::{ContainerObservation, PodObservation};

/// How often the node's Lease is renewed (kubelet's default).
const LEASE_RENEW: Duration = Duration::from_secs(10);
const LEASE_SECONDS: i32 = 40;
/// How often the node's status (conditions' heartbeat) is reported again unchanged.
const NODE_STATUS_REPORT: Duration = Duration::from_secs(60);
/// How long shutdown gives pod workers to stop their sandboxes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often running containers' states are read again from the runtime (the kubelet's
/// PLEG relist period), so that containers that exit are reported.
const RELIST: Duration = Duration::from_secs(1);
/// How long a pod worker waits after a failed sync (a sandbox that could not be made)
/// before the next: the kubelet's `backOffPeriod`, jittered by
/// `workerBackOffPeriodJitterFactor` (pkg/kubelet/kubelet.go, pod_workers.go).
const SYNC_BACKOFF: Duration = Duration::from_secs(10);
const SYNC_BACKOFF_JITTER: f64 = 0.5;
/// How long after its mirror pod is deleted the kubelet posts it again (its next sync of the
/// static pod): a client waiting for the deletion sees it before the new one appears.
const MIRROR_REPOST_DELAY: Duration = Duration::from_secs(1);
/// The grace period of a pod that names none (the apiserver defaults it to this too).
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// What a suite or caller may set of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// (key, value, effect).
    pub taints: Vec<(String, String, String)>,
    /// Quantities that replace the defaults (cpu, memory, pods, …).
    pub capacity: BTreeMap<String, String>,
    pub unschedulable: bool,
}

/// One node's settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub pod_cidr: Ipv4Net,
    /// The node's InternalIP: a loopback address, so nothing leaves the machine.
    pub address: Ipv4Addr,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<serde_json::Value>,
    pub unschedulable: bool,
    /// Capacity, as quantities: cpu, memory, pods, ephemeral-storage.
    pub capacity: BTreeMap<String, String>,
    pub dns: ClusterDnsSettings,
    /// Whether deleting a pod stops its containers with the pod's grace period (CRI
    /// StopContainer with that timeout), as a real kubelet does; podcheck's quick profile
    /// tears the sandbox down at once.
    pub graceful_termination: bool,
    /// The static pods the kubelet shows as mirror pods (kubeadm's etcd on the first
    /// node); their containers are host processes (see [`crate::static_pod`]).
    pub static_pods: Vec<Arc<StaticPod>>,
    /// The node's fault switches (`faults:` in a suite); its kubelet reads the status delay.
    pub faults: Arc<crate::fault::NodeFaults>,
}

impl NodeConfig {
    /// The `index`-th node (from 0): `node-1`, podCIDR the index-th /24 from 10.244.0.0
    /// (the control plane gives it the pod subnet's), address 127.0.1.(index+1) and on
    /// through loopback.
    pub fn numbered(index: u16, dns: ClusterDnsSettings) -> Self {
        let name = format!("node-{}", u32::from(index) + 1);
        let labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), arch().to_string()),
        ]);
        let capacity = BTreeMap::from([
            ("cpu".to_string(), "8".to_string()),
            ("memory".to_string(), "32Gi".to_string()),
            ("pods".to_string(), "110".to_string()),
            ("ephemeral-storage".to_string(), "100Gi".to_string()),
        ]);
        NodeConfig {
            pod_cidr: Ipv4Net::new(
                Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (u32::from(index) << 8)),
                24,
            )
            .expect("a /24 is valid"),
            address: Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 1, 1)) + u32::from(index)),
            name,
            labels,
            taints: Vec::new(),
            unschedulable: false,
            capacity,
            dns,
            graceful_termination: false,
            static_pods: Vec::new(),
            faults: Arc::default(),
        }
    }

    /// This node with a name, labels, taints and capacity of its own.
    pub fn with_spec(mut self, spec: &NodeSpec) -> Self {
        self.labels
            .insert("kubernetes.io/hostname".into(), spec.name.clone());
        self.name = spec.name.clone();
        self.labels.extend(spec.labels.clone());
        self.taints = spec
            .taints
            .iter()
            .map(|(key, value, effect)| json!({"key": key, "value": value, "effect": effect}))
            .collect();
        self.capacity.extend(spec.capacity.clone());
        self.unschedulable = spec.unschedulable;
        self
    }

    fn node_object(&self, runtime: &crate::runtime::Implementation) -> serde_json::Value {
        let now = now();
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {"podCIDR": self.pod_cidr.to_string(), "podCIDRs": [self.pod_cidr.to_string()], "taints": self.taints, "unschedulable": self.unschedulable},
            "status": {
                "capacity": self.capacity,
                "allocatable": self.capacity,
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [
                    {"type": "InternalIP", "address": self.address.to_string()},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": "", "systemUUID": "", "bootID": "",
                    "kernelVersion": kernel_version(),
                    "osImage": "podcheck embedded node",
                    "containerRuntimeVersion": format!("{}://{}", runtime.name, runtime.version),
                    "kubeletVersion": "v1.33.0-podcheck",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": arch(),
                },
            }
        })
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn now() -> String {
    crate::clock::now()
}

/// What every pod worker of a node shares.
struct NodeContext {
    client: kube::Client,
    config: NodeConfig,
    runtime: Arc<dyn Runtime>,
    recorder: Recorder,
}

/// Registers the node, then runs until `shutdown`.
pub async fn run(
    client: kube::Client,
    config: NodeConfig,
    runtime: Arc<dyn Runtime>,
    shutdown: CancellationToken,
) {
    let ctx = Arc::new(NodeContext {
        recorder: Recorder::new(client.clone(), "kubelet", Some(&config.name)),
        client,
        config,
        runtime,
    });
    if let Err(e) = register(&ctx).await {
        tracing::warn!(node = %ctx.config.name, error = %e, "node registration failed");
    }
    for pod in &ctx.config.static_pods {
        post_mirror_pod(&ctx, pod).await;
    }
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let selector = format!("spec.nodeName={}", ctx.config.name);
    let mut events = watcher(api, watcher::Config::default().fields(&selector)).boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    // Mirror pods posted again after a deletion, a sync later.
    let mut mirrors: JoinSet<()> = JoinSet::new();
    let mut lease = tokio::time::interval(LEASE_RENEW);
    let mut node_status = tokio::time::interval(NODE_STATUS_REPORT);
    node_status.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = lease.tick() => renew_lease(&ctx).await,
            _ = node_status.tick() => heartbeat(&ctx).await,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(uid) = done {
                    workers.remove(&uid);
                }
            }
            Some(_) = mirrors.join_next(), if !mirrors.is_empty() => {}
            Some(event) = events.next() => {
                let event = match event {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!(error = %e, "pod watch error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let (pod, gone) = match event {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (p, false),
                    watcher::Event::Delete(p) => (p, true),
                    watcher::Event::Init | watcher::Event::InitDone => continue,
                };
                if is_mirror(&pod) {
                    if let Some(static_pod) = keep_mirror_pod(&ctx, &pod, gone).await {
                        let ctx = ctx.clone();
                        mirrors.spawn(async move {
                            tokio::time::sleep(MIRROR_REPOST_DELAY).await;
                            post_mirror_pod(&ctx, &static_pod).await;
                        });
                    }
                    continue;
                }
                let Some(uid) = pod.metadata.uid.clone() else { continue };
                let update = (!gone).then(|| Arc::new(pod));
                match workers.get(&uid) {
                    Some(tx) => {
                        let _ = tx.send(update);
                    }
                    None if update.is_some() => {
                        let (tx, rx) = watch::channel(update);
                        workers.insert(uid.clone(), tx);
                        tasks.spawn(pod_worker(ctx.clone(), uid, rx, shutdown.clone()));
                    }
                    None => {}
                }
            }
        }
    }
    mirrors.abort_all();
    // Workers see the same cancellation and stop their sandboxes; wait for them, briefly.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

/// Creates the mirror pod of a static pod (or finds it there) and reports its status.
async fn post_mirror_pod(ctx: &NodeContext, static_pod: &StaticPod) {
    let name = static_pod.mirror_name(&ctx.config.name);
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let node_uid = match nodes.get(&ctx.config.name).await {
        Ok(node) => node.metadata.uid.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(node = %ctx.config.name, pod = %name, error = %e, "reading the node for a mirror pod");
            return;
        }
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &static_pod.namespace);
    let object = static_pod.mirror_pod(&ctx.config, &node_uid, &now());
    let pod: Pod = match serde_json::from_value(object) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(pod = %name, error = %e, "a mirror pod that does not parse");
            return;
        }
    };
    match pods.create(&PostParams::default(), &pod).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => {
            tracing::warn!(node = %ctx.config.name, pod = %name, error = %e, "creating a mirror pod");
            return;
        }
    }
    let status = json!({"status": static_pod.mirror_status(&ctx.config)});
    if let Err(e) = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        tracing::warn!(node = %ctx.config.name, pod = %name, error = %e, "reporting a mirror pod's status");
    }
}

/// What the kubelet does when a mirror pod changes: one being deleted is deleted at once
/// (its static pod goes on running), and one gone is to be posted again — the static pod
/// returned — as a real kubelet recreates the mirror of a static pod it still runs, on its
/// next sync of it.
async fn keep_mirror_pod(ctx: &NodeContext, pod: &Pod, gone: bool) -> Option<Arc<StaticPod>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let static_pod = ctx
        .config
        .static_pods
        .iter()
        .find(|s| s.namespace == namespace && s.mirror_name(&ctx.config.name) == name)?;
    if gone {
        return Some(static_pod.clone());
    }
    if pod.metadata.deletion_timestamp.is_some() {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        if let Err(e) = pods.delete(&name, &now).await {
            tracing::debug!(pod = %name, error = %e, "finishing a mirror pod's deletion");
        }
    }
    None
}

/// Creates the Node, or reports its status if it exists already.
async fn register(ctx: &NodeContext) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let node: Node = serde_json::from_value(ctx.config.node_object(&ctx.runtime.provider()))
        .map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let status = json!({"status": node.status});
            nodes
                .patch_status(
                    &ctx.config.name,
                    &PatchParams::default(),
                    &Patch::Merge(&status),
                )
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Refreshes the conditions' heartbeat times, leaving their transition times alone
/// (a strategic merge by condition type).
async fn heartbeat(ctx: &NodeContext) {
    let now = now();
    let conditions: Vec<serde_json::Value> =
        ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|kind| json!({"type": kind, "lastHeartbeatTime": now}))
            .collect();
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({"status": {"conditions": conditions}});
    if let Err(e) = nodes
        .patch_status(
            &ctx.config.name,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        tracing::debug!(node = %ctx.config.name, error = %e, "node heartbeat failed");
    }
}

async fn renew_lease(ctx: &NodeContext) {
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), "kube-node-lease");
    let name = &ctx.config.name;
    let spec = json!({"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS,
                      "renewTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()});
    let result = match leases
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease: Result<Lease, _> = serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": spec}),
            );
            match lease {
                Ok(l) => leases.create(&PostParams::default(), &l).await.map(|_| ()),
                Err(e) => Err(kube::Error::SerdeError(e)),
            }
        }
        other => other.map(|_| ()),
    };
    if let Err(e) = result {
        tracing::debug!(node = %name, error = %e, "lease renewal failed");
    }
}

/// One pod's life on this node: start it (again after a failed sandbox, with the kubelet's
/// back-off), keep its status, tear it down when it is deleted. Returns the pod's uid when
/// done.
async fn pod_worker(
    ctx: Arc<NodeContext>,
    uid: String,
    mut rx: watch::Receiver<Option<Arc<Pod>>>,
    shutdown: CancellationToken,
) -> String {
    let mut running: Option<RunningPod> = None;
    // When the next attempt at starting the pod is due (at once for a new pod).
    let mut next_start = Some(tokio::time::Instant::now());
    let mut relist = tokio::time::interval(RELIST);
    relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let latest = rx.borrow_and_update().clone();
        match latest {
            None => {
                // Removed from the API without us: just free the runtime's resources.
                if let Some(r) = running.take() {
                    teardown(&ctx, &r.sandbox).await;
                }
                return uid;
            }
            Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                terminate(&ctx, &pod, running.take(), &shutdown).await;
                return uid;
            }
            Some(pod) if next_start.is_some_and(|t| t <= tokio::time::Instant::now()) => {
                running = start(&ctx, &pod).await;
                next_start = running
                    .is_none()
                    .then(|| tokio::time::Instant::now() + sync_backoff(rand::rng().random()));
            }
            Some(_) => {}
        }
        let watching = running
            .as_ref()
            .is_some_and(|r| r.has_running() || r.waits_for_images() || r.has_exited());
        let retry_at = next_start.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = shutdown.cancelled() => {
                if let Some(r) = running.take() {
                    teardown(&ctx, &r.sandbox).await;
                }
                return uid;
            }
            _ = tokio::time::sleep_until(retry_at), if next_start.is_some() => {}
            _ = relist.tick(), if watching => {
                let pod = rx.borrow().clone();
                if let (Some(r), Some(mut pod)) = (running.as_mut(), pod) {
                    let relisted = relist_containers(&ctx, r).await;
                    let retried = retry_images(&ctx, &pod, r).await;
                    if (relisted || retried)
                        && let Some(reported) = report(&ctx, &pod, &r.observation).await
                    {
                        // The next report keeps the transition times this one set.
                        pod = Arc::new(reported);
                    }
                    // An exit is reported as it is (terminated) before the restart.
                    if restart_exited(&ctx, &pod, r).await {
                        report(&ctx, &pod, &r.observation).await;
                    }
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    if let Some(r) = running.take() {
                        teardown(&ctx, &r.sandbox).await;
                    }
                    return uid;
                }
            }
        }
    }
}

/// How long after a failed sync the next one runs: `wait.Jitter(backOffPeriod, 0.5)`, i.e.
/// 10 s plus up to half of it; `jitter` is uniform in [0, 1).
fn sync_backoff(jitter: f64) -> Duration {
    SYNC_BACKOFF.mul_f64(1.0 + SYNC_BACKOFF_JITTER * jitter.clamp(0.0, 1.0))
}

struct RunningPod {
    sandbox: Sandbox,
    observation: PodObservation,
    backoff: PullBackOff,
    crashes: CrashBackOff,
}

impl RunningPod {
    /// Whether a container exited (or waits out its back-off): the restart policy may
    /// start it again at a next sync.
    fn has_exited(&self) -> bool {
        self.crashes.0.values().any(|b| b.restart_at.is_some())
            || self
                .observation
                .containers
                .iter()
                .any(|c| matches!(c.state, Some(ContainerState::Exited { .. })))
    }

    fn waits_for_images(&self) -> bool {
        self.observation
            .containers
            .iter()
            .any(|c| c.container_id.is_none() && image_pull::waits_for_image(&c.waiting_reason))
    }

    fn has_running(&self) -> bool {
        self.observation
            .containers
            .iter()
            .any(|c| matches!(c.state, Some(ContainerState::Running { .. })))
    }
}

/// Reads the state of each running container again; true when one changed.
async fn relist_containers(ctx: &NodeContext, r: &mut RunningPod) -> bool {
    let mut changed = false;
    for c in &mut r.observation.containers {
        if !matches!(c.state, Some(ContainerState::Running { .. })) {
            continue;
        }
        let Some(id) = c.container_id.as_deref() else {
            continue;
        };
        let id = runtime_id(id);
        if let Ok(state) = ctx.runtime.container_state(id).await
            && c.state.as_ref() != Some(&state)
        {
            c.state = Some(state);
            changed = true;
        }
    }
    changed
}

/// The back-off of a pod's containers that exited (the kubelet's `backOff`, keyed by
/// container): the first exit is restarted at once, each next one after the back-off,
/// 10 s and twice as long each time up to 300 s, counted from the exit
/// (`doBackOff` in pkg/kubelet/kuberuntime/kuberuntime_manager.go).
#[derive(Debug, Default)]
struct CrashBackOff(HashMap<String, ContainerBackOff>);

#[derive(Debug, Clone, Copy)]
struct ContainerBackOff {
    /// The back-off the next exit waits out.
    period: Duration,
    /// When a container waiting in CrashLoopBackOff is started again.
    restart_at: Option<tokio::time::Instant>,
}

/// What to do with a container that exited at `exited_at`, seen at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterExit {
    /// Start it again now.
    Restart,
    /// Wait in CrashLoopBackOff for this back-off, until the instant given.
    BackOff(Duration, tokio::time::Instant),
}

impl CrashBackOff {
    /// The decision for an exit of `container` at `exited_at` (`now`: the sync's time).
    fn after_exit(
        &mut self,
        container: &str,
        exited_at: tokio::time::Instant,
        now: tokio::time::Instant,
    ) -> AfterExit {
        let Some(b) = self.0.get_mut(container) else {
            self.0.insert(
                container.to_string(),
                ContainerBackOff {
                    period: image_pull::BACKOFF_INITIAL,
                    restart_at: None,
                },
            );
            return AfterExit::Restart;
        };
        let until = *b.restart_at.get_or_insert(exited_at + b.period);
        if now < until {
            return AfterExit::BackOff(b.period, until);
        }
        b.period = (b.period * 2).min(image_pull::BACKOFF_MAX);
        b.restart_at = None;
        AfterExit::Restart
    }
}

/// Whether the pod's restart policy starts a container again after it exited with `code`.
fn restarts(pod: &Pod, code: i32) -> bool {
    match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
        None | Some("Always") => true,
        Some("OnFailure") => code != 0,
        _ => false,
    }
}

/// Containers that exited (or wait in CrashLoopBackOff) and that the restart policy starts
/// again: started again now, or left waiting with the back-off's words and event. True
/// when a status changed.
async fn restart_exited(ctx: &NodeContext, pod: &Pod, r: &mut RunningPod) -> bool {
    let spec = pod.spec.clone().unwrap_or_default();
    let now = tokio::time::Instant::now();
    let mut changed = false;
    for (c, obs) in spec
        .containers
        .iter()
        .zip(r.observation.containers.iter_mut())
    {
        let exit = match (&obs.state, &obs.last_termination) {
            (Some(ContainerState::Exited { exit_code, .. }), _) => *exit_code,
            (None, Some(ContainerState::Exited { exit_code, .. }))
                if obs.waiting_reason == "CrashLoopBackOff" =>
            {
                *exit_code
            }
            _ => continue,
        };
        if !restarts(pod, exit) {
            continue;
        }
        match r.crashes.after_exit(&c.name, now, now) {
            AfterExit::BackOff(period, _) => {
                if obs.waiting_reason == "CrashLoopBackOff" && obs.state.is_none() {
                    continue;
                }
                let message = format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(period),
                    c.name,
                    pod_words(pod)
                );
                ctx.recorder
                    .pod_event(
                        pod,
                        true,
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {} in pod {}",
                            c.name,
                            pod_words(pod)
                        ),
                        Some(&container_path(&c.name)),
                    )
                    .await;
                if let Some(exited) = obs.state.take() {
                    obs.last_termination = Some(exited);
                }
                obs.waiting_reason = "CrashLoopBackOff".into();
                obs.waiting_message = Some(message);
                changed = true;
            }
            AfterExit::Restart => {
                if let Some(exited) = obs.state.take() {
                    obs.last_termination = Some(exited);
                }
                obs.restart_count += 1;
                obs.waiting_reason = "ContainerCreating".into();
                obs.waiting_message = None;
                start_container(ctx, pod, &r.sandbox.id, c, obs, &mut r.backoff).await;
                changed = true;
            }
        }
    }
    changed
}

/// A whole number of seconds as Go's `time.Duration` prints it: `10s`, `1m20s`, `5m0s`.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// `NAME_NAMESPACE(UID)`, as the kubelet names a pod in its messages (`format.Pod`).
fn pod_words(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

fn container_path(name: &str) -> String {
    format!("spec.containers{{{name}}}")
}

/// Sandbox (and with it the network), images, containers, with a status report after the
/// sandbox and after the containers, and the events kubectl users know.
async fn start(ctx: &NodeContext, pod: &Pod) -> Option<RunningPod> {
    let spec = pod.spec.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let (dns, dns_warning) = pod_dns::pod_dns(pod, &ctx.config.dns);
    if let Some(warning) = dns_warning {
        ctx.recorder
            .pod_event(pod, true, "DNSConfigForming", &warning, None)
            .await;
    }
    let config = SandboxConfig {
        name: name.clone(),
        namespace: ns.clone(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        hostname: spec.hostname.clone().unwrap_or_else(|| name.clone()),
        dns,
        log_directory: format!(
            "/var/log/pods/{ns}_{name}_{}",
            pod.metadata.uid.clone().unwrap_or_default()
        ),
    };
    let mut observation = PodObservation {
        host_ip: ctx.config.address.to_string(),
        pod_ip: None,
        sandbox_ready: false,
        start_time: now(),
        containers: spec
            .containers
            .iter()
            .map(|c| ContainerObservation {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: None,
                container_id: None,
                state: None,
                waiting_reason: "ContainerCreating".into(),
                waiting_message: None,
                restart_count: 0,
                last_termination: None,
            })
            .collect(),
    };
    let sandbox = match ctx.runtime.run_pod_sandbox(&config).await {
        Ok(s) => s,
        Err(e) => {
            ctx.recorder
                .pod_event(
                    pod,
                    true,
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {e}"),
                    None,
                )
                .await;
            report(ctx, pod, &observation).await;
            return None;
        }
    };
    observation.sandbox_ready = true;
    observation.pod_ip = Some(sandbox.ip.to_string());
    report(ctx, pod, &observation).await;

    let mut backoff = PullBackOff::default();
    for (i, c) in spec.containers.iter().enumerate() {
        start_container(
            ctx,
            pod,
            &sandbox.id,
            c,
            &mut observation.containers[i],
            &mut backoff,
        )
        .await;
    }
    report(ctx, pod, &observation).await;
    Some(RunningPod {
        sandbox,
        observation,
        backoff,
        crashes: CrashBackOff::default(),
    })
}

/// The container's image, then the container itself; what happened goes into `obs`.
async fn start_container(
    ctx: &NodeContext,
    pod: &Pod,
    sandbox_id: &str,
    c: &k8s_openapi::api::core::v1::Container,
    obs: &mut ContainerObservation,
    backoff: &mut PullBackOff,
) {
    let field = container_path(&c.name);
    match image_pull::ensure_image(ctx, pod, c, &field, backoff).await {
        Ok(id) => obs.image_id = Some(id),
        Err(failure) => {
            obs.waiting_reason = failure.reason.into();
            obs.waiting_message = Some(failure.message);
            return;
        }
    }
    let container = ContainerConfig {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        attempt: u32::try_from(obs.restart_count).unwrap_or_default(),
    };
    let id = match ctx.runtime.create_container(sandbox_id, &container).await {
        Ok(id) => id,
        Err(e) => {
            ctx.recorder
                .pod_event(pod, true, "Failed", &format!("Error: {e}"), Some(&field))
                .await;
            obs.waiting_reason = "CreateContainerError".into();
            obs.waiting_message = Some(e.to_string());
            return;
        }
    };
    obs.waiting_message = None;
    obs.container_id = Some(format!("{}://{id}", ctx.runtime.id_scheme()));
    ctx.recorder
        .pod_event(
            pod,
            false,
            "Created",
            &format!("Created container: {}", c.name),
            Some(&field),
        )
        .await;
    if let Err(e) = ctx.runtime.start_container(&id).await {
        ctx.recorder
            .pod_event(pod, true, "Failed", &format!("Error: {e}"), Some(&field))
            .await;
        obs.waiting_reason = "RunContainerError".into();
        return;
    }
    ctx.recorder
        .pod_event(
            pod,
            false,
            "Started",
            &format!("Started container {}", c.name),
            Some(&field),
        )
        .await;
    obs.state = ctx.runtime.container_state(&id).await.ok();
}

/// Containers that wait for their image are tried again at every sync: in back-off they
/// report `ImagePullBackOff`, after it they pull again. True when a status changed.
async fn retry_images(ctx: &NodeContext, pod: &Pod, r: &mut RunningPod) -> bool {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut changed = false;
    for (c, obs) in spec
        .containers
        .iter()
        .zip(r.observation.containers.iter_mut())
    {
        if !image_pull::waits_for_image(&obs.waiting_reason) || obs.container_id.is_some() {
            continue;
        }
        let before = (obs.waiting_reason.clone(), obs.state.clone());
        start_container(ctx, pod, &r.sandbox.id, c, obs, &mut r.backoff).await;
        changed |= before != (obs.waiting_reason.clone(), obs.state.clone());
    }
    changed
}

/// Patches the pod's status with what was observed; the pod as the apiserver then has it.
async fn report(ctx: &NodeContext, pod: &Pod, observation: &PodObservation) -> Option<Pod> {
    if let Some(delay) = ctx.config.faults.status_delay() {
        tokio::time::sleep(delay).await;
    }
    let status = status::pod_status(pod, observation, &now());
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
    {
        Ok(reported) => Some(reported),
        Err(e) => {
            tracing::debug!(pod = %name, error = %e, "status update failed");
            None
        }
    }
}

async fn teardown(ctx: &NodeContext, sandbox: &Sandbox) {
    if let Err(e) = ctx.runtime.stop_pod_sandbox(&sandbox.id).await {
        tracing::warn!(sandbox = %sandbox.id, error = %e, "stopping sandbox failed");
    }
    if let Err(e) = ctx.runtime.remove_pod_sandbox(&sandbox.id).await {
        tracing::warn!(sandbox = %sandbox.id, error = %e, "removing sandbox failed");
    }
}

/// Graceful deletion: stop the containers (with the pod's grace period where the kubelet is
/// graceful; a shutdown cuts the wait short), free the sandbox and its address, report the
/// final status, then finish the deletion the apiserver started.
async fn terminate(
    ctx: &NodeContext,
    pod: &Pod,
    running: Option<RunningPod>,
    shutdown: &CancellationToken,
) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    if let Some(mut r) = running {
        for c in &r.observation.containers {
            if c.container_id.is_some() {
                ctx.recorder
                    .pod_event(
                        pod,
                        false,
                        "Killing",
                        &format!("Stopping container {}", c.name),
                        Some(&container_path(&c.name)),
                    )
                    .await;
            }
        }
        if ctx.config.graceful_termination {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // The control plane is going away: free the runtime, tell nobody.
                    teardown(ctx, &r.sandbox).await;
                    return;
                }
                _ = stop_containers(ctx, &mut r, termination_grace(pod)) => {}
            }
        }
        teardown(ctx, &r.sandbox).await;
        r.observation.sandbox_ready = false;
        for c in &mut r.observation.containers {
            if let Some(ContainerState::Running { .. }) = c.state {
                c.state = Some(ContainerState::Exited {
                    exit_code: 0,
                    reason: "Completed".into(),
                    finished_at: now(),
                });
            }
        }
        report(ctx, pod, &r.observation).await;
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: pod.metadata.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => tracing::warn!(pod = %name, error = %e, "could not finish deleting pod"),
    }
}

/// CRI StopContainer for every running container at once (as the kubelet kills them in
/// parallel), each with `grace`; then their states as the runtime reports them.
async fn stop_containers(ctx: &NodeContext, r: &mut RunningPod, grace: Duration) {
    let ids: Vec<(usize, String)> = r
        .observation
        .containers
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.state, Some(ContainerState::Running { .. })))
        .filter_map(|(i, c)| Some((i, runtime_id(c.container_id.as_deref()?).to_string())))
        .collect();
    let stops = ids.iter().map(|(_, id)| async move {
        if let Err(e) = ctx.runtime.stop_container(id, grace).await {
            tracing::warn!(container = %id, error = %e, "stopping container failed");
        }
    });
    futures::future::join_all(stops).await;
    for (i, id) in ids {
        if let Ok(state) = ctx.runtime.container_state(&id).await {
            r.observation.containers[i].state = Some(state);
        }
    }
}

/// `containerd://ID` → `ID`.
fn runtime_id(container_id: &str) -> &str {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, i)| i)
}

/// The grace period the kubelet kills a deleted pod's containers with
/// (`calculateEffectiveGracePeriod`): the deletion's, else the pod's own, never under 1 s.
fn termination_grace(pod: &Pod) -> Duration {
    let spec = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds);
    let seconds = match pod.metadata.deletion_grace_period_seconds {
        Some(g) if g > 0 => g,
        _ => spec.unwrap_or(DEFAULT_GRACE_SECONDS),
    };
    Duration::from_secs(u64::try_from(seconds.max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[test]
    fn a_failed_sync_is_retried_after_ten_to_fifteen_seconds() {
        assert_eq!(sync_backoff(0.0), Duration::from_secs(10));
        assert_eq!(sync_backoff(0.5), Duration::from_millis(12_500));
        assert_eq!(sync_backoff(7.0), Duration::from_secs(15), "clamped");
    }

    #[rstest]
    #[case(json!({}), 30)]
    #[case(json!({"spec": {"containers": [], "terminationGracePeriodSeconds": 5}}), 5)]
    #[case(json!({"metadata": {"deletionGracePeriodSeconds": 1}, "spec": {"containers": [], "terminationGracePeriodSeconds": 5}}), 1)]
    #[case(json!({"metadata": {"deletionGracePeriodSeconds": 0}, "spec": {"containers": [], "terminationGracePeriodSeconds": 0}}), 1)]
    fn the_grace_period_is_the_deletions_then_the_pods(
        #[case] pod: serde_json::Value,
        #[case] seconds: u64,
    ) {
        let pod: Pod = serde_json::from_value(pod).unwrap();
        assert_eq!(termination_grace(&pod), Duration::from_secs(seconds));
    }

    #[test]
    fn a_container_that_keeps_exiting_is_restarted_with_a_growing_back_off() {
        let t0 = tokio::time::Instant::now();
        let s = Duration::from_secs;
        let mut b = CrashBackOff::default();
        // The first exit: started again at once.
        assert_eq!(b.after_exit("app", t0, t0), AfterExit::Restart);
        // The second, 2 s later: CrashLoopBackOff for 10 s from the exit.
        let second = t0 + s(2);
        assert_eq!(
            b.after_exit("app", second, second),
            AfterExit::BackOff(s(10), second + s(10))
        );
        assert_eq!(
            b.after_exit("app", second + s(9), second + s(9)),
            AfterExit::BackOff(s(10), second + s(10)),
            "the back-off runs from the exit, not from each sync"
        );
        assert_eq!(
            b.after_exit("app", second + s(10), second + s(10)),
            AfterExit::Restart
        );
        // The third waits twice as long; another container has its own.
        let third = second + s(12);
        assert_eq!(
            b.after_exit("app", third, third),
            AfterExit::BackOff(s(20), third + s(20))
        );
        assert_eq!(b.after_exit("sidecar", third, third), AfterExit::Restart);
    }

    #[test]
    fn back_offs_read_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }

    #[rstest]
    #[case(None, 1, true)]
    #[case(Some("Always"), 0, true)]
    #[case(Some("OnFailure"), 1, true)]
    #[case(Some("OnFailure"), 0, false)]
    #[case(Some("Never"), 1, false)]
    fn the_restart_policy_says_which_exits_restart(
        #[case] policy: Option<&str>,
        #[case] code: i32,
        #[case] restarted: bool,
    ) {
        let pod: Pod =
            serde_json::from_value(json!({"spec": {"containers": [], "restartPolicy": policy}}))
                .unwrap();
        assert_eq!(restarts(&pod, code), restarted);
    }

    #[test]
    fn container_ids_lose_their_scheme() {
        assert_eq!(runtime_id("containerd://abc"), "abc");
        assert_eq!(runtime_id("abc"), "abc");
    }
}
