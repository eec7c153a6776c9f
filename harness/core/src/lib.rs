//! podcheck's core: everything that decides, without doing I/O.
//!
//! Suites are parsed and checked here ([`suite`]), stage verdicts are computed here from
//! what an observer recorded ([`evaluate`]), and results become reports and snapshots here.
//! The observer that talks to clusters lives in the `podcheck` crate.

pub mod conformance;
pub mod dns_name;
pub mod duration;
pub mod etcdctl;
pub mod evaluate;
pub mod explain;
pub mod fault;
pub mod lesson;
pub mod load;
pub mod node_map;
pub mod observation;
pub mod oracle;
pub mod path;
pub mod pod_network;
pub mod progress;
pub mod quantity;
pub mod recording;
pub mod report;
pub mod resolv;
pub mod result;
pub mod scale;
pub mod snapshot;
pub mod stage;
pub mod suite;
