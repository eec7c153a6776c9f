use std::time::Duration;

/// Why a host command did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The command could not be started (or waited for).
    #[error("could not run {command}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    /// The command did not finish in time (it was killed, with its process group).
    #[error("{command} did not finish within {after:?}")]
    Timeout { command: String, after: Duration },
}
