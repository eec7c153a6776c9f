//! The kinds this apiserver serves. Each has a module of its own (small families share one)
//! holding its discovery entry and its [`Strategy`]: what kube-apiserver's
//! `rest.RESTCreateStrategy`, `RESTUpdateStrategy`, `RESTDeleteStrategy`, table convertor and
//! field set say for it. The registry, the HTTP layer and the tables ask the strategy and
//! never compare names, so adding a kind is one module and one line in [`RESOURCES`].

mod bindings;
mod discovery;
mod endpointslices;
mod events;
mod namespaces;
mod nodes;
mod plain;
mod pods;
mod rbac;
mod reviews;
mod services;
mod validation;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::object::str_at;
use super::registry::{DeleteOptions, Registry};
use super::status::ApiError;
use super::strategic_merge::MergeSchema;
use super::table::{self, Column};

pub use discovery::{core_versions, group, group_exists, group_list, resource_list};

/// Every resource served, in discovery order.
pub static RESOURCES: &[&Resource] = &[
    &namespaces::RESOURCE,
    &pods::RESOURCE,
    &bindings::RESOURCE,
    &nodes::RESOURCE,
    &events::RESOURCE,
    &services::RESOURCE,
    &plain::ENDPOINTS,
    &plain::SERVICE_ACCOUNTS,
    &plain::CONFIG_MAPS,
    &plain::LEASES,
    &rbac::ROLES,
    &rbac::ROLE_BINDINGS,
    &rbac::CLUSTER_ROLES,
    &rbac::CLUSTER_ROLE_BINDINGS,
    &reviews::SELF_SUBJECT_ACCESS_REVIEWS,
    &reviews::SUBJECT_ACCESS_REVIEWS,
    &endpointslices::RESOURCE,
    &events::EVENTS_V1,
];

/// What one kind does differently from the common case. Every method's default is the
/// common case, so a kind implements only what sets it apart.
#[async_trait]
pub(crate) trait Strategy: Sync {
    /// How requests for the kind are answered.
    fn served_as(&self) -> Served {
        Served::Stored
    }

    /// Whether objects carry `metadata.generation` (Events have none).
    fn has_generation(&self) -> bool {
        true
    }

    /// The object as the store keeps it: a kind served in several versions stores one
    /// (events.k8s.io/v1 Events are stored as core/v1 ones).
    fn stored_form(&self, obj: Value) -> Value {
        obj
    }

    /// The stored object as this resource serves it.
    fn served_form(&self, obj: Value) -> Value {
        obj
    }

    /// Defaulting on create, once the server has set the metadata (kube-apiserver's
    /// `PrepareForCreate` and defaulting admission plugins).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Validation on create: the causes of a 422, none when the object is valid. Most
    /// kinds check only the name.
    fn validate(&self, obj: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        validation::validate_name(obj, &mut causes);
        causes
    }

    /// Stores an admitted object. Most kinds write it at its key; some allocate from a
    /// pool or make companion objects first, as kube-apiserver's REST storage does.
    async fn store(
        &self,
        registry: &Registry,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        registry.store_new(r, ns, name, &obj).await
    }

    /// Defaulting on an update of the object (not of its status).
    fn prepare_for_update(&self, _new: &mut Value) {}

    /// Validation of an update of the object (not of its status): the causes of a 422.
    fn validate_update(&self, _old: &Value, _new: &Value) -> Vec<StatusCause> {
        Vec::new()
    }

