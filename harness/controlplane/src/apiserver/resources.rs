//! The resources this apiserver serves, and the discovery documents that describe them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};

/// One served resource, with what discovery says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group; "" is the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served as `NAME/SUB`, besides the resource itself.
    pub subresources: &'static [Subresource],
    /// Whether create/update on the main resource may carry a status (no status subresource).
    pub has_status_subresource: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

const OBJECT_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const STATUS: Subresource = Subresource {
    name: "status",
    kind: "",
    verbs: &["get", "patch", "update"],
};

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` in the core group, `leases.coordination.k8s.io` elsewhere: the name used in
    /// messages and in store keys.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if matches!(
            self.plural,
            "bindings" | "selfsubjectaccessreviews" | "subjectaccessreviews"
        ) {
            &["create"]
        } else {
            OBJECT_VERBS
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The store key of an object, or of a collection when `name` is None.
    pub fn key(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        // Kubernetes stores core resources under their plural and others under
        // group-qualified names only where plurals clash; leases live at /registry/leases.
        let mut key = format!("/registry/{}/", self.plural);
        if self.namespaced
            && let Some(ns) = namespace
        {
            key.push_str(ns);
            key.push('/');
        }
        if let Some(name) = name {
            key.push_str(name);
        }
        key
    }
}

macro_rules! resource {
    ($group:expr, $plural:expr, $singular:expr, $kind:expr, namespaced: $ns:expr,
     short: [$($short:expr),*], categories: [$($cat:expr),*], subresources: [$($sub:expr),*]) => {
        Resource {
            group: $group,
            version: "v1",
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            subresources: &[$($sub),*],
            has_status_subresource: false,
        }
    };
}

/// Every resource served, in discovery order.
pub static RESOURCES: &[Resource] = &[
    Resource {
        has_status_subresource: true,
        ..resource!("", "namespaces", "namespace", "Namespace", namespaced: false,
            short: ["ns"], categories: [], subresources: [STATUS])
    },
    Resource {
        has_status_subresource: true,
        ..resource!("", "pods", "pod", "Pod", namespaced: true,
        short: ["po"], categories: ["all"], subresources: [
            STATUS,
            Subresource { name: "binding", kind: "Binding", verbs: &["create"] },
            Subresource { name: "exec", kind: "PodExecOptions", verbs: &["create", "get"] },
            Subresource { name: "log", kind: "Pod", verbs: &["get"] }
        ])
    },
    resource!("", "bindings", "binding", "Binding", namespaced: true,
        short: [], categories: [], subresources: []),
    Resource {
        has_status_subresource: true,
        ..resource!("", "nodes", "node", "Node", namespaced: false,
            short: ["no"], categories: [], subresources: [STATUS])
    },
    resource!("", "events", "event", "Event", namespaced: true,
        short: ["ev"], categories: [], subresources: []),
    Resource {
        has_status_subresource: true,
        ..resource!("", "services", "service", "Service", namespaced: true,
            short: ["svc"], categories: ["all"], subresources: [STATUS])
    },
    resource!("", "endpoints", "endpoints", "Endpoints", namespaced: true,
        short: ["ep"], categories: [], subresources: []),
    resource!("", "serviceaccounts", "serviceaccount", "ServiceAccount", namespaced: true,
    short: ["sa"], categories: [], subresources: [
        Subresource { name: "token", kind: "TokenRequest", verbs: &["create"] }
    ]),
    resource!("", "configmaps", "configmap", "ConfigMap", namespaced: true,
        short: ["cm"], categories: [], subresources: []),
    resource!("coordination.k8s.io", "leases", "lease", "Lease", namespaced: true,
        short: [], categories: [], subresources: []),
    resource!("rbac.authorization.k8s.io", "roles", "role", "Role", namespaced: true,
        short: [], categories: [], subresources: []),
    resource!("rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding", namespaced: true,
        short: [], categories: [], subresources: []),
    resource!("rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole", namespaced: false,
        short: [], categories: [], subresources: []),
    resource!("rbac.authorization.k8s.io", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", namespaced: false,
        short: [], categories: [], subresources: []),
    resource!("authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", namespaced: false,
        short: [], categories: [], subresources: []),
    resource!("authorization.k8s.io", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", namespaced: false,
        short: [], categories: [], subresources: []),
    // What cluster DNS reads for headless Services (stored, as kube-apiserver does, under
    // /registry/endpointslices).
    resource!("discovery.k8s.io", "endpointslices", "endpointslice", "EndpointSlice", namespaced: true,
        short: [], categories: [], subresources: []),
];

/// Finds a served resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for a group and kind (used by `bindings` and event `involvedObject`s).
pub fn by_kind(group: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// The non-core groups, in discovery order.
fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}

pub fn group_exists(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
}

/// `GET /api`.
pub fn core_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".into(),
            server_address: server_address.into(),
        }],
    }
}

fn group_doc(group: &str) -> APIGroup {
    let gv = GroupVersionForDiscovery {
        group_version: format!("{group}/v1"),
        version: "v1".into(),
    };
    APIGroup {
        name: group.into(),
        preferred_version: Some(gv.clone()),
        versions: vec![gv],
        server_address_by_client_cidrs: None,
    }
}

/// `GET /apis`.
pub fn group_list() -> APIGroupList {
    APIGroupList {
        groups: groups().into_iter().map(group_doc).collect(),
    }
}

/// `GET /apis/GROUP`.
pub fn group(group: &str) -> Option<APIGroup> {
    groups().contains(&group).then(|| group_doc(group))
}

/// `GET /api/v1` or `GET /apis/GROUP/VERSION`.
pub fn resource_list(group: &str, version: &str) -> APIResourceList {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(APIResource {
            name: r.plural.into(),
            singular_name: r.singular.into(),
            namespaced: r.namespaced,
            kind: r.kind.into(),
            verbs: r.verbs().iter().map(|v| v.to_string()).collect(),
            short_names: (!r.short_names.is_empty())
                .then(|| r.short_names.iter().map(|s| s.to_string()).collect()),
            categories: (!r.categories.is_empty())
                .then(|| r.categories.iter().map(|s| s.to_string()).collect()),
            group: None,
            version: None,
            storage_version_hash: None,
        });
        for sub in r.subresources {
            resources.push(APIResource {
                name: format!("{}/{}", r.plural, sub.name),
                singular_name: String::new(),
                namespaced: r.namespaced,
                kind: if sub.kind.is_empty() {
                    r.kind
                } else {
                    sub.kind
                }
                .into(),
                verbs: sub.verbs.iter().map(|v| v.to_string()).collect(),
                short_names: None,
                categories: None,
                group: None,
                version: None,
                storage_version_hash: None,
            });
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    APIResourceList {
        group_version,
        resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_registry_layout() {
        let pods = lookup("", "v1", "pods").unwrap();
        assert_eq!(pods.key(Some("ns"), Some("p")), "/registry/pods/ns/p");
        assert_eq!(pods.key(Some("ns"), None), "/registry/pods/ns/");
        assert_eq!(pods.key(None, None), "/registry/pods/");
        let nodes = lookup("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(Some("ignored"), Some("n1")), "/registry/nodes/n1");
    }

    #[test]
    fn discovery_lists_subresources_and_short_names() {
        let list = resource_list("", "v1");
        let pods = list.resources.iter().find(|r| r.name == "pods").unwrap();
        assert_eq!(pods.short_names.as_deref(), Some(&["po".to_string()][..]));
        assert!(list.resources.iter().any(|r| r.name == "pods/binding"));
        assert_eq!(group_list().groups[0].name, "coordination.k8s.io");
    }
}
