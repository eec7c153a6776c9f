//! A load on a cluster, the I/O of `podcheck_core::scale`: a namespace, N pods created at
//! once (at most K in flight, at most Q a second), one pod watch on them folded into a
//! timeline, and the cleanup. `podcheck load` and a suite's load case (`runner.rs`) both
//! run it; what it saw is decided by the core.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use podcheck_core::scale::Millis;
use podcheck_core::scale::case::LoadPlan;
use podcheck_core::scale::stats::{self, LoadReport, Memory, Rss, Throughput};
use podcheck_core::scale::timeline::{LoadEvent, Timeline};
use serde_json::json;

use crate::Error;
use crate::error::Cleanup;

/// The label that selects a load's pods (its value: the load's id).
pub const LOAD_LABEL: &str = "podcheck.dev/load";

/// The seed's busybox pod, as `podcheck run` creates it (`busybox`, `IfNotPresent`, `sleep
/// 3600`: it stays Running). Not pinned to a tag: the embedded nodes serve the host's
/// busybox as `busybox:latest` and its own version (1.35.0 here), never 1.36.
pub fn default_pod() -> Pod {
    serde_saphyr::from_str(podcheck_core::scale::case::SEED_POD).expect("the seed's pod is a Pod")
}

/// The cluster a load goes to.
pub struct Cluster<'a> {
    pub client: &'a kube::Client,
    /// For the report: which cluster, in words.
    pub description: String,
    /// The external scheduler's name, for pods that name none, where it serves another
    /// than `default-scheduler`.
    pub scheduler_name: Option<String>,
    /// Whether the control plane lives in podcheck's process (its memory is then measured,
    /// and its namespace goes with it).
    pub embedded: bool,
}

/// One load: what, how much, how fast, where; `id` labels its namespace and pods and names
/// the pods (`load-ID-N`): `podcheck load`'s run id, or a load case's namespace.
pub struct Load<'a> {
    pub plan: &'a LoadPlan,
    pub template: &'a Pod,
    pub id: &'a str,
    pub namespace: &'a str,
    /// Labels of the namespace beside podcheck's own (a run's label, for its cleanup).
    pub namespace_labels: &'a [(&'a str, &'a str)],
}

/// Creates the namespace and the pods, folds what the watch shows until every pod settled
/// or the deadline, and reports. The namespace is left for [`delete_namespace`].
pub async fn measure(load: &Load<'_>, cluster: &Cluster<'_>) -> Result<LoadReport, Error> {
    let (plan, id, namespace) = (load.plan, load.id, load.namespace);
    create_namespace(cluster.client, load).await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let selector = format!("{LOAD_LABEL}={id}");
    // One watch for every pod of the load, open (its list done) before the first create.
    let mut watch = pin!(
        watcher::watcher(pods.clone(), watcher::Config::default().labels(&selector))
            .default_backoff()
    );
    let listed = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = watch.next().await {
            if let Ok(watcher::Event::InitDone) = event {
                return true;
            }
        }
        false
    });
    if !matches!(listed.await, Ok(true)) {
        let message = format!("the pod watch on {namespace} did not start");
        return Err(Error::Connect(message));
    }

    let names: Vec<String> = (0..plan.pods).map(|i| format!("load-{id}-{i}")).collect();
    let mut timeline = Timeline::new(names.iter().cloned());
    let memory_before = rss();
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1e3;
    let scheduler = cluster.scheduler_name.as_deref();
    let copies = names
        .iter()
        .map(|name| pod_named(load.template, name, id, scheduler));
    let mut creates = pin!(creates(plan, &pods, copies, t0));
    let timeout = plan
        .timeout
        .unwrap_or_else(|| podcheck_core::scale::default_timeout(plan.pods));
    let mut deadline = pin!(tokio::time::sleep(timeout));
    let (mut creating, mut timed_out) = (true, false);
    while creating || !timeline.settled() {
        tokio::select! {
            created = creates.next(), if creating => match created {
                Some(c) => {
                    timeline.apply(LoadEvent::CreateSent { index: c.index, at: c.sent });
                    let refused = c.refused.as_deref();
                    timeline.apply(LoadEvent::CreateAnswered { index: c.index, at: c.answered, refused });
                }
                None => creating = false,
            },
            event = watch.next() => match event {
                Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                    timeline.apply(LoadEvent::Watched { pod: &pod, at: ms() });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "the pod watch broke; it resumes"),
                None => return Err(Error::Connect("the pod watch ended".into())),
            },
            _ = &mut deadline => {
                timed_out = true;
                break;
            }
        }
    }
    let wall_ms = ms();
    let memory = memory(cluster.embedded, memory_before);
    let pod_times = timeline.pods().to_vec();
    let metrics = stats::metrics(&pod_times);
    Ok(LoadReport {
        run_id: id.to_string(),
        namespace: namespace.to_string(),
        target: cluster.description.clone(),
        pods: plan.pods,
        in_flight: plan.in_flight,
        qps: plan.qps,
        wall_ms,
        timed_out,
        progress: timeline.progress(),
        slos: plan.slos.iter().map(|s| s.evaluate(&metrics)).collect(),
        metrics,
        not_measured: stats::not_measured(),
        throughput: Throughput::of(&pod_times),
        memory,
        pod_times,
    })
}

