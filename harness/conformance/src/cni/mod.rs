//! The CNI conformance runner: a `kind: CniSuite` against real plugins, called directly as
//! the CNI specification (1.0.0, 1.1.0) says, in network namespaces podcheck creates.
//!
//! Per network (a conflist template), the host side comes from the node's
//! [`NodeNetwork`]: a /24 of 10.244.0.0/16 claimed by flock, a bridge `pcbrX` holding the
//! gateway address, an nftables table that drops anything forwarded from or to the subnet
//! that does not stay in it, and the template rendered with that subnet, bridge and a
//! host-local data dir of the run's own. Then every case runs once per spec version the
//! plugins list (see [`podcheck_core::conformance::cni`]); each creates its namespaces
//! (`pccni-OWNER-N`, deleted by a guard on success, failure, timeout or panic), calls the
//! plugins, compares what they claim with what `ip` shows, and DELs what it added. The
//! network is torn down at the end; a run that died is swept by the next.

pub mod host;
pub mod spec;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use podcheck_core::conformance::cni::{
    BadConfig, BadConfigCheck, CniCase, CniCheck, CniNetwork, CniSuite, check_template,
    network_name,
};
use podcheck_core::result::{
    CaseResult, CheckResult, ComponentUnderTest, Evidence, Source, StageStatus, SuiteResult,
};
use podcheck_host::ip::{Interface, Route};
use podcheck_host::prerequisite::Missing;
use podcheck_node::network::{self, NetworkError, NodeNetwork, NodeNetworkOptions};
use serde_json::{Value, json};

use crate::ConformanceError;
use host::{CniEnv, Exec, Netns};
use spec::CniResult;

/// What the CLI can put in place of the suite's own settings (`--cni-bin-dir`,
/// `--cni-conflist`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniOverrides {
    /// The plugins' dir instead of the suite's `binDir`.
    pub bin_dir: Option<PathBuf>,
    /// One conflist template instead of the suite's `networks`.
    pub conflist: Option<PathBuf>,
}

/// The interface name every attachment gets in its namespace.
const IFNAME: &str = "eth0";
/// How many ADDs (or DELs) run at once in a `distinctAddresses` case.
const PARALLEL: usize = 4;
/// Plugin output kept in evidence.
const CLIP: usize = 1500;

/// Runs a CNI suite: every case against every network and spec version.
pub async fn run(
    suite: &CniSuite,
    overrides: &CniOverrides,
) -> Result<SuiteResult, ConformanceError> {
    let bin_dir = overrides
        .bin_dir
        .clone()
        .unwrap_or_else(|| suite.bin_dir.clone());
    let networks = match &overrides.conflist {
        Some(path) => vec![user_network(path)?],
        None => suite.networks.clone(),
    };
    usable(&bin_dir, &networks)?;
    let swept = host::sweep_stale();
    if !swept.is_empty() {
        tracing::info!(?swept, "swept the leftovers of dead CNI runs");
    }
    let run_dir =
        host::RunDir::create(host::RUN_DIR_PREFIX).map_err(|source| ConformanceError::Io {
            what: format!(
                "creating a run dir under {}",
                podcheck_host::run_dir::RUN_ROOT
            ),
            source,
        })?;
    let mut components = Vec::new();
    let mut cases = Vec::new();
    for network in &networks {
        let (component, results) = run_network(suite, network, &bin_dir, run_dir.path()).await?;
        components.push(component);
        cases.extend(results);
    }
    drop(run_dir);
    Ok(SuiteResult {
        name: suite.name.clone(),
        path: suite.path.display().to_string(),
        kind: "cni".into(),
        components,
        skipped: None,
        cases,
    })
}

