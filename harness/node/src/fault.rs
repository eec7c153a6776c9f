//! Faults a harness injects into a node of the embedded control plane (`faults:` in a
//! suite): a pod network whose ADD fails, a runtime that dies once it starts a sandbox, a
//! kubelet that sends its status updates late.
//!
//! [`NodeFaults`] are the switches, shared by the control plane (which throws them) and the
//! node (whose kubelet reads them); [`Faulty`] wraps the node's [`Runtime`] and answers as
//! containerd and the kubelet's CRI client do when the fault is real: a CNI plugin's error
//! inside `failed to setup network for sandbox`, then gRPC's `Unavailable` for a runtime
//! whose socket no longer answers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::runtime::{
    ContainerConfig, ContainerState, ExecResult, Implementation, Runtime, RuntimeError, Sandbox,
    SandboxConfig,
};

/// The plugin type a failing ADD is reported under (the plugin podcheck puts first in the
/// chain on a real network).
pub const FAULT_PLUGIN: &str = "podcheck-fault";

/// Whether the node's runtime is up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum RuntimeHealth {
    #[default]
    Up,
    /// Up until it has started one more sandbox.
    DiesAfterSandbox,
    /// Dead as far as the kubelet can tell: podcheck answers for it.
    Down,
    /// The real daemon was killed: calls reach its socket, and fail there.
    Killed,
}

#[derive(Debug, Default)]
struct Switches {
    cni_add: Option<(u32, String)>,
    runtime: RuntimeHealth,
    status_delay: Option<Duration>,
}

/// A node's containerd, shared by the node and its fault switches.
pub type SharedContainerd =
    Arc<tokio::sync::Mutex<Option<crate::cri::containerd::ContainerdProcess>>>;

/// A node's fault switches (all off by default).
#[derive(Debug, Default)]
pub struct NodeFaults {
    switches: Mutex<Switches>,
    /// The node's own containerd, which a `runtimeKilled` fault really kills. Weak: the
    /// node owns it, and tears it down when it goes, whatever a fault holds.
    daemon: std::sync::OnceLock<
        std::sync::Weak<tokio::sync::Mutex<Option<crate::cri::containerd::ContainerdProcess>>>,
    >,
}

impl NodeFaults {
    fn lock(&self) -> MutexGuard<'_, Switches> {
        self.switches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every CNI ADD fails with this CNI error (None: ADDs work again).
    pub fn fail_cni_add(&self, error: Option<(u32, String)>) {
        self.lock().cni_add = error;
    }

    /// The node's containerd: a `runtimeKilled` fault then kills it for real.
    pub fn attach_daemon(&self, daemon: &SharedContainerd) {
        let _ = self.daemon.set(Arc::downgrade(daemon));
    }

    /// Whether a `runtimeKilled` fault kills a real daemon here.
    pub fn kills_a_daemon(&self) -> bool {
        self.daemon.get().is_some()
    }

    /// The runtime dies once it has started its next sandbox.
    pub fn kill_runtime_after_sandbox(&self) {
        self.lock().runtime = RuntimeHealth::DiesAfterSandbox;
    }

    /// The runtime is up again: a killed daemon is started again (on the same state) and
    /// answers before this returns.
    pub async fn restart_runtime(&self) -> Result<(), String> {
        let killed = self.lock().runtime == RuntimeHealth::Killed;
        if let (true, Some(daemon)) = (killed, self.daemon.get().and_then(|d| d.upgrade()))
            && let Some(containerd) = daemon.lock().await.as_mut()
        {
            containerd.restart().await.map_err(|e| {
                format!(
                    "starting containerd again: {}",
                    podcheck_host::error_chain(&e)
                )
            })?;
        }
        self.lock().runtime = RuntimeHealth::Up;
        Ok(())
    }

    /// The runtime as a fault left it when the node's work must go on regardless (a run's
    /// cleanup): up, a killed daemon started again in the background.
    pub fn revive_runtime(self: &Arc<Self>) {
        let killed = self.lock().runtime == RuntimeHealth::Killed;
        if !killed {
            self.lock().runtime = RuntimeHealth::Up;
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let faults = self.clone();
            handle.spawn(async move {
                if let Err(e) = faults.restart_runtime().await {
                    tracing::warn!(error = %e, "containerd was not started again");
                }
            });
        }
    }

