//! podcheck's conformance runners: a component called directly, as its own specification
//! says, in network namespaces, sockets and namespaces podcheck creates and removes.
//!
//! - [`cni`]: CNI plugins (spec 1.0.0 and 1.1.0) exec'd with a conflist podcheck fills in;
//! - [`cri`]: a CRI v1 runtime over its unix socket, critest-style;
//! - [`dns`]: a cluster DNS server against the Kubernetes DNS specification.
//!
//! Each runner turns a loaded suite (`podcheck_core::conformance`) into a
//! `podcheck_core::result::SuiteResult` whose cases carry checks.

pub mod cni;
pub mod cri;
pub mod dns;

/// Why a conformance suite could not be run at all (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// Something the suite needs is missing on this machine.
    #[error("{what} is not available: {why}")]
    Unavailable { what: String, why: String },
    /// A system call or command podcheck itself depends on failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
