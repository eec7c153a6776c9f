//! The builtin scheduler: watches pods without a node, filters and scores the nodes, and
//! posts a Binding — through the API, exactly as kube-scheduler does.

pub mod events;
pub mod filter;
pub mod snapshot;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use events::{Action, SchedulerEvents};
use snapshot::{Decision, Snapshot};

/// The scheduler name pods ask for by default.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// How often pods that fit nowhere are tried again even without a change seen.
const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(5);
/// Bindings posted at once: as kube-scheduler's binding cycles, they run beside the next
/// scheduling decisions, on resources already assumed.
const BINDINGS_IN_FLIGHT: usize = 64;

/// Runs until `shutdown`, publishing how many nodes its cache holds once synced; records
/// its events through events.k8s.io/v1 where `events_api` says so, as kube-scheduler does.
pub async fn run(
    client: kube::Client,
    shutdown: CancellationToken,
    nodes_seen: &tokio::sync::watch::Sender<usize>,
    events_api: bool,
) {
    let (pods, pod_writer) = reflector::store::<Pod>();
    let mut pod_events = reflector::reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .boxed();
    let mut node_events = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut scheduler = Scheduler {
        client: client.clone(),
        recorder: Arc::new(SchedulerEvents::new(client, events_api)),
        pods,
        snapshot: Snapshot::default(),
        listed_nodes: None,
        queue: VecDeque::new(),
        queued: HashSet::new(),
        unschedulable: HashMap::new(),
        bindings: JoinSet::new(),
    };
    // Like kube-scheduler, decide nothing until both caches have synced: a pod seen before
    // the nodes would otherwise be reported as fitting nowhere.
    let (mut pods_synced, mut nodes_synced) = (false, false);
    let mut retry = tokio::time::interval(RETRY_UNSCHEDULABLE);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some(event) = pod_events.next() => match event {
                Ok(e) => pods_synced |= scheduler.pod_event(e),
                Err(e) => tracing::debug!(error = %e, "pod watch error"),
            },
            Some(event) = node_events.next() => {
                match event {
                    Ok(e) => nodes_synced |= scheduler.node_event(e),
                    Err(e) => tracing::debug!(error = %e, "node watch error"),
                }
                scheduler.requeue_unschedulable();
                if nodes_synced {
                    nodes_seen.send_replace(scheduler.snapshot.node_count());
                }
            },
            Some(done) = scheduler.bindings.join_next(), if !scheduler.bindings.is_empty() => {
                scheduler.binding_done(done);
            }
            _ = retry.tick() => scheduler.requeue_unschedulable(),
        }
        // Drain what else has arrived before scheduling, so a burst is seen as one.
        while let Some(Some(Ok(e))) = pod_events.next().now_or_never() {
            pods_synced |= scheduler.pod_event(e);
        }
        if pods_synced && nodes_synced {
            scheduler.schedule_queue(&shutdown).await;
        }
    }
}

/// Whether the builtin scheduler runs: what `schedulerStopped` and `schedulerPaused` faults
/// switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Running,
    /// Not polled: its caches and watches are kept, as a process's under SIGSTOP.
    Paused,
    /// Dropped: started again, from empty caches, once running.
    Stopped,
}

/// Runs the scheduler as `gate` says until `shutdown` (see [`Gate`]).
pub async fn supervised(
    client: kube::Client,
    shutdown: CancellationToken,
    nodes_seen: tokio::sync::watch::Sender<usize>,
    events_api: bool,
    mut gate: tokio::sync::watch::Receiver<Gate>,
) {
    loop {
        if !wait_until(&mut gate, &shutdown, |g| g == Gate::Running).await {
            return;
        }
        let token = shutdown.child_token();
        let scheduler = run(client.clone(), token.clone(), &nodes_seen, events_api);
        tokio::pin!(scheduler);
        loop {
            let current = *gate.borrow_and_update();
            match current {
                // The gate first: a fault thrown before a pod was created must stop the
                // scheduler before it sees that pod.
                Gate::Running => tokio::select! {
                    biased;
                    changed = gate.changed() => if changed.is_err() { return },
                    _ = &mut scheduler => return,
                },
                Gate::Paused => {
                    if !wait_until(&mut gate, &shutdown, |g| g != Gate::Paused).await {
                        return;
                    }
                }
                Gate::Stopped => {
                    token.cancel();
                    break;
                }
            }
        }
    }
}