    /// Whether the runtime has died (a fault armed with [`Self::kill_runtime_after_sandbox`]).
    pub fn runtime_down(&self) -> bool {
        matches!(
            self.lock().runtime,
            RuntimeHealth::Down | RuntimeHealth::Killed
        )
    }

    /// The kubelet sends each status update this late (None: at once).
    pub fn delay_status(&self, delay: Option<Duration>) {
        self.lock().status_delay = delay;
    }

    pub fn status_delay(&self) -> Option<Duration> {
        self.lock().status_delay
    }

    /// Whether any switch is thrown.
    pub fn any(&self) -> bool {
        let s = self.lock();
        s.cni_add.is_some() || s.runtime != RuntimeHealth::Up || s.status_delay.is_some()
    }
}

/// What containerd answers RunPodSandbox when a CNI plugin's ADD returns an error result:
/// its `failed to setup network for sandbox` around libcni's `plugin type=… name=… failed
/// (add)` around the plugin's `msg`.
pub fn cni_add_failed(sandbox_id: &str, network: &str, msg: &str) -> RuntimeError {
    RuntimeError::Rpc {
        code: "Unknown".into(),
        message: format!(
            "failed to setup network for sandbox \"{sandbox_id}\": plugin type=\"{FAULT_PLUGIN}\" \
             name=\"{network}\" failed (add): {msg}"
        ),
    }
}

/// What the kubelet's CRI client says when the runtime's socket no longer answers.
pub fn runtime_unavailable() -> RuntimeError {
    RuntimeError::Rpc {
        code: "Unavailable".into(),
        message: "connection error: desc = \"transport: Error while dialing: dial unix \
                  /run/containerd/containerd.sock: connect: connection refused\""
            .into(),
    }
}

/// The real pod network's side of a `cniAddFails` fault. containerd finds the CNI plugins
/// in a directory of the node's own, of links to the plugin dir; during the fault the
/// chain's first plugin there is a wrapper that fails ADD with the fault's error result (as
/// the CNI spec has a plugin fail: the error on stdout, a non-zero exit) and hands every
/// other command to the real plugin. Swapped by rename, so containerd never sees half of one.
#[derive(Debug, Clone)]
pub struct CniPlug {
    dir: PathBuf,
    plugin: String,
    real: PathBuf,
    cni_version: String,
}

impl CniPlug {
    /// Links every plugin of `plugins` into `dir`; the chain's first plugin and its CNI
    /// version are read from the node's `conflist`.
    pub fn prepare(dir: &Path, plugins: &Path, conflist: &Path) -> std::io::Result<CniPlug> {
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let list: serde_json::Value = serde_json::from_slice(&std::fs::read(conflist)?)
            .map_err(|e| invalid(&format!("{}: {e}", conflist.display())))?;
        let plugin = list
            .pointer("/plugins/0/type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| invalid("the conflist names no plugin"))?
            .to_string();
        let cni_version = list["cniVersion"].as_str().unwrap_or("1.0.0").to_string();
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(plugins)? {
            let entry = entry?;
            let link = dir.join(entry.file_name());
            if !link.exists() {
                std::os::unix::fs::symlink(entry.path(), link)?;
            }
        }
        Ok(CniPlug {
            dir: dir.to_path_buf(),
            real: plugins.join(&plugin),
            plugin,
            cni_version,
        })
    }

    /// Where containerd finds the plugins.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plugin the wrapper stands in for.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Puts the wrapper in place of the first plugin.
    pub fn fail_add(&self, code: u32, msg: &str) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let error = serde_json::json!({"cniVersion": self.cni_version, "code": code, "msg": msg});
        let real = self.real.display().to_string().replace('\'', "'\\''");
        let script = format!(
            "#!/bin/sh\n# podcheck: a cniAddFails fault; the real plugin returns when it ends.\n\
             if [ \"$CNI_COMMAND\" = ADD ]; then\ncat <<'PODCHECK_FAULT'\n{error}\nPODCHECK_FAULT\nexit 1\nfi\n\
             exec '{real}' \"$@\"\n"
        );
        let partial = self.dir.join(format!(".{}.fault", self.plugin));
        std::fs::write(&partial, script)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&partial, self.dir.join(&self.plugin))
    }

    /// Puts the real plugin back.
    pub fn restore(&self) -> std::io::Result<()> {
        let partial = self.dir.join(format!(".{}.link", self.plugin));
        let _ = std::fs::remove_file(&partial);
        std::os::unix::fs::symlink(&self.real, &partial)?;
        std::fs::rename(&partial, self.dir.join(&self.plugin))
    }

    /// Whether the wrapper is in place.
    pub fn wrapped(&self) -> bool {
        std::fs::symlink_metadata(self.dir.join(&self.plugin))
            .is_ok_and(|m| !m.file_type().is_symlink())
    }
}

