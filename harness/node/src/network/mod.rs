//! The host side of the real pod network of one embedded control plane: a *segment* — one
//! bridge of its own with a /24 per node, an aligned block of those /24s claimed
//! machine-wide — the CNI configuration each node's containerd hands to the `bridge` and
//! `host-local` plugins, and an nftables table that keeps every pod packet on this machine.
//!
//! Pods of every node of the control plane share the bridge, so they reach each other
//! without NAT and without the host routing or forwarding anything: each node's
//! host-local allocates from the node's own /24 (its podCIDR), but the pods' addresses carry
//! the block's prefix (`{{podNetwork}}`, a /22 for four nodes), which puts the other nodes'
//! /24s on-link. The bridge holds every node's gateway (`.1` of its /24) with that prefix.
//!
//! What a pod can reach: the pods of the segment (every node of its control plane), the
//! host's gateway addresses on the bridge, and the DNS Service IP (DNATed, by the pod's
//! source /24, to its node's gateway, port 53). It has no default route
//! (`isDefaultGateway: false`); its only route besides the block is the Service CIDR via its
//! node's gateway, and the host forwards nothing to or from the bridge, so a Service IP never
//! leaves the machine. Another control plane's pods are on another bridge, in another block:
//! no route leads there.
//!
//! The template has `isGateway: false`: podcheck gives the bridge its gateway addresses
//! itself, and the pods still get their route to the Service CIDR via their gateway from
//! host-local's range, while the plugin leaves the host's `net.ipv4.ip_forward` alone (with
//! `isGateway: true` it turns forwarding on host-wide and never resets it). The table's
//! forward chain drops pod packets leaving the bridge in any case.
//!
//! Ownership across processes (concurrent tests run many control planes): each /24 of the
//! block is claimed with an exclusive `flock` on `/run/podcheck/subnets/10.244.X.0`, held as
//! long as the segment lives and released by the kernel when the process dies, even by
//! SIGKILL. The segment's state lives in `/run/podcheck/net/pcbrX/` (X: the block's first
//! /24; an owner file and a state file), so that [`sweep_stale`], run by every setup, removes
//! what a dead owner left behind (its nftables table, bridge, ports and directories). A
//! network set up alone ([`NodeNetwork::setup`]: a CNI conformance run, a user's CRI
//! socket) is a segment of one /24.

mod cmd;
mod parse;

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::runtime::Implementation;

use cmd::{COMMAND_TIMEOUT, check, ip};
use parse::{
    address_networks, block_at, block_indexes, block_prefix, bridge_index, bridge_name, dpkg_owner,
    gateway_of, newest_supported_version, nft_delete, nft_ruleset, nth_subnet, overlaps,
    plugin_banner_version, pod_range, render_template, route_destinations, table_name,
};
use podcheck_host::HostError;
use podcheck_host::command::{find_tool, is_executable, tool};
use podcheck_host::owner::Owner;
use podcheck_host::prerequisite::{self, Missing};

pub use parse::{conflist_plugins, interface_addresses, ipam_types, plugin_types};

/// The Service CIDR of a network set up without one (a CNI conformance run's): kubeadm's
/// default range. The embedded control plane always passes its cluster's own.
const STANDALONE_SERVICE_CIDR: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(10, 96, 0, 0), 12) {
    Ok(net) => net,
    Err(_) => panic!("a /12 is a valid prefix"),
};
/// Where Debian's `containernetworking-plugins` installs the plugins.
pub const DEFAULT_CNI_BIN_DIR: &str = "/usr/lib/cni";
/// The lock files of claimed /24s, one per subnet (`10.244.X.0`).
pub const SUBNET_LOCK_DIR: &str = "/run/podcheck/subnets";
/// The per-segment state dirs (`pcbrX/`, holding `owner` and `state.json`).
pub const STATE_DIR: &str = "/run/podcheck/net";
/// The conflist's file name in [`NodeNetwork::conf_dir`].
pub const CONFLIST_NAME: &str = "10-podcheck.conflist";
/// The CNI network's name in the conflist.
pub const NETWORK_NAME: &str = "podcheck";
/// The provider name of the built-in network in evidence (a user's conflist is named after
/// its plugins, e.g. `ptp+host-local`).
pub const PROVIDER_NAME: &str = "bridge+host-local";

/// The built-in network's conflist template (`fixtures/cni/bridge.conflist`), compiled in so
/// that an installed podcheck needs no source tree.
pub const BUILTIN_CONFLIST: &str = include_str!("../../../../fixtures/cni/bridge.conflist");

/// A conflist template (see `fixtures/cni/README.md` for its placeholders): the built-in
/// one, or a user's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflistTemplate {
    Builtin,
    File(PathBuf),
}

impl ConflistTemplate {
    /// The template's text.
    pub async fn read(&self) -> std::io::Result<String> {
        match self {
            ConflistTemplate::Builtin => Ok(BUILTIN_CONFLIST.to_string()),
            ConflistTemplate::File(path) => tokio::fs::read_to_string(path).await,
        }
    }
}

impl std::fmt::Display for ConflistTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConflistTemplate::Builtin => f.write_str("the built-in bridge.conflist"),
            ConflistTemplate::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl From<PathBuf> for ConflistTemplate {
    fn from(path: PathBuf) -> Self {
        ConflistTemplate::File(path)
    }
}

/// The pod network's CNI configuration: a conflist template podcheck fills in per node and
/// the dir of the plugins it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniConfig {
    /// The conflist template (the built-in `bridge.conflist` by default).
    pub conflist: ConflistTemplate,
    /// Where the plugins are ([`DEFAULT_CNI_BIN_DIR`] by default).
    pub bin_dir: PathBuf,
}