/// Waits until the gate satisfies `open`; false when shutting down first.
async fn wait_until(
    gate: &mut tokio::sync::watch::Receiver<Gate>,
    shutdown: &CancellationToken,
    open: impl Fn(Gate) -> bool,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        ok = gate.wait_for(|g| open(*g)) => ok.is_ok(),
    }
}

struct Scheduler {
    client: kube::Client,
    recorder: Arc<SchedulerEvents>,
    pods: Store<Pod>,
    /// The nodes and what is placed on them, bindings in flight included.
    snapshot: Snapshot,
    /// Nodes of a listing in progress; they replace the snapshot's once it is done.
    listed_nodes: Option<Vec<Node>>,
    /// Pods waiting for a scheduling attempt, in arrival order, each once.
    queue: VecDeque<ObjectRef<Pod>>,
    queued: HashSet<ObjectRef<Pod>>,
    /// Pods that fit nowhere, with the last message reported for each.
    unschedulable: HashMap<ObjectRef<Pod>, String>,
    /// Bindings posted and not yet answered: a failed one is tried again.
    bindings: JoinSet<Bound>,
}

/// How a binding posted beside the scheduling loop ended.
struct Bound {
    key: ObjectRef<Pod>,
    uid: String,
    failed: Option<String>,
}

fn wants_us(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.node_name.as_deref())
        .is_none_or(str::is_empty)
        && spec
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or(DEFAULT_SCHEDULER)
            == DEFAULT_SCHEDULER
        && pod.metadata.deletion_timestamp.is_none()
}

impl Scheduler {
    /// Takes in a pod watch event; true when it marks the end of the initial listing.
    fn pod_event(&mut self, event: watcher::Event<Pod>) -> bool {
        match event {
            watcher::Event::Apply(p) => {
                self.snapshot.pod_changed(&p);
                self.pod_changed(&p);
                false
            }
            watcher::Event::Delete(p) => {
                self.snapshot.pod_gone(&p);
                self.pod_changed(&p);
                false
            }
            // The reflector's store shows a listing only once it is done: then every pod
            // already waiting (for a scheduler that was stopped, say) is queued.
            watcher::Event::Init | watcher::Event::InitApply(_) => false,
            watcher::Event::InitDone => {
                let pods = &self.pods;
                self.unschedulable.retain(|key, _| pods.get(key).is_some());
                self.snapshot.forget_seen_pods();
                for pod in self.pods.state() {
                    self.snapshot.pod_changed(&pod);
                    if wants_us(&pod) {
                        self.enqueue(ObjectRef::from_obj(&*pod));
                    }
                }
                true
            }
        }
    }

    /// Takes in a node watch event; true when it marks the end of a listing.
    fn node_event(&mut self, event: watcher::Event<Node>) -> bool {
        match event {
            watcher::Event::Apply(n) => self.snapshot.node_changed(n),
            watcher::Event::Delete(n) => self.snapshot.node_gone(&n),
            watcher::Event::Init => self.listed_nodes = Some(Vec::new()),
            watcher::Event::InitApply(n) => self.listed_nodes.get_or_insert_default().push(n),
            watcher::Event::InitDone => {
                let nodes = self.listed_nodes.take().unwrap_or_default();
                self.snapshot.set_nodes(nodes);
                return true;
            }
        }
        false
    }