/// Root, `ip`, `nft`, `bash`, `timeout`, and the plugins the networks name in `bin_dir`.
fn usable(bin_dir: &Path, networks: &[CniNetwork]) -> Result<(), ConformanceError> {
    let mut missing: Vec<Missing> = Missing::root().into_iter().collect();
    for (tool, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("bash", "bash"),
        ("timeout", "coreutils"),
    ] {
        if podcheck_host::command::find_tool(tool).is_none() {
            missing.push(Missing::new(
                format!("the {tool} command ({package})"),
                Some(package),
            ));
        }
    }
    // A template that names no plugins is refused later, with its own words.
    let mut plugins: Vec<String> = Vec::new();
    for p in networks
        .iter()
        .flat_map(|n| network::conflist_plugins(&n.template).unwrap_or_default())
    {
        if !plugins.contains(&p) && !podcheck_host::command::is_executable(&bin_dir.join(&p)) {
            plugins.push(p);
        }
    }
    if !bin_dir.is_dir() || !plugins.is_empty() {
        let which = if plugins.is_empty() {
            String::new()
        } else {
            format!(" {}", plugins.join(", "))
        };
        missing.push(Missing::new(
            format!(
                "the CNI plugins{which} in {} (Debian: containernetworking-plugins, or --cni-bin-dir)",
                bin_dir.display()
            ),
            Some("containernetworking-plugins"),
        ));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(ConformanceError::CannotRunHere {
        what: "the CNI suite".into(),
        missing,
    })
}

/// The network of `--cni-conflist`.
fn user_network(path: &Path) -> Result<CniNetwork, ConformanceError> {
    let template = std::fs::read_to_string(path).map_err(|source| ConformanceError::Io {
        what: format!("reading the conflist {}", path.display()),
        source,
    })?;
    check_template(&template).map_err(|message| ConformanceError::Conflist {
        path: path.display().to_string(),
        message,
    })?;
    Ok(CniNetwork {
        name: network_name(path),
        path: path.to_path_buf(),
        template,
    })
}

/// Everything the cases of one network share.
struct Net {
    name: String,
    bin_dir: PathBuf,
    /// The rendered conflist.
    conflist: Value,
    plugins: Vec<String>,
    /// `bridge 1.1.1+ds1-3+b5`, per plugin (main plugins, then IPAM).
    providers: Vec<(String, String)>,
    /// e.g. `bridge+host-local`.
    provider: String,
    subnet: Ipv4Net,
    bridge: String,
    /// host-local's data dir, when the first plugin's IPAM is host-local.
    host_local: Option<PathBuf>,
}

impl Net {
    fn provider_of(&self, plugin: &str) -> String {
        self.providers
            .iter()
            .find(|(p, _)| p == plugin)
            .map_or_else(|| plugin.to_string(), |(_, v)| v.clone())
    }

    fn cni_evidence(&self, call: &Call) -> Evidence {
        let mut detail = format!(
            "{} {}: {}",
            call.plugin,
            call.env.describe(),
            call.exec.status()
        );
        if !call.exec.stdout.trim().is_empty() {
            detail.push_str(&format!(
                "; stdout: {}",
                spec::clip(&spec::compact(&call.exec.stdout), CLIP)
            ));
        }
        if !call.exec.stderr.trim().is_empty() {
            detail.push_str(&format!("; stderr: {}", spec::clip(&call.exec.stderr, 400)));
        }
        if let Some(stdin) = &call.stdin {
            detail.push_str(&format!("; config: {}", spec::clip(stdin, 600)));
        }
        Evidence {
            source: Source::Cni,
            provider: self.provider_of(&call.plugin),
            real: true,
            detail,
            at_ms: None,
        }
    }

    fn netns_evidence(&self, detail: String) -> Evidence {
        Evidence {
            source: Source::Netns,
            provider: self.provider.clone(),
            real: true,
            detail,
            at_ms: None,
        }
    }
}

async fn run_network(
    suite: &CniSuite,
    network: &CniNetwork,
    bin_dir: &Path,
    run_dir: &Path,
) -> Result<(ComponentUnderTest, Vec<CaseResult>), ConformanceError> {
    let mut opts = NodeNetworkOptions::new(run_dir.join(&network.name), network.path.clone());
    opts.cni_bin_dir = bin_dir.to_path_buf();
    let node = match NodeNetwork::setup(opts).await {
        Ok(n) => n,
        Err(NetworkError::Unusable(why)) => {
            return Err(ConformanceError::Unavailable {
                what: format!("the network {}", network.name),
                why,
            });
        }
        Err(e) => {
            return Err(ConformanceError::Network {
                network: network.name.clone(),
                source: e,
            });
        }
    };
    let result = run_cases(suite, network, bin_dir, &node).await;
    if let Err(e) = node.teardown().await {
        tracing::warn!(network = %network.name, error = %e, "tearing down a CNI suite's network");
    }
    result
}

async fn run_cases(
    suite: &CniSuite,
    network: &CniNetwork,
    bin_dir: &Path,
    node: &NodeNetwork,
) -> Result<(ComponentUnderTest, Vec<CaseResult>), ConformanceError> {
    let rendered =
        std::fs::read_to_string(node.conf_file()).map_err(|source| ConformanceError::Io {
            what: format!("reading {}", node.conf_file().display()),
            source,
        })?;
    let conflist: Value =
        serde_json::from_str(&rendered).map_err(|e| ConformanceError::Conflist {
            path: network.path.display().to_string(),
            message: format!("not JSON once filled in: {e}"),
        })?;
    // Before any plugin runs: host-local must reserve in this run's own data dir, never in
    // the host's (the template check requires `{{dataDir}}`; this holds for the rendering).
    let host_local =
        own_data_dir(&conflist, node.ipam_dir()).map_err(|message| ConformanceError::Conflist {
            path: network.path.display().to_string(),
            message,
        })?;
    let plugins = node.plugins().to_vec();
    let mut providers = Vec::new();
    for p in &plugins {
        let release = network::plugin_version(bin_dir, p).await;
        providers.push((p.clone(), format!("{p} {release}")));
    }
    let net = Net {
        name: network.name.clone(),
        bin_dir: bin_dir.to_path_buf(),
        plugins: plugins.clone(),
        provider: plugins.join("+"),
        providers,
        subnet: node.subnet(),
        bridge: node.bridge().to_string(),
        host_local,
        conflist,
    };

    // VERSION of every plugin: what the component is, and which versions run.
    let mut answers = Vec::new();
    for p in &plugins {
        answers.push(version_call(&net, p).await);
    }
    // The versions a runtime may use are those every plugin of the conflist lists (IPAM
    // plugins are called by them, with their config, and are reported but not counted).
    let chained = network::plugin_types(&net.conflist);
    let mut listed: Option<Vec<String>> = None;
    let mut words = Vec::new();
    for (p, call) in &answers {
        let supported = spec::parse_version(&call.exec.stdout)
            .map(|(_, s)| s)
            .unwrap_or_default();
        // The VERSION answer, as the range of spec versions it lists (the raw answer is
        // the version check's evidence).
        let range = match (supported.first(), supported.last()) {
            (Some(first), Some(last)) if first != last => format!("CNI {first}–{last}"),
            (Some(only), _) => format!("CNI {only}"),
            _ => "no valid VERSION answer".to_string(),
        };
        words.push(format!("{} ({range})", net.provider_of(p)));
        if !chained.contains(p) {
            continue;
        }
        listed = Some(match listed {
            None => supported,
            Some(l) => l.into_iter().filter(|v| supported.contains(v)).collect(),
        });
    }
    let listed = listed.unwrap_or_default();
    let run_versions: Vec<String> = suite
        .cni_versions
        .iter()
        .filter(|v| listed.contains(v))
        .cloned()
        .collect();
    let component = ComponentUnderTest {
        component: "network".into(),
        name: format!("{} ({})", net.provider, tidy(&network.path).display()),
        version: words.join("; "),
    };

    let mut results = Vec::new();
    for case in &suite.cases {
        let versions: Vec<Option<String>> = match &case.check {
            CniCheck::Version => vec![None],
            CniCheck::BadConfig(_) => vec![run_versions.last().cloned()],
            CniCheck::Status | CniCheck::Gc => {
                vec![
                    run_versions
                        .iter()
                        .find(|v| spec::version_at_least(v, "1.1.0"))
                        .cloned(),
                ]
            }
            _ if run_versions.is_empty() => vec![None],
            _ => run_versions.iter().cloned().map(Some).collect(),
        };
        let several = versions.len() > 1;
        for version in versions {
            let name = match (&version, several) {
                (Some(v), true) => format!("{}-{}-{v}", case.name, net.name),
                _ => format!("{}-{}", case.name, net.name),
            };
            let began = Instant::now();
            let outcome = tokio::time::timeout(
                case.timeout.0,
                run_case(&net, suite, case, version.as_deref(), &listed),
            )
            .await;
            let ms = began.elapsed().as_secs_f64() * 1000.0;
            let (checks, error) = match outcome {
                Ok(Ok(checks)) => (checks, None),
                Ok(Err(e)) => (Vec::new(), Some(e)),
                Err(_) => (
                    Vec::new(),
                    Some(format!(
                        "the case did not finish within {:?} (its namespaces were deleted)",
                        case.timeout.0
                    )),
                ),
            };
            let mut result = CaseResult::conformance(&name, &case.description, checks, ms, error);
            result.tags = vec!["cni".into(), net.name.clone(), case.check.kind().into()];
            if let Some(v) = &version {
                result.tags.push(format!("cni-{v}"));
            }
            results.push(result);
        }
    }
    Ok((component, results))
}

/// The host-local data dir of a rendered conflist: `Some(own)` when some plugin's IPAM is
/// host-local, `None` when none is. Any host-local (or any `dataDir`) elsewhere than `own`
/// is an error: its reservations, and GC of them, would be the host's.
fn own_data_dir(conflist: &Value, own: &Path) -> Result<Option<PathBuf>, String> {
    let mut found = None;
    let plugins = conflist.get("plugins").and_then(Value::as_array);
    for (i, plugin) in plugins.into_iter().flatten().enumerate() {
        let Some(ipam) = plugin.get("ipam") else {
            continue;
        };
        let host_local = ipam.get("type").and_then(Value::as_str) == Some("host-local");
        let data = ipam.get("dataDir");
        if !host_local && data.is_none() {
            continue;
        }
        match data.and_then(Value::as_str) {
            Some(d) if Path::new(d) == own => found = Some(own.to_path_buf()),
            Some(d) => {
                return Err(format!(
                    "plugin {i}'s IPAM dataDir is {d}, not this run's {} (write \"dataDir\": \"{{{{dataDir}}}}\")",
                    own.display()
                ));
            }
            None => {
                return Err(format!(
                    "plugin {i}'s host-local IPAM has no dataDir: it would reserve in the host's /var/lib/cni/networks (write \"dataDir\": \"{{{{dataDir}}}}\")"
                ));
            }
        }
    }
    Ok(found)
}

/// `a/b/../c` as `a/c` (lexically: templates are named as the suite reached them).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// One plugin call, kept for evidence.
#[derive(Debug, Clone)]
struct Call {
    plugin: String,
    env: CniEnv,
    stdin: Option<String>,
    exec: Exec,
}

async fn call(net: &Net, plugin: &str, env: CniEnv, stdin: String, keep_stdin: bool) -> Call {
    call_in(&net.bin_dir, plugin, env, stdin, keep_stdin).await
}

async fn call_in(
    bin_dir: &Path,
    plugin: &str,
    env: CniEnv,
    stdin: String,
    keep_stdin: bool,
) -> Call {
    let exec = match host::exec_plugin(bin_dir, plugin, &env, stdin.as_bytes()).await {
        Ok(e) => e,
        Err(e) => Exec {
            code: None,
            stdout: String::new(),
            stderr: format!("could not run {}: {e}", bin_dir.join(plugin).display()),
            took: Duration::ZERO,
            timed_out: false,
            spawned: false,
        },
    };
    Call {
        plugin: plugin.to_string(),
        env,
        stdin: keep_stdin.then_some(stdin),
        exec,
    }
}

async fn version_call(net: &Net, plugin: &str) -> (String, Call) {
    let env = CniEnv {
        command: "VERSION".into(),
        ..CniEnv::default()
    };
    let c = call(
        net,
        plugin,
        env,
        json!({"cniVersion": "1.0.0"}).to_string(),
        false,
    )
    .await;
    (plugin.to_string(), c)
}

/// An attachment: a container ID and interface in a namespace.
#[derive(Debug, Clone)]
struct Attachment {
    container_id: String,
    /// The namespace path; empty when it is gone.
    netns: String,
}

impl Attachment {
    fn env(&self, command: &str) -> CniEnv {
        CniEnv {
            command: command.into(),
            container_id: Some(self.container_id.clone()),
            netns: Some(self.netns.clone()),
            ifname: Some(IFNAME.into()),
        }
    }
}

/// What a chain of plugins did.
#[derive(Debug, Clone, Default)]
struct Chain {
    calls: Vec<Call>,
    /// The last plugin's stdout, when every call succeeded.
    result: Option<String>,
}

impl Chain {
    fn failed(&self) -> Option<&Call> {
        self.calls.iter().find(|c| !c.exec.success())
    }
}

/// ADD through the conflist's plugins in order, each given the previous result.
async fn add(net: &Net, version: &str, att: &Attachment) -> Chain {
    let mut chain = Chain::default();
    let mut prev: Option<Value> = None;
    for (i, plugin) in network::plugin_types(&net.conflist).iter().enumerate() {
        let config = spec::plugin_config(&net.conflist, i, version, prev.as_ref());
        let c = call(net, plugin, att.env("ADD"), config.to_string(), false).await;
        let ok = c.exec.success();
        let out = c.exec.stdout.clone();
        chain.calls.push(c);
        if !ok {
            return chain;
        }
        prev = serde_json::from_str(out.trim()).ok();
        if prev.is_none() {
            return chain;
        }
    }
    chain.result = prev.map(|p| p.to_string());
    chain
}

/// DEL through the plugins in reverse order, each given the ADD's result (when known).
async fn del(net: &Net, version: &str, att: &Attachment, prev: Option<&str>) -> Chain {
    del_in(&net.bin_dir, &net.conflist, version, att, prev).await
}

async fn del_in(
    bin_dir: &Path,
    conflist: &Value,
    version: &str,
    att: &Attachment,
    prev: Option<&str>,
) -> Chain {
    let prev: Option<Value> = prev.and_then(|p| serde_json::from_str(p).ok());
    let mut chain = Chain::default();
    let types = network::plugin_types(conflist);
    for (i, plugin) in types.iter().enumerate().rev() {
        let config = spec::plugin_config(conflist, i, version, prev.as_ref());
        let c = call_in(bin_dir, plugin, att.env("DEL"), config.to_string(), false).await;
        chain.calls.push(c);
    }
    chain
}

/// How long a guard's DEL on drop may block the dropping thread.
const DROP_DEL_DEADLINE: Duration = Duration::from_secs(30);

/// Armed before an ADD and disarmed once a DEL has run: dropped armed (a `?`, a panic, the
/// case deadline dropping the future), it DELs then, so no ADD leaves plugin state
/// (reservations, host links, firewall rules) behind. Declare it after the namespace so it
/// drops first: DEL needs the namespace.
struct DelGuard {
    bin_dir: PathBuf,
    conflist: Value,
    version: String,
    att: Attachment,
    /// The ADD's result, for DEL's prevResult.
    prev: Option<String>,
    armed: bool,
}

impl DelGuard {
    fn new(net: &Net, version: &str, att: &Attachment) -> DelGuard {
        DelGuard {
            bin_dir: net.bin_dir.clone(),
            conflist: net.conflist.clone(),
            version: version.to_string(),
            att: att.clone(),
            prev: None,
            armed: true,
        }
    }

    /// DEL now; disarmed once it has run (a DEL cut short is redone on drop).
    async fn del(&mut self) -> Chain {
        let chain = del_in(
            &self.bin_dir,
            &self.conflist,
            &self.version,
            &self.att,
            self.prev.as_deref(),
        )
        .await;
        self.armed = false;
        chain
    }
}

impl Drop for DelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Drop cannot await: DEL on a thread with a runtime of its own, waited for with a
        // deadline (past it the thread finishes on its own).
        let (bin_dir, conflist, version, att, prev) = (
            self.bin_dir.clone(),
            self.conflist.clone(),
            self.version.clone(),
            self.att.clone(),
            self.prev.clone(),
        );
        let id = att.container_id.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("cni-del".into())
            .spawn(move || {
                let done = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| {
                        rt.block_on(del_in(&bin_dir, &conflist, &version, &att, prev.as_deref()))
                    });
                let _ = tx.send(done);
            });
        let outcome = match spawned {
            Err(e) => Err(e.to_string()),
            Ok(_) => match rx.recv_timeout(DROP_DEL_DEADLINE) {
                Ok(Ok(chain)) => match chain.failed() {
                    None => Ok(()),
                    Some(c) => Err(format!("{} {}", c.plugin, c.exec.status())),
                },
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no end within {DROP_DEL_DEADLINE:?}")),
            },
        };
        match outcome {
            Ok(()) => tracing::debug!(container = %id, "DEL of an attachment left by a case"),
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "DEL of an attachment left by a case")
            }
        }
    }
}