/// One create and its answer, on the load's clock.
struct Created {
    index: usize,
    sent: Millis,
    answered: Millis,
    refused: Option<String>,
}

/// The creates, in order: each waits for a `qps` token (a tick every 1/Q s; a create held
/// back by `inFlight` earns no burst later), then at most `inFlight` are out at once.
fn creates<'a>(
    plan: &'a LoadPlan,
    api: &'a Api<Pod>,
    pods: impl Iterator<Item = Pod> + 'a,
    t0: Instant,
) -> impl futures::Stream<Item = Created> + 'a {
    let pace = plan.qps.map(|q| {
        let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / q));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every
    });
    let paced = stream::unfold(
        (pods.enumerate(), pace),
        |(mut pods, mut pace)| async move {
            let next = pods.next()?;
            if let Some(p) = pace.as_mut() {
                p.tick().await;
            }
            Some((next, (pods, pace)))
        },
    );
    let ms = move || t0.elapsed().as_secs_f64() * 1e3;
    paced
        .map(move |(index, pod)| async move {
            let sent = ms();
            let answer = api.create(&PostParams::default(), &pod).await;
            Created {
                index,
                sent,
                answered: ms(),
                refused: answer.err().map(|e| e.to_string()),
            }
        })
        .buffer_unordered(plan.in_flight)
}

/// podcheck's own memory before and after, where the control plane lives in it.
fn memory(embedded: bool, before: Option<Rss>) -> Memory {
    match (embedded, before, rss()) {
        (false, ..) => Memory::NotMeasured {
            why: "the control plane runs in another cluster".into(),
        },
        (true, Some(before), Some(after)) => Memory::Embedded { before, after },
        (true, ..) => Memory::NotMeasured {
            why: "/proc/self/status cannot be read".into(),
        },
    }
}

/// The template with its name, namespace left to the API, the load's label, and the
/// external scheduler's name where it serves another than `default-scheduler`.
pub fn pod_named(template: &Pod, name: &str, id: &str, scheduler_name: Option<&str>) -> Pod {
    let mut pod = template.clone();
    pod.metadata.name = Some(name.to_string());
    pod.metadata.namespace = None;
    pod.metadata.generate_name = None;
    pod.metadata.resource_version = None;
    pod.metadata.uid = None;
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LOAD_LABEL.into(), id.into());
    if let (Some(spec), Some(scheduler)) = (pod.spec.as_mut(), scheduler_name)
        && spec.scheduler_name.is_none()
    {
        spec.scheduler_name = Some(scheduler.to_string());
    }
    pod.status = None;
    pod
}

async fn create_namespace(client: &kube::Client, load: &Load<'_>) -> Result<(), Error> {
    let namespace = load.namespace;
    let fail = |e: String| Error::Connect(format!("creating namespace {namespace}: {e}"));
    let mut labels = serde_json::Map::new();
    labels.insert("app.kubernetes.io/managed-by".into(), json!("podcheck"));
    labels.insert(LOAD_LABEL.into(), json!(load.id));
    for (k, v) in load.namespace_labels {
        labels.insert(k.to_string(), json!(v));
    }
    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": namespace, "labels": labels}}))
            .map_err(|e| fail(e.to_string()))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // Real clusters refuse pods until the namespace's default ServiceAccount exists.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let exists = tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(accounts.get_opt("default").await, Ok(Some(_))) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    exists
        .await
        .map_err(|_| fail("its default ServiceAccount did not appear within 30 s".into()))
}

/// Deletes the load's pods (no grace: they are the load's own) and its namespace; with
/// `wait`, waits a minute at most for the namespace to be gone.
pub async fn delete_namespace(
    client: &kube::Client,
    namespace: &str,
    in_flight: usize,
    wait: bool,
) -> Cleanup {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    let work = async {
        let names = pods
            .list_metadata(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        stream::iter(names.into_iter().filter_map(|p| p.metadata.name))
            .for_each_concurrent(in_flight, |name| {
                let (pods, now) = (&pods, &now);
                async move {
                    let _ = pods.delete(&name, now).await;
                }
            })
            .await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match namespaces
            .delete(namespace, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Cleanup::Deleted(1),
            Err(e) => {
                return Cleanup::Failed(Error::Connect(format!(
                    "deleting namespace {namespace}: {e}"
                )));
            }
        }
        if wait {
            loop {
                if let Err(kube::Error::Api(s)) = namespaces.get(namespace).await
                    && s.code == 404
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Cleanup::Deleted(1)
    };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .unwrap_or(Cleanup::TimedOut)
}

/// podcheck's own memory (with the embedded control plane in it).
fn rss() -> Option<Rss> {
    Rss::parse(&std::fs::read_to_string("/proc/self/status").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_of_the_seeds_pod_has_its_name_and_the_loads_label() {
        let pod = pod_named(&default_pod(), "load-r-7", "r", Some("mine"));
        assert_eq!(pod.metadata.name.as_deref(), Some("load-r-7"));
        assert_eq!(pod.metadata.labels.unwrap()[LOAD_LABEL], "r");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers[0].image.as_deref(), Some("busybox"));
        assert_eq!(spec.scheduler_name.as_deref(), Some("mine"));
    }
}
