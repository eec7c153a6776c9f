//! `podcheck load`: N pods created at once (at most K in flight, at most Q a second), one pod
//! watch on them, and ClusterLoader2-style percentiles per stage. The I/O only: what it
//! sees goes through `podcheck_core::scale`, which decides everything.

use std::path::{Path, PathBuf};
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use podcheck_controlplane::{Config, ControlPlane, providers};
use podcheck_core::scale::Millis;
use podcheck_core::scale::perfdata::PerfData;
use podcheck_core::scale::slo::Slo;
use podcheck_core::scale::stats::{self, LoadReport, Memory, Rss, Throughput};
use podcheck_core::scale::timeline::{LoadEvent, Timeline};
use serde_json::json;

use crate::error::{Cleanup, UserError};
use crate::scheduler::SchedulerProcess;
use crate::target::{ProviderOptions, SchedulerOverride};

/// The label that selects a load run's pods (its value: the run id).
pub const LOAD_LABEL: &str = "podcheck.dev/load";

/// The seed's busybox pod, as `podcheck run` creates it (`busybox`, `IfNotPresent`, `sleep
/// 3600`: it stays Running). Not pinned to a tag: the embedded nodes serve the host's
/// busybox as `busybox:latest` and its own version (1.35.0 here), never 1.36.
const SEED_POD: &str = include_str!("../../../../suites/pod-lifecycle/pods/busybox.yaml");

pub fn default_pod() -> Pod {
    serde_saphyr::from_str(SEED_POD).expect("the seed's pod is a Pod")
}

/// A Pod YAML file (`--pod`).
pub fn read_pod(path: &Path) -> Result<Pod, UserError> {
    let bad = |message: String| UserError::LoadPod {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("Pod") {
        return Err(bad("is not a Pod (kind: Pod)".into()));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Where the pods go.
#[derive(Debug, Clone)]
pub enum LoadTarget {
    /// An embedded control plane with this many nodes, started for the run.
    Embedded {
        nodes: u16,
        providers: ProviderOptions,
    },
    /// The cluster of a kubeconfig.
    Kubeconfig(PathBuf),
}

/// What to create and how fast.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub pods: usize,
    pub target: LoadTarget,
    /// At most this many creates a second.
    pub qps: Option<f64>,
    /// At most this many creates waiting for their answer.
    pub in_flight: usize,
    pub template: Pod,
    /// Default: `reports/load-RUN-ID`.
    pub out: Option<PathBuf>,
    pub slos: Vec<Slo>,
    /// Default: `podcheck_core::scale::default_timeout`.
    pub timeout: Option<Duration>,
}

/// A target ready for pods: a client, and what to stop at the end.
struct Ready {
    client: kube::Client,
    description: String,
    scheduler_name: Option<String>,
    embedded: Option<(ControlPlane, Option<SchedulerProcess>)>,
}

impl Ready {
    async fn shutdown(self) {
        if let Some((cp, scheduler)) = self.embedded {
            if let Some(s) = scheduler {
                s.stop().await;
            }
            cp.shutdown().await;
        }
    }
}

/// Runs the load; pods that did not all run, or an SLO breached, is
/// [`UserError::ExpectationsFailed`] once the summary is printed and the files written.
pub async fn load(request: LoadRequest) -> Result<(), UserError> {
    let signals = super::Signals::listen();
    let run_id = super::run::run_id().to_lowercase();
    let out = request
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("load-{run_id}")));
    let ready = tokio::select! {
        r = prepare(&request.target) => r?,
        _ = super::signalled() => return Err(UserError::Interrupted(Cleanup::Deleted(0))),
    };
    let namespace = format!("podcheck-load-{run_id}");
    let result = tokio::select! {
        r = measure(&request, &ready, &run_id, &namespace) => Some(r),
        _ = signals.received() => None,
    };
    // What the run found is shown before the cleanup, which can take a while.
    if result.is_none() {
        eprintln!("podcheck: interrupted; cleaning up");
    }
    let shown = match &result {
        Some(Ok(report)) => show(report, &out),
        _ => Ok(()),
    };
    let deleted = delete_namespace(&ready, &namespace, request.in_flight).await;
    ready.shutdown().await;
    let Some(measured) = result else {
        return Err(UserError::Interrupted(deleted));
    };
    measured?;
    match deleted {
        Cleanup::Failed(e) => eprintln!("podcheck: warning: {}", podcheck_host::error_chain(&e)),
        Cleanup::TimedOut => {
            eprintln!("podcheck: warning: namespace {namespace} was not gone within 60 s")
        }
        Cleanup::Deleted(_) | Cleanup::ClusterDeleted(_) => {}
    }
    shown
}