/// CHECK through the plugins in order, each given the ADD's result.
async fn check(net: &Net, version: &str, att: &Attachment, prev: &str) -> Chain {
    let prev: Option<Value> = serde_json::from_str(prev).ok();
    let mut chain = Chain::default();
    for (i, plugin) in network::plugin_types(&net.conflist).iter().enumerate() {
        let config = spec::plugin_config(&net.conflist, i, version, prev.as_ref());
        let c = call(net, plugin, att.env("CHECK"), config.to_string(), false).await;
        let ok = c.exec.success();
        chain.calls.push(c);
        if !ok {
            break;
        }
    }
    chain
}

/// A namespace with one attachment ADDed; DELs and deletes it when done with, or when
/// dropped.
struct Added {
    /// First, so it drops (DELs) before the namespace goes.
    guard: DelGuard,
    ns: Netns,
    att: Attachment,
    chain: Chain,
    version: String,
}

impl Added {
    async fn new(net: &Net, version: &str) -> Result<Added, String> {
        let ns = Netns::create().await?;
        let att = Attachment {
            container_id: host::container_id(),
            netns: ns.path(),
        };
        // Armed before the ADD: one cut short may have reserved already.
        let mut guard = DelGuard::new(net, version, &att);
        let chain = add(net, version, &att).await;
        guard.prev = chain.result.clone();
        Ok(Added {
            guard,
            ns,
            att,
            chain,
            version: version.to_string(),
        })
    }

    /// DEL (best effort: cleanup, not a check), then the namespace goes.
    async fn remove(mut self, _net: &Net) {
        let chain = self.guard.del().await;
        if let Some(c) = chain.failed() {
            tracing::warn!(plugin = %c.plugin, status = %c.exec.status(), "DEL during cleanup");
        }
        if let Err(e) = self.ns.delete().await {
            tracing::warn!(error = %e, "deleting a namespace");
        }
    }
}

