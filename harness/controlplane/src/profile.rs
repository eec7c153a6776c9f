//! Which cluster the control plane behaves like: podcheck's own quick one, or a cluster
//! made by kubeadm (kind's are), where upstream components behave in ways that a harness
//! must cope with (see `REAL-CLUSTERS.md`). Each such behaviour is a field of
//! [`Upstream`], so a test can switch one on alone.

use std::time::Duration;

use podcheck_node::not_ready::FirstFailures;

/// How long a change to RBAC takes to reach authorization in the kubeadm profile: the
/// informer lag that upstream e2e tests wait out (`WaitForNamedAuthorizationUpdate`).
pub const RBAC_PROPAGATION: Duration = Duration::from_millis(500);

/// The profile of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Like {
    /// podcheck's quick control plane: no anonymous requests, core/v1 events only, pod DNS
    /// independent of the machine, instant deletion, nothing transient, RBAC at once.
    #[default]
    Podcheck,
    /// A kubeadm (or kind) cluster: every behaviour of [`Upstream::kubeadm`].
    Kubeadm,
}

impl Like {
    /// The behaviours the profile turns on.
    pub fn upstream(self) -> Upstream {
        match self {
            Like::Podcheck => Upstream::podcheck(),
            Like::Kubeadm => Upstream::kubeadm(),
        }
    }

    /// `podcheck` or `kubeadm`, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Like::Podcheck => "podcheck",
            Like::Kubeadm => "kubeadm",
        }
    }
}

/// The behaviours in which upstream Kubernetes differs from podcheck's quick control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Requests without credentials run as `system:anonymous` (group
    /// `system:unauthenticated`), so RBAC answers them 403 rather than 401:
    /// kube-apiserver's `--anonymous-auth` default.
    pub anonymous: bool,
    /// The builtin scheduler records its events through events.k8s.io/v1 (client-go's
    /// tools/events): read through core/v1 they have an empty `source`.
    pub scheduler_events_api: bool,
    /// The kubelet appends the host's search domains to `ClusterFirst` pods' search path.
    pub host_search_domains: bool,
    /// Deleting a pod stops its containers with its grace period (30 s by default; `sleep`
    /// as PID 1 waits it all out).
    pub graceful_termination: bool,
    /// Each node's first sandboxes and pulls fail, as while a CNI agent starts and a
    /// registry rate-limits; the kubelet retries.
    pub first_failures: FirstFailures,
    /// How long an RBAC change takes to reach authorization (and SelfSubjectAccessReview);
    /// `None` for at once.
    pub rbac_propagation: Option<Duration>,
    /// kube-system holds the `kubeadm-config` and `kubelet-config` ConfigMaps.
    pub kubeadm_config_maps: bool,
    /// The etcd podcheck started for the store shows as kubeadm's static pod
    /// `kube-system/etcd-NODE` on the first node, and exec into it runs the host's
    /// `etcdctl` (see `podcheck_node::static_pod`). Nothing where the store is memory or an
    /// etcd podcheck did not start.
    pub etcd_static_pod: bool,
}

impl Upstream {
    /// None of the behaviours: podcheck's quick control plane.
    pub fn podcheck() -> Self {
        Upstream {
            anonymous: false,
            scheduler_events_api: false,
            host_search_domains: false,
            graceful_termination: false,
            first_failures: FirstFailures::none(),
            rbac_propagation: None,
            kubeadm_config_maps: false,
            etcd_static_pod: false,
        }
    }

    /// All of them, as a kubeadm cluster shows them.
    pub fn kubeadm() -> Self {
        Upstream {
            anonymous: true,
            scheduler_events_api: true,
            host_search_domains: true,
            graceful_termination: true,
            first_failures: FirstFailures {
                sandboxes: 1,
                pulls: 1,
            },
            rbac_propagation: Some(RBAC_PROPAGATION),
            kubeadm_config_maps: true,
            etcd_static_pod: true,
        }
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream::podcheck()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profiles_differ_in_every_behaviour() {
        let (quick, kubeadm) = (Like::Podcheck.upstream(), Like::Kubeadm.upstream());
        assert_eq!(quick, Upstream::default());
        assert!(!quick.anonymous && kubeadm.anonymous);
        assert!(!quick.scheduler_events_api && kubeadm.scheduler_events_api);
        assert!(!quick.host_search_domains && kubeadm.host_search_domains);
        assert!(!quick.graceful_termination && kubeadm.graceful_termination);
        assert!(quick.first_failures.is_none());
        assert_eq!(
            kubeadm.first_failures,
            FirstFailures {
                sandboxes: 1,
                pulls: 1
            }
        );
        assert_eq!(quick.rbac_propagation, None);
        assert_eq!(kubeadm.rbac_propagation, Some(Duration::from_millis(500)));
        assert!(!quick.kubeadm_config_maps && kubeadm.kubeadm_config_maps);
        assert!(!quick.etcd_static_pod && kubeadm.etcd_static_pod);
    }
}
