//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! which kubectl 1.32+ sends from its typed clients (`auth can-i`, `create namespace`,
//! `create role`, `create token`, …): the `k8s\0` magic, then a `runtime.Unknown` envelope whose `raw` is the
//! object's message. The messages below are the fields of `k8s.io/api` generated.proto that
//! those kinds carry, with their field numbers; the decoded object becomes the same JSON a
//! client would have sent, so everything after decoding is shared. Answers stay JSON, which
//! these clients accept.

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{Map, Value, json};

use super::status::ApiError;

/// The magic prefix of a protobuf-encoded Kubernetes object.
pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, tag = "1")]
    api_version: String,
    #[prost(string, tag = "2")]
    kind: String,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    generate_name: String,
    #[prost(string, tag = "3")]
    namespace: String,
    #[prost(string, tag = "6")]
    resource_version: String,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

/// Objects whose message is `metadata = 1` followed by fields decoded per kind.
#[derive(Clone, PartialEq, Message)]
struct WithMeta {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
}

#[derive(Clone, PartialEq, Message)]
struct SelfSubjectAccessReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<ReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct SubjectAccessReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<SubjectReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct ReviewSpec {
    #[prost(message, optional, tag = "1")]
    resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, Message)]
struct SubjectReviewSpec {
    #[prost(message, optional, tag = "1")]
    resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    non_resource_attributes: Option<NonResourceAttributes>,
    #[prost(string, tag = "3")]
    user: String,
    #[prost(string, repeated, tag = "4")]
    groups: Vec<String>,
    #[prost(string, tag = "6")]
    uid: String,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceAttributes {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "2")]
    verb: String,
    #[prost(string, tag = "3")]
    group: String,
    #[prost(string, tag = "4")]
    version: String,
    #[prost(string, tag = "5")]
    resource: String,
    #[prost(string, tag = "6")]
    subresource: String,
    #[prost(string, tag = "7")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    path: String,
    #[prost(string, tag = "2")]
    verb: String,
}

#[derive(Clone, PartialEq, Message)]
struct Role {
    #[prost(message, repeated, tag = "2")]
    rules: Vec<PolicyRule>,
}

#[derive(Clone, PartialEq, Message)]
struct PolicyRule {
    #[prost(string, repeated, tag = "1")]
    verbs: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    api_groups: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    resources: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    resource_names: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    non_resource_urls: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct RoleBinding {
    #[prost(message, repeated, tag = "2")]
    subjects: Vec<Subject>,
    #[prost(message, optional, tag = "3")]
    role_ref: Option<RoleRef>,
}

#[derive(Clone, PartialEq, Message)]
struct Subject {
    #[prost(string, tag = "1")]
    kind: String,
    #[prost(string, tag = "2")]
    api_group: String,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    namespace: String,
}

#[derive(Clone, PartialEq, Message)]
struct RoleRef {
    #[prost(string, tag = "1")]
    api_group: String,
    #[prost(string, tag = "2")]
    kind: String,
    #[prost(string, tag = "3")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct TokenRequest {
    #[prost(message, optional, tag = "2")]
    spec: Option<TokenRequestSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct TokenRequestSpec {
    #[prost(string, repeated, tag = "1")]
    audiences: Vec<String>,
    #[prost(int64, optional, tag = "4")]
    expiration_seconds: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(btree_map = "string, string", tag = "2")]
    data: BTreeMap<String, String>,
}

/// Drops empty strings, lists and maps, as JSON `omitempty` would.
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    Value::Null => false,
                    _ => true,
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        other => other,
    }
}

fn meta(m: Option<ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    json!({"name": m.name, "generateName": m.generate_name, "namespace": m.namespace,
           "resourceVersion": m.resource_version, "labels": m.labels,
           "annotations": m.annotations, "finalizers": m.finalizers})
}

fn attributes(r: Option<ResourceAttributes>, n: Option<NonResourceAttributes>) -> Value {
    json!({
        "resourceAttributes": r.map(|r| json!({"namespace": r.namespace, "verb": r.verb, "group": r.group,
            "version": r.version, "resource": r.resource, "subresource": r.subresource, "name": r.name})),
        "nonResourceAttributes": n.map(|n| json!({"path": n.path, "verb": n.verb})),
    })
}

fn rules(rules: Vec<PolicyRule>) -> Value {
    rules
        .into_iter()
        .map(|r| {
            json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources,
                   "resourceNames": r.resource_names, "nonResourceURLs": r.non_resource_urls})
        })
        .collect()
}

fn bad(kind: &str, e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!(
        "the protobuf body of a {kind} could not be decoded: {e}"
    ))
}

