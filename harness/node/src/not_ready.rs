//! A node that is not quite ready yet, as nodes of a freshly made kubeadm or kind cluster
//! are: the first sandboxes fail because the CNI plugin's agent has not started, and the
//! first pulls meet a registry's rate limit. The kubelet must take both as transient and try
//! again ([`crate::kubelet`] does, with upstream's back-off).
//!
//! [`NotReadyYet`] wraps any [`Runtime`] and fails its first calls in the words the real
//! components use; everything else goes to the runtime it wraps.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::images::normalize_reference;
use crate::runtime::{
    ContainerConfig, ContainerState, ExecResult, Implementation, Runtime, RuntimeError, Sandbox,
    SandboxConfig,
};

/// How many of a node's first calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirstFailures {
    /// RunPodSandbox calls that fail as when the CNI plugin is not ready.
    pub sandboxes: u32,
    /// PullImage calls that fail as when the registry rate-limits.
    pub pulls: u32,
}

impl FirstFailures {
    pub fn none() -> Self {
        FirstFailures::default()
    }

    pub fn is_none(&self) -> bool {
        *self == FirstFailures::none()
    }
}

/// What containerd answers RunPodSandbox while Calico's node agent has not written
/// `/var/lib/calico/nodename` yet: containerd's `failed to setup network for sandbox`
/// (internal/cri/server/sandbox_run.go) around libcni's `plugin type=… failed (add)` around
/// the calico plugin's own error (projectcalico/calico cni-plugin). The kubelet prefixes it
/// with `Failed to create pod sandbox: ` in its FailedCreatePodSandBox event.
pub fn cni_not_ready(sandbox_id: &str) -> RuntimeError {
    RuntimeError::Rpc {
        code: "Unknown".into(),
        message: format!(
            "failed to setup network for sandbox \"{sandbox_id}\": plugin type=\"calico\" failed (add): \
             stat /var/lib/calico/nodename: no such file or directory: check that the calico/node \
             container is running and has mounted /var/lib/calico/"
        ),
    }
}

/// What containerd answers PullImage when Docker Hub (or any registry) rate-limits the
/// manifest fetch: its `failed to pull and unpack image`, the fetcher's `unexpected status
/// code URL: 429 Too Many Requests` and the registry's own `toomanyrequests` message.
pub fn rate_limited(image: &str) -> RuntimeError {
    let (full, url) = match normalize_reference(image) {
        Ok(r) => {
            let host = match r.domain.as_str() {
                "docker.io" => "registry-1.docker.io",
                other => other,
            };
            let digest = hex_digest(&r.to_string());
            (
                r.to_string(),
                format!("https://{host}/v2/{}/manifests/sha256:{digest}", r.path),
            )
        }
        Err(_) => (image.to_string(), format!("https://{image}")),
    };
    RuntimeError::Rpc {
        code: "Unknown".into(),
        message: format!(
            "failed to pull and unpack image \"{full}\": failed to copy: httpReadSeeker: failed open: \
             unexpected status code {url}: 429 Too Many Requests - Server message: toomanyrequests: \
             You have reached your pull rate limit. You may increase the limit by authenticating and \
             upgrading: https://www.docker.com/increase-rate-limit"
        ),
    }
}

fn hex_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Takes one from `left` if any is left: true when this call is to fail.
fn take_one(left: &AtomicU32) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A runtime whose first sandboxes and pulls fail (see the module docs).
pub struct NotReadyYet {
    inner: Arc<dyn Runtime>,
    sandboxes_left: AtomicU32,
    pulls_left: AtomicU32,
}

impl NotReadyYet {
    pub fn new(inner: Arc<dyn Runtime>, failures: FirstFailures) -> Self {
        NotReadyYet {
            inner,
            sandboxes_left: AtomicU32::new(failures.sandboxes),
            pulls_left: AtomicU32::new(failures.pulls),
        }
    }

    /// `runtime` itself when nothing is to fail, else the runtime wrapped.
    pub fn wrap(runtime: Arc<dyn Runtime>, failures: FirstFailures) -> Arc<dyn Runtime> {
        if failures.is_none() {
            runtime
        } else {
            Arc::new(NotReadyYet::new(runtime, failures))
        }
    }
}

#[async_trait]
impl Runtime for NotReadyYet {
    fn provider(&self) -> Implementation {
        self.inner.provider()
    }

    fn id_scheme(&self) -> &str {
        self.inner.id_scheme()
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        if take_one(&self.sandboxes_left) {
            let id = hex_digest(&format!(
                "{}/{}/{}",
                config.namespace, config.name, config.uid
            ));
            return Err(cni_not_ready(&id));
        }
        self.inner.run_pod_sandbox(config).await
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        self.inner.image_present(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        if take_one(&self.pulls_left) {
            return Err(rate_limited(image));
        }
        self.inner.pull_image(image).await
    }

    async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        self.inner.image_id(image).await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        self.inner.create_container(sandbox_id, config).await
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        self.inner.start_container(container_id).await
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        self.inner.stop_container(container_id, timeout).await
    }

    async fn container_state(&self, container_id: &str) -> Result<ContainerState, RuntimeError> {
        self.inner.container_state(container_id).await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
    ) -> Result<ExecResult, RuntimeError> {
        self.inner.exec_sync(container_id, command).await
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{SimNetwork, SimRuntime};

    fn sim() -> Arc<dyn Runtime> {
        Arc::new(SimRuntime::new(Arc::new(SimNetwork::new(
            "10.244.0.0/24".parse().unwrap(),
        ))))
    }

    #[tokio::test]
    async fn the_first_calls_fail_in_the_components_words_then_all_succeed() {
        let rt = NotReadyYet::new(
            sim(),
            FirstFailures {
                sandboxes: 2,
                pulls: 1,
            },
        );
        let config = SandboxConfig {
            name: "p".into(),
            namespace: "ns".into(),
            uid: "u".into(),
            ..SandboxConfig::default()
        };
        for _ in 0..2 {
            let e = rt.run_pod_sandbox(&config).await.unwrap_err().to_string();
            assert!(
                e.starts_with(
                    "rpc error: code = Unknown desc = failed to setup network for sandbox \""
                ),
                "{e}"
            );
            assert!(
                e.contains("plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename")
            );
        }
        rt.run_pod_sandbox(&config).await.unwrap();
        let e = rt.pull_image("busybox").await.unwrap_err().to_string();
        assert!(
            e.starts_with("rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/library/busybox:latest\": "),
            "{e}"
        );
        assert!(e.contains(
            "unexpected status code https://registry-1.docker.io/v2/library/busybox/manifests/sha256:"
        ));
        assert!(e.contains("429 Too Many Requests - Server message: toomanyrequests: "));
        rt.pull_image("busybox").await.unwrap();
    }

    #[tokio::test]
    async fn nothing_to_fail_leaves_the_runtime_unwrapped() {
        let inner = sim();
        let same = NotReadyYet::wrap(inner.clone(), FirstFailures::none());
        assert!(Arc::ptr_eq(&inner, &same));
    }
}
