//! RBAC's Roles, ClusterRoles and their bindings: names that need only be path segments
//! (`system:node` is a name), and writes that make the authorizer read its policy again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

use super::validation::validate_path_segment_name;
use super::{Resource, Strategy};
use crate::apiserver::rbac::GROUP;

pub(super) static ROLES: Resource = Resource::new(GROUP, "roles", "role", "Role", true, &Rbac);
pub(super) static ROLE_BINDINGS: Resource = Resource::new(
    GROUP,
    "rolebindings",
    "rolebinding",
    "RoleBinding",
    true,
    &Rbac,
);
pub(super) static CLUSTER_ROLES: Resource = Resource::new(
    GROUP,
    "clusterroles",
    "clusterrole",
    "ClusterRole",
    false,
    &Rbac,
);
pub(super) static CLUSTER_ROLE_BINDINGS: Resource = Resource::new(
    GROUP,
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    false,
    &Rbac,
);

struct Rbac;

impl Strategy for Rbac {
    fn validate(&self, obj: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        validate_path_segment_name(obj, &mut causes);
        causes
    }

    fn changes_authorization(&self) -> bool {
        true
    }
}