/// Decodes a protobuf request body into the JSON object it stands for. Kinds podcheck does
/// not decode are a 415 naming them, so the client can send JSON instead.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("a protobuf body starts with k8s\\0"))?;
    let unknown = Unknown::decode(envelope).map_err(|e| bad("runtime.Unknown", e))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let raw = unknown.raw.as_slice();
    let kind = type_meta.kind.as_str();
    let metadata = WithMeta::decode(raw).map_err(|e| bad(kind, e))?.metadata;
    let object = match kind {
        "SelfSubjectAccessReview" => {
            let spec = SelfSubjectAccessReview::decode(raw)
                .map_err(|e| bad(kind, e))?
                .spec
                .unwrap_or_default();
            json!({"spec": attributes(spec.resource_attributes, spec.non_resource_attributes)})
        }
        "SubjectAccessReview" => {
            let spec = SubjectAccessReview::decode(raw)
                .map_err(|e| bad(kind, e))?
                .spec
                .unwrap_or_default();
            let mut s = attributes(spec.resource_attributes, spec.non_resource_attributes);
            s["user"] = json!(spec.user);
            s["groups"] = json!(spec.groups);
            s["uid"] = json!(spec.uid);
            json!({"spec": s})
        }
        "Role" | "ClusterRole" => {
            let role = Role::decode(raw).map_err(|e| bad(kind, e))?;
            json!({"rules": rules(role.rules)})
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let b = RoleBinding::decode(raw).map_err(|e| bad(kind, e))?;
            let r = b.role_ref.unwrap_or_default();
            json!({
                "subjects": b.subjects.into_iter().map(|s| json!({"kind": s.kind, "apiGroup": s.api_group, "name": s.name, "namespace": s.namespace})).collect::<Vec<_>>(),
                "roleRef": {"apiGroup": r.api_group, "kind": r.kind, "name": r.name},
            })
        }
        "Namespace" => {
            let ns = Namespace::decode(raw).map_err(|e| bad(kind, e))?;
            json!({"spec": {"finalizers": ns.spec.unwrap_or_default().finalizers}})
        }
        "ConfigMap" => {
            let cm = ConfigMap::decode(raw).map_err(|e| bad(kind, e))?;
            json!({"data": cm.data})
        }
        "ServiceAccount" => json!({}),
        "TokenRequest" => {
            let spec = TokenRequest::decode(raw)
                .map_err(|e| bad(kind, e))?
                .spec
                .unwrap_or_default();
            json!({"spec": {"audiences": spec.audiences, "expirationSeconds": spec.expiration_seconds}})
        }
        other => {
            return Err(ApiError::unsupported_media_type(&format!(
                "application/vnd.kubernetes.protobuf for a {other} (podcheck decodes protobuf bodies of SelfSubjectAccessReview, SubjectAccessReview, Role, ClusterRole, RoleBinding, ClusterRoleBinding, Namespace, ConfigMap, ServiceAccount and TokenRequest; send JSON)"
            )));
        }
    };
    let mut object = prune(object);
    object["apiVersion"] = json!(type_meta.api_version);
    object["kind"] = json!(kind);
    object["metadata"] = prune(meta(metadata));
    if object["metadata"].as_object().is_some_and(|m| m.is_empty()) {
        object["metadata"] = json!({});
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut body = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: api_version.into(),
                kind: kind.into(),
            }),
            raw,
        }
        .encode(&mut body)
        .unwrap();
        body
    }

    #[test]
    fn a_self_subject_access_review_decodes_as_kubectl_sends_it() {
        #[derive(Clone, PartialEq, Message)]
        struct Review {
            #[prost(message, optional, tag = "1")]
            metadata: Option<ObjectMeta>,
            #[prost(message, optional, tag = "2")]
            spec: Option<ReviewSpec>,
        }
        let raw = Review {
            metadata: Some(ObjectMeta::default()),
            spec: Some(ReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: "default".into(),
                    verb: "create".into(),
                    resource: "pods".into(),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
        }
        .encode_to_vec();
        let body = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw);
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "metadata": {},
                   "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}}})
        );
    }

    #[test]
    fn a_role_binding_keeps_its_subjects_and_role() {
        #[derive(Clone, PartialEq, Message)]
        struct Binding {
            #[prost(message, optional, tag = "1")]
            metadata: Option<ObjectMeta>,
            #[prost(message, repeated, tag = "2")]
            subjects: Vec<Subject>,
            #[prost(message, optional, tag = "3")]
            role_ref: Option<RoleRef>,
        }
        let raw = Binding {
            metadata: Some(ObjectMeta {
                name: "alice-makes".into(),
                namespace: "dev".into(),
                ..Default::default()
            }),
            subjects: vec![Subject {
                kind: "User".into(),
                api_group: "rbac.authorization.k8s.io".into(),
                name: "alice".into(),
                namespace: String::new(),
            }],
            role_ref: Some(RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "pod-maker".into(),
            }),
        }
        .encode_to_vec();
        let v = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            raw,
        ))
        .unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "alice-makes", "namespace": "dev"})
        );
        assert_eq!(v["subjects"][0]["name"], "alice");
        assert_eq!(v["roleRef"]["name"], "pod-maker");
    }

    #[test]
    fn kinds_not_decoded_are_415_and_garbage_is_400() {
        let e = decode(&envelope("v1", "Pod", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(e.message.contains("Pod"), "{}", e.message);
        let e = decode(b"k8s\0\xff\xff\xff").unwrap_err();
        assert_eq!(e.code, 400);
    }
}
