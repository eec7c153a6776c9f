//! One module per subcommand. Each takes the library's own types (the CLI converts its flags
//! into them), prints what the command shows on success, and returns a [`UserError`]
//! otherwise; `main` renders it and exits with its code.
//!
//! [`UserError`]: crate::error::UserError

pub mod doctor;
pub mod explain;
pub mod images;
pub mod learn;
pub mod list;
pub mod load;
pub mod report;
pub mod run;
pub mod schema;
pub mod up;
pub mod validate;

/// Resolves at SIGTERM or SIGINT (Ctrl-C).
pub(crate) async fn signalled() {
    Signals::listen().received().await
}

/// SIGTERM and SIGINT, caught from the moment [`Signals::listen`] returns: a command that
/// tells its caller it is ready must listen before it says so, or a signal sent at once
/// would kill it instead of stopping it.
pub(crate) struct Signals {
    listeners: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    pub(crate) fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let listeners = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => None,
        };
        Signals { listeners }
    }

    pub(crate) async fn received(self) {
        let Some((mut term, mut int)) = self.listeners else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
