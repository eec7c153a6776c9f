//! One module per subcommand. Each takes the library's own types (the CLI converts its flags
//! into them), prints what the command shows on success, and returns a [`UserError`]
//! otherwise; `main` renders it and exits with its code.
//!
//! [`UserError`]: crate::error::UserError

pub mod doctor;
pub mod explain;
pub mod images;
pub mod list;
pub mod run;
pub mod schema;
pub mod up;
pub mod validate;

/// Resolves at SIGTERM or SIGINT (Ctrl-C).
pub(crate) async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
