//! The kind target: a cluster made by the `kind` command (or one it made before, reused by
//! name), with podcheck's images loaded, the CNI under test installed where the config
//! disables kind's own, and real readiness awaited through the API; then the suites run
//! against it exactly as against any `--kubeconfig` cluster, and at the end its logs are
//! exported on failure and it is deleted if podcheck created it.
//!
//! The `kind` command is run with the host helpers (a deadline, its own process group), and
//! only ever with a kubeconfig file of podcheck's own: the user's ~/.kube/config is never
//! written. kind does not clean up when it is interrupted (it sets no signal handler), so a
//! create that podcheck cuts short is followed by `kind delete cluster`.
//!
//! Its nodes are containers podcheck can reach with the CLI kind runs them with:
//! [`node_probes`] asks crictl on them for the runtime's and the sandbox's own word.
//!
//! Pure parts: [`config`] (the kind config), [`invocation`] (command lines, kind's answers),
//! [`readiness`] (when a cluster is ready), [`manifest`] (a CNI manifest's objects),
//! [`node_tool`] (which CLI reaches the nodes), [`crictl`] (commands on a node, answers).

pub mod config;
pub mod crictl;
pub mod invocation;
pub mod manifest;
pub mod node_probes;
pub mod node_tool;
pub mod readiness;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use podcheck_core::load::Suite;
use podcheck_core::result::Provider;
use podcheck_host::command;
use serde_json::Value;

use crate::error::UserError;
use crate::target::Target;
use config::KindConfig;
use invocation::Failure;

/// The default of `--kind-wait`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// kind's quick questions (`get clusters`, `get kubeconfig`).
const QUERY_DEADLINE: Duration = Duration::from_secs(60);
/// `kind create cluster`: pulling a node image the first time takes minutes.
const CREATE_DEADLINE: Duration = Duration::from_secs(900);
/// One `kind load image-archive` (every node imports the archive).
const LOAD_DEADLINE: Duration = Duration::from_secs(300);
const EXPORT_DEADLINE: Duration = Duration::from_secs(300);
const DELETE_DEADLINE: Duration = Duration::from_secs(180);
/// Creating a CNI manifest's objects, CRDs being served included.
const MANIFEST_DEADLINE: Duration = Duration::from_secs(120);
/// The cluster name without `--kind-cluster` and without a name in the config.
const DEFAULT_NAME: &str = "podcheck";

/// What the command line asks of the kind target.
#[derive(Debug, Clone)]
pub struct KindRequest {
    /// `--kind-config`; default: the built-in copy of kind-configs/default.yaml.
    pub config: Option<PathBuf>,
    /// `--kind-cluster`: reused when it exists, else created under this name.
    pub cluster: Option<String>,
    /// `--keep`: do not delete the cluster at the end.
    pub keep: bool,
    pub cni_manifest: Option<PathBuf>,
    /// `--kind-wait`: how long the nodes and CoreDNS may take to be ready.
    pub wait: Duration,
    /// `--image-archive` files, loaded with the suites' `spec.images`.
    pub image_archives: Vec<PathBuf>,
    /// `--scheduler-name`: the schedulerName given to case pods that name none.
    pub scheduler_name: Option<String>,
}

/// A kind cluster ready for cases (what `TargetChoice::Kind` carries).
#[derive(Debug, Clone)]
pub struct KindTarget {
    /// podcheck's own kubeconfig of the cluster.
    pub kubeconfig: PathBuf,
    pub cluster: String,
    /// `kindest/node:v1.36.1`, as kind named it; `unknown` for a reused cluster created
    /// from no config podcheck read.
    pub node_image: String,
    pub pods_scheduler: Option<String>,
}

impl KindTarget {
    /// Connects as to any kubeconfig cluster, with the runtime and network probes through
    /// the nodes; reported as `kind` with the cluster's name and node image.
    pub async fn connect(&self) -> Result<Target, crate::Error> {
        self.connect_with(node_probes::NodeProbes::detect().await)
            .await
    }

    async fn connect_with(&self, nodes: node_probes::NodeProbes) -> Result<Target, crate::Error> {
        let mut target = Target::kubeconfig_with_nodes(&self.kubeconfig, Some(nodes)).await?;
        target.info.kind = "kind".into();
        target.info.providers.push(Provider {
            component: "cluster".into(),
            name: self.cluster.clone(),
            real: true,
            version: self.node_image.clone(),
        });
        target.pods_scheduler = self.pods_scheduler.clone();
        Ok(target)
    }

