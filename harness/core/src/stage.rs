//! The eight stages of pod creation, in the seed walk-through's order.

use serde::{Deserialize, Serialize};

/// One stage of pod creation. Names in suites and reports are exactly these (camelCase).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// The apiserver authenticates, authorizes and validates the create request.
    Auth,
    /// The apiserver writes the pod to the store.
    EtcdWrite,
    /// The pod is first seen Pending, with no node.
    Pending,
    /// The scheduler binds the pod to a feasible node.
    Binding,
    /// The kubelet has the runtime create the sandbox and start the containers.
    CriLaunch,
    /// The runtime has the CNI plugins attach the sandbox to the pod network.
    CniAttach,
    /// Names resolve from inside the pod.
    Dns,
    /// The kubelet reports Running through the apiserver into the store.
    StatusUpdate,
}

impl Stage {
    /// Every stage, in the seed's order (reports list them so).
    pub const ALL: [Stage; 8] = [
        Stage::Auth,
        Stage::EtcdWrite,
        Stage::Pending,
        Stage::Binding,
        Stage::CriLaunch,
        Stage::CniAttach,
        Stage::Dns,
        Stage::StatusUpdate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Auth => "auth",
            Stage::EtcdWrite => "etcdWrite",
            Stage::Pending => "pending",
            Stage::Binding => "binding",
            Stage::CriLaunch => "criLaunch",
            Stage::CniAttach => "cniAttach",
            Stage::Dns => "dns",
            Stage::StatusUpdate => "statusUpdate",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.name() == s)
    }

    /// The component whose work the stage checks.
    pub fn component(self) -> &'static str {
        match self {
            Stage::Auth => "kube-apiserver (authentication, authorization, admission)",
            Stage::EtcdWrite => "kube-apiserver → etcd",
            Stage::Pending => "kube-apiserver",
            Stage::Binding => "kube-scheduler",
            Stage::CriLaunch => "kubelet → container runtime (CRI)",
            Stage::CniAttach => "container runtime → CNI plugins",
            Stage::Dns => "kubelet (resolv.conf) + cluster DNS",
            Stage::StatusUpdate => "kubelet → kube-apiserver → etcd",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialize_camel_case() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
