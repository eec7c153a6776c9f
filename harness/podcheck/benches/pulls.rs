//! Image pulls on real nodes: the seed's `kubectl run busybox --image busybox` (an untagged
//! image, so `imagePullPolicy: Always`: a pull from the control plane's registry every time)
//! beside `IfNotPresent` (the image is on the node after the first pull). For each, the
//! median and p90 of create→Running over 20 pods, and of the pull the kubelet reports in
//! its `Pulled` event.
//!
//! `cargo bench -p podcheck --bench pulls` (as root, with containerd, runc and the CNI
//! plugins installed; otherwise it says why and measures nothing).

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use podcheck_controlplane::providers::{RuntimeChoice, real_runtime_usable};
use podcheck_controlplane::{Config, ControlPlane};
use serde_json::json;

const PODS: usize = 20;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Creates the pod and waits (watching) until it is Running; milliseconds from the create.
async fn create_until_running(pods: &Api<Pod>, name: &str, policy: &str) -> f64 {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": name, "image": "busybox",
                  "imagePullPolicy": policy, "args": ["sleep", "3600"]}]}
    }))
    .unwrap();
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let mut watch = pods.watch(&params, "0").await.unwrap().boxed();
    let t0 = Instant::now();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(event)) = watch.next().await {
            if let WatchEvent::Added(p) | WatchEvent::Modified(p) = event
                && p.status.and_then(|s| s.phase).as_deref() == Some("Running")
            {
                return;
            }
        }
    })
    .await;
    assert!(running.is_ok(), "{name} did not run within 30 s");
    t0.elapsed().as_secs_f64() * 1e3
}

/// The pull time in the kubelet's `Pulled` event of `pod` (`… in 0.114s (…)`), if it pulled.
async fn pulled_ms(events: &Api<Event>, pod: &str) -> Option<f64> {
    for _ in 0..50 {
        let list = events.list(&ListParams::default()).await.unwrap();
        let found = list.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some("Pulled")
        });
        if let Some(e) = found {
            let message = e.message.unwrap_or_default();
            let secs = message
                .strip_prefix("Successfully pulled image \"busybox\" in ")?
                .split('s')
                .next()?
                .parse::<f64>()
                .ok()?;
            return Some(secs * 1e3);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = real_runtime_usable() {
        println!("pulls: no real runtime here ({why}); nothing measured");
        return;
    }
    let cp = ControlPlane::start(Config {
        runtime: RuntimeChoice::Containerd,
        ..Config::default()
    })
    .await
    .expect("control plane with containerd starts");
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client, "default");
    println!("create→Running of busybox (sleep 3600), {PODS} pods one at a time:");
    println!(
        "{:<14} {:>12} {:>9} {:>12} {:>9}",
        "policy", "running p50", "p90", "pull p50", "p90"
    );
    let mut medians = Vec::new();
    for policy in ["Always", "IfNotPresent"] {
        let (mut running, mut pulls) = (Vec::new(), Vec::new());
        for i in 0..PODS {
            let name = format!("{}-{i}", policy.to_lowercase());
            running.push(create_until_running(&pods, &name, policy).await);
            if let Some(ms) = pulled_ms(&events, &name).await {
                pulls.push(ms);
            }
        }
        let p50 = percentile(&mut running, 50.0);
        let p90 = percentile(&mut running, 90.0);
        let (pull50, pull90) = if pulls.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!("{:.1} ms", percentile(&mut pulls, 50.0)),
                format!("{:.1} ms", percentile(&mut pulls, 90.0)),
            )
        };
        println!(
            "{policy:<14} {:>9.1} ms {:>6.1} ms {pull50:>12} {pull90:>9}  ({} pulls)",
            p50,
            p90,
            pulls.len()
        );
        medians.push(p50);
    }
    println!(
        "Always / IfNotPresent (create→Running medians): {:.2}",
        medians[0] / medians[1]
    );
    cp.shutdown().await;
}