/// A node's runtime with its fault switches (see the module docs).
pub struct Faulty {
    inner: Arc<dyn Runtime>,
    faults: Arc<NodeFaults>,
}

impl Faulty {
    pub fn wrap(inner: Arc<dyn Runtime>, faults: Arc<NodeFaults>) -> Arc<dyn Runtime> {
        Arc::new(Faulty { inner, faults })
    }

    /// Whether calls reach the runtime: not while podcheck answers for a dead one (a killed
    /// real daemon answers for itself).
    fn up(&self) -> Result<(), RuntimeError> {
        if self.faults.lock().runtime == RuntimeHealth::Down {
            Err(runtime_unavailable())
        } else {
            Ok(())
        }
    }

    /// After a sandbox started: the runtime dies if a fault is armed.
    async fn maybe_die(&self) {
        {
            let mut s = self.faults.lock();
            if s.runtime != RuntimeHealth::DiesAfterSandbox {
                return;
            }
            s.runtime = RuntimeHealth::Down;
        }
        if let Some(daemon) = self.faults.daemon.get().and_then(|d| d.upgrade())
            && let Some(containerd) = daemon.lock().await.as_mut()
        {
            containerd.kill();
            self.faults.lock().runtime = RuntimeHealth::Killed;
        }
    }
}

#[async_trait]
impl Runtime for Faulty {
    fn provider(&self) -> Implementation {
        self.inner.provider()
    }

    fn id_scheme(&self) -> &str {
        self.inner.id_scheme()
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        self.up()?;
        let cni_add = self.faults.lock().cni_add.clone();
        if let Some((code, msg)) = cni_add {
            return Err(cni_add_failed(
                &unborn_sandbox_id(config),
                "podcheck",
                &format!("{msg} (CNI error code {code})"),
            ));
        }
        let sandbox = self.inner.run_pod_sandbox(config).await?;
        self.maybe_die().await;
        Ok(sandbox)
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        self.up()?;
        self.inner.image_present(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        self.up()?;
        self.inner.pull_image(image).await
    }

    async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        self.up()?;
        self.inner.image_id(image).await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        self.up()?;
        self.inner.create_container(sandbox_id, config).await
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        self.up()?;
        self.inner.start_container(container_id).await
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        self.up()?;
        self.inner.stop_container(container_id, timeout).await
    }

    async fn container_state(&self, container_id: &str) -> Result<ContainerState, RuntimeError> {
        self.up()?;
        self.inner.container_state(container_id).await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
    ) -> Result<ExecResult, RuntimeError> {
        self.up()?;
        self.inner.exec_sync(container_id, command).await
    }

    // Teardown always reaches the runtime: a run's cleanup must not be stopped by a fault
    // that outlived its case.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.inner.stop_pod_sandbox(sandbox_id).await
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.inner.remove_pod_sandbox(sandbox_id).await
    }

    fn network_provider(&self) -> Implementation {
        self.inner.network_provider()
    }

    async fn container_log(&self, container_id: &str) -> Result<Option<PathBuf>, RuntimeError> {
        self.inner.container_log(container_id).await
    }

    async fn sandbox_of_pod(&self, pod_uid: &str) -> Result<Option<String>, RuntimeError> {
        self.inner.sandbox_of_pod(pod_uid).await
    }

    async fn sandbox_netns(&self, sandbox_id: &str) -> Result<Option<PathBuf>, RuntimeError> {
        self.inner.sandbox_netns(sandbox_id).await
    }
}