    fn pod_changed(&mut self, pod: &Pod) {
        let key = ObjectRef::from_obj(pod);
        let gone = self.pods.get(&key).is_none();
        if gone || !wants_us(pod) {
            self.unschedulable.remove(&key);
            // A pod that left or finished frees room for those waiting.
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if gone || matches!(phase, Some("Succeeded" | "Failed")) {
                self.requeue_unschedulable();
            }
            return;
        }
        if !self.unschedulable.contains_key(&key) {
            self.enqueue(key);
        }
    }

    fn enqueue(&mut self, key: ObjectRef<Pod>) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    fn requeue_unschedulable(&mut self) {
        let waiting: Vec<_> = self.unschedulable.keys().cloned().collect();
        for key in waiting {
            self.enqueue(key);
        }
    }

    async fn schedule_queue(&mut self, shutdown: &CancellationToken) {
        while let Some(key) = self.queue.pop_front() {
            self.queued.remove(&key);
            if shutdown.is_cancelled() {
                return;
            }
            let Some(pod) = self.pods.get(&key) else {
                continue;
            };
            if !wants_us(&pod) {
                continue;
            }
            // Answers are taken in as they come, so the assumed room of a failed binding
            // is free again before the next decision.
            while let Some(done) = self.bindings.try_join_next() {
                self.binding_done(done);
            }
            if self.bindings.len() >= BINDINGS_IN_FLIGHT
                && let Some(done) = self.bindings.join_next().await
            {
                self.binding_done(done);
            }
            self.schedule_one(key, &pod).await;
        }
    }

    async fn schedule_one(&mut self, key: ObjectRef<Pod>, pod: &Arc<Pod>) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = match self.snapshot.decide(pod) {
            Decision::Bind(node) => node,
            Decision::Unschedulable(message) => {
                let changed = self.unschedulable.get(&key) != Some(&message);
                self.unschedulable.insert(key, message.clone());
                if changed {
                    self.report_unschedulable(pod, &ns, &name, &message).await;
                }
                return;
            }
        };
        self.unschedulable.remove(&key);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.snapshot.assume(pod, &node, filter::requests(pod));
        let (client, recorder, pod) = (self.client.clone(), self.recorder.clone(), pod.clone());
        self.bindings.spawn(async move {
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let failed = match post_binding(&client, &ns, &name, &binding).await {
                Ok(()) => {
                    recorder
                        .pod_event(
                            &pod,
                            false,
                            "Scheduled",
                            Action::Binding,
                            &format!("Successfully assigned {ns}/{name} to {node}"),
                        )
                        .await;
                    None
                }
                Err(e) => {
                    tracing::debug!(pod = %name, error = %e, "binding failed");
                    Some(format!("binding failed: {e}"))
                }
            };
            Bound { key, uid, failed }
        });
    }

    /// A binding answered: a failed one frees its room, and its pod waits with those that
    /// fit nowhere to be tried again.
    fn binding_done(&mut self, done: Result<Bound, tokio::task::JoinError>) {
        let Ok(Bound {
            key,
            uid,
            failed: Some(why),
        }) = done
        else {
            return;
        };
        self.snapshot.forget(&uid);
        if self.pods.get(&key).is_some_and(|p| wants_us(&p)) {
            self.unschedulable.insert(key, why);
        }
    }

    async fn report_unschedulable(&self, pod: &Pod, ns: &str, name: &str, message: &str) {
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null,
            "lastTransitionTime": crate::apiserver::object::now(),
        }]}});
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        if let Err(e) = api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            tracing::debug!(pod = %name, error = %e, "could not mark pod unschedulable");
        }
        self.recorder
            .pod_event(pod, true, "FailedScheduling", Action::Scheduling, message)
            .await;
    }
}

/// `POST pods/NAME/binding`, which answers with a `Status`, not a Pod.
async fn post_binding(
    client: &kube::Client,
    ns: &str,
    name: &str,
    binding: &serde_json::Value,
) -> Result<(), kube::Error> {
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/pods/{name}/binding"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(binding).unwrap_or_default())
        .map_err(kube::Error::HttpError)?;
    client
        .request::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>(req)
        .await
        .map(|_| ())
}
