//! The host plumbing every part of podcheck shares, one copy each: where podcheck keeps its
//! files ([`run_dir`]), who owns them and whether that process still lives ([`owner`]), the
//! sweep of what dead runs left behind ([`sweep`]), commands with deadlines in process groups
//! of their own ([`command`]), stopping the servers podcheck starts ([`process`]), network
//! namespaces ([`netns`]), what `ip -j` says ([`ip`]), and what the machine lacks for a real
//! component ([`prerequisite`]).

pub mod command;
pub mod ip;
pub mod netns;
pub mod owner;
pub mod prerequisite;
pub mod process;
pub mod run_dir;
pub mod sweep;

mod error;

pub use error::HostError;

/// An error and its sources, `: `-joined, for one-line messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
