//! The user's scheduler as a process against the embedded control plane: started with a
//! kubeconfig of its own (`system:kube-scheduler`, by client certificate), waited for until
//! it reads pods, and stopped — with everything it started — at the end.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use podcheck_controlplane::ControlPlane;
use podcheck_core::load::ExternalScheduler;
use podcheck_core::result::ComponentUnderTest;
use rustix::process::{Pid, Signal, kill_process_group};

use crate::Error;

/// How long a scheduler may take to start reading pods.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long it has to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The user the scheduler acts as: kube-scheduler's, with its bootstrap RBAC.
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
/// A group only the external scheduler's certificate carries, to tell its requests from
/// the builtin scheduler's (which acts as the same user).
const EXTERNAL_GROUP: &str = "podcheck:scheduler-under-test";

/// A running external scheduler: its process group, its directory (kubeconfig, log).
pub struct SchedulerProcess {
    child: tokio::process::Child,
    pgid: Option<Pid>,
    dir: tempfile::TempDir,
    /// What reports name: the command and the version it printed.
    pub component: ComponentUnderTest,
}

impl std::fmt::Debug for SchedulerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerProcess")
            .field("command", &self.component.name)
            .finish_non_exhaustive()
    }
}

fn fail(command: &str, message: String) -> Error {
    Error::Scheduler {
        command: command.to_string(),
        message,
    }
}

impl SchedulerProcess {
    /// Starts `scheduler` with `KUBECONFIG` set, and returns once it has listed or watched
    /// pods; an exit or [`START_DEADLINE`] first is an error with the tail of its log.
    pub async fn start(cp: &ControlPlane, scheduler: &ExternalScheduler) -> Result<Self, Error> {
        let shown = scheduler.command.join(" ");
        let program = &scheduler.command[0];
        let dir = tempfile::Builder::new()
            .prefix("podcheck-scheduler-")
            .tempdir()
            .map_err(|e| fail(&shown, format!("cannot create its directory: {e}")))?;
        let groups = vec![
            "system:authenticated".to_string(),
            EXTERNAL_GROUP.to_string(),
        ];
        let kubeconfig = cp
            .kubeconfig_for_user(SCHEDULER_USER, &groups)
            .map_err(|e| fail(&shown, format!("no kubeconfig for it: {e}")))?;
        let kubeconfig_path = dir.path().join("kubeconfig");
        write_private(
            &kubeconfig_path,
            &serde_json::to_vec_pretty(&kubeconfig).unwrap_or_default(),
        )
        .map_err(|e| fail(&shown, format!("cannot write its kubeconfig: {e}")))?;
        let version = version_of(program, &kubeconfig_path).await;
        let log_path = dir.path().join("scheduler.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| fail(&shown, format!("cannot create its log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fail(&shown, format!("cannot create its log: {e}")))?;
        // Through setpriv, the scheduler dies with podcheck even when podcheck is killed
        // (its own process group keeps a terminal's Ctrl-C from reaching it directly).
        let mut command = if Path::new(SETPRIV).is_file() {
            let mut c = tokio::process::Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        } else {
            tokio::process::Command::new(program)
        };
        let child = command
            .args(&scheduler.command[1..])
            .env("KUBECONFIG", &kubeconfig_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group, so that what it starts is stopped with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(&shown, format!("cannot start {program}: {e}")))?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        let mut readers = cp.pod_readers();
        let mut process = SchedulerProcess {
            child,
            pgid,
            dir,
            component: ComponentUnderTest {
                component: "scheduler".into(),
                name: shown.clone(),
                version,
            },
        };
        let running = readers.wait_for(|ids| {
            ids.iter()
                .any(|i| i.user == SCHEDULER_USER && i.groups.iter().any(|g| g == EXTERNAL_GROUP))
        });
        let outcome = tokio::time::timeout(START_DEADLINE, async {
            tokio::select! {
                r = running => r.map(|_| ()).map_err(|_| "the control plane stopped".to_string()),
                status = process.child.wait() => Err(match status {
                    Ok(s) => format!("it exited ({s}) before reading any pods"),
                    Err(e) => format!("cannot wait for it: {e}"),
                }),
            }
        })
        .await;
        let why = match outcome {
            Ok(Ok(())) => return Ok(process),
            Ok(Err(why)) => why,
            Err(_) => format!(
                "it did not list or watch pods within {} s",
                START_DEADLINE.as_secs()
            ),
        };
        let tail = process.log_tail(20);
        process.stop().await;
        Err(fail(
            &shown,
            format!("{why}; the end of its output:\n{tail}"),
        ))
    }

    /// Whether the process still runs (exists and is not a zombie), read from /proc so that
    /// a shared reference can ask.
    pub fn is_running(&self) -> bool {
        let Some(pid) = self.pgid else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
            .ok()
            .and_then(|stat| {
                // `PID (COMM) STATE …`: COMM may hold spaces and parentheses.
                let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
                Some(state != 'Z' && state != 'X')
            })
            .unwrap_or(false)
    }

    /// The last `n` lines the scheduler wrote.
    pub fn log_tail(&self, n: usize) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("scheduler.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        if tail.is_empty() {
            "(nothing)".into()
        } else {
            tail
        }
    }

    /// SIGTERM to its process group, up to [`STOP_GRACE`], then SIGKILL; reaps it.
    /// Its process group: what a `schedulerPaused` fault stops and continues.
    pub fn process_group(&self) -> Option<Pid> {
        self.pgid
    }

    pub async fn stop(mut self) {
        if let Some(pgid) = self.pgid {
            // A paused scheduler (a fault's SIGSTOP) would not act on TERM.
            let _ = kill_process_group(pgid, Signal::CONT);
            let _ = kill_process_group(pgid, Signal::TERM);
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = kill_process_group(pgid, Signal::KILL);
            }
            // Whatever else it started in its group goes too.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = self.child.kill().await;
        self.pgid = None;
    }
}

impl Drop for SchedulerProcess {
    /// An interrupted run (Ctrl-C) drops the target without `stop`: kill the group now;
    /// tokio reaps the child (`kill_on_drop`).
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

/// util-linux's setpriv, to give the scheduler a parent-death signal without unsafe code.
const SETPRIV: &str = "/usr/bin/setpriv";

/// `PROGRAM --version`, first line, or empty when it says nothing useful within 5 s. A
/// program that ignores `--version` runs meanwhile, so it gets podcheck's kubeconfig (never
/// the user's own cluster) and its process group is killed at the deadline.
async fn version_of(program: &str, kubeconfig: &Path) -> String {
    let child = tokio::process::Command::new(program)
        .arg("--version")
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let Ok(child) = child else {
        return String::new();
    };
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await;
    if out.is_err()
        && let Some(pgid) = pgid
    {
        let _ = kill_process_group(pgid, Signal::KILL);
    }
    match out {
        Ok(Ok(o)) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        _ => String::new(),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}
