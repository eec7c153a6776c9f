//! The CNI runner's I/O: plugins exec'd as the spec says (environment, config on stdin,
//! result or error on stdout, each with a deadline), network namespaces podcheck creates and
//! always deletes (a guard deletes on drop, a sweep removes those of dead runs), and what a
//! namespace holds (`ip -n NS -j addr|route`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::spec::{self, NsInterface, NsRoute};

/// How long one plugin call may take.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `ip` call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of the namespaces this runner makes: `pccni-PID-N`.
pub const NETNS_PREFIX: &str = "pccni-";
/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// The prefix of this runner's run dirs under `/run/podcheck`: `cni-PID-N`.
pub const RUN_DIR_PREFIX: &str = "cni-";
/// Where podcheck keeps its runtime files.
pub const PODCHECK_RUN: &str = "/run/podcheck";

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A name unique in this process (and, with the pid, on this machine).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A container ID for one attachment: unique, and naming podcheck.
pub fn container_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}{nanos:08x}", unique("podcheck-"))
}

const FALLBACK_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// A tool's absolute path, from `PATH` or the usual dirs.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn tool(name: &str) -> Command {
    let mut command = Command::new(find_tool(name).unwrap_or_else(|| PathBuf::from(name)));
    // Their output is parsed (bash's "Connection refused"): not in the user's language.
    command.env("LC_ALL", "C").env("LANG", "C");
    command
}

/// What a finished process did.
#[derive(Debug, Clone)]
pub struct Exec {
    /// `None` when killed (by a signal or the deadline).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
    /// Set when the deadline passed.
    pub timed_out: bool,
    /// False when it could not be started (stderr says why).
    pub spawned: bool,
}

impl Exec {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit 0`, `exit 1`, `killed after 20s`.
    pub fn status(&self) -> String {
        match (self.code, self.timed_out) {
            _ if !self.spawned => "not run".into(),
            (_, true) => format!("killed after {:?} (no answer)", self.took),
            (Some(c), _) => format!("exit {c}"),
            (None, _) => "killed by a signal".into(),
        }
    }
}

/// Reads `pipe` to its end into `into`, chunk by chunk: cancel-safe, so what was read
/// before a deadline stays in `into`.
async fn drain<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, into: &mut Vec<u8>) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut chunk = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        into.extend_from_slice(&chunk[..n]);
    }
}

/// Runs `command` in a process group of its own; on the deadline the whole group is killed
/// (a plugin's own children too) and what it printed so far is kept.
async fn run(
    mut command: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Exec> {
    let began = Instant::now();
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let group = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32));
    // Kills the group if this future is dropped (a case deadline) before the child is reaped.
    let mut reaper = KillGroup(group);
    let pipe = child.stdin.take();
    let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
    let input = stdin.map(<[u8]>::to_vec);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(timeout, async {
        let feed = async {
            if let (Some(mut pipe), Some(input)) = (pipe, input) {
                let _ = pipe.write_all(&input).await;
                drop(pipe);
            }
        };
        let (_, _, _, status) = tokio::join!(
            feed,
            drain(out_pipe, &mut out),
            drain(err_pipe, &mut err),
            child.wait()
        );
        status
    })
    .await;
    let timed_out = finished.is_err();
    let code = match finished {
        Ok(status) => {
            // Reaped: the group id may be reused from now on.
            reaper.0 = None;
            status?.code()
        }
        Err(_) => {
            reaper.kill();
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            None
        }
    };
    Ok(Exec {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        took: began.elapsed(),
        timed_out,
        spawned: true,
    })
}

/// A process group to SIGKILL on drop (or at once with `kill`).
struct KillGroup(Option<rustix::process::Pid>);

impl KillGroup {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ip ARGS` from synchronous code (drop guards), bounded by `TOOL_TIMEOUT`: polled, and
/// killed (its group) when late.
fn ip_blocking(args: &[&str]) -> Result<(), String> {
    let ip = find_tool("ip").unwrap_or_else(|| PathBuf::from("ip"));
    let mut child = std::process::Command::new(ip)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("ip {}: {status}", args.join(" "))),
            Ok(None) if began.elapsed() < TOOL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                KillGroup(rustix::process::Pid::from_raw(child.id() as i32)).kill();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "ip {}: no answer in {TOOL_TIMEOUT:?}",
                    args.join(" ")
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
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
    let mut command = tool("ip");
    command.args(args);
    let out = run(command, None, TOOL_TIMEOUT)
        .await
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status(),
            out.stderr.trim()
        ))
    }
}

