//! Running the host's network tools (`ip`, `nft`, `nsenter`, the CNI plugins), each with a
//! deadline: a tool that hangs is killed and reported, never waited for.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::NetworkError;

/// How long one tool invocation may take.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where tools are looked for after `PATH` (a test runner's `PATH` may lack the sbin dirs).
const FALLBACK_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The absolute path of a tool, from `PATH` or the usual dirs.
pub(super) fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(super) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command for a tool, by absolute path when it can be found.
pub(super) fn tool(name: &str) -> Command {
    Command::new(find_tool(name).unwrap_or_else(|| PathBuf::from(name)))
}

/// What a finished command said.
#[derive(Debug)]
pub(super) struct Output {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

fn describe(command: &Command) -> String {
    let std = command.as_std();
    let mut words = vec![std.get_program().to_string_lossy().into_owned()];
    words.extend(
        std.get_args()
            .map(|a: &OsStr| a.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// Runs `command` with `stdin` (or none) and waits up to `timeout`; the process is killed
/// when the deadline passes.
pub(super) async fn run_with(
    mut command: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, NetworkError> {
    let described = describe(&command);
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| NetworkError::Spawn {
        command: described.clone(),
        source,
    })?;
    let input = stdin.map(<[u8]>::to_vec);
    let pipe = child.stdin.take();
    let finished = tokio::time::timeout(timeout, async move {
        if let (Some(mut pipe), Some(input)) = (pipe, input) {
            // A tool that exits without reading all of its input shows in its status.
            let _ = pipe.write_all(&input).await;
            drop(pipe);
        }
        child.wait_with_output().await
    })
    .await;
    // On timeout the child was dropped inside the future, and kill_on_drop killed it.
    let output = finished
        .map_err(|_| NetworkError::Timeout {
            command: described.clone(),
            after: timeout,
        })?
        .map_err(|source| NetworkError::Spawn {
            command: described,
            source,
        })?;
    Ok(Output {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `command` with the default deadline and returns its stdout; a non-zero exit is an
/// error carrying stderr.
pub(super) async fn check(command: Command, stdin: Option<&[u8]>) -> Result<String, NetworkError> {
    let described = describe(&command);
    let output = run_with(command, stdin, COMMAND_TIMEOUT).await?;
    if output.success {
        Ok(output.stdout)
    } else {
        Err(NetworkError::Command {
            command: described,
            status: output
                .code
                .map_or_else(|| "killed by a signal".into(), |c| format!("exit {c}")),
            stderr: output.stderr.trim().to_string(),
        })
    }
}

/// `ip ARGS…`, checked.
pub(super) async fn ip(args: &[&str]) -> Result<String, NetworkError> {
    let mut command = tool("ip");
    command.args(args);
    check(command, None).await
}
