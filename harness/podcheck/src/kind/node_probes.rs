//! The runtime and network probes of a kind cluster, through its nodes: kind's nodes are
//! containers podcheck can reach with the CLI kind runs them with (`docker exec --privileged
//! NODE …`, the container named as the node), and each has crictl pointed at its containerd.
//! So criLaunch and cniAttach take the runtime's own word there, as the embedded target does
//! through its CRI socket: `crictl inspect` for each container the kubelet reports;
//! `crictl pods` / `crictl inspectp` for the pod's sandbox and its network namespace, whose
//! interfaces `nsenter … ip -j addr` shows; a TCP connection from the node to the pod.
//!
//! I/O only: the command lines and the answers are [`super::crictl`]'s, the CLI's choice
//! [`super::node_tool`]'s. Every command has a deadline; a probe that cannot ask says why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podcheck_core::observation::{NetnsRead, Probe, RuntimeRead};
use podcheck_core::result::Provider;
use podcheck_host::command::{self, Exec};
use tokio::sync::Mutex;

use super::crictl::{self, Reach, RuntimeVersion};
use super::node_tool::{self, NodeTool};

/// `CLI -v`, while choosing the CLI.
const DETECT_DEADLINE: Duration = Duration::from_secs(10);
/// One command on a node (crictl's own RPC timeout is 2 s).
const NODE_COMMAND_DEADLINE: Duration = Duration::from_secs(15);
/// The reach command: its own 2 s, and the CLI's start.
const REACH_DEADLINE: Duration = Duration::from_secs(10);

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// The probes through a kind cluster's nodes. Cheap to clone (one state, shared).
#[derive(Clone)]
pub struct NodeProbes(Arc<Inner>);

struct Inner {
    /// The CLI that reaches the nodes, or why there is none.
    tool: Result<Tool, String>,
    /// Each node's runtime, once asked.
    versions: Mutex<HashMap<String, RuntimeVersion>>,
}

struct Tool {
    path: PathBuf,
    chosen: NodeTool,
}

impl NodeProbes {
    /// The CLI kind runs the nodes with: `KIND_EXPERIMENTAL_PROVIDER`, else the first of
    /// docker, nerdctl, finch, podman that answers `-v`, else docker.
    pub async fn detect() -> NodeProbes {
        let from_env = std::env::var("KIND_EXPERIMENTAL_PROVIDER").ok();
        let chosen = match node_tool::from_environment(from_env.as_deref()) {
            Some(tool) => tool,
            None => {
                let mut answered = Vec::new();
                for (program, _) in node_tool::DETECTION {
                    if answers(program).await {
                        answered.push(program);
                        break;
                    }
                }
                node_tool::detect(|p| answered.contains(&p))
            }
        };
        let tool = match command::find_tool(&chosen.program) {
            Some(path) => Ok(Tool { path, chosen }),
            None => Err(format!(
                "{} is not on PATH, so crictl on the kind nodes cannot be reached",
                chosen.describe()
            )),
        };
        NodeProbes(Arc::new(Inner {
            tool,
            versions: Mutex::new(HashMap::new()),
        }))
    }

    /// The runtime of `node`, as `crictl version` names it (asked once per node).
    pub async fn runtime_version(&self, node: &str) -> Result<RuntimeVersion, String> {
        let mut versions = self.0.versions.lock().await;
        if let Some(v) = versions.get(node) {
            return Ok(v.clone());
        }
        let exec = self
            .on_node(node, &crictl::version(), NODE_COMMAND_DEADLINE)
            .await?;
        let out = self.succeeded(node, &crictl::version(), &exec)?;
        let version = crictl::parse_version(out).map_err(|e| format!("on node {node}: {e}"))?;
        versions.insert(node.to_string(), version.clone());
        Ok(version)
    }

    /// The state of each container by `crictl inspect` on `node`. A container the runtime
    /// does not know is left out (the verdict names it); any other failure makes the probe
    /// unavailable.
    pub async fn runtime(
        &self,
        node: &str,
        containers: &[(String, String)],
        t0: Instant,
    ) -> Probe<RuntimeRead> {
        let version = match self.runtime_version(node).await {
            Ok(v) => v,
            Err(why) => return Probe::Unavailable(why),
        };
        let mut seen = Vec::new();
        for (name, id) in containers {
            let command = crictl::inspect(id);
            let exec = match self.on_node(node, &command, NODE_COMMAND_DEADLINE).await {
                Ok(exec) => exec,
                Err(why) => return Probe::Unavailable(why),
            };
            if !exec.success() && !exec.timed_out && crictl::not_found(&exec.stderr) {
                continue;
            }
            let status = match self
                .succeeded(node, &command, &exec)
                .and_then(|out| crictl::parse_inspect(out).map_err(|e| format!("on {node}: {e}")))
            {
                Ok(status) => status,
                Err(why) => return Probe::Unavailable(why),
            };
            // crictl resolves a prefix too: record the ID the runtime answered for.
            seen.push((name.clone(), status.id, status.state.word().to_string()));
        }
        Probe::Seen(RuntimeRead {
            provider: Provider {
                component: "runtime".into(),
                name: version.name,
                real: true,
                version: format!("{} (crictl inspect on node {node})", version.version),
            },
            containers: seen,
            at_ms: ms(t0),
        })
    }

