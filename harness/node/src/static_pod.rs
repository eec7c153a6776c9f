//! Static pods: what a kubelet runs from its manifest dir rather than from the API, and
//! shows to the API as a *mirror pod* (`kubernetes.io/config.mirror`). kubeadm runs etcd
//! so, and harnesses find it there (`component=etcd` in kube-system) to read the store with
//! `etcdctl` through `pods/exec`.
//!
//! podcheck's stand-in: the "container" of a [`StaticPod`] is a process already running on
//! the host (the etcd podcheck started for the store), not a container of the node's
//! runtime. The kubelet posts the mirror pod and its status (Running, on the node's address:
//! `hostNetwork`), and recreates it when it is deleted. Exec into it reaches the node's own
//! processes, as exec into a hostNetwork static pod does, but only the programs the static
//! pod names — for etcd, the host's `etcdctl` (Debian's `etcd-client`) with `ETCDCTL_API=3`
//! — each with a deadline, its output and exit code returned as exec returns them. Anything
//! else fails as a distroless etcd image fails it: no such executable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::kubelet::NodeConfig;
use crate::runtime::{
    ContainerConfig, ContainerState, ExecResult, Implementation, Runtime, RuntimeError, Sandbox,
    SandboxConfig,
};

/// The annotation that makes a pod a mirror pod (its value: the static pod's hash).
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The container ID scheme of a static pod's host process (`host://etcd-PID`).
pub const HOST_SCHEME: &str = "host";
/// How long a program run by exec may take before its process group is killed.
pub const EXEC_DEADLINE: Duration = Duration::from_secs(30);

/// A program exec may run in a static pod: what the container calls it (`argv[0]`, bare
/// or as a path) and where the host has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProgram {
    /// `etcdctl`.
    pub name: String,
    /// `/usr/bin/etcdctl`.
    pub path: PathBuf,
    /// The Debian package that installs it, for the error when it is missing.
    pub package: String,
    /// Its environment (besides a plain `PATH`): `ETCDCTL_API=3`.
    pub env: Vec<(String, String)>,
}

/// A static pod whose one container is a host process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPod {
    /// The manifest's name; the mirror pod is `NAME-NODE` (`etcd-node-1`).
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// The container's name (`etcd`).
    pub container: String,
    /// The image a real node would run (`registry.k8s.io/etcd:3.4.23-0`).
    pub image: String,
    /// The host process's command line, as the manifest gives it (`--flag=value`).
    pub command: Vec<String>,
    /// Resource requests (kubeadm's etcd: cpu 100m, memory 100Mi).
    pub requests: BTreeMap<String, String>,
    /// The host process that is the container.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// What exec may run.
    pub programs: Vec<HostProgram>,
}