/// Writes the files and prints the summary; the run's verdict.
fn show(report: &LoadReport, out: &Path) -> Result<(), UserError> {
    write(report, out)?;
    print!("{}", stats::render(report));
    println!(
        "wrote {} and {}",
        out.join("load.json").display(),
        out.join("perfdata.json").display()
    );
    if report.passed() {
        Ok(())
    } else {
        Err(UserError::ExpectationsFailed)
    }
}

/// Starts the embedded control plane (and the user's scheduler), or connects.
async fn prepare(target: &LoadTarget) -> Result<Ready, UserError> {
    match target {
        LoadTarget::Kubeconfig(path) => {
            let fail = |e: String| crate::Error::Kubeconfig(path.display().to_string(), e);
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| fail(e.to_string()))?;
            let client =
                kube::Client::try_from(config).map_err(|e| crate::Error::Connect(e.to_string()))?;
            Ok(Ready {
                client,
                description: format!("the cluster of {}", path.display()),
                scheduler_name: None,
                embedded: None,
            })
        }
        LoadTarget::Embedded { nodes, providers } => start_embedded(*nodes, providers).await,
    }
}

async fn start_embedded(nodes: u16, options: &ProviderOptions) -> Result<Ready, UserError> {
    let choices = providers::choose(&options.selection);
    let missing = providers::missing_real(&choices, &options.require_real);
    if !missing.is_empty() {
        let why = missing
            .iter()
            .map(|c| (c.component.name().to_string(), c.why.clone()));
        return Err(UserError::NotReal(why.collect()));
    }
    let external = match &options.scheduler {
        SchedulerOverride::External(e) => Some(e.clone()),
        SchedulerOverride::Suite | SchedulerOverride::None => None,
    };
    let cp = ControlPlane::start(Config {
        nodes,
        store: options.selection.store.clone(),
        runtime: options.selection.runtime.clone(),
        cni: options.cni.clone(),
        image_archives: options.image_archives.clone(),
        scheduler: options.scheduler != SchedulerOverride::None
            && external.as_ref().is_none_or(|e| !e.replaces_default()),
        ..Config::default()
    })
    .await?;
    let client = match cp.client().await {
        Ok(c) => c,
        Err(e) => {
            cp.shutdown().await;
            return Err(e.into());
        }
    };
    let scheduler = match &external {
        Some(e) => match SchedulerProcess::start(&cp, e).await {
            Ok(p) => Some(p),
            Err(e) => {
                cp.shutdown().await;
                return Err(e.into());
            }
        },
        None => None,
    };
    let runtime = cp
        .nodes()
        .next()
        .map(|(_, r)| r.provider().name)
        .unwrap_or_default();
    let description = format!(
        "the embedded control plane ({nodes} node(s), store {}, runtime {runtime})",
        cp.store().provider().name
    );
    Ok(Ready {
        client,
        description,
        scheduler_name: external
            .filter(|e| !e.replaces_default())
            .map(|e| e.scheduler_name),
        embedded: Some((cp, scheduler)),
    })
}

/// Creates the namespace and the pods, folds what the watch shows until every pod settled
/// or the deadline, and reports.
async fn measure(
    request: &LoadRequest,
    ready: &Ready,
    run_id: &str,
    namespace: &str,
) -> Result<LoadReport, UserError> {
    create_namespace(&ready.client, namespace, run_id).await?;
    let pods: Api<Pod> = Api::namespaced(ready.client.clone(), namespace);
    let selector = format!("{LOAD_LABEL}={run_id}");
    // One watch for every pod of the run, open (its list done) before the first create.
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
        return Err(crate::Error::Connect(message).into());
    }

    let names: Vec<String> = (0..request.pods)
        .map(|i| format!("load-{run_id}-{i}"))
        .collect();
    let mut timeline = Timeline::new(names.iter().cloned());
    let memory_before = rss();
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1e3;
    let copies = names.iter().map(|name| {
        let scheduler = ready.scheduler_name.as_deref();
        pod_named(&request.template, name, run_id, scheduler)
    });
    let mut creates = pin!(creates(request, &pods, copies, t0));
    let timeout = request
        .timeout
        .unwrap_or_else(|| podcheck_core::scale::default_timeout(request.pods));
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
                None => return Err(crate::Error::Connect("the pod watch ended".into()).into()),
            },
            _ = &mut deadline => {
                timed_out = true;
                break;
            }
        }
    }
    let wall_ms = ms();
    let memory = memory(ready, memory_before);
    let pod_times = timeline.pods().to_vec();
    let metrics = stats::metrics(&pod_times);
    Ok(LoadReport {
        run_id: run_id.to_string(),
        namespace: namespace.to_string(),
        target: ready.description.clone(),
        pods: request.pods,
        in_flight: request.in_flight,
        qps: request.qps,
        wall_ms,
        timed_out,
        progress: timeline.progress(),
        slos: request.slos.iter().map(|s| s.evaluate(&metrics)).collect(),
        metrics,
        not_measured: stats::not_measured(),
        throughput: Throughput::of(&pod_times),
        memory,
        pod_times,
    })
}