    /// The pod's sandbox by `crictl pods` and `crictl inspectp` on `node`, the interfaces of
    /// its network namespace, and whether the node reaches `pod_ip`.
    pub async fn netns(
        &self,
        node: &str,
        pod_uid: &str,
        pod_ip: Option<&str>,
        t0: Instant,
    ) -> Probe<NetnsRead> {
        match self.read_netns(node, pod_uid, pod_ip, t0).await {
            Ok(read) => Probe::Seen(read),
            Err(why) => Probe::Unavailable(why),
        }
    }

    async fn read_netns(
        &self,
        node: &str,
        pod_uid: &str,
        pod_ip: Option<&str>,
        t0: Instant,
    ) -> Result<NetnsRead, String> {
        let version = self.runtime_version(node).await?;
        let sandbox = self
            .answer(node, &crictl::pods_of(pod_uid))
            .await
            .and_then(|out| crictl::ready_sandbox(&out).map_err(|e| format!("on {node}: {e}")))?;
        let status = self
            .answer(node, &crictl::inspectp(&sandbox))
            .await
            .and_then(|out| crictl::parse_inspectp(&out).map_err(|e| format!("on {node}: {e}")))?;
        let short = &status.id[..status.id.len().min(12)];
        if status.host_network {
            return Err(format!(
                "sandbox {short} on {node} uses the node's network namespace"
            ));
        }
        let netns = status.netns.clone().ok_or_else(|| {
            format!("crictl inspectp on {node} shows no network namespace for sandbox {short}")
        })?;
        let addresses = self
            .answer(node, &crictl::addresses_in(&netns))
            .await
            .and_then(|out| {
                crictl::parse_addresses(&out).map_err(|e| format!("{netns} on {node}: {e}"))
            })?;
        let reach = match pod_ip {
            Some(ip) => {
                let exec = self
                    .on_node(node, &crictl::reach(ip), REACH_DEADLINE)
                    .await?;
                let said = format!("{}{}", exec.stdout, exec.stderr);
                match crictl::parse_reach(exec.code, &said) {
                    Reach::Reached(how) => Some(Ok(how)),
                    Reach::NotReached(why) => Some(Err(why)),
                    Reach::NotRun(said) if exec.timed_out => {
                        return Err(format!(
                            "the reach from {node} got no answer from {} within {REACH_DEADLINE:?}: {said}",
                            self.program()
                        ));
                    }
                    Reach::NotRun(said) => {
                        return Err(format!("the reach from {node} did not run: {said}"));
                    }
                }
            }
            None => None,
        };
        let ips = if status.ips.is_empty() {
            "no IP".to_string()
        } else {
            status.ips.join(", ")
        };
        Ok(NetnsRead {
            provider: Provider {
                component: "network".into(),
                name: version.name,
                real: true,
                version: format!(
                    "{} (crictl inspectp on node {node}: sandbox {short} at {ips}, netns {netns})",
                    version.version
                ),
            },
            addresses,
            reach,
            at_ms: ms(t0),
        })
    }

    fn program(&self) -> &str {
        match &self.0.tool {
            Ok(t) => &t.chosen.program,
            Err(_) => "the node CLI",
        }
    }

    /// Runs `command` on `node` and returns its stdout, or why it did not succeed.
    async fn answer(&self, node: &str, command: &[String]) -> Result<String, String> {
        let exec = self.on_node(node, command, NODE_COMMAND_DEADLINE).await?;
        self.succeeded(node, command, &exec).map(str::to_string)
    }

    /// Its stdout when `exec` succeeded; else what failed, in the words of whoever failed.
    fn succeeded<'e>(
        &self,
        node: &str,
        command: &[String],
        exec: &'e Exec,
    ) -> Result<&'e str, String> {
        if exec.success() {
            return Ok(&exec.stdout);
        }
        let said = format!("{}{}", exec.stderr, exec.stdout);
        let said = said.trim();
        Err(format!(
            "`{} exec {node} {}`: {}{}",
            self.program(),
            command.join(" "),
            exec.status(),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))
    }

    /// Runs `command` on `node` with a deadline; an error when the CLI could not be started.
    async fn on_node(
        &self,
        node: &str,
        command: &[String],
        deadline: Duration,
    ) -> Result<Exec, String> {
        let tool = self.0.tool.as_ref().map_err(Clone::clone)?;
        let mut cmd = tokio::process::Command::new(&tool.path);
        cmd.args(NodeTool::exec_args(node, command))
            .env("LC_ALL", "C")
            .env("LANG", "C");
        tracing::debug!(node, command = %command.join(" "), "on a kind node");
        command::run(cmd, None, deadline)
            .await
            .map_err(|e| format!("{} could not be started: {e}", tool.path.display()))
    }
}

/// Whether `program -v` answers as kind expects of an available CLI.
async fn answers(program: &str) -> bool {
    let Some(path) = command::find_tool(program) else {
        return false;
    };
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg("-v").env("LC_ALL", "C").env("LANG", "C");
    match command::run(cmd, None, DETECT_DEADLINE).await {
        Ok(exec) => exec.success() && node_tool::answers(program, &exec.stdout),
        Err(_) => false,
    }
}
