//! `podcheck-example-scheduler`: a small custom Kubernetes scheduler written with kube-rs.
//!
//! It watches pods and nodes, picks the unscheduled pods that ask for its scheduler name,
//! keeps the nodes that can take each pod (`filter.rs`), chooses the best of them, and
//! posts a Binding. It tells what it did as kube-scheduler does: a `Scheduled` event, or a
//! `FailedScheduling` event and the `PodScheduled=False/Unschedulable` condition.
//! See README.md beside this file.

mod filter;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Status, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use filter::Resources;

/// A small custom scheduler: filter (nodeSelector, node affinity, taints, resources,
/// cordoned nodes), score (preferred affinity, least allocated), bind.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The `spec.schedulerName` this scheduler serves. The default replaces
    /// kube-scheduler; another name runs beside it.
    #[arg(long, default_value = "default-scheduler")]
    scheduler_name: String,
    /// How often pods that fit nowhere are tried again.
    #[arg(long, default_value = "1s", value_parser = parse_seconds)]
    retry: Duration,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let n = s.strip_suffix('s').unwrap_or(s);
    n.parse::<f64>()
        .map(Duration::from_secs_f64)
        .map_err(|e| format!("{s}: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // KUBECONFIG, or the pod's service account when run in a cluster.
    let client = kube::Client::try_default()
        .await
        .context("no cluster to schedule for (set KUBECONFIG)")?;

    // Two caches kept current by watches: every node, and every pod (the pods already on a
    // node use up its resources).
    let (nodes, node_writer) = reflector::store::<Node>();
    let node_watch = reflector::reflector(
        node_writer,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .for_each(|_| async {});
    let node_task = tokio::spawn(node_watch);
    let (pods, pod_writer) = reflector::store::<Pod>();
    let mut pod_changes = reflector::reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects()
    .boxed();

    let mut scheduler = Scheduler {
        client,
        name: args.scheduler_name,
        nodes,
        pods,
        assumed: HashMap::new(),
        unschedulable: HashMap::new(),
    };
    // Judge no pod before the nodes are known: the pod watch starts after this.
    scheduler
        .nodes
        .wait_until_ready()
        .await
        .context("the node watch stopped")?;
    tracing::info!(name = %scheduler.name, "scheduling");
    let mut retry = tokio::time::interval(args.retry);
    loop {
        tokio::select! {
            change = pod_changes.next() => match change {
                Some(Ok(pod)) if scheduler.wants(&pod) => {
                    // Pods that fit nowhere wait for the retry, not for their own updates.
                    if !scheduler.unschedulable.contains_key(&uid(&pod)) {
                        scheduler.schedule(&pod).await;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "pod watch"),
                None => break,
            },
            _ = retry.tick() => {
                let pods = scheduler.pods.state();
                // Forget the pods that are gone.
                scheduler
                    .unschedulable
                    .retain(|uid, _| pods.iter().any(|p| p.metadata.uid.as_deref() == Some(uid)));
                for pod in pods {
                    if scheduler.wants(&pod) {
                        scheduler.schedule(&pod).await;
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node_task.abort();
    Ok(())
}

struct Scheduler {
    client: kube::Client,
    name: String,
    nodes: Store<Node>,
    pods: Store<Pod>,
    /// Bindings posted but not yet seen in the pod cache: node and requests, by pod uid.
    assumed: HashMap<String, (String, Resources)>,
    /// Pods that fit nowhere, with the message last reported, by pod uid.
    unschedulable: HashMap<String, String>,
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl Scheduler {
    /// An unscheduled, live pod that names this scheduler, not bound by us already.
    fn wants(&self, pod: &Pod) -> bool {
        let Some(spec) = pod.spec.as_ref() else {
            return false;
        };
        spec.node_name.as_deref().is_none_or(str::is_empty)
            && spec
                .scheduler_name
                .as_deref()
                .unwrap_or("default-scheduler")
                == self.name
            && pod.metadata.deletion_timestamp.is_none()
            && !self.assumed.contains_key(&uid(pod))
    }

    /// What each node has left: allocatable minus the requests of the pods on it.
    fn free(&mut self) -> HashMap<String, Resources> {
        let pods = self.pods.state();
        // Bindings the cache shows now are no longer assumed.
        self.assumed.retain(|uid, _| {
            !pods.iter().any(|p| {
                p.metadata.uid.as_deref() == Some(uid.as_str())
                    && p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
            })
        });
        let mut used: HashMap<String, Resources> = HashMap::new();
        for p in &pods {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone())
                && !matches!(phase, Some("Succeeded" | "Failed"))
            {
                used.entry(node).or_default().add(filter::requests(p));
            }
        }
        for (node, r) in self.assumed.values() {
            used.entry(node.clone()).or_default().add(*r);
        }
        self.nodes
            .state()
            .iter()
            .map(|n| {
                let name = n.metadata.name.clone().unwrap_or_default();
                let total = filter::allocatable(n);
                let u = used.get(&name).copied().unwrap_or_default();
                let free = Resources {
                    milli_cpu: total.milli_cpu.saturating_sub(u.milli_cpu),
                    memory: total.memory.saturating_sub(u.memory),
                    pods: total.pods.saturating_sub(u.pods),
                };
                (name, free)
            })
            .collect()
    }

    /// One attempt: filter, score, bind — or report why the pod fits nowhere.
    async fn schedule(&mut self, pod: &Pod) {
        let free = self.free();
        let nodes = self.nodes.state();
        let mut reasons = Vec::new();
        let mut feasible = Vec::new();
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let left = free.get(&name).copied().unwrap_or_default();
            match filter::filter(pod, node, left) {
                Ok(()) => feasible.push((node, name, left)),
                Err(reason) => reasons.push(reason),
            }
        }
        // Score: preferred affinity (scaled to 0–100, counted twice, as kube-scheduler's
        // default weights do) plus least allocated (0–100); ties go to the first name.
        let best_affinity = feasible
            .iter()
            .map(|(n, _, _)| filter::preferred_affinity(pod, n))
            .max()
            .unwrap_or(0)
            .max(1);
        let best = feasible
            .iter()
            .map(|(node, name, left)| {
                let affinity = f64::from(filter::preferred_affinity(pod, node)) * 100.0
                    / f64::from(best_affinity);
                (
                    2.0 * affinity + filter::least_allocated(pod, node, *left),
                    name,
                )
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)));
        match best {
            Some((_, node)) => self.bind(pod, node).await,
            None => {
                let message = filter::unschedulable_message(nodes.len(), &reasons);
                self.report_unschedulable(pod, message).await;
            }
        }
    }

    /// `POST pods/NAME/binding`, then the `Scheduled` event.
    async fn bind(&mut self, pod: &Pod, node: &str) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // The binding subresource answers with a Status, not a Pod.
        let bound: Result<Status, _> = pods
            .create_subresource("binding", &name, &PostParams::default(), &binding)
            .await;
        if let Err(e) = bound {
            tracing::warn!(pod = %name, error = %e, "binding failed");
            return;
        }
        tracing::info!(pod = %format!("{ns}/{name}"), node, "bound");
        self.unschedulable.remove(&uid(pod));
        self.assumed
            .insert(uid(pod), (node.to_string(), filter::requests(pod)));
        let message = format!("Successfully assigned {ns}/{name} to {node}");
        self.event(pod, "Normal", "Scheduled", &message).await;
    }

    /// `PodScheduled=False/Unschedulable` and a `FailedScheduling` event, once per message.
    async fn report_unschedulable(&mut self, pod: &Pod, message: String) {
        if self.unschedulable.get(&uid(pod)) == Some(&message) {
            return;
        }
        self.unschedulable.insert(uid(pod), message.clone());
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        tracing::info!(pod = %format!("{ns}/{name}"), %message, "unschedulable");
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null, "lastTransitionTime": now,
        }]}});
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = pods
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            tracing::warn!(pod = %name, error = %e, "could not set PodScheduled");
        }
        self.event(pod, "Warning", "FailedScheduling", &message)
            .await;
    }

    /// A core/v1 Event about the pod, reported by this scheduler (by its name, as
    /// kube-scheduler reports as `default-scheduler`).
    async fn event(&self, pod: &Pod, type_: &str, reason: &str, message: &str) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(type_.into()),
            source: Some(EventSource {
                component: Some(self.name.clone()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            action: Some(
                if reason == "Scheduled" {
                    "Binding"
                } else {
                    "Scheduling"
                }
                .into(),
            ),
            reporting_component: Some(self.name.clone()),
            reporting_instance: Some(format!("{}-{}", self.name, std::process::id())),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            tracing::warn!(reason, error = %e, "could not record the event");
        }
    }
}
