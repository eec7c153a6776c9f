//! Running host tools and plugins: each with a deadline, in a process group of its own, so
//! that a tool that hangs is killed with everything it started and reported, never waited
//! for. What it printed before the deadline is kept as evidence.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::HostError;

/// Where tools are looked for after `PATH` (a test runner's `PATH` may lack the sbin dirs).
const FALLBACK_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// How long a tool killed at its deadline is given to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// The absolute path of an executable tool, from `PATH` or the usual dirs.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an exec bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command for a tool, by absolute path when it can be found. Tools answer in the C
/// locale: their words are parsed (`Cannot find device`, bash's `Connection refused`).
pub fn tool(name: &str) -> Command {
    let mut command = Command::new(find_tool(name).unwrap_or_else(|| PathBuf::from(name)));
    command.env("LC_ALL", "C").env("LANG", "C");
    command
}

/// `PROGRAM ARG…`, for messages.
pub fn describe(command: &Command) -> String {
    let std = command.as_std();
    let mut words = vec![std.get_program().to_string_lossy().into_owned()];
    words.extend(
        std.get_args()
            .map(|a: &OsStr| a.to_string_lossy().into_owned()),
    );
    words.join(" ")
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

    /// `exit 0`, `exit 1`, `killed after 20s (no answer)`.
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
    // On the heap: an array here would sit in every future that awaits a command, and
    // debug builds copy those futures across the stack.
    let mut chunk = vec![0u8; 8192];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        into.extend_from_slice(&chunk[..n]);
    }
}

/// Runs `command` with `stdin` (or none) in a process group of its own; at the deadline the
/// whole group is killed (a plugin's own children too) and what it printed so far is kept.
pub async fn run(
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
    let group = child.id().and_then(|id| Pid::from_raw(id as i32));
    // Kills the group if this future is dropped (a case deadline) before the child is reaped.
    let mut reaper = KillGroup(group);
    let pipe = child.stdin.take();
    let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
    let input = stdin.map(<[u8]>::to_vec);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(timeout, async {
        let feed = async {
            if let (Some(mut pipe), Some(input)) = (pipe, input) {
                // A tool that exits without reading all of its input shows in its status.
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
            let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
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

/// Runs `command` like [`run`] and returns its stdout; not starting, a non-zero exit (with
/// its stderr) and the deadline are errors.
pub async fn check(
    command: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<String, HostError> {
    let described = describe(&command);
    let exec = run(command, stdin, timeout)
        .await
        .map_err(|source| HostError::Spawn {
            command: described.clone(),
            source,
        })?;
    if exec.timed_out {
        return Err(HostError::Timeout {
            command: described,
            after: timeout,
        });
    }
    if !exec.success() {
        return Err(HostError::Failed {
            command: described,
            status: exec.status(),
            stderr: exec.stderr.trim().to_string(),
        });
    }
    Ok(exec.stdout)
}

/// `tool ARGS` from synchronous code (drop guards) with no output wanted, bounded by
/// `timeout`: polled, and killed with its group when late.
pub fn check_blocking(name: &str, args: &[&str], timeout: Duration) -> Result<(), String> {
    let program = find_tool(name).unwrap_or_else(|| PathBuf::from(name));
    let described = format!("{name} {}", args.join(" "));
    let mut child = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{described}: {e}"))?;
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{described}: {status}")),
            Ok(None) if began.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                KillGroup(Pid::from_raw(child.id() as i32)).kill();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{described}: no answer in {timeout:?}"));
            }
            Err(e) => return Err(format!("{described}: {e}")),
        }
    }
}

/// A process group to SIGKILL on drop (or at once with `kill`).
struct KillGroup(Option<Pid>);

impl KillGroup {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        self.kill();
    }
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
        let out = run(command, None, Duration::from_secs(10)).await.unwrap();
        assert_eq!(out.stdout.trim(), "C C");
    }

    #[tokio::test]
    async fn check_reports_the_exit_status_and_stderr() {
        let mut command = tool("bash");
        command.args(["-c", "echo nope >&2; exit 3"]);
        let err = check(command, None, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HostError::Failed { status, stderr, .. } if status == "exit 3" && stderr == "nope"),
            "{err:?}"
        );
    }

    #[test]
    fn only_executable_files_are_tools() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert!(!is_executable(&plain));
        assert!(!is_executable(dir.path()));
        assert!(find_tool("sh").is_some_and(|p| is_executable(&p)));
    }
}