impl CniConfig {
    /// The built-in network: `bridge` + `host-local` from `/usr/lib/cni`.
    pub fn builtin() -> CniConfig {
        CniConfig {
            conflist: ConflistTemplate::Builtin,
            bin_dir: PathBuf::from(DEFAULT_CNI_BIN_DIR),
        }
    }
}

impl Default for CniConfig {
    fn default() -> Self {
        CniConfig::builtin()
    }
}

/// The plugins a pod network needs (`loopback` is what containerd runs for `lo`).
const REQUIRED_PLUGINS: [&str; 3] = ["bridge", "host-local", "loopback"];
const OWNER_FILE: &str = "owner";
const STATE_FILE: &str = "state.json";
/// The host-local data dir's name inside the caller's dir; a swept state must name it.
const IPAM_DIR: &str = "cni-ipam";
const CONF_SUBDIR: &str = "conf";
/// How long [`NodeNetwork::reach`] waits for the pod's kernel to answer.
const REACH_TIMEOUT: Duration = Duration::from_secs(1);
/// The TCP port [`NodeNetwork::reach`] knocks on: nothing listens there, so a live pod
/// answers with a RST.
const REACH_PORT: u16 = 1;
/// Attempts at locking a lock file that keeps being replaced under us.
const LOCK_ATTEMPTS: usize = 3;

/// The pool the nodes' /24s come from.
pub fn pod_subnet_pool() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).expect("16 is a valid prefix length")
}

/// The lock file of a claimed /24.
pub fn subnet_lock_path(subnet: Ipv4Net) -> PathBuf {
    Path::new(SUBNET_LOCK_DIR).join(subnet.network().to_string())
}

/// Why the node network could not be set up, probed or torn down.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Root, a plugin, a tool or kernel support is missing.
    #[error("a real pod network is not possible here: {0}")]
    Unusable(String),
    /// The options contradict each other.
    #[error("invalid network options: {0}")]
    Options(String),
    /// A file or directory could not be read or written.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A tool could not be started, failed or did not finish in time.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A tool's output was not what it should be.
    #[error("could not read {what}: {message}")]
    Parse { what: String, message: String },
    /// The conflist template could not be read or filled in.
    #[error("the CNI template {path}: {message}")]
    Template { path: String, message: String },
    /// No block of the size asked is free in the pool.
    #[error(
        "no /{prefix} block of /24s in {pool} is free: each is claimed (in part) by another \
         podcheck or overlaps a route or address of this host"
    )]
    Exhausted { pool: Ipv4Net, prefix: u8 },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetworkError {
    let what = what.into();
    move |source| NetworkError::Io { what, source }
}

/// How to set up one node's network (a segment of one node).
#[derive(Debug, Clone)]
pub struct NodeNetworkOptions {
    /// A directory for this node's network files (the conf dir and host-local's data dir go
    /// in it); it belongs to the caller, and only what setup made in it is removed.
    pub dir: PathBuf,
    /// The Service CIDR: the pods' one route besides the pod network.
    pub service_cidr: Ipv4Net,
    /// The DNS Service's ClusterIP, DNATed to the gateway's port 53.
    pub dns_service_ip: Ipv4Addr,
    /// Where the CNI plugins are (`/usr/lib/cni`).
    pub cni_bin_dir: PathBuf,
    /// The conflist template.
    pub template: ConflistTemplate,
}

impl NodeNetworkOptions {
    /// Options with kubeadm's default Service CIDR (10.96.0.0/12), its tenth address as
    /// the DNS Service IP, and the usual plugin dir.
    pub fn new(dir: impl Into<PathBuf>, template: impl Into<ConflistTemplate>) -> Self {
        NodeNetworkOptions {
            dir: dir.into(),
            service_cidr: STANDALONE_SERVICE_CIDR,
            dns_service_ip: Ipv4Addr::from(u32::from(STANDALONE_SERVICE_CIDR.network()) + 10),
            cni_bin_dir: PathBuf::from(DEFAULT_CNI_BIN_DIR),
            template: template.into(),
        }
    }
}

/// How to set up a segment: the nodes of one control plane on one bridge.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// A directory per node for its network files (see [`NodeNetworkOptions::dir`]), in
    /// the order the nodes get their /24s; 1 to 256 of them.
    pub node_dirs: Vec<PathBuf>,
    /// The Service CIDR: the pods' one route besides the pod network.
    pub service_cidr: Ipv4Net,
    /// The DNS Service's ClusterIP, DNATed to each node's gateway, port 53.
    pub dns_service_ip: Ipv4Addr,
    /// Where the CNI plugins are (`/usr/lib/cni`).
    pub cni_bin_dir: PathBuf,
    /// The conflist template, rendered once per node.
    pub template: ConflistTemplate,
}

impl From<NodeNetworkOptions> for SegmentOptions {
    fn from(o: NodeNetworkOptions) -> Self {
        SegmentOptions {
            node_dirs: vec![o.dir],
            service_cidr: o.service_cidr,
            dns_service_ip: o.dns_service_ip,
            cni_bin_dir: o.cni_bin_dir,
            template: o.template,
        }
    }
}

/// One node's part of a segment, as its state file records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeState {
    subnet: String,
    gateway: String,
    conf_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

/// What a segment's state dir records, so that a sweep can undo it without its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// Tells this setup from a later one that reuses the block.
    instance: String,
    pid: u32,
    /// The block of /24s (`10.244.4.0/22`), one per node.
    block: String,
    bridge: String,
    table: String,
    nodes: Vec<NodeState>,
}