/// An id for a sandbox that never came to be: containerd names it before it sets up the
/// network.
fn unborn_sandbox_id(config: &SandboxConfig) -> String {
    use sha2::{Digest, Sha256};
    let text = format!("{}/{}/{}", config.namespace, config.name, config.uid);
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{SimNetwork, SimRuntime};

    fn node() -> (Arc<NodeFaults>, Arc<dyn Runtime>) {
        let faults = Arc::new(NodeFaults::default());
        let sim: Arc<dyn Runtime> = Arc::new(SimRuntime::new(Arc::new(SimNetwork::new(
            "10.244.0.0/24".parse().unwrap(),
        ))));
        (faults.clone(), Faulty::wrap(sim, faults))
    }

    fn config(uid: &str) -> SandboxConfig {
        SandboxConfig {
            name: "p".into(),
            namespace: "ns".into(),
            uid: uid.into(),
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn the_plug_swaps_the_first_plugin_for_a_failing_wrapper_and_back() {
        let tmp = tempfile::tempdir().unwrap();
        let plugins = tmp.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        // A stand-in for the bridge plugin: says which command it ran.
        let bridge = plugins.join("bridge");
        std::fs::write(&bridge, "#!/bin/sh\necho \"real $CNI_COMMAND\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bridge, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conflist = tmp.path().join("10-podcheck.conflist");
        std::fs::write(&conflist, r#"{"cniVersion":"0.4.0","name":"podcheck","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#).unwrap();
        let plug = CniPlug::prepare(&tmp.path().join("bin"), &plugins, &conflist).unwrap();
        assert_eq!(plug.plugin(), "bridge");
        let call = |command: &str| {
            std::process::Command::new(plug.dir().join("bridge"))
                .env("CNI_COMMAND", command)
                .output()
                .unwrap()
        };
        assert_eq!(String::from_utf8_lossy(&call("ADD").stdout), "real ADD\n");
        plug.fail_add(11, "no IP addresses available: it's 'full'")
            .unwrap();
        assert!(plug.wrapped());
        let add = call("ADD");
        assert!(!add.status.success());
        let error: serde_json::Value = serde_json::from_slice(&add.stdout).unwrap();
        assert_eq!(
            error,
            serde_json::json!({"cniVersion": "0.4.0", "code": 11, "msg": "no IP addresses available: it's 'full'"})
        );
        assert_eq!(String::from_utf8_lossy(&call("DEL").stdout), "real DEL\n");
        plug.restore().unwrap();
        assert!(!plug.wrapped());
        assert_eq!(String::from_utf8_lossy(&call("ADD").stdout), "real ADD\n");
    }

    #[tokio::test]
    async fn a_failing_cni_add_refuses_sandboxes_in_containerds_words_until_cleared() {
        let (faults, rt) = node();
        faults.fail_cni_add(Some((11, "no IP addresses available".into())));
        let e = rt
            .run_pod_sandbox(&config("a"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed to setup network for sandbox"), "{e}");
        assert!(e.contains("plugin type=\"podcheck-fault\" name=\"podcheck\" failed (add): no IP addresses available"), "{e}");
        faults.fail_cni_add(None);
        rt.run_pod_sandbox(&config("a")).await.unwrap();
        assert!(!faults.any());
    }

    #[tokio::test]
    async fn a_killed_runtime_dies_after_its_next_sandbox_and_answers_again_once_restarted() {
        let (faults, rt) = node();
        faults.kill_runtime_after_sandbox();
        assert!(!faults.runtime_down());
        let sandbox = rt.run_pod_sandbox(&config("a")).await.unwrap();
        assert!(faults.runtime_down());
        let e = rt.image_present("busybox").await.unwrap_err().to_string();
        assert!(e.starts_with("rpc error: code = Unavailable"), "{e}");
        // Teardown still reaches it.
        rt.stop_pod_sandbox(&sandbox.id).await.unwrap();
        faults.restart_runtime().await.unwrap();
        assert!(rt.image_present("busybox").await.is_ok());
    }
}
