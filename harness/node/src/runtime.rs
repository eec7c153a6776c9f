//! The container runtime and network plugin interfaces the kubelet drives, shaped after CRI
//! and CNI so that containerd and real CNI plugins fit behind them, and their simulated
//! implementations.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ipnet::Ipv4Net;

use crate::images::catalog::{self, Catalog, MIRRORED_REGISTRIES};
use crate::images::normalize_reference;
use crate::ipam::{BlockPool, IpamError};

/// Which implementation produced a piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    /// `sim`, `containerd`, `host-local`, ...
    pub name: String,
    /// Whether a real component (a process, a kernel object) did the work.
    pub real: bool,
    pub version: String,
}

impl Implementation {
    fn simulated(name: &str) -> Self {
        Implementation {
            name: name.into(),
            real: false,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Why a runtime or network call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("no sandbox {0}")]
    NoSandbox(String),
    #[error("no container {0}")]
    NoContainer(String),
    #[error("no free address in {0}")]
    AddressesExhausted(String),
    /// The operation cannot be answered truthfully by this implementation.
    #[error("{0}")]
    Unsupported(String),
    #[error("runtime call failed: {0}")]
    Failed(String),
    /// A CRI call the runtime answered with an error, in the words the kubelet reports
    /// (gRPC's status text: `rpc error: code = NotFound desc = …`).
    #[error("rpc error: code = {code} desc = {message}")]
    Rpc { code: String, message: String },
}

/// DNS settings for the sandbox: what ends up in the containers' /etc/resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// A resolv.conf's servers, search path and options, for `dnsPolicy: Default` (the host's).
impl From<podcheck_core::resolv::ResolvConf> for DnsConfig {
    fn from(conf: podcheck_core::resolv::ResolvConf) -> Self {
        DnsConfig {
            servers: conf.nameservers,
            searches: conf.search,
            options: conf.options,
        }
    }
}

impl DnsConfig {
    /// The resolv.conf a runtime writes for this config.
    pub fn resolv_conf(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for s in &self.servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// CRI's PodSandboxConfig, the parts the kubelet fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub hostname: String,
    pub dns: DnsConfig,
    pub log_directory: String,
}

/// A sandbox as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    pub id: String,
    /// The address the network plugin gave it.
    pub ip: IpAddr,
}

/// CRI's ContainerConfig, the parts the kubelet fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// CRI's metadata attempt: how many times the kubelet restarted this container before.
    pub attempt: u32,
}

/// A container's state as CRI ContainerStatus reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running {
        started_at: String,
    },
    Exited {
        exit_code: i32,
        reason: String,
        finished_at: String,
    },
}

/// The result of a command run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// A CRI runtime, as the kubelet uses it. The runtime calls the network plugin while it
/// creates the sandbox, as containerd calls CNI, so the sandbox comes back with its IP.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    fn provider(&self) -> Implementation;
    /// The scheme of container IDs in pod status (`containerd://…`).
    fn id_scheme(&self) -> &str;
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError>;
    /// Whether the image is present already.
    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError>;
    /// Pulls the image; returns its image ID.
    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError>;
    async fn image_id(&self, image: &str) -> Result<String, RuntimeError>;
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError>;
    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError>;
    /// CRI StopContainer: TERM, then KILL once `timeout` has passed. Returns once the
    /// container has exited.
    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError>;
    async fn container_state(&self, container_id: &str) -> Result<ContainerState, RuntimeError>;
    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
    ) -> Result<ExecResult, RuntimeError>;
    /// Stops the sandbox and its containers; the network is torn down here. Idempotent.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;
    /// Removes a stopped sandbox. Idempotent.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;
    /// The network provider the runtime calls for its sandboxes (CNI plugins, or simulated).
    fn network_provider(&self) -> Implementation;
    /// The container's log file in CRI format (`TIMESTAMP STREAM P|F LINE`), when the
    /// runtime writes one. Backs `pods/log`.
    async fn container_log(
        &self,
        _container_id: &str,
    ) -> Result<Option<std::path::PathBuf>, RuntimeError> {
        Ok(None)
    }
    /// The ready sandbox of the pod with this uid, if the runtime has one.
    async fn sandbox_of_pod(&self, _pod_uid: &str) -> Result<Option<String>, RuntimeError> {
        Ok(None)
    }
    /// The sandbox's network namespace, when it is a kernel object the host can enter.
    async fn sandbox_netns(
        &self,
        _sandbox_id: &str,
    ) -> Result<Option<std::path::PathBuf>, RuntimeError> {
        Ok(None)
    }
}