impl State {
    /// What a state dir stands for when its state file is unreadable: the bridge and table
    /// follow from its name, the block is its one /24; the caller's files are unknown and
    /// stay.
    fn from_index(index: u8) -> State {
        let bridge = bridge_name(index);
        State {
            instance: String::new(),
            pid: 0,
            block: nth_subnet(pod_subnet_pool(), index).to_string(),
            table: table_name(&bridge),
            bridge,
            nodes: Vec::new(),
        }
    }

    /// The state file of the state dir of `index`, when it is consistent with the dir's
    /// name; what it names is removed recursively, so nothing else is trusted.
    fn read(dir: &Path, index: u8) -> State {
        let fallback = State::from_index(index);
        let Some(mut state) = std::fs::read(dir.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok())
        else {
            return fallback;
        };
        if state.bridge != fallback.bridge || state.table != fallback.table {
            return fallback;
        }
        // The block must start at the dir's /24 and lie in the pool.
        let block_ok = state.block.parse::<Ipv4Net>().is_ok_and(|b| {
            (16..=24).contains(&b.prefix_len())
                && b.network() == b.addr()
                && pod_subnet_pool().contains(&b)
                && b.network().octets()[2] == index
        });
        if !block_ok {
            state.block = fallback.block;
        }
        let named = |p: &Option<PathBuf>, name: &str| {
            p.as_ref()
                .is_some_and(|p| p.is_absolute() && p.file_name().is_some_and(|n| n == name))
        };
        for node in &mut state.nodes {
            if !named(&node.conf_file, CONFLIST_NAME) {
                node.conf_file = None;
            }
            if !named(&node.data_dir, IPAM_DIR) {
                node.data_dir = None;
            }
        }
        state
    }

    /// The block, as checked by [`State::read`] (or made by setup).
    fn block(&self) -> Option<Ipv4Net> {
        self.block.parse().ok()
    }
}

/// The exclusive lock on one /24's lock file.
#[derive(Debug)]
struct SubnetLock {
    path: PathBuf,
    file: File,
}

impl SubnetLock {
    /// Takes the lock without waiting; `None` when someone else holds it.
    fn try_acquire(path: &Path) -> Result<Option<SubnetLock>, NetworkError> {
        use rustix::fs::{FlockOperation, flock};
        for _ in 0..LOCK_ATTEMPTS {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io_error(format!("opening {}", path.display())))?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => {
                    return Err(NetworkError::Io {
                        what: format!("locking {}", path.display()),
                        source: e.into(),
                    });
                }
            }
            // A releasing owner (or a sweep) unlinks the file while holding the lock: a lock
            // on an unlinked file guards nothing, so it must still be the file at the path.
            let held = file
                .metadata()
                .map_err(io_error(format!("reading {}", path.display())))?;
            match std::fs::metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Some(SubnetLock {
                        path: path.to_path_buf(),
                        file,
                    }));
                }
                _ => continue,
            }
        }
        Ok(None)
    }

    /// Removes the lock file while still holding it, then unlocks.
    fn release(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "removing a subnet lock");
        }
        drop(self.file);
    }
}

/// Everything one segment made, to be undone (by its owner or a sweep).
#[derive(Debug)]
struct Leftover {
    state_dir: PathBuf,
    state: State,
    /// The locks of the block's /24s (a sweep holds those it could take).
    locks: Vec<SubnetLock>,
}

impl Leftover {
    /// Deletes the nftables table, the bridge's ports and the bridge, the files made in the
    /// callers' dirs and the state dir, then the locks. Goes on after a failure and returns
    /// the first.
    async fn remove(self) -> Result<(), NetworkError> {
        let mut first = None;
        let mut keep = |r: Result<(), NetworkError>| {
            if let Err(e) = r {
                tracing::warn!(error = %e, "tearing down a pod network");
                first.get_or_insert(e);
            }
        };
        let mut nft = tool("nft");
        nft.args(["-f", "-"]);
        keep(
            check(nft, Some(nft_delete(&self.state.table).as_bytes()))
                .await
                .map(drop),
        );
        keep(delete_bridge(&self.state.bridge).await);
        for node in &self.state.nodes {
            keep(remove_node_files(
                node.conf_file.as_deref(),
                node.data_dir.as_deref(),
            ));
        }
        keep(remove_all(&self.state_dir));
        for lock in self.locks {
            lock.release();
        }
        first.map_or(Ok(()), Err)
    }

    /// Leaves everything in place and lets the locks go, as the death of the owner would.
    fn abandon(self) {
        for lock in self.locks {
            drop(lock.file);
        }
    }
}

