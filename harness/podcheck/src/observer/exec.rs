//! Commands run in a container of the case's pod through `pods/exec`: the API's own way
//! into a pod, the same on every target.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt;

/// How a command run through `pods/exec` ended.
#[derive(Debug)]
pub(super) enum Exec {
    /// It ran: its stdout and exit code.
    Ran { stdout: String, exit_code: i32 },
    /// It could not be run (no exec on the target, the runtime cannot, a timeout…).
    CouldNot(String),
}

/// The container commands run in: named, because a pod with an injected sidecar has
/// several and exec without `container=` is refused there.
pub(super) struct InPod<'a> {
    pub pods: &'a Api<Pod>,
    pub pod: &'a str,
    pub container: &'a str,
}

impl InPod<'_> {
    /// Runs `command` with a deadline.
    pub async fn run(&self, command: &[&str], deadline: Duration) -> Exec {
        tokio::time::timeout(deadline, self.run_unbounded(command))
            .await
            .unwrap_or_else(|_| Exec::CouldNot(format!("exec did not finish within {deadline:?}")))
    }

    /// Runs a command that must succeed; its stdout, or why not.
    pub async fn output(&self, command: &[&str], deadline: Duration) -> Result<String, String> {
        match self.run(command, deadline).await {
            Exec::Ran {
                stdout,
                exit_code: 0,
            } => Ok(stdout),
            Exec::Ran { exit_code, .. } => Err(format!(
                "command terminated with non-zero exit code {exit_code}"
            )),
            Exec::CouldNot(why) => Err(why),
        }
    }

    async fn run_unbounded(&self, command: &[&str]) -> Exec {
        let params = AttachParams::default()
            .container(self.container)
            .stdout(true)
            .stderr(false)
            .stdin(false);
        let mut attached = match self
            .pods
            .exec(self.pod, command.iter().copied(), &params)
            .await
        {
            Ok(a) => a,
            Err(e) => return Exec::CouldNot(format!("pods/exec failed: {e}")),
        };
        let mut out = String::new();
        if let Some(mut stdout) = attached.stdout()
            && let Err(e) = stdout.read_to_string(&mut out).await
        {
            return Exec::CouldNot(e.to_string());
        }
        let status = match attached.take_status() {
            Some(s) => s.await,
            None => None,
        };
        let _ = attached.join().await;
        match status {
            Some(s) if s.status.as_deref() == Some("Failure") => match exit_code(&s) {
                Some(exit_code) => Exec::Ran {
                    stdout: out,
                    exit_code,
                },
                None => Exec::CouldNot(format!(
                    "{} ({})",
                    s.message.unwrap_or_default(),
                    s.reason.unwrap_or_default()
                )),
            },
            _ => Exec::Ran {
                stdout: out,
                exit_code: 0,
            },
        }
    }
}

/// The exit code of a `NonZeroExitCode` Status (its `ExitCode` cause), as kubectl reads it.
fn exit_code(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Option<i32> {
    if s.reason.as_deref() != Some("NonZeroExitCode") {
        return None;
    }
    s.details
        .as_ref()?
        .causes
        .as_ref()?
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))?
        .message
        .as_deref()?
        .parse()
        .ok()
}
