//! Reading and writing the metadata of objects held as JSON.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::store::{KeyValue, Revision};

/// `metadata`, created if absent.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/name").filter(|s| !s.is_empty())
}

pub fn namespace(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/namespace").filter(|s| !s.is_empty())
}

pub fn resource_version(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/resourceVersion").filter(|s| !s.is_empty())
}

pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes a stored object and stamps the store's revision on it as `resourceVersion`,
/// which is never stored (as in kube-apiserver).
pub fn decode(kv: &KeyValue) -> Value {
    let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or_else(|_| json!({}));
    set_resource_version(&mut obj, kv.mod_revision);
    obj
}

pub fn set_resource_version(obj: &mut Value, rev: Revision) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

/// The bytes to store: the object without its `resourceVersion`.
pub fn encode(obj: &Value) -> bytes::Bytes {
    let mut obj = obj.clone();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    bytes::Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
}

/// Kubernetes' RFC 3339 timestamps (`metav1.Time`), to the second.
pub fn timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn now() -> String {
    timestamp(Timestamp::now())
}

pub fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// A random suffix for `generateName`, from Kubernetes' alphabet (no vowels, no lookalikes).
pub fn name_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_version_is_stamped_not_stored() {
        let obj = json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let bytes = encode(&obj);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let kv = KeyValue {
            key: "/k".into(),
            value: bytes,
            create_revision: 3,
            mod_revision: 9,
        };
        assert_eq!(resource_version(&decode(&kv)), Some("9"));
    }

    #[test]
    fn name_suffixes_have_five_characters() {
        assert_eq!(name_suffix().len(), 5);
    }
}
