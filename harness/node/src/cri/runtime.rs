//! The kubelet's [`Runtime`] on containerd, over CRI v1: each trait method is the CRI call
//! (or two) the kubelet would make, with the labels and configuration it would send.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use podcheck_protos::cri::v1 as cri;
use podcheck_protos::cri::v1::{
    ContainerMetadata, ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ImageSpec,
    ImageStatusRequest, LinuxContainerConfig, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, ListPodSandboxRequest, PodSandboxConfig, PodSandboxFilter,
    PodSandboxMetadata, PodSandboxState, PodSandboxStateValue, PodSandboxStatusRequest,
    PullImageRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
};
use tonic::transport::Channel;

use super::CriError;
use super::client::{self, CriClient};
use super::containerd::ContainerdProcess;
use crate::runtime::{
    ContainerConfig, ContainerState, ExecResult, Implementation, Runtime, RuntimeError, Sandbox,
    SandboxConfig,
};

/// The deadline of ordinary CRI calls.
const CALL_TIMEOUT: Duration = client::DEFAULT_CALL_TIMEOUT;
/// The deadline of calls that run processes or CNI plugins (RunPodSandbox, StopPodSandbox,
/// StartContainer).
const SLOW_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The deadline of PullImage (it fails fast without a registry, but a loopback one may be
/// slow).
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline containerd gets for ExecSync (the call's own deadline is a little longer).
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// Labels the kubelet puts on sandboxes and containers.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// A [`Runtime`] backed by a containerd's CRI plugin.
pub struct CriRuntime {
    cri: CriClient,
    cgroup_parent: String,
    log_root: PathBuf,
    provider: Implementation,
    network: Implementation,
    state: Mutex<Books>,
}

/// What the kubelet remembers between calls: a sandbox's config goes with every
/// CreateContainer (containerd takes the log directory and cgroup parent from it).
#[derive(Default)]
struct Books {
    sandboxes: HashMap<String, PodSandboxConfig>,
    /// Container id → its sandbox's id.
    containers: HashMap<String, String>,
}

impl CriRuntime {
    /// A runtime on the containerd; `network` describes the CNI plugins its configuration
    /// directory names.
    pub fn new(containerd: &ContainerdProcess, network: Implementation) -> Self {
        Self::with_channel(
            containerd.channel(),
            containerd.cgroup_parent().to_string(),
            containerd.log_root().to_path_buf(),
            Implementation {
                name: "containerd".into(),
                real: true,
                version: containerd.provider_version(),
            },
            network,
        )
    }

    /// A runtime on any CRI channel: sandboxes get `cgroup_parent`, pod log directories
    /// are made under `log_root`.
    pub fn with_channel(
        channel: Channel,
        cgroup_parent: String,
        log_root: PathBuf,
        provider: Implementation,
        network: Implementation,
    ) -> Self {
        CriRuntime {
            cri: CriClient::new(channel, CALL_TIMEOUT),
            cgroup_parent,
            log_root,
            provider,
            network,
            state: Mutex::new(Books::default()),
        }
    }

    /// The CRI client, for calls the trait does not make.
    pub fn client(&self) -> &CriClient {
        &self.cri
    }

    /// Where the pod log directory the kubelet names (`/var/log/pods/NS_NAME_UID`) is made:
    /// its last component under the log root.
    pub fn log_directory(&self, config: &SandboxConfig) -> PathBuf {
        let last = Path::new(&config.log_directory)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}_{}_{}", config.namespace, config.name, config.uid));
        self.log_root.join(last)
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>, CriError> {
        let response = self
            .cri
            .call(
                "ImageStatus",
                self.cri
                    .images()
                    .image_status(self.cri.request(ImageStatusRequest {
                        image: Some(client::image_spec(image)),
                        verbose: false,
                    })),
            )
            .await?;
        Ok(response.image)
    }

    async fn sandbox_status(
        &self,
        sandbox_id: &str,
        verbose: bool,
    ) -> Result<cri::PodSandboxStatusResponse, RuntimeError> {
        self.cri
            .call(
                "PodSandboxStatus",
                self.cri
                    .runtime()
                    .pod_sandbox_status(self.cri.request(PodSandboxStatusRequest {
                        pod_sandbox_id: sandbox_id.to_string(),
                        verbose,
                    })),
            )
            .await
            .map_err(|e| not_found_as(e, || RuntimeError::NoSandbox(sandbox_id.into())))
    }

    async fn container_status(
        &self,
        container_id: &str,
    ) -> Result<cri::ContainerStatus, RuntimeError> {
        let response = self
            .cri
            .call(
                "ContainerStatus",
                self.cri
                    .runtime()
                    .container_status(self.cri.request(ContainerStatusRequest {
                        container_id: container_id.to_string(),
                        verbose: false,
                    })),
            )
            .await
            .map_err(|e| not_found_as(e, || RuntimeError::NoContainer(container_id.into())))?;
        response.status.ok_or_else(|| {
            RuntimeError::Failed(format!("ContainerStatus of {container_id} has no status"))
        })
    }

    /// The config the sandbox was run with, or one rebuilt from its status (a sandbox this
    /// runtime did not create).
    async fn sandbox_config(&self, sandbox_id: &str) -> Result<PodSandboxConfig, RuntimeError> {
        if let Some(config) = self.books().sandboxes.get(sandbox_id) {
            return Ok(config.clone());
        }
        let status = self
            .sandbox_status(sandbox_id, false)
            .await?
            .status
            .ok_or_else(|| RuntimeError::NoSandbox(sandbox_id.into()))?;
        let metadata = status.metadata.unwrap_or_default();
        let log_directory = self
            .log_root
            .join(format!(
                "{}_{}_{}",
                metadata.namespace, metadata.name, metadata.uid
            ))
            .to_string_lossy()
            .into_owned();
        Ok(PodSandboxConfig {
            metadata: Some(metadata),
            log_directory,
            labels: status.labels,
            annotations: status.annotations,
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Best effort, for a sandbox that came up unusable.
    async fn discard_sandbox(&self, sandbox_id: &str) {
        let _ = self.stop_pod_sandbox(sandbox_id).await;
        let _ = self.remove_pod_sandbox(sandbox_id).await;
    }
}

/// gRPC NotFound becomes the trait's own error; everything else keeps containerd's words.
fn not_found_as(e: CriError, missing: impl FnOnce() -> RuntimeError) -> RuntimeError {
    if e.is_not_found() {
        missing()
    } else {
        e.into()
    }
}

/// Kubernetes' RFC 3339 timestamps (UTC, to the second) from CRI's nanoseconds.
fn rfc3339(nanos: i64) -> String {
    let t = k8s_openapi::jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The network namespace path in PodSandboxStatus's verbose `info`:
/// `runtimeSpec.linux.namespaces[type=network].path`.
fn netns_from_info(info: &HashMap<String, String>) -> Option<PathBuf> {
    let json: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    json.pointer("/runtimeSpec/linux/namespaces")?
        .as_array()?
        .iter()
        .find(|ns| ns.get("type").and_then(|t| t.as_str()) == Some("network"))?
        .get("path")?
        .as_str()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

#[async_trait]
impl Runtime for CriRuntime {
    fn provider(&self) -> Implementation {
        self.provider.clone()
    }

    fn id_scheme(&self) -> &str {
        "containerd"
    }

    fn network_provider(&self) -> Implementation {
        self.network.clone()
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        let log_dir = self.log_directory(config);
        std::fs::create_dir_all(&log_dir).map_err(|e| {
            RuntimeError::Failed(format!(
                "creating the pod log directory {}: {e}",
                log_dir.display()
            ))
        })?;
        let labels = HashMap::from([
            (LABEL_POD_NAME.to_string(), config.name.clone()),
            (LABEL_POD_NAMESPACE.to_string(), config.namespace.clone()),
            (LABEL_POD_UID.to_string(), config.uid.clone()),
        ]);
        let hostname = if config.hostname.is_empty() {
            config.name.clone()
        } else {
            config.hostname.clone()
        };
        let sandbox_config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: config.name.clone(),
                uid: config.uid.clone(),
                namespace: config.namespace.clone(),
                attempt: 0,
            }),
            hostname,
            log_directory: log_dir.to_string_lossy().into_owned(),
            dns_config: Some(cri::DnsConfig {
                servers: config.dns.servers.clone(),
                searches: config.dns.searches.clone(),
                options: config.dns.options.clone(),
            }),
            labels,
            annotations: HashMap::new(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(client::pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = client::call(
            "RunPodSandbox",
            SLOW_CALL_TIMEOUT,
            self.cri.runtime().run_pod_sandbox(client::request(
                RunPodSandboxRequest {
                    config: Some(sandbox_config.clone()),
                    runtime_handler: String::new(),
                },
                SLOW_CALL_TIMEOUT,
            )),
        )
        .await?;
        let id = response.pod_sandbox_id;
        self.books().sandboxes.insert(id.clone(), sandbox_config);
        let ip = match self.sandbox_status(&id, false).await {
            Ok(status) => status
                .status
                .and_then(|s| s.network)
                .map(|n| n.ip)
                .unwrap_or_default(),
            Err(e) => {
                self.discard_sandbox(&id).await;
                return Err(e);
            }
        };
        match ip.parse::<IpAddr>() {
            Ok(ip) => Ok(Sandbox { id, ip }),
            Err(_) => {
                self.discard_sandbox(&id).await;
                Err(RuntimeError::Failed(format!(
                    "sandbox {id} has no usable IP address ({ip:?}): is a CNI configuration in \
                     containerd's conf_dir?"
                )))
            }
        }
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        Ok(self.image_status(image).await?.is_some())
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        let pulled = client::call(
            "PullImage",
            PULL_TIMEOUT,
            self.cri.images().pull_image(client::request(
                PullImageRequest {
                    image: Some(client::image_spec(image)),
                    auth: None,
                    sandbox_config: None,
                },
                PULL_TIMEOUT,
            )),
        )
        .await
        .map_err(|e| match e {
            // The kubelet reports a failed pull in gRPC's words, code and all.
            CriError::Call { code, message, .. } => RuntimeError::Rpc {
                code: format!("{code:?}"),
                message,
            },
            other => other.into(),
        })?;
        match self.image_id(image).await {
            Ok(id) => Ok(id),
            Err(_) => Ok(pulled.image_ref),
        }
    }

    async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        let found = self
            .image_status(image)
            .await?
            .ok_or_else(|| RuntimeError::Failed(format!("image {image:?} is not present")))?;
        // What ContainerStatus reports as image_ref (the kubelet's imageID): the repo digest
        // when the image has one, else the image id (`sha256:…` of its config).
        Ok(found.repo_digests.first().cloned().unwrap_or(found.id))
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        let sandbox_config = self.sandbox_config(sandbox_id).await?;
        // As the kubelet: the container names the image by its id, and keeps the name given.
        let image = match self.image_status(&config.image).await? {
            Some(found) if !found.id.is_empty() => found.id,
            _ => config.image.clone(),
        };
        let metadata = sandbox_config.metadata.clone().unwrap_or_default();
        let labels = HashMap::from([
            (LABEL_CONTAINER_NAME.to_string(), config.name.clone()),
            (LABEL_POD_NAME.to_string(), metadata.name.clone()),
            (LABEL_POD_NAMESPACE.to_string(), metadata.namespace.clone()),
            (LABEL_POD_UID.to_string(), metadata.uid.clone()),
        ]);
        // Each restart is a new container with the next attempt (its name in the runtime
        // and its log file carry it), as the kubelet makes them.
        let annotations = HashMap::from([(
            "io.kubernetes.container.restartCount".to_string(),
            config.attempt.to_string(),
        )]);
        let container_config = cri::ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: config.name.clone(),
                attempt: config.attempt,
            }),
            image: Some(ImageSpec {
                image,
                user_specified_image: config.image.clone(),
                ..Default::default()
            }),
            command: config.command.clone(),
            args: config.args.clone(),
            labels,
            annotations,
            log_path: format!("{}/{}.log", config.name, config.attempt),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(client::pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = self
            .cri
            .call(
                "CreateContainer",
                self.cri
                    .runtime()
                    .create_container(self.cri.request(CreateContainerRequest {
                        pod_sandbox_id: sandbox_id.to_string(),
                        config: Some(container_config),
                        sandbox_config: Some(sandbox_config),
                    })),
            )
            .await
            .map_err(|e| match &e {
                // NotFound is about the image as often as about the sandbox.
                CriError::Call { message, .. }
                    if e.is_not_found() && message.contains("sandbox") =>
                {
                    RuntimeError::NoSandbox(sandbox_id.into())
                }
                _ => e.into(),
            })?;
        let id = response.container_id;
        self.books()
            .containers
            .insert(id.clone(), sandbox_id.to_string());
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        client::call(
            "StartContainer",
            SLOW_CALL_TIMEOUT,
            self.cri.runtime().start_container(client::request(
                StartContainerRequest {
                    container_id: container_id.to_string(),
                },
                SLOW_CALL_TIMEOUT,
            )),
        )
        .await
        .map_err(|e| not_found_as(e, || RuntimeError::NoContainer(container_id.into())))?;
        Ok(())
    }

    /// containerd sends the image's stop signal (TERM), waits `timeout`, then KILLs; the
    /// call's own deadline leaves it that long and a little more.
    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let deadline = timeout + SLOW_CALL_TIMEOUT;
        client::call(
            "StopContainer",
            deadline,
            self.cri.runtime().stop_container(client::request(
                StopContainerRequest {
                    container_id: container_id.to_string(),
                    timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                },
                deadline,
            )),
        )
        .await
        .map_err(|e| not_found_as(e, || RuntimeError::NoContainer(container_id.into())))?;
        Ok(())
    }

    async fn container_state(&self, container_id: &str) -> Result<ContainerState, RuntimeError> {
        let status = self.container_status(container_id).await?;
        let state = cri::ContainerState::try_from(status.state)
            .unwrap_or(cri::ContainerState::ContainerUnknown);
        Ok(match state {
            cri::ContainerState::ContainerCreated => ContainerState::Created,
            cri::ContainerState::ContainerRunning => ContainerState::Running {
                started_at: rfc3339(status.started_at),
            },
            cri::ContainerState::ContainerExited => ContainerState::Exited {
                exit_code: status.exit_code,
                reason: if status.reason.is_empty() {
                    if status.exit_code == 0 {
                        "Completed"
                    } else {
                        "Error"
                    }
                    .to_string()
                } else {
                    status.reason
                },
                finished_at: rfc3339(status.finished_at),
            },
            // The kubelet's word for a container whose state the runtime lost.
            cri::ContainerState::ContainerUnknown => ContainerState::Exited {
                exit_code: status.exit_code,
                reason: "ContainerStatusUnknown".into(),
                finished_at: rfc3339(status.finished_at),
            },
        })
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
    ) -> Result<ExecResult, RuntimeError> {
        let deadline = EXEC_TIMEOUT + Duration::from_secs(2);
        let response = client::call(
            "ExecSync",
            deadline,
            self.cri.runtime().exec_sync(client::request(
                ExecSyncRequest {
                    container_id: container_id.to_string(),
                    cmd: command.to_vec(),
                    timeout: EXEC_TIMEOUT.as_secs() as i64,
                },
                deadline,
            )),
        )
        .await
        .map_err(|e| not_found_as(e, || RuntimeError::NoContainer(container_id.into())))?;
        Ok(ExecResult {
            stdout: response.stdout,
            stderr: response.stderr,
            exit_code: response.exit_code,
        })
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let stopped = self.cri.stop_sandbox(sandbox_id, SLOW_CALL_TIMEOUT).await;
        match stopped {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let removed = self.cri.remove_sandbox(sandbox_id, SLOW_CALL_TIMEOUT).await;
        match removed {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let config = {
            let mut books = self.books();
            books.containers.retain(|_, sandbox| sandbox != sandbox_id);
            books.sandboxes.remove(sandbox_id)
        };
        // The kubelet removes a removed pod's logs too.
        if let Some(config) = config {
            let dir = PathBuf::from(&config.log_directory);
            if dir.starts_with(&self.log_root) && dir != self.log_root {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        Ok(())
    }

    async fn container_log(&self, container_id: &str) -> Result<Option<PathBuf>, RuntimeError> {
        let status = self.container_status(container_id).await?;
        if status.log_path.is_empty() {
            return Ok(None);
        }
        let path = PathBuf::from(&status.log_path);
        if path.is_absolute() {
            return Ok(Some(path));
        }
        // Relative to the sandbox's log directory (containerd 1.6 reports it joined already).
        let sandbox = self.books().containers.get(container_id).cloned();
        let Some(sandbox) = sandbox else {
            return Ok(None);
        };
        let config = self.sandbox_config(&sandbox).await?;
        Ok(Some(Path::new(&config.log_directory).join(path)))
    }

    async fn sandbox_of_pod(&self, pod_uid: &str) -> Result<Option<String>, RuntimeError> {
        let listed = self
            .cri
            .call(
                "ListPodSandbox",
                self.cri
                    .runtime()
                    .list_pod_sandbox(self.cri.request(ListPodSandboxRequest {
                        filter: Some(PodSandboxFilter {
                            state: Some(PodSandboxStateValue {
                                state: PodSandboxState::SandboxReady as i32,
                            }),
                            label_selector: HashMap::from([(
                                LABEL_POD_UID.to_string(),
                                pod_uid.to_string(),
                            )]),
                            ..Default::default()
                        }),
                    })),
            )
            .await?;
        Ok(listed
            .items
            .into_iter()
            .max_by_key(|s| s.created_at)
            .map(|s| s.id))
    }

    async fn sandbox_netns(&self, sandbox_id: &str) -> Result<Option<PathBuf>, RuntimeError> {
        let response = self.sandbox_status(sandbox_id, true).await?;
        Ok(netns_from_info(&response.info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_kubernetes_style() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123_456_789), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn netns_is_read_from_the_runtime_spec() {
        let info = HashMap::from([(
            "info".to_string(),
            r#"{"pid":1,"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/x/netns/cni-1"}]}}}"#
                .to_string(),
        )]);
        assert_eq!(
            netns_from_info(&info),
            Some(PathBuf::from("/run/x/netns/cni-1"))
        );
        assert_eq!(netns_from_info(&HashMap::new()), None);
    }
}
