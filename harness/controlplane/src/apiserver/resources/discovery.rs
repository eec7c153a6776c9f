//! The discovery documents: `/api`, `/apis`, `/apis/GROUP` and each group version's
//! resource list, from [`RESOURCES`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};

use super::RESOURCES;

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
    fn discovery_lists_subresources_and_short_names() {
        let list = resource_list("", "v1");
        let pods = list.resources.iter().find(|r| r.name == "pods").unwrap();
        assert_eq!(pods.short_names.as_deref(), Some(&["po".to_string()][..]));
        assert!(list.resources.iter().any(|r| r.name == "pods/binding"));
        assert_eq!(group_list().groups[0].name, "coordination.k8s.io");
    }
}