/// Removes a node's conflist (and its conf dir, when nothing else is in it) and its
/// host-local data dir.
fn remove_node_files(
    conf_file: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<(), NetworkError> {
    let mut first = None;
    if let Some(data) = data_dir
        && let Err(e) = remove_all(data)
    {
        first.get_or_insert(e);
    }
    if let Some(conf) = conf_file {
        if let Err(e) = remove_file(conf) {
            first.get_or_insert(e);
        }
        if let Some(parent) = conf.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    first.map_or(Ok(()), Err)
}

fn remove_all(path: &Path) -> Result<(), NetworkError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(NetworkError::Io {
            what: format!("removing {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn remove_file(path: &Path) -> Result<(), NetworkError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(NetworkError::Io {
            what: format!("removing {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Deletes the veths still attached to `bridge` (a pod whose netns is gone has none), then
/// the bridge. A missing bridge is not an error.
async fn delete_bridge(bridge: &str) -> Result<(), NetworkError> {
    let ports = match ip(&["-j", "link", "show", "master", bridge]).await {
        Ok(json) => {
            podcheck_host::ip::link_names(&json).map_err(|message| NetworkError::Parse {
                what: format!("the ports of {bridge}"),
                message,
            })?
        }
        Err(NetworkError::Host(HostError::Failed { stderr, .. }))
            if stderr.contains("does not exist") =>
        {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for port in ports.iter().map(String::as_str).chain([bridge]) {
        match ip(&["link", "del", "dev", port]).await {
            Ok(_) => {}
            Err(NetworkError::Host(HostError::Failed { stderr, .. }))
                if stderr.contains("Cannot find device") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the pod networks of podcheck processes that are gone: for every state dir under
/// [`STATE_DIR`] whose first /24's lock is free and whose owner is not running, deletes its
/// nftables table, bridge (and ports), the files it made and the state dir, and releases the
/// locks of its block. Returns the bridges swept. Run by every setup; a cleanup command may
/// call it too.
pub async fn sweep_stale() -> Result<Vec<String>, NetworkError> {
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("listing {STATE_DIR}"))(e)),
    };
    let mut swept = Vec::new();
    let mut first = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(index) = bridge_index(&name) else {
            continue;
        };
        let subnet = nth_subnet(pod_subnet_pool(), index);
        // Holding the lock: its owner is dead (or done), and no one claims it meanwhile.
        let lock = match SubnetLock::try_acquire(&subnet_lock_path(subnet)) {
            Ok(Some(lock)) => lock,
            Ok(None) => continue,
            Err(e) => {
                first.get_or_insert(e);
                continue;
            }
        };
        let dir = entry.path();
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE)).ok();
        // A state dir without an owner it names is a dead run's too (the lock was free).
        if owner
            .as_deref()
            .and_then(Owner::parse)
            .is_some_and(|o| o.alive())
        {
            continue;
        }
        let state = State::read(&dir, index);
        // The block's other /24s: the dead owner's locks went with it; those someone took
        // since stay theirs (the bridge's route kept them from taking any, but a lock is
        // never taken from a holder).
        let mut locks = vec![lock];
        if let Some(block) = state.block() {
            for i in block_indexes(block).filter(|i| *i != index) {
                let path = subnet_lock_path(nth_subnet(pod_subnet_pool(), i));
                if let Ok(Some(l)) = SubnetLock::try_acquire(&path) {
                    locks.push(l);
                }
            }
        }
        tracing::info!(bridge = %name, owner = ?owner.as_deref().map(str::trim), "sweeping a dead podcheck's pod network");
        let leftover = Leftover {
            state_dir: dir,
            state,
            locks,
        };
        match leftover.remove().await {
            Ok(()) => swept.push(name),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(swept), Err)
}

/// Whether a real pod network can be set up here with the plugins in `/usr/lib/cni`; the
/// error names what is missing, in one sentence.
pub fn usable() -> Result<(), String> {
    usable_with(Path::new(DEFAULT_CNI_BIN_DIR), &REQUIRED_PLUGINS)
}

/// What the built-in pod network needs and this machine lacks.
pub fn missing() -> Vec<Missing> {
    missing_with(Path::new(DEFAULT_CNI_BIN_DIR), &REQUIRED_PLUGINS)
}

/// Whether a pod network with these plugins from `cni_bin_dir` can be set up here.
pub fn usable_with(cni_bin_dir: &Path, required: &[&str]) -> Result<(), String> {
    let missing = missing_with(cni_bin_dir, required);
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "a real pod network needs {}",
        prerequisite::sentence(&missing)
    ))
}

/// What a pod network with these plugins from `cni_bin_dir` needs and this machine lacks.
pub fn missing_with(cni_bin_dir: &Path, required: &[&str]) -> Vec<Missing> {
    let mut missing: Vec<Missing> = Missing::root().into_iter().collect();
    let plugins: Vec<&str> = required
        .iter()
        .copied()
        .filter(|p| !is_executable(&cni_bin_dir.join(p)))
        .collect();
    if !plugins.is_empty() {
        missing.push(Missing::new(
            format!(
                "the CNI plugins {} in {} (Debian: containernetworking-plugins)",
                plugins.join(", "),
                cni_bin_dir.display()
            ),
            Some("containernetworking-plugins"),
        ));
    }
    for (name, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("nsenter", "util-linux"),
    ] {
        if find_tool(name).is_none() {
            missing.push(Missing::new(
                format!("the {name} command ({package})"),
                Some(package),
            ));
        }
    }
    if !bridge_supported() {
        missing.push(Missing::new(
            "kernel bridge support (no /sys/module/bridge, no bridge module)",
            None,
        ));
    }
    missing
}

/// Built in or loaded (`/sys/module/bridge`), or loadable (a module for this kernel).
fn bridge_supported() -> bool {
    if Path::new("/sys/module/bridge").exists() {
        return true;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let dir = Path::new("/lib/modules")
        .join(release.trim())
        .join("kernel/net/bridge");
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("bridge.ko"))
    })
}

/// The plugin versions already asked, per plugin (asking costs a process or three).
static PLUGIN_VERSIONS: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// A plugin's release: from its banner (`CNI bridge plugin v1.1.1`); where the build does
/// not know it (Debian's prints `version unknown`), the version of the package that
/// installed it (`1.1.1+ds1-3+b5`); else the newest CNI spec it speaks.
pub async fn plugin_version(cni_bin_dir: &Path, plugin: &str) -> String {
    let bridge = cni_bin_dir.join(plugin);
    if let Some(v) = PLUGIN_VERSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&bridge)
    {
        return v.clone();
    }
    let mut banner = tokio::process::Command::new(&bridge);
    banner.env_remove("CNI_COMMAND");
    let from_banner = podcheck_host::command::run(banner, None, COMMAND_TIMEOUT)
        .await
        .ok()
        .and_then(|o| plugin_banner_version(&format!("{}\n{}", o.stdout, o.stderr)));
    let version = match from_banner {
        Some(v) => v,
        None => match package_version(&bridge).await {
            Some(v) => v,
            None => {
                let mut ask = tokio::process::Command::new(&bridge);
                ask.env("CNI_COMMAND", "VERSION");
                let spec = check(ask, Some(&br#"{"cniVersion":"1.0.0"}"#[..]))
                    .await
                    .ok()
                    .and_then(|out| newest_supported_version(&out));
                match spec {
                    Some(spec) => format!("unknown (CNI spec {spec})"),
                    None => "unknown".into(),
                }
            }
        },
    };
    PLUGIN_VERSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(bridge.clone(), version.clone());
    version
}

/// The Debian package that normally ships the CNI plugins.
const PLUGINS_PACKAGE: &str = "containernetworking-plugins";

/// The version of the Debian package that installed `file`.
async fn package_version(file: &Path) -> Option<String> {
    find_tool("dpkg-query")?;
    // `dpkg-query -S` reads every package's file list (~60 ms); the usual package's own
    // list answers first.
    let listed = std::fs::read_to_string(format!("/var/lib/dpkg/info/{PLUGINS_PACKAGE}.list"))
        .is_ok_and(|list| list.lines().any(|l| Path::new(l) == file));
    let package = if listed {
        PLUGINS_PACKAGE.to_string()
    } else {
        let mut owner = tool("dpkg-query");
        owner.arg("-S").arg(file);
        dpkg_owner(&check(owner, None).await.ok()?)?
    };
    let mut version = tool("dpkg-query");
    version.args(["-W", "-f", "${Version}", &package]);
    let version = check(version, None).await.ok()?.trim().to_string();
    (!version.is_empty()).then_some(version)
}

/// The addresses in a network namespace (`nsenter --net=PATH ip -j -4 addr show`), as
/// `(ifname, "addr/len")`, without `lo`.
pub async fn netns_addresses(netns_path: &Path) -> Result<Vec<(String, String)>, NetworkError> {
    let mut net = std::ffi::OsString::from("--net=");
    net.push(netns_path);
    let mut command = tool("nsenter");
    command
        .arg(net)
        .arg(find_tool("ip").unwrap_or_else(|| PathBuf::from("ip")))
        .args(["-j", "-4", "addr", "show"]);
    let json = check(command, None).await?;
    interface_addresses(&json).map_err(|message| NetworkError::Parse {
        what: format!("the addresses in {}", netns_path.display()),
        message,
    })
}

/// What the nodes of a segment share: the block, the bridge, the table and the state dir.
/// Removed when the last node's network is torn down or dropped.
#[derive(Debug)]
struct Segment {
    block: Ipv4Net,
    bridge: String,
    table: String,
    state_dir: PathBuf,
    instance: String,
    /// What to undo; `None` once torn down (or abandoned).
    held: Mutex<Option<Leftover>>,
}

impl Segment {
    fn take(&self) -> Option<Leftover> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Removes everything the segment made (see [`Leftover::remove`]).
    async fn remove(&self) -> Result<(), NetworkError> {
        match self.take() {
            Some(leftover) => leftover.remove().await,
            None => Ok(()),
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let Some(leftover) = self.take() else {
            return;
        };
        // Drop cannot await: the removal runs on a thread of its own with a runtime of its
        // own (every command in it has a deadline), and is waited for here.
        let worker =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(leftover.remove()),
                    Err(e) => Err(io_error("starting a runtime to tear down")(e)),
                }
            });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(bridge = %self.bridge, error = %e, "tearing down a dropped pod network")
            }
            Err(_) => {
                tracing::warn!(bridge = %self.bridge, "tearing down a dropped pod network panicked")
            }
        }
    }
}