impl StaticPod {
    /// The mirror pod's name on `node`.
    pub fn mirror_name(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    /// The container's ID, without the scheme (`etcd-PID`).
    pub fn container_id(&self) -> String {
        format!("{}-{}", self.container, self.pid)
    }

    /// The static pod's hash (what `kubernetes.io/config.hash` and `.mirror` hold): a
    /// digest of the manifest.
    fn hash(&self) -> String {
        use sha2::Digest;
        let manifest = format!(
            "{}\0{}\0{}\0{}",
            self.namespace,
            self.name,
            self.image,
            self.command.join("\0")
        );
        let digest = sha2::Sha256::digest(manifest.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The mirror pod the kubelet of `node` (whose Node has `node_uid`) creates, as the
    /// kubelet builds it from a kubeadm manifest.
    pub fn mirror_pod(&self, node: &NodeConfig, node_uid: &str, seen: &str) -> Value {
        let hash = self.hash();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.mirror_name(&node.name),
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": {
                    "kubernetes.io/config.hash": hash,
                    MIRROR_ANNOTATION: hash,
                    "kubernetes.io/config.seen": seen,
                    "kubernetes.io/config.source": "file",
                    "podcheck.dev/static-pod": format!("the host process {} (not a container): exec runs {} on the host", self.pid, self.program_names()),
                },
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node_uid,
                    "controller": true,
                }],
            },
            "spec": {
                "nodeName": node.name,
                "hostNetwork": true,
                "priorityClassName": "system-node-critical",
                "priority": 2000001000,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "enableServiceLinks": true,
                "containers": [{
                    "name": self.container,
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": self.command,
                    "resources": {"requests": self.requests},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }],
            },
        })
    }

    /// The mirror pod's status: Running since the process started, on the node's address.
    pub fn mirror_status(&self, node: &NodeConfig) -> Value {
        let ip = node.address.to_string();
        let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": self.started_at});
        json!({
            "phase": "Running",
            "conditions": [
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready"),
                condition("ContainersReady"),
                condition("PodScheduled"),
            ],
            "hostIP": ip,
            "hostIPs": [{"ip": ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": self.started_at,
            "qosClass": "Burstable",
            "containerStatuses": [{
                "name": self.container,
                "ready": true,
                "started": true,
                "restartCount": 0,
                "image": self.image,
                "imageID": "",
                "containerID": format!("{HOST_SCHEME}://{}", self.container_id()),
                "state": {"running": {"startedAt": self.started_at}},
            }],
        })
    }

    fn program_names(&self) -> String {
        let names: Vec<&str> = self.programs.iter().map(|p| p.name.as_str()).collect();
        names.join(", ")
    }

    /// The program `argv0` names, bare (`etcdctl`) or as a path (`/usr/local/bin/etcdctl`,
    /// where the etcd image has it).
    fn program(&self, argv0: &str) -> Option<&HostProgram> {
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        self.programs.iter().find(|p| p.name == base)
    }

    /// Runs `command` as exec into the static pod runs it: a program it names, on the host,
    /// with its environment and a deadline; its output and exit code.
    pub async fn exec(&self, command: &[String]) -> Result<ExecResult, RuntimeError> {
        let Some(argv0) = command.first() else {
            return Err(RuntimeError::Failed("exec needs a command".into()));
        };
        let not_found = |why: String| RuntimeError::Rpc {
            code: "Unknown".into(),
            message: format!(
                "failed to exec in container: failed to start exec: OCI runtime exec failed: \
                 exec failed: unable to start container process: exec: \"{argv0}\": {why}: unknown"
            ),
        };
        let Some(program) = self.program(argv0) else {
            return Err(not_found(format!(
                "executable file not found in $PATH (this static pod runs only {} on the host)",
                self.program_names()
            )));
        };
        if !podcheck_host::command::is_executable(&program.path) {
            return Err(not_found(format!(
                "{} is not installed on this host (Debian: {})",
                program.path.display(),
                program.package
            )));
        }
        let mut run = tokio::process::Command::new(&program.path);
        run.args(&command[1..])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(program.env.iter().map(|(k, v)| (k, v)));
        let done = podcheck_host::command::run(run, None, EXEC_DEADLINE)
            .await
            .map_err(|e| not_found(e.to_string()))?;
        if done.timed_out {
            return Err(RuntimeError::Rpc {
                code: "DeadlineExceeded".into(),
                message: format!(
                    "failed to exec in container: timeout {EXEC_DEADLINE:?} exceeded: context deadline exceeded"
                ),
            });
        }
        Ok(ExecResult {
            stdout: done.stdout.into_bytes(),
            stderr: done.stderr.into_bytes(),
            // Killed by a signal: a shell's 128+n is not known here; 137 is SIGKILL's.
            exit_code: done.code.unwrap_or(137),
        })
    }
}

/// Whether a pod is a mirror pod (the kubelet leaves it to its static pod).
pub fn is_mirror(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
}

/// A node's runtime with its static pods: exec into a static pod's container runs the
/// host program; everything else goes to the runtime.
pub struct WithStaticPods {
    inner: Arc<dyn Runtime>,
    pods: Vec<Arc<StaticPod>>,
}

impl WithStaticPods {
    /// `runtime` itself when there are no static pods, else the runtime wrapped.
    pub fn wrap(runtime: Arc<dyn Runtime>, pods: &[Arc<StaticPod>]) -> Arc<dyn Runtime> {
        if pods.is_empty() {
            runtime
        } else {
            Arc::new(WithStaticPods {
                inner: runtime,
                pods: pods.to_vec(),
            })
        }
    }

    fn static_pod(&self, container_id: &str) -> Option<&StaticPod> {
        self.pods
            .iter()
            .map(Arc::as_ref)
            .find(|p| p.container_id() == container_id)
    }
}

#[async_trait]
impl Runtime for WithStaticPods {
    fn provider(&self) -> Implementation {
        self.inner.provider()
    }

    fn id_scheme(&self) -> &str {
        self.inner.id_scheme()
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        self.inner.run_pod_sandbox(config).await
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        self.inner.image_present(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
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
        match self.static_pod(container_id) {
            Some(pod) => pod.exec(command).await,
            None => self.inner.exec_sync(container_id, command).await,
        }
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

    fn etcd() -> StaticPod {
        StaticPod {
            name: "etcd".into(),
            namespace: "kube-system".into(),
            labels: BTreeMap::from([
                ("component".into(), "etcd".into()),
                ("tier".into(), "control-plane".into()),
            ]),
            container: "etcd".into(),
            image: "registry.k8s.io/etcd:3.4.23-0".into(),
            command: vec![
                "etcd".into(),
                "--listen-client-urls=http://127.0.0.1:2379".into(),
            ],
            requests: BTreeMap::from([
                ("cpu".into(), "100m".into()),
                ("memory".into(), "100Mi".into()),
            ]),
            pid: 4242,
            started_at: "2026-12-01T00:00:00Z".into(),
            programs: vec![HostProgram {
                name: "echo".into(),
                path: PathBuf::from("/bin/echo"),
                package: "coreutils".into(),
                env: vec![("ETCDCTL_API".into(), "3".into())],
            }],
        }
    }

    fn node() -> NodeConfig {
        let dns = crate::kubelet::pod_dns::ClusterDnsSettings {
            servers: vec!["10.96.0.10".into()],
            domain: "cluster.local".into(),
            host: Default::default(),
            append_host_search: false,
        };
        NodeConfig::numbered(0, dns)
    }

    #[test]
    fn the_mirror_pod_is_kubeadms_etcd() {
        let pod = etcd().mirror_pod(&node(), "uid-1", "2026-12-01T00:00:01Z");
        assert_eq!(pod["metadata"]["name"], "etcd-node-1");
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
        assert_eq!(pod["metadata"]["labels"]["component"], "etcd");
        assert_eq!(pod["metadata"]["labels"]["tier"], "control-plane");
        let mirror = pod["metadata"]["annotations"][MIRROR_ANNOTATION]
            .as_str()
            .unwrap();
        assert_eq!(mirror.len(), 32);
        assert_eq!(
            pod["metadata"]["annotations"]["kubernetes.io/config.hash"],
            mirror
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(pod["spec"]["hostNetwork"], true);
        assert_eq!(pod["spec"]["nodeName"], "node-1");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["name"], "etcd");
        assert_eq!(c["image"], "registry.k8s.io/etcd:3.4.23-0");
        assert_eq!(
            c["command"][1],
            "--listen-client-urls=http://127.0.0.1:2379"
        );
        let parsed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).unwrap();
        assert!(is_mirror(&parsed));
        let status = etcd().mirror_status(&node());
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIP"], "127.0.1.1");
        assert_eq!(
            status["containerStatuses"][0]["containerID"],
            "host://etcd-4242"
        );
        assert_eq!(
            status["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-12-01T00:00:00Z"
        );
    }

    #[tokio::test]
    async fn exec_runs_only_the_programs_it_names_with_their_environment() {
        let pod = etcd();
        let said = pod
            .exec(&["echo".into(), "hello".into()])
            .await
            .expect("echo runs");
        assert_eq!(said.exit_code, 0);
        assert_eq!(String::from_utf8_lossy(&said.stdout), "hello\n");
        let by_path = pod
            .exec(&["/usr/local/bin/echo".into(), "-n".into(), "x".into()])
            .await
            .unwrap();
        assert_eq!(by_path.stdout, b"x");
        let refused = pod.exec(&["sh".into(), "-c".into(), "id".into()]).await;
        let Err(e) = refused else {
            panic!("sh must not run: {refused:?}");
        };
        assert!(
            e.to_string().contains("\"sh\": executable file not found"),
            "{e}"
        );
        let mut missing = etcd();
        missing.programs[0].path = PathBuf::from("/nonexistent/echo");
        let e = missing.exec(&["echo".into()]).await.unwrap_err();
        assert!(e.to_string().contains("Debian: coreutils"), "{e}");
    }

    #[tokio::test]
    async fn a_failing_program_gives_its_exit_code_and_stderr() {
        let mut pod = etcd();
        pod.programs[0] = HostProgram {
            name: "env".into(),
            path: PathBuf::from("/usr/bin/env"),
            package: "coreutils".into(),
            env: vec![("ETCDCTL_API".into(), "3".into())],
        };
        let env = pod.exec(&["env".into()]).await.unwrap();
        let env = String::from_utf8_lossy(&env.stdout).into_owned();
        assert!(env.lines().any(|l| l == "ETCDCTL_API=3"), "{env}");
        assert!(
            !env.lines().any(|l| l.starts_with("HOME=")),
            "a clean environment: {env}"
        );
        let failed = pod
            .exec(&["env".into(), "/nonexistent-program".into()])
            .await
            .unwrap();
        assert_eq!(failed.exit_code, 127);
        assert!(!failed.stderr.is_empty());
    }
}