/// A CNI network, as the runtime uses it.
#[async_trait]
pub trait Network: Send + Sync + 'static {
    fn provider(&self) -> Implementation;
    /// ADD: attaches the sandbox; returns its address.
    async fn add(&self, sandbox_id: &str) -> Result<IpAddr, RuntimeError>;
    /// DEL: detaches it and releases the address. Idempotent.
    async fn del(&self, sandbox_id: &str) -> Result<(), RuntimeError>;
}

/// IPAM without interfaces: unique addresses from the node's podCIDR (or from blocks of a
/// pool, as Calico's IPAM), released on DEL.
#[derive(Debug)]
pub struct SimNetwork {
    source: AddressSource,
    leases: Mutex<HashMap<String, Ipv4Addr>>,
}

#[derive(Debug)]
enum AddressSource {
    /// The node's podCIDR; its first address is the gateway's, as with the bridge plugin.
    PodCidr(Ipv4Net),
    /// Blocks of a pool shared by all nodes, claimed for this node as they fill up.
    Pool {
        pool: Arc<Mutex<BlockPool>>,
        node: String,
    },
}

impl SimNetwork {
    pub fn new(cidr: Ipv4Net) -> Self {
        Self::from_source(AddressSource::PodCidr(cidr))
    }

    /// Addresses from `node`'s blocks of `pool` (every address of a block is a pod's: the
    /// gateway is link-local, as Calico's 169.254.1.1).
    pub fn from_pool(pool: Arc<Mutex<BlockPool>>, node: &str) -> Self {
        Self::from_source(AddressSource::Pool {
            pool,
            node: node.to_string(),
        })
    }

    fn from_source(source: AddressSource) -> Self {
        SimNetwork {
            source,
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// A free address, claiming a new block of the pool when this node's are full.
    fn free_address(&self, taken: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr, RuntimeError> {
        match &self.source {
            AddressSource::PodCidr(cidr) => cidr
                .hosts()
                .skip(1)
                .find(|ip| !taken.contains(ip))
                .ok_or_else(|| RuntimeError::AddressesExhausted(cidr.to_string())),
            AddressSource::Pool { pool, node } => {
                let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
                let owned = pool.blocks_of(node);
                if let Some(ip) = owned
                    .iter()
                    .flat_map(|b| b.hosts())
                    .find(|ip| !taken.contains(ip))
                {
                    return Ok(ip);
                }
                let block = pool.claim(node).map_err(|e| match e {
                    IpamError::Exhausted { pool } | IpamError::PoolTooSmall { pool } => {
                        RuntimeError::AddressesExhausted(pool.to_string())
                    }
                })?;
                block
                    .hosts()
                    .next()
                    .ok_or_else(|| RuntimeError::AddressesExhausted(block.to_string()))
            }
        }
    }
}

#[async_trait]
impl Network for SimNetwork {
    fn provider(&self) -> Implementation {
        match self.source {
            AddressSource::PodCidr(_) => Implementation::simulated("sim-ipam"),
            AddressSource::Pool { .. } => Implementation::simulated("sim-ipam-pool"),
        }
    }

    async fn add(&self, sandbox_id: &str) -> Result<IpAddr, RuntimeError> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = leases.get(sandbox_id) {
            return Ok(IpAddr::V4(*ip));
        }
        let taken: BTreeSet<Ipv4Addr> = leases.values().copied().collect();
        let ip = self.free_address(&taken)?;
        leases.insert(sandbox_id.to_string(), ip);
        Ok(IpAddr::V4(ip))
    }

    async fn del(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sandbox_id);
        Ok(())
    }
}

#[derive(Debug)]
struct SimSandbox {
    config: SandboxConfig,
    containers: Vec<String>,
}

#[derive(Debug)]
struct SimContainer {
    sandbox: String,
    image: String,
    state: ContainerState,
    /// When and how its command exits, where the simulation can tell ([`planned_exit`]).
    exit: Option<PlannedExit>,
    /// When it started: the clock its planned exit runs on, and the wall time.
    started: Option<(tokio::time::Instant, k8s_openapi::jiff::Timestamp)>,
}

impl SimContainer {
    /// Its state now: a running container whose planned exit is due has exited.
    fn settle(&mut self) {
        let (Some(exit), Some((since, wall))) = (self.exit, self.started) else {
            return;
        };
        if matches!(self.state, ContainerState::Running { .. }) && since.elapsed() >= exit.after {
            let finished = k8s_openapi::jiff::SignedDuration::try_from(exit.after)
                .ok()
                .and_then(|d| wall.checked_add(d).ok())
                .unwrap_or(wall);
            self.state = ContainerState::Exited {
                exit_code: exit.code,
                reason: if exit.code == 0 { "Completed" } else { "Error" }.into(),
                finished_at: crate::clock::timestamp(finished),
            };
        }
    }
}

/// When a simulated container's command exits, and with which code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedExit {
    pub after: Duration,
    pub code: i32,
}