/// One embedded node's pod network on this host: its /24 on its control plane's segment.
/// Torn down by [`teardown`](Self::teardown), or (best effort, blocking briefly) on drop;
/// the segment goes with the last of its nodes.
#[derive(Debug)]
pub struct NodeNetwork {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    conf_dir: PathBuf,
    conf_file: PathBuf,
    data_dir: PathBuf,
    /// Where the plugins are.
    cni_bin_dir: PathBuf,
    /// The plugins the conflist names, main plugins first.
    plugins: Vec<String>,
    provider: Implementation,
    set_up_in: Duration,
    /// The shared part; `None` once torn down (or abandoned).
    segment: Option<Arc<Segment>>,
}

impl NodeNetwork {
    /// A segment of one node: claims a /24 of 10.244.0.0/16, makes its bridge with the
    /// gateway address, loads the nftables table and writes the conflist (see the module
    /// docs). Sweeps the leftovers of dead podcheck processes first. On failure, whatever
    /// was made is removed again.
    pub async fn setup(opts: NodeNetworkOptions) -> Result<NodeNetwork, NetworkError> {
        let mut nodes = NodeNetwork::setup_segment(opts.into()).await?;
        Ok(nodes.pop().expect("a segment of one node has one node"))
    }

    /// The nodes of one control plane on one segment: claims an aligned block of /24s (one
    /// per node, rounded up to a power of two), makes the bridge with every node's gateway,
    /// loads the nftables table and writes each node's conflist (see the module docs).
    /// Sweeps the leftovers of dead podcheck processes first. The networks come back in the
    /// order of `node_dirs`; on failure, whatever was made is removed again.
    pub async fn setup_segment(opts: SegmentOptions) -> Result<Vec<NodeNetwork>, NetworkError> {
        let began = Instant::now();
        let template = opts
            .template
            .read()
            .await
            .map_err(|e| NetworkError::Template {
                path: opts.template.to_string(),
                message: e.to_string(),
            })?;
        let plugins = conflist_plugins(&template).map_err(|message| NetworkError::Template {
            path: opts.template.to_string(),
            message,
        })?;
        let mut required: Vec<&str> = plugins.iter().map(String::as_str).collect();
        // containerd sets up `lo` with `loopback` from the same dir.
        required.push("loopback");
        usable_with(&opts.cni_bin_dir, &required).map_err(NetworkError::Unusable)?;
        if opts.node_dirs.len() > 1 && !template.contains("{{podNetwork}}") {
            tracing::warn!(
                template = %opts.template,
                "the CNI template has no {{{{podNetwork}}}}: each node's pods get only their own /24 \
                 on-link, so pods on different nodes cannot reach each other"
            );
        }
        let pool = pod_subnet_pool();
        let Some(prefix) = block_prefix(opts.node_dirs.len()) else {
            return Err(NetworkError::Options(format!(
                "a pod network spans 1 to 256 nodes (a /24 each of {pool}), not {}",
                opts.node_dirs.len()
            )));
        };
        if !opts.service_cidr.contains(&opts.dns_service_ip) {
            return Err(NetworkError::Options(format!(
                "the DNS Service IP {} is outside the Service CIDR {}",
                opts.dns_service_ip, opts.service_cidr
            )));
        }
        if overlaps(opts.service_cidr, pool) {
            return Err(NetworkError::Options(format!(
                "the Service CIDR {} overlaps the pod pool {pool}",
                opts.service_cidr
            )));
        }
        let dirs = opts
            .node_dirs
            .iter()
            .map(|d| std::path::absolute(d).map_err(io_error(format!("resolving {}", d.display()))))
            .collect::<Result<Vec<PathBuf>, NetworkError>>()?;
        for d in [SUBNET_LOCK_DIR, STATE_DIR] {
            std::fs::create_dir_all(d).map_err(io_error(format!("creating {d}")))?;
        }
        match sweep_stale().await {
            Ok(swept) if !swept.is_empty() => tracing::info!(?swept, "swept stale pod networks"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping stale pod networks"),
        }

        let (routes, addresses, links) = tokio::try_join!(
            ip(&["-j", "-4", "route", "show", "table", "all"]),
            ip(&["-j", "-4", "addr", "show"]),
            ip(&["-j", "link", "show"]),
        )?;
        let parse_err = |what: &str| {
            let what = what.to_string();
            move |message| NetworkError::Parse { what, message }
        };
        let mut in_use = route_destinations(&routes).map_err(parse_err("the host's routes"))?;
        in_use.extend(address_networks(&addresses).map_err(parse_err("the host's addresses"))?);
        let links: HashSet<String> = podcheck_host::ip::link_names(&links)
            .map_err(parse_err("the host's links"))?
            .into_iter()
            .collect();
        let (block, locks) = claim(pool, prefix, &in_use, &links)?;

        let start = block.network().octets()[2];
        let bridge = bridge_name(start);
        let table = table_name(&bridge);
        let state_dir = Path::new(STATE_DIR).join(&bridge);
        let nodes: Vec<NodeNetwork> = dirs
            .iter()
            .zip(start..)
            .map(|(dir, index)| {
                let subnet = nth_subnet(pool, index);
                let conf_dir = dir.join(CONF_SUBDIR);
                NodeNetwork {
                    subnet,
                    gateway: gateway_of(subnet),
                    conf_file: conf_dir.join(CONFLIST_NAME),
                    conf_dir,
                    data_dir: dir.join(IPAM_DIR),
                    cni_bin_dir: opts.cni_bin_dir.clone(),
                    plugins: plugins.clone(),
                    provider: Implementation {
                        name: plugins.join("+"),
                        real: true,
                        version: String::new(),
                    },
                    set_up_in: Duration::ZERO,
                    segment: None,
                }
            })
            .collect();
        let state = State {
            instance: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            block: block.to_string(),
            bridge: bridge.clone(),
            table: table.clone(),
            nodes: nodes
                .iter()
                .map(|n| NodeState {
                    subnet: n.subnet.to_string(),
                    gateway: n.gateway.to_string(),
                    conf_file: Some(n.conf_file.clone()),
                    data_dir: Some(n.data_dir.clone()),
                })
                .collect(),
        };
        let segment = Arc::new(Segment {
            block,
            bridge,
            table,
            state_dir: state_dir.clone(),
            instance: state.instance.clone(),
            held: Mutex::new(Some(Leftover {
                state_dir,
                state: state.clone(),
                locks,
            })),
        });
        let built = async {
            build_segment(&segment, &state, &nodes, opts.dns_service_ip).await?;
            for node in &nodes {
                node.write_conflist(&template, &segment, &opts)?;
            }
            Ok::<(), NetworkError>(())
        }
        .await;
        if let Err(e) = built {
            for node in &nodes {
                let _ = remove_node_files(Some(&node.conf_file), Some(&node.data_dir));
            }
            if let Err(cleanup) = segment.remove().await {
                tracing::warn!(error = %cleanup, "removing a half-made pod network");
            }
            return Err(e);
        }
        let version = plugin_version(&opts.cni_bin_dir, &plugins[0]).await;
        let mut out = Vec::with_capacity(nodes.len());
        for mut node in nodes {
            node.provider.version = version.clone();
            node.segment = Some(segment.clone());
            out.push(node);
        }
        let took = began.elapsed();
        for node in &mut out {
            node.set_up_in = took;
        }
        tracing::debug!(bridge = %segment.bridge, block = %segment.block, nodes = out.len(), ?took, "pod network ready");
        Ok(out)
    }

    /// Renders the template for this node into its conf dir, atomically (containerd
    /// watches the dir: it must only ever see the whole file).
    fn write_conflist(
        &self,
        template: &str,
        segment: &Segment,
        opts: &SegmentOptions,
    ) -> Result<(), NetworkError> {
        let data_dir = self.data_dir.to_string_lossy();
        let subnet = self.subnet.to_string();
        let gateway = self.gateway.to_string();
        let service_cidr = opts.service_cidr.to_string();
        let pod_network = segment.block.to_string();
        let (first, last) = pod_range(self.subnet);
        let (first, last) = (first.to_string(), last.to_string());
        let conflist = render_template(
            template,
            &[
                ("bridge", &segment.bridge),
                ("subnet", &subnet),
                ("gateway", &gateway),
                ("podNetwork", &pod_network),
                ("rangeStart", &first),
                ("rangeEnd", &last),
                ("serviceCidr", &service_cidr),
                ("dataDir", &data_dir),
            ],
        )
        .map_err(|message| NetworkError::Template {
            path: opts.template.to_string(),
            message,
        })?;
        std::fs::create_dir_all(&self.conf_dir)
            .map_err(io_error(format!("creating {}", self.conf_dir.display())))?;
        let partial = self.conf_dir.join(format!(".{CONFLIST_NAME}.partial"));
        std::fs::write(&partial, conflist)
            .map_err(io_error(format!("writing {}", partial.display())))?;
        std::fs::rename(&partial, &self.conf_file)
            .map_err(io_error(format!("writing {}", self.conf_file.display())))
    }

    fn segment(&self) -> &Segment {
        self.segment
            .as_deref()
            .expect("a node network holds its segment until torn down")
    }

    /// The node's /24 (its podCIDR), from which host-local gives its pods their addresses.
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// The block of the segment's /24s (`10.244.4.0/22`): the prefix of the pods'
    /// addresses, so that every node's pods are on-link (`{{podNetwork}}`). A segment of
    /// one node: its /24.
    pub fn pod_network(&self) -> Ipv4Net {
        self.segment().block
    }

    /// The node's gateway on the bridge: its pods' route to the Service CIDR, where a DNS
    /// server for them can listen.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The segment's bridge (`pcbrX`, X the block's first /24).
    pub fn bridge(&self) -> &str {
        &self.segment().bridge
    }

    /// The segment's nftables table (`podcheck_pcbrX`, family `ip`).
    pub fn nft_table(&self) -> &str {
        &self.segment().table
    }

    /// The CNI conf dir for containerd (`conf_dir` of its CRI plugin), holding only
    /// [`CONFLIST_NAME`].
    pub fn conf_dir(&self) -> &Path {
        &self.conf_dir
    }

    /// The conflist itself.
    pub fn conf_file(&self) -> &Path {
        &self.conf_file
    }

    /// host-local's data dir (the address reservations).
    pub fn ipam_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The segment's state dir (`/run/podcheck/net/pcbrX`: `owner`, `state.json`).
    pub fn state_dir(&self) -> &Path {
        &self.segment().state_dir
    }

    /// Tells this setup from a later one that reuses the block (also in `state.json`).
    pub fn instance(&self) -> &str {
        &self.segment().instance
    }

    /// Where the CNI plugins are (containerd's `bin_dir`).
    pub fn cni_bin_dir(&self) -> &Path {
        &self.cni_bin_dir
    }

    /// The plugins the conflist names (each plugin's type, then the IPAM types).
    pub fn plugins(&self) -> &[String] {
        &self.plugins
    }

    /// The network's provider, named after its plugins (`bridge+host-local`), real, with
    /// the first plugin's version.
    pub fn provider(&self) -> Implementation {
        self.provider.clone()
    }

    /// How long the segment's setup took, sweep included.
    pub fn set_up_in(&self) -> Duration {
        self.set_up_in
    }

    /// Proves the host reaches a pod: a TCP connect to `ip:1` with a 1 s deadline; a
    /// refusal (the pod's kernel answered with a RST) or an accept both count. Refuses,
    /// without sending anything, any address that is not a pod address of this node's
    /// subnet (podcheck only ever sends to addresses it owns).
    pub async fn reach(&self, ip: Ipv4Addr) -> Result<Duration, String> {
        if !self.subnet.contains(&ip) {
            return Err(format!(
                "{ip} is outside this node's subnet {}: podcheck only probes its own pods",
                self.subnet
            ));
        }
        if ip == self.gateway || ip == self.subnet.network() || ip == self.subnet.broadcast() {
            return Err(format!(
                "{ip} is not a pod address of {} (gateway, network or broadcast)",
                self.subnet
            ));
        }
        let began = Instant::now();
        let connect = tokio::net::TcpStream::connect(SocketAddr::from((ip, REACH_PORT)));
        match tokio::time::timeout(REACH_TIMEOUT, connect).await {
            Ok(Ok(_)) => Ok(began.elapsed()),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => Ok(began.elapsed()),
            Ok(Err(e)) => Err(format!("connecting to {ip}:{REACH_PORT}: {e}")),
            Err(_) => Err(format!(
                "no answer from {ip} within {REACH_TIMEOUT:?} (no pod there, or not reachable)"
            )),
        }
    }

    /// Removes this node's conflist and host-local data; the last node of the segment also
    /// removes what they share (table, bridge and its ports, the state dir) and releases the
    /// block. Goes on after a failure and returns the first.
    pub async fn teardown(mut self) -> Result<(), NetworkError> {
        let own = remove_node_files(Some(&self.conf_file), Some(&self.data_dir));
        let shared = match self.segment.take().map(Arc::try_unwrap) {
            Some(Ok(segment)) => segment.remove().await,
            // Another node still uses it; the last one removes it.
            Some(Err(_)) | None => Ok(()),
        };
        own.and(shared)
    }

    /// Leaves everything in place (the whole segment's) and releases the block's locks, as
    /// the death of this process would: for tests of the sweep.
    #[doc(hidden)]
    pub fn abandon(mut self) {
        if let Some(segment) = self.segment.take()
            && let Some(leftover) = segment.take()
        {
            leftover.abandon();
        }
    }
}

impl Drop for NodeNetwork {
    fn drop(&mut self) {
        // Not torn down or abandoned: this node's files go, and the segment with its last
        // node (its own drop).
        let Some(segment) = self.segment.take() else {
            return;
        };
        if let Err(e) = remove_node_files(Some(&self.conf_file), Some(&self.data_dir)) {
            tracing::warn!(subnet = %self.subnet, error = %e, "removing a dropped node network's files");
        }
        drop(segment);
    }
}

/// Everything after the claim: the state dir first (so that a crash from here on is
/// swept), then the bridge with every node's gateway, then the table. The conflists come
/// last, once the host side is ready.
async fn build_segment(
    segment: &Segment,
    state: &State,
    nodes: &[NodeNetwork],
    dns_service_ip: Ipv4Addr,
) -> Result<(), NetworkError> {
    // A state dir of a dead owner the sweep could not remove: the locks are ours now.
    remove_all(&segment.state_dir)?;
    std::fs::create_dir(&segment.state_dir).map_err(io_error(format!(
        "creating {}",
        segment.state_dir.display()
    )))?;
    podcheck_host::sweep::write_owner_file(&segment.state_dir, OWNER_FILE).map_err(io_error(
        format!("writing {}", segment.state_dir.join(OWNER_FILE).display()),
    ))?;
    let state_file = segment.state_dir.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state).expect("the state serializes");
    std::fs::write(&state_file, json)
        .map_err(io_error(format!("writing {}", state_file.display())))?;

