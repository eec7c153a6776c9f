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
    /// The component podcheck would check with its own defaults (its containerd, the
    /// plugins in the default dir) cannot run on this machine: it lacks root or packages.
    #[error(
        "{what} cannot run here: it needs {}",
        podcheck_host::prerequisite::sentence(missing)
    )]
    CannotRunHere {
        what: String,
        missing: Vec<podcheck_host::prerequisite::Missing>,
    },
    /// A component podcheck starts for the suite (its own containerd, a pod network)
    /// did not come up; the message says why.
    #[error("could not start {what}: {message}")]
    Start { what: String, message: String },
    /// A Kubernetes API request a suite's setup or cleanup needs failed (the DNS suite's
    /// namespace and objects).
    #[error("could not {what}")]
    Kubernetes {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A CNI conflist (`--cni-conflist`, or a suite's network) is not a usable template.
    #[error("the conflist {path}: {message}")]
    Conflist { path: String, message: String },
    /// The host side of a CNI suite's network (subnet, bridge, nftables table) could not
    /// be set up.
    #[error("could not set up the host side of the network {network}")]
    Network {
        network: String,
        #[source]
        source: podcheck_node::network::NetworkError,
    },
    /// A system call or command podcheck itself depends on failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