/// One create and its answer, on the run's clock.
struct Created {
    index: usize,
    sent: Millis,
    answered: Millis,
    refused: Option<String>,
}

/// The creates, in order: each waits for a `--qps` token (a tick every 1/Q s; a create held
/// back by `--in-flight` earns no burst later), then at most `--in-flight` are out at once.
fn creates<'a>(
    request: &'a LoadRequest,
    api: &'a Api<Pod>,
    pods: impl Iterator<Item = Pod> + 'a,
    t0: Instant,
) -> impl futures::Stream<Item = Created> + 'a {
    let pace = request.qps.map(|q| {
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
        .buffer_unordered(request.in_flight)
}

/// podcheck's own memory before and after, where the control plane lives in it.
fn memory(ready: &Ready, before: Option<Rss>) -> Memory {
    match (&ready.embedded, before, rss()) {
        (None, ..) => Memory::NotMeasured {
            why: "the control plane runs in another cluster".into(),
        },
        (Some(_), Some(before), Some(after)) => Memory::Embedded { before, after },
        (Some(_), ..) => Memory::NotMeasured {
            why: "/proc/self/status cannot be read".into(),
        },
    }
}

/// The template with its name, namespace left to the API, the run's label, and the
/// external scheduler's name where it serves another than `default-scheduler`.
fn pod_named(template: &Pod, name: &str, run_id: &str, scheduler_name: Option<&str>) -> Pod {
    let mut pod = template.clone();
    pod.metadata.name = Some(name.to_string());
    pod.metadata.namespace = None;
    pod.metadata.generate_name = None;
    pod.metadata.resource_version = None;
    pod.metadata.uid = None;
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LOAD_LABEL.into(), run_id.into());
    if let (Some(spec), Some(scheduler)) = (pod.spec.as_mut(), scheduler_name)
        && spec.scheduler_name.is_none()
    {
        spec.scheduler_name = Some(scheduler.to_string());
    }
    pod.status = None;
    pod
}

async fn create_namespace(
    client: &kube::Client,
    namespace: &str,
    run_id: &str,
) -> Result<(), UserError> {
    let fail = |e: String| crate::Error::Connect(format!("creating namespace {namespace}: {e}"));
    let object: Namespace = serde_json::from_value(json!({"metadata": {
        "name": namespace,
        "labels": {"app.kubernetes.io/managed-by": "podcheck", LOAD_LABEL: run_id}
    }}))
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
        .map_err(|_| fail("its default ServiceAccount did not appear within 30 s".into()).into())
}

/// Deletes the run's pods (no grace: they are the run's own) and its namespace; on another
/// cluster waits, a minute at most, for the namespace to be gone.
async fn delete_namespace(ready: &Ready, namespace: &str, in_flight: usize) -> Cleanup {
    let pods: Api<Pod> = Api::namespaced(ready.client.clone(), namespace);
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
        let namespaces: Api<Namespace> = Api::all(ready.client.clone());
        match namespaces
            .delete(namespace, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Cleanup::Deleted(1),
            Err(e) => {
                return Cleanup::Failed(crate::Error::Connect(format!(
                    "deleting namespace {namespace}: {e}"
                )));
            }
        }
        // The embedded control plane stops next, its namespace with it.
        while ready.embedded.is_none() {
            if let Err(kube::Error::Api(s)) = namespaces.get(namespace).await
                && s.code == 404
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
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

fn write(report: &LoadReport, dir: &Path) -> Result<(), UserError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| crate::Error::Write {
                path: path.display().to_string(),
                source,
            })
    };
    write("load.json", pretty(report))?;
    write("perfdata.json", pretty(&PerfData::of(&report.metrics)))?;
    Ok(())
}

/// Pretty JSON of either file's model (plain data: serializing it cannot fail).
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_of_the_seeds_pod_has_its_name_and_the_runs_label() {
        let pod = pod_named(&default_pod(), "load-r-7", "r", Some("mine"));
        assert_eq!(pod.metadata.name.as_deref(), Some("load-r-7"));
        assert_eq!(pod.metadata.labels.unwrap()[LOAD_LABEL], "r");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers[0].image.as_deref(), Some("busybox"));
        assert_eq!(spec.scheduler_name.as_deref(), Some("mine"));
    }

    #[test]
    fn pod_reads_a_pod_and_refuses_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let pod = file(
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, image: pause}]\n",
        );
        let read = read_pod(&pod).unwrap();
        assert_eq!(read.spec.unwrap().containers[0].name, "c");
        let deployment = file("d.yaml", "apiVersion: apps/v1\nkind: Deployment\n");
        let e = read_pod(&deployment).unwrap_err().to_string();
        assert!(e.contains("d.yaml: is not a Pod"), "{e}");
        assert!(read_pod(&dir.path().join("missing.yaml")).is_err());
    }
}