    let bridge = &segment.bridge;
    ip(&["link", "add", "name", bridge, "type", "bridge"]).await?;
    // IPv6 stays off the bridge: the nftables table is IPv4, and nothing is to be routed
    // for the pods over IPv6 either (no host address, no forwarding).
    let ipv6 = format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6");
    if Path::new(&ipv6).exists() {
        tokio::fs::write(&ipv6, "1")
            .await
            .map_err(io_error(format!("writing {ipv6}")))?;
    }
    // Every node's gateway with the block's prefix: one connected route for the block, and
    // each node's pods find their gateway on the bridge.
    let mut batch = tool("ip");
    batch.args(["-batch", "-"]);
    let mut commands = String::new();
    for node in nodes {
        commands.push_str(&format!(
            "address add {}/{} dev {bridge}\n",
            node.gateway,
            segment.block.prefix_len()
        ));
    }
    commands.push_str(&format!("link set dev {bridge} up\n"));
    check(batch, Some(commands.as_bytes())).await?;

    let mut nft = tool("nft");
    nft.args(["-f", "-"]);
    let gateways: Vec<(Ipv4Net, Ipv4Addr)> = nodes.iter().map(|n| (n.subnet, n.gateway)).collect();
    let rules = nft_ruleset(
        &segment.table,
        bridge,
        segment.block,
        &gateways,
        dns_service_ip,
    );
    check(nft, Some(rules.as_bytes())).await?;
    Ok(())
}

/// The first aligned block of `prefix` in the pool that overlaps nothing in use on the host,
/// whose bridge name is free, and whose /24s' locks are all ours.
fn claim(
    pool: Ipv4Net,
    prefix: u8,
    in_use: &[Ipv4Net],
    links: &HashSet<String>,
) -> Result<(Ipv4Net, Vec<SubnetLock>), NetworkError> {
    let step = 1usize << (24 - prefix);
    'blocks: for start in (0..=usize::from(u8::MAX)).step_by(step) {
        let start = u8::try_from(start).expect("below 256");
        let block = block_at(pool, start, prefix);
        if in_use.iter().any(|n| overlaps(*n, block)) || links.contains(&bridge_name(start)) {
            continue;
        }
        let mut locks = Vec::new();
        for index in block_indexes(block) {
            match SubnetLock::try_acquire(&subnet_lock_path(nth_subnet(pool, index)))? {
                Some(lock) => locks.push(lock),
                None => {
                    // Someone holds one of its /24s: the block is not free.
                    for lock in locks {
                        lock.release();
                    }
                    continue 'blocks;
                }
            }
        }
        return Ok((block, locks));
    }
    Err(NetworkError::Exhausted { pool, prefix })
}