/// A network namespace this run made (`ip netns add`); deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Makes `pccni-PID-N` with its loopback up.
    pub async fn create() -> Result<Netns, String> {
        let name = unique(NETNS_PREFIX);
        ip(&["netns", "add", &name]).await?;
        let ns = Netns {
            name,
            deleted: false,
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]).await?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("{NETNS_DIR}/{}", self.name)
    }

    /// The namespace's interfaces and addresses.
    pub async fn interfaces(&self) -> Result<(Vec<NsInterface>, String), String> {
        let json = ip(&["-n", &self.name, "-j", "addr", "show"]).await?;
        Ok((spec::ns_interfaces(&json)?, json))
    }

    /// The namespace's routes (main table, both families).
    pub async fn routes(&self) -> Result<(Vec<NsRoute>, String), String> {
        let v4 = ip(&["-n", &self.name, "-j", "-4", "route", "show"]).await?;
        let v6 = ip(&["-n", &self.name, "-j", "-6", "route", "show"]).await?;
        let mut routes = spec::ns_routes(&v4)?;
        routes.extend(spec::ns_routes(&v6)?);
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
            .args(["netns", "exec", &self.name])
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
    pub async fn delete(mut self) -> Result<(), String> {
        self.deleted = true;
        ip(&["netns", "del", &self.name]).await.map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        if let Err(e) = ip_blocking(&["netns", "del", &self.name]) {
            tracing::warn!(netns = %self.name, error = %e, "deleting a network namespace");
        }
    }
}

/// A directory of this run under `/run/podcheck`; removed on drop.
#[derive(Debug)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn create() -> std::io::Result<RunDir> {
        let dir = Path::new(PODCHECK_RUN).join(unique(RUN_DIR_PREFIX));
        std::fs::create_dir_all(&dir)?;
        Ok(RunDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "removing a CNI run dir");
        }
    }
}

/// The pid in `PREFIXPID-N`.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Removes the namespaces and run dirs of runs whose process is gone. Returns what went.
pub fn sweep_stale() -> Vec<String> {
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    let mut swept = Vec::new();
    if let Ok(entries) = std::fs::read_dir(NETNS_DIR) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = owner_pid(&name, NETNS_PREFIX)
                && !alive(pid)
            {
                drop(Netns {
                    name: name.clone(),
                    deleted: false,
                });
                swept.push(format!("netns {name}"));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(PODCHECK_RUN) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = owner_pid(&name, RUN_DIR_PREFIX)
                && !alive(pid)
                && std::fs::remove_dir_all(e.path()).is_ok()
            {
                swept.push(format!("dir {}", e.path().display()));
            }
        }
    }
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

    #[tokio::test]
    async fn a_late_command_is_killed_with_its_group_and_its_output_kept() {
        let mut command = Command::new(find_tool("bash").expect("bash"));
        command.args(["-c", "sleep 30 & echo $!; echo partial >&2; wait"]);
        let out = run(command, None, Duration::from_millis(500))
            .await
            .unwrap();
        assert!(out.timed_out && out.code.is_none(), "{out:?}");
        assert!(out.stderr.contains("partial"), "{out:?}");
        let pid: u32 = out.stdout.trim().parse().expect("the sleep's pid");
        // The sleep, in the same group, is killed too (gone, or a zombie for its reaper).
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
        };
        let began = Instant::now();
        while !gone() && began.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone(), "sleep {pid} outlived the deadline");
    }

    #[tokio::test]
    async fn tools_answer_in_the_c_locale() {
        let mut command = tool("bash");
        command.args(["-c", "echo $LC_ALL $LANG"]);
        let out = run(command, None, TOOL_TIMEOUT).await.unwrap();
        assert_eq!(out.stdout.trim(), "C C");
    }

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner_pid("pccni-123-4", NETNS_PREFIX), Some(123));
        assert_eq!(owner_pid("pccni-x-4", NETNS_PREFIX), None);
        assert_eq!(owner_pid("other", NETNS_PREFIX), None);
        assert_eq!(owner_pid("cni-77-0", RUN_DIR_PREFIX), Some(77));
    }

    #[test]
    fn names_are_unique_and_name_this_process() {
        let a = unique(NETNS_PREFIX);
        let b = unique(NETNS_PREFIX);
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a, NETNS_PREFIX), Some(std::process::id()));
        assert!(container_id().starts_with("podcheck-"));
    }

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
