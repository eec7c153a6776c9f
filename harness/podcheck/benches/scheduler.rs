//! The builtin scheduler's throughput, as kube-scheduler's scheduler_perf measures its
//! SchedulingBasic: 5,000 nodes and 10,000 pods waiting, then the scheduler started and
//! timed until every pod is bound (through the API: its watches, decisions, bindings and
//! events). The nodes are Node objects without kubelets, as in scheduler_perf.
//!
//! `cargo bench -p podcheck --bench scheduler` (PODCHECK_BENCH_NODES, PODCHECK_BENCH_PODS
//! override 5,000 and 10,000; PODCHECK_BENCH_RUNS the 3 runs).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use podcheck_controlplane::{Config, ControlPlane, scheduler};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// scheduler_perf's floor for SchedulingBasic 5000Nodes_10000Pods, on far larger machines,
/// and this project's goal on this one.
const UPSTREAM_FLOOR: f64 = 680.0;
const GOAL: f64 = 2000.0;

/// The podcheck binary's allocator, so the scheduler is measured as `podcheck` runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn add_nodes(client: &kube::Client, count: usize) {
    let nodes: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..count)
        .for_each_concurrent(64, |i| {
            let nodes = nodes.clone();
            async move {
                let name = format!("perf-node-{i}");
                let node: Node = serde_json::from_value(json!({"metadata": {
                    "name": name, "labels": {"kubernetes.io/hostname": name}}}))
                .unwrap();
                nodes.create(&PostParams::default(), &node).await.unwrap();
                let status = json!({"status": {
                    "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                    "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]}});
                nodes
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .unwrap();
            }
        })
        .await;
}

async fn add_pods(client: &kube::Client, count: usize) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..count)
        .for_each_concurrent(64, |i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("perf-pod-{i}")},
                    "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                             "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}}))
                .unwrap();
                pods.create(&PostParams::default(), &pod).await.unwrap();
            }
        })
        .await;
}

/// Starts the scheduler and returns when `count` pods are bound: the seconds from its start
/// to the first binding seen, and to the last.
async fn schedule(client: &kube::Client, count: usize) -> (f64, f64) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut bound = std::collections::HashSet::new();
    let events = watcher(pods, watcher::Config::default())
        .applied_objects()
        .boxed();
    let stop = CancellationToken::new();
    let (seen, _) = tokio::sync::watch::channel(0usize);
    let begun = Instant::now();
    let task = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { scheduler::run(client, stop, &seen, false).await }
    });
    let mut first = None;
    let deadline = tokio::time::sleep(Duration::from_secs(300));
    tokio::pin!(deadline, events);
    while bound.len() < count {
        tokio::select! {
            _ = &mut deadline => panic!("only {} of {count} pods bound within 300 s", bound.len()),
            pod = events.try_next() => {
                let pod = pod.unwrap().expect("the watch goes on");
                if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    bound.insert(pod.metadata.name.unwrap());
                    first.get_or_insert_with(|| begun.elapsed().as_secs_f64());
                }
            }
        }
    }
    let last = begun.elapsed().as_secs_f64();
    stop.cancel();
    let _ = task.await;
    (first.unwrap_or(last), last)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` passes --bench; run only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (nodes, pods, runs) = (
        env("PODCHECK_BENCH_NODES", 5000),
        env("PODCHECK_BENCH_PODS", 10_000),
        env("PODCHECK_BENCH_RUNS", 3),
    );
    println!(
        "builtin scheduler: {nodes} nodes, {pods} pods waiting, {runs} runs ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let (mut rates, mut totals) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let cp = ControlPlane::start(Config {
            scheduler: false,
            ..Config::default()
        })
        .await
        .expect("the control plane starts");
        let client = cp.client().await.unwrap();
        add_nodes(&client, nodes).await;
        add_pods(&client, pods).await;
        let (first, last) = schedule(&client, pods).await;
        let rate = pods as f64 / last;
        println!(
            "run {run}: first binding after {:.0} ms, all {pods} bound after {:.2} s: {rate:.0} bindings/s",
            first * 1e3,
            last
        );
        rates.push(rate);
        totals.push(last);
        cp.shutdown().await;
    }
    let rate = median(rates);
    println!(
        "median: all bound after {:.2} s, {rate:.0} bindings/s (goal >= {GOAL:.0}; scheduler_perf's floor {UPSTREAM_FLOOR:.0}) {}",
        median(totals),
        if rate >= GOAL { "MET" } else { "NOT MET" }
    );
}