/// The exit of a command the simulation can tell without running it, where it can — a
/// narrow reading, so that a pod whose app exits means the same on the simulated runtime
/// as on containerd: `false` and `true` exit at once (1, 0); `sh -c SCRIPT` whose SCRIPT is
/// only `sleep N`, `exit C`, `true` and `false` statements joined by `;` or `&&` exits
/// after the sleeps with the code of its first `exit` (or its last statement). Any other
/// command runs until stopped, as every simulated container did before.
pub fn planned_exit(command: &[String], args: &[String]) -> Option<PlannedExit> {
    let argv: Vec<&str> = command.iter().chain(args).map(String::as_str).collect();
    let script = match argv.as_slice() {
        ["false" | "/bin/false"] => "false",
        ["true" | "/bin/true"] => "true",
        ["sh" | "/bin/sh" | "bash" | "/bin/bash", "-c", script] => script,
        _ => return None,
    };
    let mut after = Duration::ZERO;
    let mut code = 0;
    for list in script.split(';') {
        // In `a && b`, b runs only if a succeeded; after `;` the script goes on, as sh does.
        for statement in list.split("&&") {
            let words: Vec<&str> = statement.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["sleep", n] => {
                    let seconds: f64 = n
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
                    after += Duration::from_secs_f64(seconds);
                    code = 0;
                }
                ["exit", c] => {
                    return Some(PlannedExit {
                        after,
                        code: c.parse().ok()?,
                    });
                }
                ["exit"] => return Some(PlannedExit { after, code }),
                ["true"] => code = 0,
                ["false"] => code = 1,
                _ => return None,
            }
            if code != 0 {
                break;
            }
        }
    }
    Some(PlannedExit { after, code })
}

#[derive(Debug, Default)]
struct SimState {
    sandboxes: HashMap<String, SimSandbox>,
    containers: HashMap<String, SimContainer>,
    images: BTreeSet<String>,
}

/// A runtime that runs nothing: it keeps the books a runtime keeps (sandboxes, containers,
/// images) and calls its network like a real one. Its containers run until stopped, except
/// those whose command's exit it can tell ([`planned_exit`]): those exit then.
///
/// Its pulls succeed for the images a real node of podcheck's could pull (the built-in
/// images and those of the catalog) and fail for the others in containerd's words, so that a
/// suite means the same on both runtimes.
pub struct SimRuntime {
    network: Arc<dyn Network>,
    images: Arc<Catalog>,
    /// The built-in images' full references ([`catalog::builtin_references`]).
    builtin: Vec<String>,
    state: Mutex<SimState>,
}

impl SimRuntime {
    /// A runtime that knows the built-in images only.
    pub fn new(network: Arc<dyn Network>) -> Self {
        Self::with_images(network, Arc::default())
    }

    /// A runtime that also knows the images of `images` (`--image-archive`).
    pub fn with_images(network: Arc<dyn Network>, images: Arc<Catalog>) -> Self {
        SimRuntime {
            network,
            images,
            builtin: catalog::builtin_references(),
            state: Mutex::new(SimState::default()),
        }
    }