    /// [`connect`](Self::connect) for a pod suite, warning about what of the suite applies
    /// to the embedded target only (its images were loaded into the nodes); the runtime that
    /// crictl names on a node is reported too.
    pub async fn connect_for(&self, suite: &Suite) -> Result<Target, crate::Error> {
        if suite.scheduler.is_some() {
            tracing::warn!(suite = %suite.name, "the suite's scheduler runs on the embedded target only; the kind cluster's own schedulers are observed");
        }
        let nodes = node_probes::NodeProbes::detect().await;
        let mut target = self.connect_with(nodes.clone()).await?;
        match runtime_of_a_node(&target.admin, &nodes).await {
            Ok(runtime) => target.info.providers.push(runtime),
            Err(why) => tracing::warn!(
                cluster = %self.cluster,
                "crictl on the kind nodes cannot be asked, so criLaunch and cniAttach go without the runtime's word: {why}"
            ),
        }
        Ok(target)
    }
}

/// The runtime crictl names on the cluster's first node, as a provider of the target.
async fn runtime_of_a_node(
    admin: &kube::Client,
    nodes: &node_probes::NodeProbes,
) -> Result<Provider, String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(admin.clone());
    let list = api
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(|e| format!("the nodes could not be listed: {e}"))?;
    let node = list
        .items
        .first()
        .and_then(|n| n.metadata.name.clone())
        .ok_or("the cluster has no node")?;
    let version = nodes.runtime_version(&node).await?;
    Ok(Provider {
        component: "runtime".into(),
        name: version.name,
        real: true,
        version: format!("{} (crictl on node {node})", version.version),
    })
}

/// One run's kind cluster, from the first `kind` command to its deletion.
#[derive(Debug)]
pub struct Session {
    kind: PathBuf,
    name: String,
    config: KindConfig,
    /// The config file kind reads: the user's, or the built-in one written to `run_dir`.
    config_path: PathBuf,
    /// Whether the user named the config (`--kind-config`).
    config_given: bool,
    cni_manifest: Option<(String, Vec<Value>)>,
    /// The user's archives: `--image-archive` and the suites' `spec.images`.
    archives: Vec<PathBuf>,
    request: KindRequest,
    /// podcheck's kubeconfig, the built-in images and config: removed at the end.
    run_dir: tempfile::TempDir,
    /// Set before `kind create cluster` runs: the cluster is podcheck's to delete.
    created: AtomicBool,
    /// Set once the cluster exists and answers (created, or found).
    exists: AtomicBool,
    node_image: Mutex<Option<String>>,
}

