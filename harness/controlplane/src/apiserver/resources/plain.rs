//! Kinds with nothing of their own: every rule they follow is the common case.

use super::{Resource, Strategy, Subresource};

pub(super) static ENDPOINTS: Resource = Resource {
    short_names: &["ep"],
    ..Resource::new("", "endpoints", "endpoints", "Endpoints", true, &Plain)
};

/// `serviceaccounts/NAME/token` is the HTTP layer's TokenRequest.
pub(super) static SERVICE_ACCOUNTS: Resource = Resource {
    short_names: &["sa"],
    subresources: &[Subresource {
        name: "token",
        kind: "TokenRequest",
        verbs: &["create"],
    }],
    ..Resource::new(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &Plain,
    )
};

pub(super) static CONFIG_MAPS: Resource = Resource {
    short_names: &["cm"],
    ..Resource::new("", "configmaps", "configmap", "ConfigMap", true, &Plain)
};

pub(super) static LEASES: Resource = Resource::new(
    "coordination.k8s.io",
    "leases",
    "lease",
    "Lease",
    true,
    &Plain,
);

struct Plain;

impl Strategy for Plain {}