/// The ADD as a check: `NAME.add` passed with the result, or failed with the plugin's
/// answer (the case stops there).
fn add_check(net: &Net, name: &str, chain: &Chain) -> CheckResult {
    let evidence: Vec<Evidence> = chain.calls.iter().map(|c| net.cni_evidence(c)).collect();
    let expected = "ADD exits 0 and prints a result";
    match (chain.failed(), &chain.result) {
        (None, Some(_)) => CheckResult::passed(
            name,
            expected,
            format!(
                "{} added {IFNAME} (network {}, host side: {})",
                chain
                    .calls
                    .iter()
                    .map(|c| c.plugin.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                net.subnet,
                net.bridge
            ),
            evidence,
        ),
        (Some(c), _) => CheckResult::failed(
            name,
            expected,
            format!("{} {}", c.plugin, c.exec.status()),
            evidence,
            format!("ADD of {} failed: {}", c.plugin, error_words(&c.exec)),
            Some("the plugin's answer is in the evidence; run it by hand with the same environment and config".into()),
        ),
        (None, None) => CheckResult::failed(
            name,
            expected,
            "exit 0 without a JSON result",
            evidence,
            "a successful ADD must print its result on stdout",
            None,
        ),
    }
}

fn error_words(exec: &Exec) -> String {
    match spec::parse_error(&exec.stdout) {
        Ok(e) => format!(
            "code {} ({}): {}{}",
            e.code,
            spec::code_meaning(e.code),
            e.msg,
            if e.details.is_empty() {
                String::new()
            } else {
                format!(" — {}", e.details)
            }
        ),
        Err(_) => format!(
            "{}; {}",
            exec.status(),
            spec::clip(
                if exec.stdout.trim().is_empty() {
                    &exec.stderr
                } else {
                    &exec.stdout
                },
                300
            )
        ),
    }
}

fn interfaces_words(ifaces: &[Interface]) -> String {
    ifaces
        .iter()
        .map(|i| {
            let addrs: Vec<String> = i.addresses.iter().map(ToString::to_string).collect();
            format!("{} ({}) [{}]", i.name, i.mac, addrs.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn routes_words(routes: &[Route]) -> String {
    routes
        .iter()
        .map(|r| {
            let dst = r
                .dst
                .map_or_else(|| "default".to_string(), |d| d.to_string());
            match r.gateway {
                Some(g) => format!("{dst} via {g} dev {}", r.dev),
                None => format!("{dst} dev {}", r.dev),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether every claimed address is in the network's claimed subnet.
fn outside_subnet(net: &Net, result: &CniResult) -> Vec<String> {
    result
        .ips
        .iter()
        .filter(|ip| match ip.address.addr() {
            IpAddr::V4(a) => !net.subnet.contains(&a),
            IpAddr::V6(_) => true,
        })
        .map(|ip| ip.address.to_string())
        .collect()
}

async fn run_case(
    net: &Net,
    suite: &CniSuite,
    case: &CniCase,
    version: Option<&str>,
    listed: &[String],
) -> Result<Vec<CheckResult>, String> {
    if let CniCheck::Version = case.check {
        return Ok(version_case(net, suite, listed).await);
    }
    let Some(version) = version else {
        let (name, why) = match case.check {
            CniCheck::Status | CniCheck::Gc => (
                format!("{}.supported", case.check.kind()),
                format!(
                    "{} is a CNI 1.1.0 command and the plugins list {} (a runtime must not send it to them)",
                    case.check.kind().to_uppercase(),
                    listed.join(", ")
                ),
            ),
            _ => {
                return Err(format!(
                    "the plugins support none of the suite's versions ({}); they list {}",
                    suite.cni_versions.join(", "),
                    listed.join(", ")
                ));
            }
        };
        return Ok(vec![CheckResult {
            name,
            status: StageStatus::Skipped,
            expected: "a plugin that lists 1.1.0".into(),
            observed: "not run".into(),
            duration_ms: None,
            evidence: vec![],
            message: Some(why),
            hint: None,
        }]);
    };
    // The spec: a runtime must not send CHECK (GC) for a list that disables it.
    for (check, key, command) in [
        (CniCheck::Check, "disableCheck", "CHECK"),
        (CniCheck::Gc, "disableGC", "GC"),
    ] {
        if case.check == check && net.conflist.get(key) == Some(&Value::Bool(true)) {
            return Ok(vec![CheckResult {
                name: format!("{}.enabled", case.check.kind()),
                status: StageStatus::Skipped,
                expected: format!("a conflist that allows {command}"),
                observed: "not run".into(),
                duration_ms: None,
                evidence: vec![],
                message: Some(format!(
                    "the conflist sets `{key}: true`: the spec says a runtime must not call {command} for it"
                )),
                hint: None,
            }]);
        }
    }
    match &case.check {
        CniCheck::Version => unreachable!("handled above"),
        CniCheck::Add => add_case(net, version).await,
        CniCheck::Check => check_case(net, version).await,
        CniCheck::Del => del_case(net, version).await,
        CniCheck::DelTwice => del_twice_case(net, version).await,
        CniCheck::DelUnknown => del_unknown_case(net, version).await,
        CniCheck::Status => Ok(status_case(net, version).await),
        CniCheck::Gc => gc_case(net, version).await,
        CniCheck::BadConfig(b) => bad_config_case(net, version, b).await,
        CniCheck::DistinctAddresses(d) => distinct_case(net, version, d.count as usize).await,
        CniCheck::Reach => reach_case(net, version).await,
    }
}

async fn version_case(net: &Net, suite: &CniSuite, listed: &[String]) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    let chained = network::plugin_types(&net.conflist);
    // The chained plugins' VERSION answers: what each lists, and the evidence of it.
    let mut answers: Vec<(String, Vec<String>, Evidence)> = Vec::new();
    for plugin in &net.plugins {
        let (_, c) = version_call(net, plugin).await;
        let ev = vec![net.cni_evidence(&c)];
        if chained.contains(plugin) {
            let supported = spec::parse_version(&c.exec.stdout)
                .map(|(_, s)| s)
                .unwrap_or_default();
            answers.push((plugin.clone(), supported, ev[0].clone()));
        }
        let expected =
            "VERSION exits 0 with {cniVersion, supportedVersions} that lists its cniVersion";
        let name = format!("version.{plugin}.answer-valid");
        checks.push(
            match (c.exec.success(), spec::parse_version(&c.exec.stdout)) {
                (true, Ok((v, s))) => CheckResult::passed(
                    &name,
                    expected,
                    format!("cniVersion {v}, supports {}", s.join(", ")),
                    ev,
                ),
                (ok, parsed) => CheckResult::failed(
                    &name,
                    expected,
                    format!("{}: {}", c.exec.status(), spec::clip(&c.exec.stdout, 200)),
                    ev,
                    match parsed {
                        Err(e) => format!("not a valid VERSION answer: {e}"),
                        Ok(_) if !ok => "VERSION did not exit 0".into(),
                        Ok(_) => unreachable!(),
                    },
                    None,
                ),
            },
        );
    }
    for v in &suite.cni_versions {
        let name = format!("version.{v}");
        if listed.contains(v) {
            checks.push(CheckResult::passed(
                &name,
                &format!("every plugin lists {v}, or refuses it with code 1"),
                format!("listed by {}", chained.join(", ")),
                answers.iter().map(|(_, _, ev)| ev.clone()).collect(),
            ));
            continue;
        }
        // Not listed: ADD with it to a plugin that does not list it must be refused as an
        // incompatible version, before the plugin touches anything (the namespace given
        // does not exist).
        let index = answers
            .iter()
            .position(|(_, supported, _)| !supported.contains(v))
            .and_then(|a| chained.iter().position(|p| *p == answers[a].0))
            .unwrap_or(0);
        let main = &chained[index];
        let config = spec::plugin_config(&net.conflist, index, v, None);
        let env = CniEnv {
            command: "ADD".into(),
            container_id: Some(host::container_id()),
            netns: Some(format!("{}/{}none", host::NETNS_DIR, host::NETNS_PREFIX)),
            ifname: Some(IFNAME.into()),
        };
        let c = call(net, main, env, config.to_string(), false).await;
        let ev = vec![net.cni_evidence(&c)];
        let expected = format!("every plugin lists {v}, or refuses it with code 1");
        match spec::parse_error(&c.exec.stdout) {
            Ok(e) if !c.exec.success() && e.code == 1 => checks.push(CheckResult::passed(
                &name,
                &expected,
                format!("{main} does not list {v}; ADD with cniVersion {v} is refused with code 1 ({})", e.msg),
                ev,
            )),
            _ => checks.push(CheckResult::failed(
                &name,
                &expected,
                format!("not listed; ADD with cniVersion {v}: {}", error_words(&c.exec)),
                ev,
                format!("a plugin that does not support {v} must refuse it with error code 1 (incompatible CNI version)"),
                None,
            )),
        }
    }
    checks
}

/// The checks of a result against the namespace it was added to.
async fn result_checks(
    net: &Net,
    prefix: &str,
    added: &Added,
    checks: &mut Vec<CheckResult>,
) -> Result<Option<CniResult>, String> {
    let stdout = added.chain.result.clone().unwrap_or_default();
    let result_ev = vec![net.cni_evidence(added.chain.calls.last().expect("one call at least"))];
    let name = format!("{prefix}.result-valid");
    let expected = format!("a result valid for cniVersion {}", added.version);
    let result = match spec::validate_result(&stdout, &added.version) {
        Ok(r) => {
            checks.push(CheckResult::passed(
                &name,
                &expected,
                format!(
                    "{} interface(s), {} address(es), {} route(s)",
                    r.interfaces.len(),
                    r.ips.len(),
                    r.routes.len()
                ),
                result_ev.clone(),
            ));
            r
        }
        Err(problems) => {
            checks.push(CheckResult::failed(
                &name,
                &expected,
                problems.join("; "),
                result_ev,
                format!("the result does not follow spec {}", added.version),
                Some("see the spec's \"Success\" result type for this version".into()),
            ));
            return Ok(None);
        }
    };
    let (ifaces, _) = added.ns.interfaces().await?;
    let (routes, _) = added.ns.routes().await?;
    let ns_ev = |what: &str, detail: String| {
        net.netns_evidence(format!("ip -n {} {what}: {detail}", added.ns.name()))
    };
    let addr_ev = ns_ev("addr", interfaces_words(&ifaces));
    let route_ev = ns_ev("route", routes_words(&routes));

    let missing = spec::missing_interfaces(&result, &ifaces);
    let name = format!("{prefix}.netns-interfaces");
    let expected = "the namespace holds every interface the result puts in it (name and MAC)";
    let sandboxed = result
        .interfaces
        .iter()
        .filter(|i| i.sandbox.is_some())
        .count();
    checks.push(if missing.is_empty() && sandboxed > 0 {
        CheckResult::passed(&name, expected, format!("{sandboxed} interface(s) present"), vec![addr_ev.clone()])
    } else if missing.is_empty() {
        CheckResult::failed(
            &name,
            expected,
            "the result names no interface in the namespace",
            vec![result_ev[0].clone(), addr_ev.clone()],
            format!("ADD was asked for {IFNAME} in {} and the result claims no interface there", added.att.netns),
            Some("an interface with `sandbox` set to CNI_NETNS is what a runtime reads the pod's interface from; an IPAM plugin run as the main plugin claims none".into()),
        )
    } else {
        CheckResult::failed(
            &name,
            expected,
            format!("missing: {}", missing.join(", ")),
            vec![result_ev[0].clone(), addr_ev.clone()],
            "the result claims interfaces the namespace does not hold",
            None,
        )
    });

    let missing = spec::missing_addresses(&result, &ifaces);
    let name = format!("{prefix}.netns-addresses");
    let expected = "the namespace holds every address the result claims";
    checks.push(if missing.is_empty() {
        CheckResult::passed(
            &name,
            expected,
            if result.ips.is_empty() {
                "the result claims no address".to_string()
            } else {
                result.ips.iter().map(|i| i.address.to_string()).collect::<Vec<_>>().join(", ")
            },
            vec![addr_ev.clone()],
        )
    } else {
        CheckResult::failed(
            &name,
            expected,
            format!("missing: {}", missing.join(", ")),
            vec![result_ev[0].clone(), addr_ev.clone()],
            "the result claims addresses the namespace does not hold",
            Some("a runtime reports the result's address as the pod IP: traffic to it would go nowhere".into()),
        )
    });

    let outside = outside_subnet(net, &result);
    let name = format!("{prefix}.address-in-range");
    let expected = "every address is in the IPAM range (the subnet podcheck filled in)";
    checks.push(if outside.is_empty() {
        CheckResult::passed(&name, expected, format!("in {}", net.subnet), vec![])
    } else {
        CheckResult::failed(
            &name,
            expected,
            format!("outside {}: {}", net.subnet, outside.join(", ")),
            result_ev.clone(),
            "the plugin handed out addresses outside its configured range",
            None,
        )
    });

    let missing = spec::missing_routes(&result.routes, &routes);
    let name = format!("{prefix}.netns-routes");
    let expected = "the namespace holds every route the result claims";
    checks.push(if missing.is_empty() {
        CheckResult::passed(
            &name,
            expected,
            if result.routes.is_empty() {
                "the result claims no route".to_string()
            } else {
                result
                    .routes
                    .iter()
                    .map(|r| r.dst.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            vec![route_ev],
        )
    } else {
        CheckResult::failed(
            &name,
            expected,
            format!("missing: {}", missing.join(", ")),
            vec![result_ev[0].clone(), route_ev],
            "the result claims routes the namespace does not hold",
            None,
        )
    });
    Ok(Some(result))
}

async fn add_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let added = Added::new(net, version).await?;
    let mut checks = vec![add_check(net, "add.succeeds", &added.chain)];
    if added.chain.result.is_some() {
        result_checks(net, "add", &added, &mut checks).await?;
    }
    added.remove(net).await;
    Ok(checks)
}

async fn check_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let added = Added::new(net, version).await?;
    let mut checks = vec![add_check(net, "check.add", &added.chain)];
    if let Some(prev) = &added.chain.result {
        let chain = check(net, version, &added.att, prev).await;
        let evidence: Vec<Evidence> = chain.calls.iter().map(|c| net.cni_evidence(c)).collect();
        let expected = "CHECK with the ADD's result as prevResult exits 0";
        checks.push(match chain.failed() {
            None => CheckResult::passed(
                "check.succeeds",
                expected,
                format!(
                    "{} exited 0",
                    chain
                        .calls
                        .iter()
                        .map(|c| c.plugin.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                evidence,
            ),
            Some(c) => CheckResult::failed(
                "check.succeeds",
                expected,
                format!("{} {}", c.plugin, c.exec.status()),
                evidence,
                format!(
                    "CHECK of an attachment just added failed: {}",
                    error_words(&c.exec)
                ),
                None,
            ),
        });
    }
    added.remove(net).await;
    Ok(checks)
}

/// A DEL (or GC) chain as a check: every call exited 0.
fn del_check(net: &Net, name: &str, expected: &str, chain: &Chain) -> CheckResult {
    let evidence: Vec<Evidence> = chain.calls.iter().map(|c| net.cni_evidence(c)).collect();
    match chain.failed() {
        None => CheckResult::passed(
            name,
            expected,
            format!(
                "{} exited 0",
                chain
                    .calls
                    .iter()
                    .map(|c| c.plugin.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            evidence,
        ),
        Some(c) => CheckResult::failed(
            name,
            expected,
            format!("{} {}", c.plugin, c.exec.status()),
            evidence,
            format!("{} failed: {}", c.env.command, error_words(&c.exec)),
            (c.env.command == "DEL").then(|| {
                "the spec: DEL must succeed when the attachment, or its namespace, is already gone"
                    .into()
            }),
        ),
    }
}

/// After a DEL: the namespace no longer holds the addresses, and host-local keeps no
/// reservation for the container.
async fn released_checks(
    net: &Net,
    added: &Added,
    result: &CniResult,
    checks: &mut Vec<CheckResult>,
) -> Result<(), String> {
    let (ifaces, _) = added.ns.interfaces().await?;
    let still: Vec<String> = result
        .ips
        .iter()
        .filter(|ip| ifaces.iter().any(|i| i.addresses.contains(&ip.address)))
        .map(|ip| ip.address.to_string())
        .collect();
    let ev = net.netns_evidence(format!(
        "ip -n {} addr: {}",
        added.ns.name(),
        interfaces_words(&ifaces)
    ));
    let expected = "after DEL the namespace holds none of the result's addresses";
    checks.push(if still.is_empty() {
        CheckResult::passed("del.netns-released", expected, "none left", vec![ev])
    } else {
        CheckResult::failed(
            "del.netns-released",
            expected,
            format!("still there: {}", still.join(", ")),
            vec![ev],
            "DEL left the attachment's addresses in the namespace",
            None,
        )
    });
    if let Some(data) = &net.host_local {
        let left = host::reservations_of(data, &network_conf_name(net), &added.att.container_id);
        let detail = format!(
            "host-local reservations of {} in {}: {}",
            added.att.container_id,
            data.join(network_conf_name(net)).display(),
            if left.is_empty() {
                "none".to_string()
            } else {
                left.join(", ")
            }
        );
        let ev = Evidence {
            source: Source::Cni,
            provider: net.provider_of("host-local"),
            real: true,
            detail,
            at_ms: None,
        };
        let expected = "after DEL the IPAM keeps no reservation for the container";
        checks.push(if left.is_empty() {
            CheckResult::passed(
                "del.ipam-released",
                expected,
                "no reservation left",
                vec![ev],
            )
        } else {
            CheckResult::failed(
                "del.ipam-released",
                expected,
                format!("still reserved: {}", left.join(", ")),
                vec![ev],
                "DEL did not release the container's addresses",
                None,
            )
        });
    }
    Ok(())
}

fn network_conf_name(net: &Net) -> String {
    net.conflist
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn del_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let added = Added::new(net, version).await?;
    let mut checks = vec![add_check(net, "del.add", &added.chain)];
    let Some(prev) = added.chain.result.clone() else {
        added.remove(net).await;
        return Ok(checks);
    };
    let chain = del(net, version, &added.att, Some(&prev)).await;
    checks.push(del_check(
        net,
        "del.succeeds",
        "DEL with the ADD's result as prevResult exits 0",
        &chain,
    ));
    if let Ok(result) = spec::validate_result(&prev, version) {
        released_checks(net, &added, &result, &mut checks).await?;
    }
    added.remove(net).await;
    Ok(checks)
}

async fn del_twice_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let added = Added::new(net, version).await?;
    let mut checks = vec![add_check(net, "delTwice.add", &added.chain)];
    let Some(prev) = added.chain.result.clone() else {
        added.remove(net).await;
        return Ok(checks);
    };
    let first = del(net, version, &added.att, Some(&prev)).await;
    checks.push(del_check(
        net,
        "delTwice.first",
        "the first DEL exits 0",
        &first,
    ));
    let second = del(net, version, &added.att, Some(&prev)).await;
    checks.push(del_check(
        net,
        "delTwice.second",
        "a second DEL of the same attachment exits 0",
        &second,
    ));
    added.remove(net).await;
    Ok(checks)
}

async fn del_unknown_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let ns = Netns::create().await?;
    let mut checks = Vec::new();
    let att = Attachment {
        container_id: host::container_id(),
        netns: ns.path(),
    };
    let chain = del(net, version, &att, None).await;
    checks.push(del_check(
        net,
        "delUnknown.in-netns",
        "DEL of a container ID never added (its namespace exists, empty) exits 0",
        &chain,
    ));
    let gone = Attachment {
        container_id: host::container_id(),
        netns: String::new(),
    };
    let chain = del(net, version, &gone, None).await;
    checks.push(del_check(
        net,
        "delUnknown.no-netns",
        "DEL of a container ID never added, with CNI_NETNS empty (the namespace is gone), exits 0",
        &chain,
    ));
    ns.delete().await?;
    Ok(checks)
}

async fn status_case(net: &Net, version: &str) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    for (i, plugin) in network::plugin_types(&net.conflist).iter().enumerate() {
        let config = spec::plugin_config(&net.conflist, i, version, None);
        let env = CniEnv {
            command: "STATUS".into(),
            ..CniEnv::default()
        };
        let c = call(net, plugin, env, config.to_string(), false).await;
        let ev = vec![net.cni_evidence(&c)];
        let name = format!("status.{plugin}");
        let expected = "STATUS exits 0 (the plugin is ready for ADDs)";
        checks.push(if c.exec.success() {
            CheckResult::passed(&name, expected, "exit 0", ev)
        } else {
            let valid = spec::parse_error(&c.exec.stdout)
                .is_ok_and(|e| spec::code_allowed(e.code, version));
            CheckResult::failed(
                &name,
                expected,
                error_words(&c.exec),
                ev,
                if valid {
                    "the plugin reports that it is not available"
                } else {
                    "STATUS failed without a valid CNI error"
                },
                None,
            )
        });
    }
    checks
}

async fn gc_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    if net.host_local.is_none() {
        // GC releases whatever the IPAM holds that is not listed: only ever run it where
        // the state is this run's own.
        return Ok(vec![CheckResult {
            name: "gc.supported".into(),
            status: StageStatus::Skipped,
            expected: "host-local IPAM in this run's data dir".into(),
            observed: "not run".into(),
            duration_ms: None,
            evidence: vec![],
            message: Some(
                "GC is only sent where the IPAM state is podcheck's own (host-local with {{dataDir}}); this network has no host-local IPAM".into(),
            ),
            hint: None,
        }]);
    }
    let keep = Added::new(net, version).await?;
    let drop_ = Added::new(net, version).await?;
    let mut checks = vec![
        add_check(net, "gc.add-kept", &keep.chain),
        add_check(net, "gc.add-collected", &drop_.chain),
    ];
    if keep.chain.result.is_none() || drop_.chain.result.is_none() {
        keep.remove(net).await;
        drop_.remove(net).await;
        return Ok(checks);
    }
    let valid = json!([{"containerID": keep.att.container_id, "ifname": IFNAME}]);
    let mut calls = Vec::new();
    for (i, plugin) in network::plugin_types(&net.conflist).iter().enumerate() {
        let mut config = spec::plugin_config(&net.conflist, i, version, None);
        config["cni.dev/valid-attachments"] = valid.clone();
        let env = CniEnv {
            command: "GC".into(),
            ..CniEnv::default()
        };
        calls.push(call(net, plugin, env, config.to_string(), true).await);
    }
    let chain = Chain {
        calls,
        result: None,
    };
    checks.push(del_check(
        net,
        "gc.succeeds",
        "GC with cni.dev/valid-attachments listing one of two attachments exits 0",
        &chain,
    ));
    if let Some(data) = &net.host_local {
        let conf = network_conf_name(net);
        let kept = host::reservations_of(data, &conf, &keep.att.container_id);
        let collected = host::reservations_of(data, &conf, &drop_.att.container_id);
        let ev = vec![Evidence {
            source: Source::Cni,
            provider: net.provider_of("host-local"),
            real: true,
            detail: format!(
                "host-local reservations after GC: listed {} → [{}], not listed {} → [{}]",
                keep.att.container_id,
                kept.join(", "),
                drop_.att.container_id,
                collected.join(", ")
            ),
            at_ms: None,
        }];
        let expected = "GC keeps the listed attachment's addresses and releases the other's";
        checks.push(if !kept.is_empty() && collected.is_empty() {
            CheckResult::passed("gc.releases-unlisted", expected, "as listed", ev)
        } else {
            CheckResult::failed(
                "gc.releases-unlisted",
                expected,
                format!(
                    "kept {} reservation(s) of the listed, {} of the unlisted",
                    kept.len(),
                    collected.len()
                ),
                ev,
                "GC must release what is not in cni.dev/valid-attachments and nothing else",
                None,
            )
        });
    }
    keep.remove(net).await;
    drop_.remove(net).await;
    Ok(checks)
}

/// The first half of `text`, cut at a char boundary (a template may hold non-ASCII).
fn cut_in_half(text: &str) -> &str {
    let mut at = text.len() / 2;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

/// The first plugin's config, broken as asked.
fn broken_config(net: &Net, version: &str, how: BadConfig) -> String {
    let mut config = spec::plugin_config(&net.conflist, 0, version, None);
    match how {
        BadConfig::MalformedJson => {
            let text = config.to_string();
            return cut_in_half(&text).to_string();
        }
        BadConfig::UnknownCniVersion => config["cniVersion"] = Value::from("9.9.9"),
        BadConfig::MissingIpam => {
            if let Some(o) = config.as_object_mut() {
                o.remove("ipam");
            }
        }
    }
    config.to_string()
}

async fn bad_config_case(
    net: &Net,
    version: &str,
    bad: &BadConfigCheck,
) -> Result<Vec<CheckResult>, String> {
    let ns = Netns::create().await?;
    let att = Attachment {
        container_id: host::container_id(),
        netns: ns.path(),
    };
    let plugin = net.plugins[0].clone();
    let stdin = broken_config(net, version, bad.config);
    // A refused ADD may still have left state; DEL (the network's good config) either way.
    let mut guard = DelGuard::new(net, version, &att);
    let c = call(net, &plugin, att.env("ADD"), stdin, true).await;
    let ev = vec![net.cni_evidence(&c)];
    let label = bad.config.label();
    let mut checks = Vec::new();
    if c.exec.success() {
        // Only a config without IPAM may be fine (a plugin that works at layer 2).
        let name = format!("badConfig.{label}.refused");
        let accepted_ok = bad.config == BadConfig::MissingIpam
            && spec::validate_result(&c.exec.stdout, version).is_ok_and(|r| r.ips.is_empty());
        checks.push(if accepted_ok {
            CheckResult::passed(
                &name,
                "refused with a CNI error, or (IPAM being optional for this plugin) a valid result claiming no address",
                format!("{plugin} accepted it without IPAM: a valid result with no address (layer 2 only)"),
                ev,
            )
        } else {
            CheckResult::failed(
                &name,
                "ADD with a broken config exits non-zero with a CNI error",
                "exit 0",
                ev,
                format!("{plugin} accepted a config that is {label}"),
                None,
            )
        });
        guard.prev = Some(c.exec.stdout.clone());
        let chain = guard.del().await;
        if let Some(f) = chain.failed() {
            tracing::warn!(plugin = %f.plugin, "DEL after an accepted bad config failed");
        }
        ns.delete().await?;
        return Ok(checks);
    }
    let refused_expected = "ADD with a broken config exits with a non-zero code";
    let refused = matches!(c.exec.code, Some(n) if n != 0) && !c.exec.timed_out;
    if !refused {
        // Not a refusal: the plugin did not run, hung or died.
        checks.push(CheckResult::failed(
            &format!("badConfig.{label}.refused"),
            refused_expected,
            c.exec.status(),
            ev,
            format!(
                "{plugin} did not answer with an exit code: {}",
                error_words(&c.exec)
            ),
            None,
        ));
        guard.del().await;
        ns.delete().await?;
        return Ok(checks);
    }
    checks.push(CheckResult::passed(
        &format!("badConfig.{label}.refused"),
        refused_expected,
        c.exec.status(),
        ev.clone(),
    ));
    let name = format!("badConfig.{label}.error-json");
    let expected = "stdout is a CNI error: JSON with an unsigned `code` and a string `msg`";
    match spec::parse_error(&c.exec.stdout) {
        Err(why) => checks.push(CheckResult::failed(
            &name,
            expected,
            spec::clip(&c.exec.stdout, 300),
            ev,
            why,
            Some("the spec: on failure a plugin prints an error result on stdout".into()),
        )),
        Ok(e) => {
            checks.push(CheckResult::passed(
                &name,
                expected,
                format!("code {}: {}", e.code, e.msg),
                ev.clone(),
            ));
            let name = format!("badConfig.{label}.code");
            let (ok, expected) = match bad.expect_code {
                Some(want) => (
                    e.code == u64::from(want),
                    format!(
                        "error code {want} ({})",
                        spec::code_meaning(u64::from(want))
                    ),
                ),
                None => (
                    spec::code_allowed(e.code, version),
                    "an error code the spec allows (1–7, 11, or 100 and up)".to_string(),
                ),
            };
            checks.push(if ok {
                CheckResult::passed(
                    &name,
                    &expected,
                    format!("code {} ({})", e.code, spec::code_meaning(e.code)),
                    ev,
                )
            } else {
                CheckResult::failed(
                    &name,
                    &expected,
                    format!("code {} ({})", e.code, spec::code_meaning(e.code)),
                    ev,
                    format!("{plugin} refused a config that is {label} with the wrong code"),
                    None,
                )
            });
        }
    }
    guard.del().await;
    ns.delete().await?;
    Ok(checks)
}

async fn distinct_case(net: &Net, version: &str, count: usize) -> Result<Vec<CheckResult>, String> {
    use futures::StreamExt;
    let began = Instant::now();
    let made: Vec<Result<Added, String>> = futures::stream::iter(0..count)
        .map(|_| Added::new(net, version))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut added = Vec::new();
    let mut first_error = None;
    for m in made {
        match m {
            Ok(a) => added.push(a),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let add_ms = began.elapsed().as_millis();
    let mut checks = Vec::new();
    let failed: Vec<&Added> = added.iter().filter(|a| a.chain.result.is_none()).collect();
    let expected = format!("{count} ADDs, each in a namespace of its own, all exit 0");
    checks.push(if failed.is_empty() && first_error.is_none() {
        CheckResult::passed(
            "distinctAddresses.all-added",
            &expected,
            format!("{count} added in {add_ms} ms ({PARALLEL} at a time)"),
            vec![],
        )
    } else {
        let ev: Vec<Evidence> = failed
            .iter()
            .take(3)
            .flat_map(|a| a.chain.failed().map(|c| net.cni_evidence(c)))
            .collect();
        CheckResult::failed(
            "distinctAddresses.all-added",
            &expected,
            format!(
                "{} of {count} failed{}",
                failed.len() + usize::from(first_error.is_some()),
                first_error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
            ev,
            "not every ADD succeeded",
            None,
        )
    });
    let mut addresses: Vec<IpAddr> = Vec::new();
    // Results with an address in the subnet (a result may hold several, e.g. dual-stack).
    let mut placed = 0;
    for a in &added {
        if let Some(r) = a
            .chain
            .result
            .as_deref()
            .and_then(|r| spec::validate_result(r, version).ok())
        {
            let ips: Vec<IpAddr> = r.ips.iter().map(|i| i.address.addr()).collect();
            if ips
                .iter()
                .any(|ip| matches!(ip, IpAddr::V4(v4) if net.subnet.contains(v4)))
            {
                placed += 1;
            }
            addresses.extend(ips);
        }
    }
    let dup = spec::duplicates(&addresses);
    let outside: Vec<String> = addresses
        .iter()
        .filter(|a| match a {
            IpAddr::V4(a) => !net.subnet.contains(a),
            IpAddr::V6(_) => true,
        })
        .map(ToString::to_string)
        .collect();
    let mut sorted = addresses.clone();
    sorted.sort();
    let listing = spec::clip(
        &sorted
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        CLIP,
    );
    let ev = vec![Evidence {
        source: Source::Cni,
        provider: net.provider.clone(),
        real: true,
        detail: format!("the {} results' addresses: {listing}", added.len()),
        at_ms: None,
    }];
    let expected = format!("{count} distinct addresses, all in {}", net.subnet);
    checks.push(
        if dup.is_empty() && outside.is_empty() && placed == count {
            CheckResult::passed(
                "distinctAddresses.distinct",
                &expected,
                format!(
                    "{} distinct addresses in {} ({placed} results)",
                    addresses.len(),
                    net.subnet
                ),
                ev,
            )
        } else {
            CheckResult::failed(
                "distinctAddresses.distinct",
                &expected,
                format!(
                    "{} address(es), {placed} of {count} results with one in the subnet; duplicated: [{}]; outside the subnet: [{}]",
                    addresses.len(),
                    dup.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    outside.join(", ")
                ),
                ev,
                "the IPAM handed out the same address twice, or addresses outside its range",
                None,
            )
        },
    );
    // DEL every one, then look for what is left reserved.
    let began = Instant::now();
    let ids: Vec<String> = added.iter().map(|a| a.att.container_id.clone()).collect();
    let dels: Vec<(Chain, Netns)> = futures::stream::iter(added)
        .map(|mut a| async move {
            let chain = a.guard.del().await;
            (chain, a.ns)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let del_ms = began.elapsed().as_millis();
    let failed: Vec<&Chain> = dels
        .iter()
        .map(|(c, _)| c)
        .filter(|c| c.failed().is_some())
        .collect();
    let expected = "every DEL exits 0";
    checks.push(if failed.is_empty() {
        CheckResult::passed(
            "distinctAddresses.del",
            expected,
            format!("{} deleted in {del_ms} ms", dels.len()),
            vec![],
        )
    } else {
        CheckResult::failed(
            "distinctAddresses.del",
            expected,
            format!("{} of {} failed", failed.len(), dels.len()),
            failed
                .iter()
                .take(3)
                .flat_map(|c| c.failed().map(|f| net.cni_evidence(f)))
                .collect(),
            "not every DEL succeeded",
            None,
        )
    });
    if let Some(data) = &net.host_local {
        let conf = network_conf_name(net);
        let left: Vec<String> = ids
            .iter()
            .flat_map(|id| host::reservations_of(data, &conf, id))
            .collect();
        let ev = vec![Evidence {
            source: Source::Cni,
            provider: net.provider_of("host-local"),
            real: true,
            detail: format!(
                "reservations of the {} container IDs in {} after DEL: [{}]",
                ids.len(),
                data.join(&conf).display(),
                left.join(", ")
            ),
            at_ms: None,
        }];
        let expected = "after DEL no address stays reserved for any of the containers";
        checks.push(if left.is_empty() {
            CheckResult::passed("distinctAddresses.released", expected, "all released", ev)
        } else {
            CheckResult::failed(
                "distinctAddresses.released",
                expected,
                format!("{} still reserved", left.len()),
                ev,
                "DEL did not release every address: the range would run out",
                None,
            )
        });
    }
    for (_, ns) in dels {
        if let Err(e) = ns.delete().await {
            tracing::warn!(error = %e, "deleting a namespace");
        }
    }
    Ok(checks)
}

async fn reach_case(net: &Net, version: &str) -> Result<Vec<CheckResult>, String> {
    let a = Added::new(net, version).await?;
    let b = Added::new(net, version).await?;
    let mut checks = vec![
        add_check(net, "reach.add-a", &a.chain),
        add_check(net, "reach.add-b", &b.chain),
    ];
    let address = |x: &Added| -> Option<IpAddr> {
        let r = spec::validate_result(x.chain.result.as_deref()?, version).ok()?;
        r.ips
            .iter()
            .map(|i| i.address.addr())
            .find(|ip| matches!(ip, IpAddr::V4(v4) if net.subnet.contains(v4)))
    };
    if let (Some(ip_a), Some(ip_b)) = (address(&a), address(&b)) {
        for (name, from, to, ip) in [
            ("reach.a-to-b", &a, &b, ip_b),
            ("reach.b-to-a", &b, &a, ip_a),
        ] {
            let expected = "a TCP connect from one namespace to the other's address is answered (a reset counts)";
            // Only ever addresses of the claimed subnet (checked above), between namespaces of this run.
            let _ = to;
            let seen = from.ns.connect(ip).await;
            let (ifaces, _) = from.ns.interfaces().await?;
            let (routes, _) = from.ns.routes().await?;
            let ev = |what: &str| {
                net.netns_evidence(format!(
                    "from {} ({}; routes: {}) to {ip}: {what}",
                    from.ns.name(),
                    interfaces_words(&ifaces),
                    routes_words(&routes)
                ))
            };
            checks.push(match seen {
                Ok(what) => CheckResult::passed(name, expected, what.clone(), vec![ev(&what)]),
                Err(why) => CheckResult::failed(
                    name,
                    expected,
                    why.clone(),
                    vec![ev(&why)],
                    "two namespaces of the same network cannot reach each other",
                    Some("look at the routes each namespace got, and at the host side (bridge ports, or the host's routes to the veths)".into()),
                ),
            });
        }
    } else if a.chain.result.is_some() && b.chain.result.is_some() {
        checks.push(CheckResult::failed(
            "reach.addresses",
            &format!("both results claim an address in {}", net.subnet),
            "no such address",
            vec![],
            "nothing to probe: podcheck only sends to addresses of the subnet it claimed",
            None,
        ));
    }
    a.remove(net).await;
    b.remove(net).await;
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_config_is_cut_at_a_char_boundary() {
        assert_eq!(cut_in_half("abcd"), "ab");
        assert_eq!(cut_in_half("aé"), "a");
        assert_eq!(cut_in_half("ééé"), "é");
    }

    #[test]
    fn host_local_must_use_the_runs_data_dir() {
        let own = Path::new("/run/podcheck/cni-1-0/n/ipam");
        let conf = |ipam: Value| json!({"name": "n", "plugins": [{"type": "ptp", "ipam": ipam}]});
        assert_eq!(
            own_data_dir(&conf(json!({"type": "host-local", "dataDir": own})), own),
            Ok(Some(own.to_path_buf()))
        );
        let no_dir = own_data_dir(&conf(json!({"type": "host-local"})), own).unwrap_err();
        assert!(no_dir.contains("/var/lib/cni/networks"), "{no_dir}");
        let elsewhere = conf(json!({"type": "host-local", "dataDir": "/var/lib/cni/networks"}));
        assert!(own_data_dir(&elsewhere, own).is_err());
        assert_eq!(
            own_data_dir(&conf(json!({"type": "static"})), own),
            Ok(None)
        );
        assert_eq!(
            own_data_dir(&json!({"name": "n", "plugins": [{"type": "tuning"}]}), own),
            Ok(None)
        );
    }

    /// host-local as the only plugin (it reserves files and touches no interface), its
    /// data dir a temp dir: the reservations a case leaves are plain to see.
    fn host_local_net(data: &Path) -> Option<Net> {
        let bin = Path::new(podcheck_core::conformance::cni::DEFAULT_BIN_DIR);
        if !rustix::process::geteuid().is_root() || !bin.join("host-local").is_file() {
            assert_eq!(
                std::env::var("PODCHECK_SKIP_REAL").as_deref(),
                Ok("1"),
                "needs root and {}/host-local (or PODCHECK_SKIP_REAL=1)",
                bin.display()
            );
            return None;
        }
        Some(test_net(bin, data))
    }

    fn test_net(bin: &Path, data: &Path) -> Net {
        // Reservations only: host-local configures no address, so the subnet is never used.
        let subnet: Ipv4Net = "10.244.255.0/24".parse().unwrap();
        let conflist = json!({
            "cniVersion": "1.0.0",
            "name": "halfway",
            "plugins": [{"type": "host-local", "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": subnet.to_string()}]],
                "dataDir": data,
            }}],
        });
        Net {
            name: "halfway".into(),
            bin_dir: bin.to_path_buf(),
            conflist,
            plugins: vec!["host-local".into()],
            providers: vec![],
            provider: "host-local".into(),
            subnet,
            bridge: "none".into(),
            host_local: Some(data.to_path_buf()),
        }
    }

    fn scripts(dir: &Path, scripts: &[(&str, &str)]) {
        use std::os::unix::fs::PermissionsExt;
        for (name, body) in scripts {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    fn suite_of(check: CniCheck) -> (CniSuite, CniCase) {
        let case = CniCase {
            name: check.kind().to_lowercase(),
            line: 1,
            description: String::new(),
            timeout: podcheck_core::conformance::cni::DEFAULT_TIMEOUT,
            check,
        };
        let suite = CniSuite {
            path: PathBuf::from("suite.yaml"),
            name: "cni".into(),
            description: String::new(),
            bin_dir: PathBuf::new(),
            networks: vec![],
            cni_versions: vec!["1.0.0".into(), "1.1.0".into()],
            cases: vec![case.clone()],
        };
        (suite, case)
    }

    #[tokio::test]
    async fn disabled_check_and_gc_are_skipped_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut net = test_net(dir.path(), dir.path());
        net.conflist["disableCheck"] = Value::Bool(true);
        net.conflist["disableGC"] = Value::Bool(true);
        for (check, name, key) in [
            (CniCheck::Check, "check.enabled", "disableCheck"),
            (CniCheck::Gc, "gc.enabled", "disableGC"),
        ] {
            let (suite, case) = suite_of(check);
            let checks = run_case(&net, &suite, &case, Some("1.1.0"), &[])
                .await
                .unwrap();
            assert_eq!(checks.len(), 1, "{checks:?}");
            assert_eq!(checks[0].name, name);
            assert_eq!(checks[0].status, StageStatus::Skipped);
            assert!(checks[0].message.as_deref().unwrap().contains(key));
        }
    }

    /// A version one plugin of the chain does not list is sent to that plugin.
    #[tokio::test]
    async fn an_unlisted_version_is_sent_to_the_plugin_not_listing_it() {
        let dir = tempfile::tempdir().unwrap();
        let both = r#"{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}"#;
        let old = r#"{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}"#;
        let refuse = r#"{"cniVersion":"1.0.0","code":1,"msg":"incompatible CNI versions"}"#;
        scripts(
            dir.path(),
            &[
                ("new", &format!("cat >/dev/null; echo '{both}'")),
                (
                    "old",
                    &format!(
                        "cat >/dev/null; if [ \"$CNI_COMMAND\" = VERSION ]; then echo '{old}'; else echo '{refuse}'; exit 1; fi"
                    ),
                ),
            ],
        );
        let mut net = test_net(dir.path(), dir.path());
        net.conflist = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "new"}, {"type": "old"}]});
        net.plugins = vec!["new".into(), "old".into()];
        let (suite, _) = suite_of(CniCheck::Version);
        let checks = version_case(&net, &suite, &["1.0.0".to_string()]).await;
        let v10 = checks.iter().find(|c| c.name == "version.1.0.0").unwrap();
        assert_eq!(v10.status, StageStatus::Passed, "{v10:?}");
        assert_eq!(v10.evidence.len(), 2, "the VERSION answers: {v10:?}");
        let v11 = checks.iter().find(|c| c.name == "version.1.1.0").unwrap();
        assert_eq!(v11.status, StageStatus::Passed, "{v11:?}");
        assert!(
            v11.observed.starts_with("old does not list 1.1.0"),
            "{v11:?}"
        );
        assert!(
            v11.evidence[0].detail.starts_with("old CNI_COMMAND=ADD"),
            "{v11:?}"
        );
    }

    fn reserved(data: &Path) -> Vec<String> {
        std::fs::read_dir(data.join("halfway"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.parse::<IpAddr>().is_ok())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_case_failing_halfway_leaves_no_reservation() {
        let data = tempfile::tempdir().unwrap();
        let Some(net) = host_local_net(data.path()) else {
            return;
        };
        // A `?` after the ADD.
        let failed: Result<(), String> = async {
            let added = Added::new(&net, "1.0.0").await?;
            assert!(added.chain.result.is_some(), "{:?}", added.chain);
            assert_eq!(reserved(data.path()).len(), 1);
            Err("failed halfway".to_string())?;
            added.remove(&net).await;
            Ok(())
        }
        .await;
        assert_eq!(failed, Err("failed halfway".to_string()));
        assert!(
            reserved(data.path()).is_empty(),
            "{:?}",
            reserved(data.path())
        );
        // The case deadline dropping the future after the ADD.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let timed_out = tokio::time::timeout(Duration::from_secs(5), async {
            let added = Added::new(&net, "1.0.0").await;
            let _ = tx.send(reserved(data.path()).len());
            std::future::pending::<()>().await;
            drop(added);
        })
        .await;
        assert!(timed_out.is_err());
        assert_eq!(rx.await, Ok(1), "the ADD reserved before the deadline");
        assert!(
            reserved(data.path()).is_empty(),
            "{:?}",
            reserved(data.path())
        );
    }

    /// A refusal is an exit code: a plugin killed by a signal, or not run at all, has not
    /// refused anything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_config_is_refused_only_by_an_exit_code() {
        let data = tempfile::tempdir().unwrap();
        let Some(mut net) = host_local_net(data.path()) else {
            return;
        };
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("killed"), "#!/bin/sh\nkill -9 $$\n").unwrap();
        std::fs::write(
            bin.path().join("refuses"),
            "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"code\":6,\"msg\":\"bad\"}'\nexit 1\n",
        )
        .unwrap();
        for p in ["killed", "refuses"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.path().join(p), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        net.bin_dir = bin.path().to_path_buf();
        let bad = BadConfigCheck {
            config: BadConfig::MalformedJson,
            expect_code: Some(6),
        };
        for (plugin, status, observed) in [
            ("killed", StageStatus::Failed, "killed by a signal"),
            ("absent", StageStatus::Failed, "not run"),
            ("refuses", StageStatus::Passed, "exit 1"),
        ] {
            net.plugins = vec![plugin.into()];
            net.conflist["plugins"][0]["type"] = Value::from(plugin);
            let checks = bad_config_case(&net, "1.0.0", &bad).await.unwrap();
            let refused = &checks[0];
            assert_eq!(refused.name, "badConfig.malformedJson.refused");
            assert_eq!(refused.status, status, "{plugin}: {refused:?}");
            assert_eq!(refused.observed, observed, "{plugin}: {refused:?}");
            if status == StageStatus::Failed {
                assert!(!refused.evidence.is_empty(), "{refused:?}");
            } else {
                assert!(
                    checks.iter().all(|c| c.status == StageStatus::Passed),
                    "{checks:?}"
                );
            }
        }
        // The spawn failure says so.
        net.plugins = vec!["absent".into()];
        net.conflist["plugins"][0]["type"] = Value::from("absent");
        let checks = bad_config_case(&net, "1.0.0", &bad).await.unwrap();
        assert!(
            checks[0]
                .message
                .as_deref()
                .unwrap_or_default()
                .contains("could not run"),
            "{:?}",
            checks[0]
        );
    }

    #[test]
    fn paths_are_tidied_lexically() {
        assert_eq!(
            tidy(Path::new(
                "/w/harness/x/../../suites/cni/../../fixtures/a.conflist"
            )),
            Path::new("/w/fixtures/a.conflist")
        );
        assert_eq!(tidy(Path::new("../a/./b")), Path::new("../a/b"));
    }
}