impl Session {
    /// Everything that can be refused before any command runs: kind on PATH, the config,
    /// the CNI manifest. `suite_images`: the suites' `spec.images`, already checked.
    pub fn prepare(request: KindRequest, suite_images: Vec<PathBuf>) -> Result<Session, UserError> {
        let config_given = request.config.is_some();
        let (config, shown) = match &request.config {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| UserError::KindConfig {
                    message: format!("{shown}: {e}"),
                })?;
                (
                    KindConfig::parse(&text, &shown)
                        .map_err(|message| UserError::KindConfig { message })?,
                    shown,
                )
            }
            None => (
                KindConfig::parse(config::DEFAULT_CONFIG, "the built-in default config")
                    .map_err(|message| UserError::KindConfig { message })?,
                "the built-in default config (kind-configs/default.yaml)".to_string(),
            ),
        };
        // Without --kind-config a new cluster gets the default config, which keeps kindnet;
        // a reused one has whatever CNI it was made with.
        if request.cni_manifest.is_some()
            && !config.disables_default_cni()
            && (config_given || request.cluster.is_none())
        {
            return Err(UserError::CniManifestWithDefaultCni { config: shown });
        }
        let cni_manifest = match &request.cni_manifest {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| UserError::CniManifest {
                    message: format!("{shown}: {e}"),
                })?;
                let objects = manifest::parse(&text, &shown)
                    .map_err(|message| UserError::CniManifest { message })?;
                Some((shown, objects))
            }
            None => None,
        };
        if config.disables_default_cni() && cni_manifest.is_none() && request.cluster.is_none() {
            return Err(UserError::CniManifestRequired { config: shown });
        }
        let kind = command::find_tool("kind").ok_or(UserError::KindNotInstalled)?;
        let run_dir = tempfile::Builder::new()
            .prefix("podcheck-kind-")
            .tempdir()
            .map_err(UserError::RunDir)?;
        let config_path = match &request.config {
            Some(path) => path.clone(),
            None => {
                let path = run_dir.path().join("kind-config.yaml");
                std::fs::write(&path, config::DEFAULT_CONFIG).map_err(UserError::RunDir)?;
                path
            }
        };
        let name = request
            .cluster
            .clone()
            .or_else(|| config.name.clone())
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        let mut archives = request.image_archives.clone();
        archives.extend(suite_images);
        archives.dedup();
        Ok(Session {
            kind,
            name,
            config,
            config_path,
            config_given,
            cni_manifest,
            archives,
            request,
            run_dir,
            created: AtomicBool::new(false),
            exists: AtomicBool::new(false),
            node_image: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether podcheck created the cluster (and so deletes it).
    pub fn created(&self) -> bool {
        self.created.load(Ordering::SeqCst)
    }

    fn kubeconfig(&self) -> PathBuf {
        self.run_dir.path().join("kubeconfig")
    }

    /// Finds or creates the cluster, loads the images, installs the CNI and waits until the
    /// cluster is ready. Cancel-safe: what was started is known to [`Session::abandon`].
    pub async fn start(&self) -> Result<KindTarget, UserError> {
        let listed = self
            .kind(invocation::get_clusters(), QUERY_DEADLINE)
            .await?;
        let existing = invocation::clusters(&listed.stdout);
        let reused = self.request.cluster.is_some() && existing.contains(&self.name);
        if reused {
            eprintln!(
                "kind: reusing cluster {} (it will not be deleted)",
                self.name
            );
            let answer = self
                .kind(invocation::get_kubeconfig(&self.name), QUERY_DEADLINE)
                .await?;
            std::fs::write(self.kubeconfig(), answer.stdout).map_err(UserError::RunDir)?;
        } else {
            if self.config.disables_default_cni() && self.cni_manifest.is_none() {
                return Err(UserError::CniManifestRequired {
                    config: self.config_path.display().to_string(),
                });
            }
            eprintln!(
                "kind: creating cluster {} ({}) from {}",
                self.name,
                self.config.describe_nodes(),
                self.config_path.display()
            );
            // A name in use fails in kind's words; then the cluster is not podcheck's.
            self.created
                .store(!existing.contains(&self.name), Ordering::SeqCst);
            let args =
                invocation::create_cluster(&self.name, &self.config_path, &self.kubeconfig());
            let answer = match self.kind(args, CREATE_DEADLINE).await {
                Ok(answer) => answer,
                Err(e) => {
                    if !matches!(e, UserError::KindClusterExists { .. }) {
                        // kind removes what it made when it fails, unless it was killed.
                        let _ = self.delete().await;
                    }
                    self.created.store(false, Ordering::SeqCst);
                    return Err(e);
                }
            };
            *self.node_image.lock().unwrap_or_else(|e| e.into_inner()) =
                invocation::node_image(&answer.stderr);
        }
        self.exists.store(true, Ordering::SeqCst);
        self.load_images().await?;
        let target = self.target(reused);
        let client = target.connect().await?.admin;
        if let Some((shown, objects)) = &self.cni_manifest {
            let applied = manifest::create_all(&client, objects, MANIFEST_DEADLINE)
                .await
                .map_err(|(object, message)| UserError::CniManifestApply {
                    manifest: shown.clone(),
                    object,
                    message,
                })?;
            eprintln!(
                "kind: {shown}: created {} object(s){}",
                applied.created,
                match applied.existing {
                    0 => String::new(),
                    n => format!(", {n} existed already"),
                }
            );
        }
        let wait = self.request.wait;
        eprintln!(
            "kind: waiting up to {} for every node Ready and CoreDNS Running",
            podcheck_core::duration::Duration(wait)
        );
        let expected = (!reused).then(|| self.config.node_count());
        let report = |pending: &[String]| eprintln!("kind: waiting for: {}", pending.join("; "));
        let ready = readiness::wait(&client, expected, wait, &report)
            .await
            .map_err(|pending| UserError::KindNotReady {
                cluster: self.name.clone(),
                waited: podcheck_core::duration::Duration(wait).to_string(),
                pending,
            })?;
        eprintln!(
            "kind: cluster {} ready in {:.1} s: {} node(s) Ready, {} CoreDNS pod(s) Running",
            self.name,
            ready.after.as_secs_f64(),
            ready.nodes,
            ready.dns_pods
        );
        Ok(target)
    }

    fn target(&self, reused: bool) -> KindTarget {
        let from_output = self
            .node_image
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let node_image = from_output
            .or_else(|| {
                (!reused || self.config_given)
                    .then(|| self.config.node_image().map(str::to_string))
                    .flatten()
            })
            .unwrap_or_else(|| "unknown".into());
        KindTarget {
            kubeconfig: self.kubeconfig(),
            cluster: self.name.clone(),
            node_image,
            pods_scheduler: self.request.scheduler_name.clone(),
        }
    }

    /// podcheck's images (busybox and the pause image, built here as OCI archives), then the
    /// user's, into every node: the cluster needs no registry for them. kind's nodes run
    /// their own sandbox image (registry.k8s.io/pause:3.10, kind's
    /// images/base/files/etc/containerd/config.toml), which podcheck's pause:3.9 leaves alone.
    async fn load_images(&self) -> Result<(), UserError> {
        let dir = self.run_dir.path().join("images");
        std::fs::create_dir_all(&dir).map_err(UserError::RunDir)?;
        let mut archives = Vec::new();
        for name in ["busybox", "pause"] {
            let recipe =
                podcheck_node::images::builtin_recipe(name).map_err(|e| UserError::KindImages {
                    message: podcheck_host::error_chain(&e),
                })?;
            let built = podcheck_node::images::build(&recipe, &dir.join(format!("{name}.tar")))
                .map_err(|e| UserError::KindImages {
                    message: podcheck_host::error_chain(&e),
                })?;
            archives.push(built.path);
        }
        archives.extend(self.archives.iter().cloned());
        eprintln!(
            "kind: loading {} image archive(s) into the nodes",
            archives.len()
        );
        for archive in &archives {
            self.kind(
                invocation::load_image_archive(archive, &self.name),
                LOAD_DEADLINE,
            )
            .await?;
        }
        Ok(())
    }

    /// `kind export logs DIR/kind-logs`, when there is a cluster to export from; the
    /// directory, or why not.
    pub async fn export_logs(&self, report_dir: &Path) -> Option<PathBuf> {
        if !self.exists.load(Ordering::SeqCst) {
            return None;
        }
        let dir = report_dir.join("kind-logs");
        if let Err(e) = std::fs::create_dir_all(report_dir) {
            eprintln!("kind: could not export logs to {}: {e}", dir.display());
            return None;
        }
        match self
            .kind(invocation::export_logs(&dir, &self.name), EXPORT_DEADLINE)
            .await
        {
            Ok(_) => {
                eprintln!(
                    "kind: logs of cluster {} exported to {}",
                    self.name,
                    dir.display()
                );
                Some(dir)
            }
            Err(e) => {
                eprint!("{}", e.render());
                None
            }
        }
    }

    /// At the end of a run: the cluster is deleted if podcheck created it, unless `--keep`.
    pub async fn finish(&self) {
        if !self.created() {
            if self.exists.load(Ordering::SeqCst) {
                eprintln!("kind: cluster {} was reused: left as it is", self.name);
            }
            return;
        }
        if self.request.keep {
            eprintln!(
                "kind: cluster {} kept (--keep); reach it with `kind export kubeconfig --name {}`, delete it with `kind delete cluster --name {}`",
                self.name, self.name, self.name
            );
            return;
        }
        if let Err(e) = self.delete().await {
            eprintln!("error: {e}");
        }
    }

    /// After Ctrl-C or SIGTERM: deletes the cluster if podcheck created it (or was creating
    /// it), `--keep` or not. `None`: nothing of podcheck's to delete.
    pub async fn abandon(&self) -> Option<Result<(), String>> {
        if !self.created() {
            return None;
        }
        Some(self.delete().await)
    }

    async fn delete(&self) -> Result<(), String> {
        eprintln!("kind: deleting cluster {}", self.name);
        self.kind(
            invocation::delete_cluster(&self.name, &self.kubeconfig()),
            DELETE_DEADLINE,
        )
        .await
        .map(drop)
        .map_err(|e| podcheck_host::error_chain(&e))
    }

    /// Runs `kind ARGS` with a deadline: what it printed (kind's progress goes to stderr), or
    /// kind's failure as the user's error, quoting kind.
    async fn kind(
        &self,
        args: Vec<OsString>,
        deadline: Duration,
    ) -> Result<command::Exec, UserError> {
        let mut cmd = tokio::process::Command::new(&self.kind);
        cmd.args(&args).env("LC_ALL", "C").env("LANG", "C");
        let shown = format!("kind {}", words(&args));
        tracing::debug!(command = %shown, "running");
        let exec = command::run(cmd, None, deadline)
            .await
            .map_err(|e| UserError::Kind {
                command: shown.clone(),
                status: format!("could not start: {e}"),
                output: String::new(),
            })?;
        let output = format!("{}{}", exec.stdout, exec.stderr);
        tracing::debug!(command = %shown, status = %exec.status(), output = %output, "kind answered");
        if exec.success() {
            return Ok(exec);
        }
        let output = output.trim_end().to_string();
        Err(match invocation::classify(&output) {
            _ if exec.timed_out => UserError::Kind {
                command: shown,
                status: exec.status(),
                output,
            },
            Failure::ClusterExists => UserError::KindClusterExists {
                name: self.name.clone(),
                output,
            },
            Failure::NoRuntime => UserError::KindNoRuntime { output },
            Failure::Other => UserError::Kind {
                command: shown,
                status: exec.status(),
                output,
            },
        })
    }
}

fn words(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
