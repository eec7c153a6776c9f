//! `podcheck load`: N pods created at once (at most K in flight, at most Q a second), one pod
//! watch on them, and ClusterLoader2-style percentiles per stage. The target and the files;
//! the load itself is `crate::scale`'s, and `podcheck_core::scale` decides everything.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use podcheck_controlplane::{Config, ControlPlane};
use podcheck_core::scale::case::LoadPlan;
use podcheck_core::scale::perfdata::PerfData;
use podcheck_core::scale::stats::{self, LoadReport};

use crate::error::{Cleanup, UserError};
use crate::scale::{Cluster, Load};
use crate::scheduler::SchedulerProcess;
use crate::target::{ProviderOptions, SchedulerOverride};

pub use crate::scale::{LOAD_LABEL, default_pod};

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

/// What to create, how fast, and where.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub plan: LoadPlan,
    pub target: LoadTarget,
    pub template: Pod,
    /// Default: `reports/load-RUN-ID`.
    pub out: Option<PathBuf>,
}

/// A target ready for pods: a client, and what to stop at the end.
struct Ready {
    client: kube::Client,
    description: String,
    scheduler_name: Option<String>,
    embedded: Option<(ControlPlane, Option<SchedulerProcess>)>,
}

impl Ready {
    fn cluster(&self) -> Cluster<'_> {
        Cluster {
            client: &self.client,
            description: self.description.clone(),
            scheduler_name: self.scheduler_name.clone(),
            embedded: self.embedded.is_some(),
        }
    }

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
    let load = Load {
        plan: &request.plan,
        template: &request.template,
        id: &run_id,
        namespace: &namespace,
        namespace_labels: &[],
    };
    let cluster = ready.cluster();
    let result = tokio::select! {
        r = crate::scale::measure(&load, &cluster) => Some(r),
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
    // The embedded control plane stops next, its namespace with it.
    let wait = ready.embedded.is_none();
    let deleted =
        crate::scale::delete_namespace(&ready.client, &namespace, request.plan.in_flight, wait)
            .await;
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
    options.check_required_real()?;
    let external = options.external_scheduler();
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