    /// Which list fields a strategic merge patch merges by key.
    fn merge_schema(&self) -> &'static MergeSchema {
        MergeSchema::generic()
    }

    /// The grace period a delete of `obj` gets; None (or 0) removes it at once, unless
    /// finalizers wait.
    fn grace_period(&self, _obj: &Value, _opts: &DeleteOptions) -> Option<i64> {
        None
    }

    /// Whether a delete only marks the object `Terminating` and a finalizer then empties
    /// and removes it (namespaces).
    fn terminates(&self) -> bool {
        false
    }

    /// Whether a deleting object that has lost its last finalizer stays until its own
    /// controller removes it (the kubelet for pods, the namespace finalizer).
    fn removed_by_controller(&self) -> bool {
        false
    }

    /// Whether writes change who may do what, so the authorizer reads its policy again.
    fn changes_authorization(&self) -> bool {
        false
    }

    /// A field-selector field besides `metadata.name` and `metadata.namespace`: its value
    /// in `obj`, or `Err` if the kind has no such field.
    fn field(&self, _obj: &Value, _field: &str) -> Result<Option<String>, ()> {
        Err(())
    }

    /// The columns of `kubectl get` (priority 1 for `-o wide`).
    fn columns(&self) -> Vec<Column> {
        vec![table::NAME, table::AGE]
    }

    /// One object's row, as of `now`, in the order of [`Strategy::columns`].
    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(table::text(obj, "/metadata/name")),
            json!(table::age(obj, "/metadata/creationTimestamp", now)),
        ]
    }
}

/// How requests for a kind are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// Objects kept in the store, with every verb.
    Stored,
    /// `Binding`: create only; assigns a pod to a node and is not kept.
    Binding,
    /// An access review: create only; the authorizer's answer, not kept. `own` for
    /// SelfSubjectAccessReview, which asks about the requester.
    AccessReview { own: bool },
}

/// One served resource, with what discovery says of it and its strategy.
#[derive(Clone)]
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
    /// What the kind does differently from the common case.
    pub(crate) strategy: &'static dyn Strategy,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("plural", &self.plural)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
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

/// `NAME/status`, for kinds whose status is written apart from the object.
const STATUS: Subresource = Subresource {
    name: "status",
    kind: "",
    verbs: &["get", "patch", "update"],
};

impl Resource {
    /// A `v1` resource without short names, categories or subresources.
    const fn new(
        group: &'static str,
        plural: &'static str,
        singular: &'static str,
        kind: &'static str,
        namespaced: bool,
        strategy: &'static dyn Strategy,
    ) -> Resource {
        Resource {
            group,
            version: "v1",
            plural,
            singular,
            kind,
            namespaced,
            short_names: &[],
            categories: &[],
            subresources: &[],
            has_status_subresource: false,
            strategy,
        }
    }

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
        match self.strategy.served_as() {
            Served::Stored => OBJECT_VERBS,
            Served::Binding | Served::AccessReview { .. } => &["create"],
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// A stored object as this resource serves it, with its resourceVersion.
    pub fn decode(&self, kv: &crate::store::KeyValue) -> Value {
        self.strategy.served_form(super::object::decode(kv))
    }

    /// The bytes to store for an object of this resource.
    pub fn encode(&self, obj: &Value) -> bytes::Bytes {
        super::object::encode(&self.strategy.stored_form(obj.clone()))
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

    /// The value of a field-selector field of `obj`, or `Err` if this resource does not
    /// support it. Every kind has `metadata.name` and `metadata.namespace`.
    pub(crate) fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        match field {
            "metadata.name" => Ok(str_at(obj, "/metadata/name").map(str::to_string)),
            "metadata.namespace" => Ok(str_at(obj, "/metadata/namespace").map(str::to_string)),
            _ => self.strategy.field(obj, field),
        }
    }
}

/// Finds a served resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for a group and kind (used by `bindings` and event `involvedObject`s).
pub fn by_kind(group: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.kind == kind)
}

/// Sets `field` of an object unless it already has a value (defaulting's rule).
fn set_default(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map.get(field).is_none_or(Value::is_null)
    {
        map.insert(field.to_string(), value);
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
    fn pod_and_event_fields() {
        let (pods, events, nodes) = (&pods::RESOURCE, &events::RESOURCE, &nodes::RESOURCE);
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        assert_eq!(pods.field(&pod, "spec.nodeName"), Ok(Some("n1".into())));
        assert_eq!(pods.field(&pod, "status.phase"), Ok(None));
        assert_eq!(pods.field(&pod, "spec.bogus"), Err(()));
        let ev = json!({"involvedObject": {"name": "p", "uid": "u"}});
        assert_eq!(
            events.field(&ev, "involvedObject.uid"),
            Ok(Some("u".into()))
        );
        assert_eq!(nodes.field(&pod, "involvedObject.uid"), Err(()));
    }
}
