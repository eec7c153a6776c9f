//! Where a case stands while it runs, for the live view of a run: what the pod as last seen
//! says of its path. Never a verdict: verdicts come from the whole observation when the case
//! ends (`crate::evaluate`).

use std::fmt;

use k8s_openapi::api::core::v1::Pod;

use crate::path;
use crate::stage::Stage;

/// A case in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAt {
    /// Its namespace and objects are being made.
    Setup,
    /// Its pod waits for what this stage's component does.
    Stage(Stage),
    /// The pod's path ended; the store, runtime, network and DNS are being read.
    Probes,
    /// A load case's pods are being created and watched until they all run.
    Load { pods: usize },
    /// Its namespace is being deleted.
    Cleanup,
}

impl fmt::Display for CaseAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseAt::Setup => f.write_str("setting up"),
            CaseAt::Stage(stage) => write!(f, "{stage} · {}", stage.component()),
            CaseAt::Probes => f.write_str("reading the evidence"),
            CaseAt::Load { pods } => write!(f, "load · {pods} pods created and watched"),
            CaseAt::Cleanup => f.write_str("cleaning up"),
        }
    }
}

/// The stage whose work the pod waits for, from the create's answer (none yet: `None`) and
/// the pod as last seen: the apiserver's until it answers, the scheduler's until a node is
/// named, the runtime's (sandbox, network, containers) until the pod has an IP, the kubelet's
/// status until it runs; then the lookups from inside it.
pub fn stage_at(create_answered: bool, last_pod: Option<&Pod>) -> Stage {
    let Some(pod) = last_pod.filter(|_| create_answered) else {
        return Stage::Auth;
    };
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let has_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty());
    if !bound {
        Stage::Binding
    } else if !has_ip {
        Stage::CriLaunch
    } else if !path::ready(pod) {
        Stage::StatusUpdate
    } else {
        Stage::Dns
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    use super::*;

    fn pod(node: Option<&str>, ip: Option<&str>, running: bool) -> Pod {
        let condition = |t: &str| PodCondition {
            type_: t.into(),
            status: "True".into(),
            ..Default::default()
        };
        Pod {
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                ..Default::default()
            }),
            status: Some(PodStatus {
                pod_ip: ip.map(Into::into),
                phase: Some(if running { "Running" } else { "Pending" }.into()),
                conditions: running.then(|| vec![condition("Ready"), condition("ContainersReady")]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_stage_follows_the_pod_along_its_path() {
        assert_eq!(stage_at(false, None), Stage::Auth);
        let seen = pod(None, None, false);
        assert_eq!(stage_at(false, Some(&seen)), Stage::Auth);
        assert_eq!(stage_at(true, None), Stage::Auth);
        assert_eq!(stage_at(true, Some(&seen)), Stage::Binding);
        let bound = pod(Some("node-1"), None, false);
        assert_eq!(stage_at(true, Some(&bound)), Stage::CriLaunch);
        let addressed = pod(Some("node-1"), Some("10.244.0.5"), false);
        assert_eq!(stage_at(true, Some(&addressed)), Stage::StatusUpdate);
        let running = pod(Some("node-1"), Some("10.244.0.5"), true);
        assert_eq!(stage_at(true, Some(&running)), Stage::Dns);
    }

    #[test]
    fn a_case_in_flight_reads_as_words() {
        assert_eq!(
            CaseAt::Stage(Stage::Binding).to_string(),
            "binding · kube-scheduler"
        );
        assert_eq!(CaseAt::Probes.to_string(), "reading the evidence");
    }
}
