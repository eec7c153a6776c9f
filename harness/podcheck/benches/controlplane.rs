//! Benchmarks of the embedded control plane, run against `podcheck up` as a user runs it:
//! cold start to `/readyz`, create→Running latency for one pod, then the scale runs of
//! issue 16 with their goals: 1,000 and 10,000 pods on 1,000 nodes (the time per pod must
//! not grow by more than 1.5×; 10,000 pods Running within 10 s on memory, 25 s on etcd),
//! and the control plane's memory with 10,000 pods on 5,000 nodes (≤ 300 MiB). Prints
//! medians, percentiles and each goal beside its figure.
//!
//! `cargo bench -p podcheck --bench controlplane`; PODCHECK_BENCH_PODS (10,000),
//! PODCHECK_BENCH_NODES (1,000) and PODCHECK_BENCH_MEMORY_NODES (5,000) scale it down,
//! PODCHECK_BENCH_STORES=memory leaves etcd out.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

const STARTS: usize = 20;
const SINGLE_PODS: usize = 20;

struct Up {
    child: Child,
    kubeconfig: PathBuf,
    reported_ms: f64,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn spawn(nodes: usize, store: &str) -> (Up, Instant) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args([
            "up",
            "--nodes",
            &nodes.to_string(),
            "--store",
            store,
            "--runtime",
            "sim",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("podcheck starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut kubeconfig, mut reported_ms) = (None, 0.0);
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(ms) = line
            .strip_prefix("podcheck: control plane up in ")
            .and_then(|r| r.split(' ').next())
        {
            reported_ms = ms.parse().unwrap_or(0.0);
        }
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            kubeconfig = Some(PathBuf::from(path));
            break;
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        Up {
            child,
            kubeconfig: kubeconfig.expect("a kubeconfig line"),
            reported_ms,
        },
        t0,
    )
}

async fn client(path: &PathBuf) -> kube::Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let median = percentile(&v, 0.5);
    println!(
        "{name:<44} n={:<5} median={median:>8.2} ms  p99={:>8.2} ms  min={:>8.2} ms  max={:>8.2} ms",
        v.len(),
        percentile(&v, 0.99),
        v[0],
        v[v.len() - 1]
    );
    median
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent"}]}})).unwrap()
}

/// Creates `names` (at most `parallel` in flight) and returns each one's create→Running time.
async fn create_and_wait(api: &Api<Pod>, names: Vec<String>, parallel: usize) -> Vec<f64> {
    let rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = api
        .watch(&WatchParams::default().timeout(290), &rv)
        .await
        .unwrap()
        .boxed();
    let started: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let total = names.len();
    let creator = {
        let api = api.clone();
        let started = started.clone();
        tokio::spawn(async move {
            futures::stream::iter(names)
                .for_each_concurrent(parallel, |name| {
                    let api = api.clone();
                    let started = started.clone();
                    async move {
                        started.lock().unwrap().insert(name.clone(), Instant::now());
                        api.create(&PostParams::default(), &pod(&name))
                            .await
                            .expect("create");
                    }
                })
                .await
        })
    };
    let mut latencies = HashMap::new();
    let deadline = tokio::time::sleep(Duration::from_secs(280));
    tokio::pin!(deadline);
    while latencies.len() < total {
        tokio::select! {
            _ = &mut deadline => panic!("only {} of {total} pods ran within the deadline", latencies.len()),
            event = watch.next() => match event {
                Some(Ok(WatchEvent::Modified(p))) if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") => {
                    let name = p.metadata.name.unwrap();
                    if let Some(t) = started.lock().unwrap().get(&name) {
                        latencies.entry(name).or_insert_with(|| t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                Some(_) => {}
                None => panic!("the watch ended"),
            },
        }
    }
    creator.await.unwrap();
    latencies.into_values().collect()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap())
        })
        .unwrap()
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` passes --bench; run only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let pods = setting("PODCHECK_BENCH_PODS", 10_000);
    let nodes = setting("PODCHECK_BENCH_NODES", 1000);
    let memory_nodes = setting("PODCHECK_BENCH_MEMORY_NODES", 5000);
    println!(
        "podcheck control plane benchmarks ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    let with_etcd = std::path::Path::new("/usr/bin/etcd").is_file()
        && std::env::var("PODCHECK_BENCH_STORES").as_deref() != Ok("memory");
    let stores: Vec<&str> = if with_etcd {
        vec!["memory", "etcd"]
    } else {
        vec!["memory"]
    };
    for store in stores {
        let mut to_ready = Vec::new();
        let mut reported = Vec::new();
        for _ in 0..STARTS {
            let (up, t0) = spawn(1, store);
            let client = client(&up.kubeconfig).await;
            let body = client
                .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
                .await
                .unwrap();
            assert_eq!(body, "ok");
            to_ready.push(t0.elapsed().as_secs_f64() * 1e3);
            reported.push(up.reported_ms);
        }
        summary(
            &format!("[{store}] cold start: spawn -> /readyz 200"),
            to_ready,
        );
        summary(
            &format!("[{store}] cold start: main() -> ready (self-reported)"),
            reported,
        );

        let (up, _) = spawn(1, store);
        let api: Api<Pod> = Api::namespaced(client(&up.kubeconfig).await, "default");
        let mut single = Vec::new();
        for i in 0..SINGLE_PODS {
            single.extend(create_and_wait(&api, vec![format!("single-{i}")], 1).await);
        }
        summary(
            &format!("[{store}] create -> Running, 1 pod at a time"),
            single,
        );
        drop(up);

        let small = (pods / 10).max(1);
        let per_pod_small = scale_run(store, small, nodes, f64::INFINITY).await.wall / small as f64;
        let big = scale_run(
            store,
            pods,
            nodes,
            if store == "etcd" { 25.0 } else { 10.0 },
        )
        .await;
        let per_pod_big = big.wall / pods as f64;
        let ratio = per_pod_big / per_pod_small;
        println!(
            "[{store}] time per pod: {:.3} ms at {small} pods, {:.3} ms at {pods} pods: {ratio:.2}x (goal <= 1.5x) {}",
            per_pod_small * 1e3,
            per_pod_big * 1e3,
            met(ratio <= 1.5)
        );
        if store == "memory" {
            let big = scale_run(store, pods, memory_nodes, f64::INFINITY).await;
            println!(
                "[{store}] control plane memory with {pods} pods on {memory_nodes} nodes: {} MiB (peak {} MiB; goal <= 300 MiB) {}",
                big.rss_mib,
                big.peak_mib,
                met(big.peak_mib <= 300)
            );
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}

struct ScaleRun {
    wall: f64,
    rss_mib: u64,
    peak_mib: u64,
}

/// `pods` pods created on `nodes` nodes, 64 in flight: each one's create→Running, the
/// wall time until all run (beside its goal in seconds) and the control plane's memory.
async fn scale_run(store: &str, pods: usize, nodes: usize, goal_s: f64) -> ScaleRun {
    let (up, _) = spawn(nodes, store);
    let pid = up.child.id();
    let before = rss_kib(pid, "VmRSS:");
    let api: Api<Pod> = Api::namespaced(client(&up.kubeconfig).await, "default");
    let begun = Instant::now();
    let many = create_and_wait(&api, (0..pods).map(|i| format!("batch-{i}")).collect(), 64).await;
    let wall = begun.elapsed().as_secs_f64();
    summary(
        &format!("[{store}] create -> Running, {pods} pods ({nodes} nodes, 64 in flight)"),
        many,
    );
    let goal = if goal_s.is_finite() {
        format!(" (goal <= {goal_s:.0} s) {}", met(wall <= goal_s))
    } else {
        String::new()
    };
    println!(
        "[{store}] {pods} pods running after {wall:.2} s ({:.0} pods/s){goal}",
        pods as f64 / wall
    );
    let (rss, peak) = (rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
    println!(
        "[{store}] control plane memory: {} MiB idle, {} MiB with {pods} pods running (peak {} MiB)",
        before / 1024,
        rss / 1024,
        peak / 1024
    );
    ScaleRun {
        wall,
        rss_mib: rss / 1024,
        peak_mib: peak / 1024,
    }
}