    /// The image id a pull of `image` gets (`docker.io/library/busybox@sha256:…`, as the
    /// CRI reports a repo digest), or containerd's error for an image no registry has.
    fn resolve(&self, image: &str) -> Result<String, RuntimeError> {
        let reference = normalize_reference(image).map_err(|message| RuntimeError::Rpc {
            code: "InvalidArgument".into(),
            message: format!("failed to pull and unpack image {image:?}: {message}"),
        })?;
        let full = reference.to_string();
        let repository = format!("{}/{}", reference.domain, reference.path);
        if self.builtin.contains(&full) {
            return Ok(format!("{repository}@{}", image_digest(&full)));
        }
        match self.images.resolve(&full) {
            Some(digest) => Ok(format!("{repository}@{digest}")),
            None => Err(pull_not_found(&full, &reference.domain)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}

/// What containerd says when the embedded registry has no such image, or when the image is
/// on a registry podcheck's nodes cannot reach.
fn pull_not_found(full: &str, domain: &str) -> RuntimeError {
    if MIRRORED_REGISTRIES.contains(&domain) {
        RuntimeError::Rpc {
            code: "NotFound".into(),
            message: format!(
                "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
            ),
        }
    } else {
        RuntimeError::Rpc {
            code: "Unknown".into(),
            message: format!(
                "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {domain} is not a registry podcheck's nodes can reach (simulated)"
            ),
        }
    }
}

fn image_digest(image: &str) -> String {
    // A stable, obviously simulated image ID.
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    image.hash(&mut h);
    format!("sha256:{:064x}", h.finish())
}

fn now() -> String {
    crate::clock::now()
}

#[async_trait]
impl Runtime for SimRuntime {
    fn provider(&self) -> Implementation {
        Implementation::simulated("sim")
    }

    fn id_scheme(&self) -> &str {
        "sim"
    }

    fn network_provider(&self) -> Implementation {
        self.network.provider()
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        let id = new_id();
        let ip = self.network.add(&id).await?;
        self.lock().sandboxes.insert(
            id.clone(),
            SimSandbox {
                config: config.clone(),
                containers: Vec::new(),
            },
        );
        Ok(Sandbox { id, ip })
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        Ok(self.lock().images.contains(image))
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        let id = self.resolve(image)?;
        self.lock().images.insert(image.to_string());
        Ok(id)
    }

    async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        if !self.lock().images.contains(image) {
            return Err(RuntimeError::Failed(format!(
                "image {image:?} is not present"
            )));
        }
        self.resolve(image)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, RuntimeError> {
        let mut s = self.lock();
        let id = new_id();
        let sandbox = s
            .sandboxes
            .get_mut(sandbox_id)
            .ok_or_else(|| RuntimeError::NoSandbox(sandbox_id.into()))?;
        sandbox.containers.push(id.clone());
        s.containers.insert(
            id.clone(),
            SimContainer {
                sandbox: sandbox_id.into(),
                image: config.image.clone(),
                state: ContainerState::Created,
                exit: planned_exit(&config.command, &config.args),
                started: None,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        let c = s
            .containers
            .get_mut(container_id)
            .ok_or_else(|| RuntimeError::NoContainer(container_id.into()))?;
        let wall = k8s_openapi::jiff::Timestamp::now();
        c.state = ContainerState::Running {
            started_at: crate::clock::timestamp(wall),
        };
        c.started = Some((tokio::time::Instant::now(), wall));
        c.settle();
        Ok(())
    }

    /// PID 1 without a SIGTERM handler (what `sleep` is) ignores the TERM, so a running
    /// container takes the whole timeout and is then killed (exit code 137).
    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let running = matches!(
            self.container_state(container_id).await?,
            ContainerState::Running { .. }
        );
        if !running {
            return Ok(());
        }
        tokio::time::sleep(timeout).await;
        if let Some(c) = self.lock().containers.get_mut(container_id)
            && matches!(c.state, ContainerState::Running { .. })
        {
            c.state = ContainerState::Exited {
                exit_code: 137,
                reason: "Error".into(),
                finished_at: now(),
            };
        }
        Ok(())
    }

    async fn container_state(&self, container_id: &str) -> Result<ContainerState, RuntimeError> {
        let mut s = self.lock();
        let c = s
            .containers
            .get_mut(container_id)
            .ok_or_else(|| RuntimeError::NoContainer(container_id.into()))?;
        c.settle();
        Ok(c.state.clone())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
    ) -> Result<ExecResult, RuntimeError> {
        let mut s = self.lock();
        if let Some(c) = s.containers.get_mut(container_id) {
            c.settle();
        }
        let c = s
            .containers
            .get(container_id)
            .ok_or_else(|| RuntimeError::NoContainer(container_id.into()))?;
        if !matches!(c.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Failed(format!(
                "container {container_id} is not running"
            )));
        }
        // Only what the simulation knows for certain: the resolv.conf it was given.
        match command
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["cat", "/etc/resolv.conf"] => {
                let sandbox = s
                    .sandboxes
                    .get(&c.sandbox)
                    .ok_or_else(|| RuntimeError::NoSandbox(c.sandbox.clone()))?;
                Ok(ExecResult {
                    stdout: sandbox.config.dns.resolv_conf().into_bytes(),
                    stderr: Vec::new(),
                    exit_code: 0,
                })
            }
            _ => Err(RuntimeError::Unsupported(format!(
                "the simulated runtime runs no processes, so it cannot run {:?} in image {}",
                command.join(" "),
                c.image
            ))),
        }
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        {
            let mut s = self.lock();
            let Some(sandbox) = s.sandboxes.get(sandbox_id) else {
                return Ok(());
            };
            let containers = sandbox.containers.clone();
            for id in containers {
                if let Some(c) = s.containers.get_mut(&id)
                    && !matches!(c.state, ContainerState::Exited { .. })
                {
                    c.state = ContainerState::Exited {
                        exit_code: 0,
                        reason: "Completed".into(),
                        finished_at: now(),
                    };
                }
            }
        }
        self.network.del(sandbox_id).await
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        if let Some(sandbox) = s.sandboxes.remove(sandbox_id) {
            for id in sandbox.containers {
                s.containers.remove(&id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_are_unique_and_released() {
        let net = SimNetwork::new("10.244.0.0/24".parse().unwrap());
        let a = net.add("a").await.unwrap();
        let b = net.add("b").await.unwrap();
        assert_eq!(a, "10.244.0.2".parse::<IpAddr>().unwrap());
        assert_ne!(a, b);
        assert_eq!(net.add("a").await.unwrap(), a);
        net.del("a").await.unwrap();
        net.del("a").await.unwrap();
        assert_eq!(net.add("c").await.unwrap(), a);
    }

    #[tokio::test]
    async fn pool_addresses_come_from_blocks_claimed_as_they_fill() {
        let pool = BlockPool::new("192.168.0.0/25".parse().unwrap(), Vec::new()).unwrap();
        let pool = Arc::new(Mutex::new(pool));
        let one = SimNetwork::from_pool(pool.clone(), "node-1");
        let two = SimNetwork::from_pool(pool.clone(), "node-2");
        let first = one.add("a").await.unwrap();
        assert_eq!(first, "192.168.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            two.add("b").await.unwrap(),
            "192.168.0.65".parse::<IpAddr>().unwrap(),
            "each node its own block"
        );
        for i in 0..61 {
            one.add(&format!("fill-{i}")).await.unwrap();
        }
        assert!(
            matches!(
                one.add("over").await,
                Err(RuntimeError::AddressesExhausted(_))
            ),
            "both blocks of the /25 are claimed"
        );
        one.del("a").await.unwrap();
        assert_eq!(one.add("again").await.unwrap(), first);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_a_running_sim_container_waits_out_its_timeout() {
        let rt = SimRuntime::new(Arc::new(SimNetwork::new("10.244.0.0/24".parse().unwrap())));
        let sb = rt.run_pod_sandbox(&SandboxConfig::default()).await.unwrap();
        let config = ContainerConfig {
            name: "c".into(),
            image: "busybox".into(),
            ..Default::default()
        };
        let c = rt.create_container(&sb.id, &config).await.unwrap();
        let created = rt.create_container(&sb.id, &config).await.unwrap();
        rt.start_container(&c).await.unwrap();
        let began = tokio::time::Instant::now();
        rt.stop_container(&created, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            began.elapsed(),
            Duration::ZERO,
            "nothing runs, nothing to wait for"
        );
        rt.stop_container(&c, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(began.elapsed(), Duration::from_secs(30));
        assert!(matches!(
            rt.container_state(&c).await.unwrap(),
            ContainerState::Exited { exit_code: 137, .. }
        ));
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[rstest::rstest]
    #[case::false_(&["false"], &[], Some((0.0, 1)))]
    #[case::true_(&[], &["true"], Some((0.0, 0)))]
    #[case::exit_at_once(&["sh", "-c", "exit 3"], &[], Some((0.0, 3)))]
    #[case::sleep_then_exit(&["sh", "-c"], &["sleep 2; exit 1"], Some((2.0, 1)))]
    #[case::sleep_and_false(&["/bin/sh", "-c", "sleep 1.5 && false"], &[], Some((1.5, 1)))]
    #[case::only_sleep(&["sh", "-c", "sleep 3"], &[], Some((3.0, 0)))]
    #[case::exit_ends_the_script(&["sh", "-c", "exit 2; sleep 9"], &[], Some((0.0, 2)))]
    #[case::and_after_a_failure_runs_nothing(&["sh", "-c", "false && exit 0"], &[], Some((0.0, 1)))]
    #[case::semicolon_goes_on(&["sh", "-c", "false; sleep 1"], &[], Some((1.0, 0)))]
    #[case::anything_else_runs(&["sh", "-c", "echo hi; exit 1"], &[], None)]
    #[case::sleep_runs_until_stopped(&[], &["sleep", "3600"], None)]
    #[case::no_command(&[], &[], None)]
    fn the_simulation_tells_only_exits_it_can_be_sure_of(
        #[case] command: &[&str],
        #[case] args: &[&str],
        #[case] exit: Option<(f64, i32)>,
    ) {
        let got =
            planned_exit(&argv(command), &argv(args)).map(|e| (e.after.as_secs_f64(), e.code));
        assert_eq!(got, exit);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sim_container_whose_command_exits_exits_then() {
        let rt = SimRuntime::new(Arc::new(SimNetwork::new("10.244.0.0/24".parse().unwrap())));
        let sb = rt.run_pod_sandbox(&SandboxConfig::default()).await.unwrap();
        let config = ContainerConfig {
            name: "app".into(),
            image: "busybox".into(),
            command: argv(&["sh", "-c", "sleep 2; exit 1"]),
            ..Default::default()
        };
        let c = rt.create_container(&sb.id, &config).await.unwrap();
        rt.start_container(&c).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1999)).await;
        assert!(matches!(
            rt.container_state(&c).await.unwrap(),
            ContainerState::Running { .. }
        ));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let ContainerState::Exited {
            exit_code, reason, ..
        } = rt.container_state(&c).await.unwrap()
        else {
            panic!("still running")
        };
        assert_eq!((exit_code, reason.as_str()), (1, "Error"));
        assert!(
            rt.exec_sync(&c, &argv(&["cat", "/etc/resolv.conf"]))
                .await
                .is_err(),
            "nothing runs in an exited container"
        );
    }

    #[tokio::test]
    async fn exhausted_range_is_an_error() {
        let net = SimNetwork::new("10.244.0.0/30".parse().unwrap());
        net.add("a").await.unwrap();
        assert!(matches!(
            net.add("b").await,
            Err(RuntimeError::AddressesExhausted(_))
        ));
    }

    #[tokio::test]
    async fn sim_runtime_answers_only_what_it_knows() {
        let rt = SimRuntime::new(Arc::new(SimNetwork::new("10.244.0.0/24".parse().unwrap())));
        let dns = DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["ns.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        let sb = rt
            .run_pod_sandbox(&SandboxConfig {
                dns: dns.clone(),
                ..SandboxConfig::default()
            })
            .await
            .unwrap();
        let c = rt
            .create_container(
                &sb.id,
                &ContainerConfig {
                    name: "c".into(),
                    image: "busybox".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            rt.exec_sync(&c, &["cat".into(), "/etc/resolv.conf".into()])
                .await
                .is_err()
        );
        rt.start_container(&c).await.unwrap();
        let out = rt
            .exec_sync(&c, &["cat".into(), "/etc/resolv.conf".into()])
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), dns.resolv_conf());
        assert!(matches!(
            rt.exec_sync(&c, &["ls".into()]).await,
            Err(RuntimeError::Unsupported(_))
        ));
        rt.stop_pod_sandbox(&sb.id).await.unwrap();
        assert!(matches!(
            rt.container_state(&c).await.unwrap(),
            ContainerState::Exited { .. }
        ));
        rt.remove_pod_sandbox(&sb.id).await.unwrap();
        rt.remove_pod_sandbox(&sb.id).await.unwrap();
    }
}
