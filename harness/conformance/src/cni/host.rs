//! The CNI runner's I/O: plugins exec'd as the spec says (environment, config on stdin,
//! result or error on stdout, each with a deadline), network namespaces podcheck creates and
//! always deletes (a guard deletes on drop, a sweep removes those of dead runs), and what a
//! namespace holds (`ip -n NS -j addr|route`).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use podcheck_host::command::{find_tool, run, tool};
use podcheck_host::ip::{self, Interface, Route};
use podcheck_host::run_dir::unique_name;
use tokio::process::Command;

pub use podcheck_host::command::Exec;
pub use podcheck_host::netns::NETNS_DIR;
pub use podcheck_host::run_dir::RunDir;

/// How long one plugin call may take.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `ip` call may take.
const TOOL_TIMEOUT: Duration = podcheck_host::netns::IP_TIMEOUT;
/// The prefix of the namespaces this runner makes: `pccni-OWNER-N`.
pub const NETNS_PREFIX: &str = "pccni-";
/// The prefix of this runner's run dirs under `/run/podcheck`: `cni-OWNER-N`.
pub const RUN_DIR_PREFIX: &str = "cni-";

/// A container ID for one attachment: unique, and naming podcheck.
pub fn container_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}{nanos:08x}", unique_name("podcheck-"))
}

/// The CNI environment of one call.
#[derive(Debug, Clone, Default)]
pub struct CniEnv {
    pub command: String,
    pub container_id: Option<String>,
    /// Empty: `CNI_NETNS` is set to the empty string (a DEL after the namespace is gone).
    pub netns: Option<String>,
    pub ifname: Option<String>,
}

impl CniEnv {
    /// `CNI_COMMAND=ADD CNI_CONTAINERID=… …`, for evidence.
    pub fn describe(&self) -> String {
        let mut words = vec![format!("CNI_COMMAND={}", self.command)];
        if let Some(c) = &self.container_id {
            words.push(format!("CNI_CONTAINERID={c}"));
        }
        if let Some(n) = &self.netns {
            words.push(format!("CNI_NETNS={n}"));
        }
        if let Some(i) = &self.ifname {
            words.push(format!("CNI_IFNAME={i}"));
        }
        words.join(" ")
    }
}

/// Execs `bin_dir/plugin` with the spec's environment (and `PATH`, which plugins need for
/// their own tools) and `stdin`.
pub async fn exec_plugin(
    bin_dir: &Path,
    plugin: &str,
    env: &CniEnv,
    stdin: &[u8],
) -> std::io::Result<Exec> {
    let mut command = Command::new(bin_dir.join(plugin));
    command
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("CNI_COMMAND", &env.command)
        .env("CNI_PATH", bin_dir)
        .current_dir("/");
    if let Some(c) = &env.container_id {
        command.env("CNI_CONTAINERID", c);
    }
    if let Some(n) = &env.netns {
        command.env("CNI_NETNS", n);
    }
    if let Some(i) = &env.ifname {
        command.env("CNI_IFNAME", i);
    }
    run(command, Some(stdin), PLUGIN_TIMEOUT).await
}

async fn ip(args: &[&str]) -> Result<String, String> {
    podcheck_host::netns::ip(args)
        .await
        .map_err(|e| podcheck_host::error_chain(&e))
}

/// A network namespace this run made (`ip netns add`); deleted on drop, or by the next
/// run's [`sweep_stale`] if this process dies first.
#[derive(Debug)]
pub struct Netns(podcheck_host::netns::Netns);

impl Netns {
    /// Makes `pccni-OWNER-N` with its loopback up.
    pub async fn create() -> Result<Netns, String> {
        podcheck_host::netns::Netns::create(NETNS_PREFIX)
            .await
            .map(Netns)
            .map_err(|e| podcheck_host::error_chain(&e))
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// `/run/netns/NAME`, for `CNI_NETNS`.
    pub fn path(&self) -> String {
        self.0.path()
    }

    /// The namespace's interfaces and addresses, and what `ip` said.
    pub async fn interfaces(&self) -> Result<(Vec<Interface>, String), String> {
        let json = ip(&["-n", self.name(), "-j", "addr", "show"]).await?;
        Ok((ip::interfaces(&json)?, json))
    }

    /// The namespace's routes (main table, both families).
    pub async fn routes(&self) -> Result<(Vec<Route>, String), String> {
        let v4 = ip(&["-n", self.name(), "-j", "-4", "route", "show"]).await?;
        let v6 = ip(&["-n", self.name(), "-j", "-6", "route", "show"]).await?;
        let mut routes = ip::routes(&v4)?;
        routes.extend(ip::routes(&v6)?);
        Ok((routes, format!("{} {}", v4.trim(), v6.trim())))
    }

    /// A TCP connect from inside this namespace to `addr` port 1, through `ip netns exec`
    /// and bash's `/dev/tcp` (nothing listens there: a RST proves the peer's kernel
    /// answered). Returns what was seen.
    pub async fn connect(&self, addr: IpAddr) -> Result<String, String> {
        let mut command = tool("ip");
        let target = match addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        command
            .args(["netns", "exec", self.name()])
            .arg(find_tool("timeout").unwrap_or_else(|| "timeout".into()))
            .arg("2")
            .arg(find_tool("bash").unwrap_or_else(|| "bash".into()))
            .arg("-c")
            .arg(format!(": </dev/tcp/{target}/1"));
        let out = run(command, None, TOOL_TIMEOUT)
            .await
            .map_err(|e| format!("ip netns exec: {e}"))?;
        let said = out.stderr.trim().to_string();
        if out.success() {
            Ok(format!("connected to {target}:1 in {:?}", out.took))
        } else if said.contains("refused") {
            Ok(format!(
                "{target}:1 answered with a reset (connection refused) in {:?}",
                out.took
            ))
        } else {
            Err(format!(
                "no answer from {target}:1 ({}, {})",
                out.status(),
                if said.is_empty() {
                    "nothing on stderr"
                } else {
                    &said
                }
            ))
        }
    }

    /// Deletes the namespace now.
    pub async fn delete(self) -> Result<(), String> {
        self.0
            .delete()
            .await
            .map_err(|e| podcheck_host::error_chain(&e))
    }
}

/// Removes the namespaces and run dirs of runs whose process is gone. Returns what went.
pub fn sweep_stale() -> Vec<String> {
    let mut swept = podcheck_host::netns::Netns::sweep(NETNS_PREFIX);
    let run_root = Path::new(podcheck_host::run_dir::RUN_ROOT);
    swept.extend(
        podcheck_host::sweep::remove_dead_run_dirs(run_root, RUN_DIR_PREFIX)
            .into_iter()
            .map(|dir| format!("dir {}", dir.display())),
    );
    swept
}

/// The host-local reservations (files in `DATA_DIR/NETWORK/`, named by address, holding
/// the container ID) that name `container_id`.
pub fn reservations_of(data_dir: &Path, network: &str, container_id: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join(network)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|c| c.lines().next().is_some_and(|l| l.trim() == container_id))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_found_by_container_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/10.0.0.2"), "abc\r\neth0").unwrap();
        std::fs::write(dir.path().join("net/10.0.0.3"), "def\r\neth0").unwrap();
        std::fs::write(dir.path().join("net/last_reserved_ip.0"), "10.0.0.3").unwrap();
        assert_eq!(reservations_of(dir.path(), "net", "abc"), ["10.0.0.2"]);
        assert!(reservations_of(dir.path(), "net", "zzz").is_empty());
        assert!(reservations_of(dir.path(), "none", "abc").is_empty());
    }
}
