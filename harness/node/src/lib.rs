//! A podcheck node: what turns a pod bound to a node into running, networked containers.
//!
//! The [`kubelet`] is an API client like the real one: it registers its Node, watches the
//! pods bound to it and drives a [`runtime::Runtime`] (CRI-shaped) whose sandboxes get their
//! network from a [`runtime::Network`] (CNI-shaped). Both have in-process simulations
//! ([`runtime::SimRuntime`], [`runtime::SimNetwork`]) and real implementations: [`cri`]
//! (containerd over CRI v1, which calls the CNI plugins itself) on a [`network::NodeNetwork`]
//! (a bridge, a /24 and an nftables table of podcheck's own), with the [`images`] podcheck
//! builds from recipes compiled into the binary. Nothing here depends on the apiserver.

pub mod clock;
pub mod cri;
pub mod events;
pub mod fault;
pub mod images;
pub mod ipam;
pub mod kubelet;
pub mod network;
pub mod not_ready;
pub mod runtime;
pub mod static_pod;

/// The prefix of the run dirs of real nodes under `/run/podcheck` (`cp-OWNER-N`: their
/// containerds and networks); the next control plane sweeps those of dead owners.
pub const RUN_DIR_PREFIX: &str = "cp-";

/// Whether this machine can run real nodes (containerd, runc, the CNI plugins, root), and
/// if not, why.
pub fn real_runtime_usable() -> Result<(), String> {
    cri::usable()?;
    network::usable()
}

/// What real nodes need and this machine lacks (the runtime's needs, then the network's),
/// each once.
pub fn real_runtime_missing() -> Vec<podcheck_host::prerequisite::Missing> {
    let mut missing = cri::missing();
    for m in network::missing() {
        // Both need root: say it once.
        if !missing.contains(&m) {
            missing.push(m);
        }
    }
    missing
}
