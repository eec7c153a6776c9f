//! podcheck, the harness: targets, the observer, the runner, what a run writes, and the
//! commands the binary dispatches to.
//! The decisions (suites, verdicts, reports) live in `podcheck-core`; this crate does I/O.

pub mod cluster_facts;
pub mod commands;
pub mod conformance;
pub mod error;
pub mod github;
pub mod images;
pub mod kind;
pub mod node_map;
pub mod observer;
pub mod output;
pub mod progress;
pub mod rerun;
pub mod runner;
pub mod scale;
pub mod scheduler;
pub mod suites;
pub mod target;

use std::path::PathBuf;

/// Where cases run.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// The embedded control plane, one per suite.
    Local(target::ProviderOptions),
    /// Any cluster, by kubeconfig.
    Kubeconfig(PathBuf),
    /// A kind cluster podcheck made ready (reached by its own kubeconfig).
    Kind(kind::KindTarget),
}

/// What can stop a run before any verdict (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded control plane could not start.
    #[error("the embedded control plane could not start")]
    ControlPlane(#[source] podcheck_controlplane::Error),
    /// The kubeconfig could not be read.
    #[error("cannot use kubeconfig {0}: {1}")]
    Kubeconfig(String, String),
    /// A component the run requires to be real is simulated here.
    #[error("real components required but not available: {0}")]
    RequireReal(String),
    /// The external scheduler could not be started, or did not start reading pods.
    #[error("the scheduler `{command}` could not be started: {message}")]
    Scheduler { command: String, message: String },
    /// The cluster did not answer.
    #[error("cannot reach the cluster: {0}")]
    Connect(String),
    /// Reports could not be written.
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
