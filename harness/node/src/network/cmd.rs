//! The host's network tools (`ip`, `nft`, `nsenter`, the CNI plugins), each with a deadline
//! (podcheck-host runs them; a tool that hangs is killed and reported, never waited for).

use std::time::Duration;

use tokio::process::Command;

use super::NetworkError;

/// How long one tool invocation may take.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `command` with the default deadline and returns its stdout; a non-zero exit is an
/// error carrying stderr.
pub(super) async fn check(command: Command, stdin: Option<&[u8]>) -> Result<String, NetworkError> {
    Ok(podcheck_host::command::check(command, stdin, COMMAND_TIMEOUT).await?)
}

/// `ip ARGS…`, checked.
pub(super) async fn ip(args: &[&str]) -> Result<String, NetworkError> {
    let mut command = podcheck_host::command::tool("ip");
    command.args(args);
    check(command, None).await
}
