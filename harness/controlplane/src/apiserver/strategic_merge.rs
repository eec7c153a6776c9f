//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`)
//! over [`serde_json::Value`].
//!
//! Follows `k8s.io/apimachinery/pkg/util/strategicpatch` as the apiserver runs
//! it (`MergeParallelList` and `IgnoreUnmatchedNulls` on): maps merge
//! recursively, `null` deletes, lists merge or are replaced according to the
//! object's patch metadata ([`MergeSchema`]), and the `$patch`, `$retainKeys`,
//! `$setElementOrder/…` and `$deleteFromPrimitiveList/…` directives are
//! honoured. No directive ever reaches the result.
//!
//! Deliberate differences from apimachinery, all where it leaks directives or
//! depends on Go's random map order:
//! - `$patch: delete` on a nested map removes the field instead of leaving
//!   `{}` (the whole object still becomes `{}`).
//! - Values added where the target had nothing are cleaned recursively, so a
//!   `$patch: replace` map inside them keeps its content and `$retainKeys` or
//!   `$setElementOrder/…` never leak.
//! - `$deleteFromPrimitiveList/…` runs after the field's own merge, whatever
//!   the key order of the patch.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

type Object = Map<String, Value>;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// How one list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// No patch strategy: the patch list replaces the target list.
    Replace,
    /// `patchStrategy: merge` on scalars: set union.
    MergePrimitive,
    /// `patchStrategy: merge` with `patchMergeKey`.
    MergeByKey(&'static str),
}

impl ListStrategy {
    fn merge_key(self) -> Option<&'static str> {
        match self {
            Self::MergeByKey(key) => Some(key),
            Self::Replace | Self::MergePrimitive => None,
        }
    }
}

/// Which list fields merge by which key, per object kind.
#[derive(Debug, Default)]
pub struct MergeSchema {
    /// Field path from the object root with list indices dropped
    /// (`spec.containers.env`) to its strategy; absent paths are replaced.
    lists: HashMap<String, ListStrategy>,
}

impl MergeSchema {
    /// Schema for core/v1 Pod (also used for pods/status patches: the patch is
    /// against the whole Pod object).
    pub fn pod() -> &'static MergeSchema {
        static POD: LazyLock<MergeSchema> = LazyLock::new(|| {
            let mut lists = object_meta_lists();
            for containers in ["containers", "initContainers", "ephemeralContainers"] {
                lists.insert(
                    format!("spec.{containers}"),
                    ListStrategy::MergeByKey("name"),
                );
                for (field, key) in [
                    ("ports", "containerPort"),
                    ("env", "name"),
                    ("volumeMounts", "mountPath"),
                    ("volumeDevices", "devicePath"),
                ] {
                    lists.insert(
                        format!("spec.{containers}.{field}"),
                        ListStrategy::MergeByKey(key),
                    );
                }
            }
            // resizePolicy and the *ContainerStatuses lists are `listType=atomic`
            // without a patch strategy upstream, so they are replaced: merging
            // container statuses by name would keep a stale `state.waiting`
            // next to a new `state.running`.
            for (path, key) in [
                ("spec.volumes", "name"),
                ("spec.imagePullSecrets", "name"),
                ("spec.hostAliases", "ip"),
                ("spec.schedulingGates", "name"),
                ("spec.resourceClaims", "name"),
                ("spec.topologySpreadConstraints", "topologyKey"),
                ("status.conditions", "type"),
                ("status.podIPs", "ip"),
                ("status.hostIPs", "ip"),
                ("status.resourceClaimStatuses", "name"),
            ] {
                lists.insert(path.to_owned(), ListStrategy::MergeByKey(key));
            }
            MergeSchema { lists }
        });
        &POD
    }

    /// Schema for core/v1 Node.
    pub fn node() -> &'static MergeSchema {
        static NODE: LazyLock<MergeSchema> = LazyLock::new(|| {
            let mut lists = object_meta_lists();
            lists.insert("spec.podCIDRs".to_owned(), ListStrategy::MergePrimitive);
            lists.insert(
                "status.conditions".to_owned(),
                ListStrategy::MergeByKey("type"),
            );
            lists.insert(
                "status.addresses".to_owned(),
                ListStrategy::MergeByKey("type"),
            );
            MergeSchema { lists }
        });
        &NODE
    }

    /// Schema with no merge keys: every list is replaced, maps merge
    /// recursively (what Kubernetes does for types it does not know).
    pub fn generic() -> &'static MergeSchema {
        static GENERIC: LazyLock<MergeSchema> = LazyLock::new(MergeSchema::default);
        &GENERIC
    }

    fn list_strategy(&self, path: &str) -> ListStrategy {
        self.lists
            .get(path)
            .copied()
            .unwrap_or(ListStrategy::Replace)
    }
}

/// Patch metadata of `ObjectMeta`, shared by every kind.
fn object_meta_lists() -> HashMap<String, ListStrategy> {
    HashMap::from([
        (
            "metadata.ownerReferences".to_owned(),
            ListStrategy::MergeByKey("uid"),
        ),
        (
            "metadata.finalizers".to_owned(),
            ListStrategy::MergePrimitive,
        ),
    ])
}

/// Why a strategic merge patch could not be applied. Paths are field paths
/// from the object root with list indices dropped; `<root>` is the object.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not a JSON object.
    #[error("patch is not a JSON object")]
    NotAnObject,
    /// A `$patch` directive holds something other than `replace` or `delete`.
    #[error("invalid $patch directive value {value} at `{path}`")]
    InvalidPatchDirective { path: String, value: String },
    /// A `$retainKeys`, `$setElementOrder/…` or `$deleteFromPrimitiveList/…`
    /// directive is malformed.
    #[error("invalid {directive} directive at `{path}`: {reason}")]
    InvalidDirective {
        directive: String,
        path: String,
        reason: &'static str,
    },
    /// A patch element of a list that merges by key lacks that key.
    #[error("element of list `{path}` lacks merge key `{key}`")]
    MissingMergeKey { path: String, key: &'static str },
    /// A patch element of a list of objects is not an object.
    #[error("element of list `{path}` is not an object")]
    ElementNotObject { path: String },
    /// A list merged as a set of scalars holds objects, which need a merge key.
    #[error("list `{path}` holds objects but has no merge key")]
    NoMergeKey { path: String },
    /// The patch list contradicts the order given by `$setElementOrder/…`.
    #[error("order of list `{path}` does not match its $setElementOrder list")]
    OrderMismatch { path: String },
}

/// Applies `patch` to `target` in place.
///
/// A target that is not an object is patched as if it were `{}`.
///
/// # Errors
///
/// Returns a [`PatchError`] if the patch is not an object or is malformed
/// (bad directive, keyed-list element without its merge key, …); `target` is
/// then left untouched.
pub fn apply(target: &mut Value, patch: &Value, schema: &MergeSchema) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject);
    };
    // Work on a copy so that a patch failing halfway changes nothing.
    let mut merged = match target {
        Value::Object(object) => object.clone(),
        _ => Object::new(),
    };
    let merger = Merger { schema };
    if merger.merge_map(&mut merged, patch, "")? == Outcome::Delete {
        merged.clear();
    }
    *target = Value::Object(merged);
    Ok(())
}

/// What becomes of a map after its patch is applied.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    /// The patch said `$patch: delete`.
    Delete,
}

struct Merger<'a> {
    schema: &'a MergeSchema,
}

impl Merger<'_> {
    /// apimachinery's `mergeMap`: directives first, then each field.
    fn merge_map(
        &self,
        target: &mut Object,
        patch: &Object,
        path: &str,
    ) -> Result<Outcome, PatchError> {
        if let Some(directive) = patch.get(PATCH) {
            return match directive.as_str() {
                Some("replace") => {
                    let rest: Object = patch
                        .iter()
                        .filter(|(key, _)| *key != PATCH)
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .collect();
                    // Merging into an empty map strips nested directives and nulls.
                    let mut replacement = Object::new();
                    self.merge_map(&mut replacement, &rest, path)?;
                    *target = replacement;
                    Ok(Outcome::Keep)
                }
                Some("delete") => Ok(Outcome::Delete),
                _ => Err(invalid_patch_directive(path, directive)),
            };
        }

        // Like apimachinery, prune before merging: the patch may still add
        // fields it does not list (kubectl always lists them anyway).
        if let Some(keys) = patch.get(RETAIN_KEYS) {
            let keys = string_list(keys).ok_or_else(|| PatchError::InvalidDirective {
                directive: RETAIN_KEYS.to_owned(),
                path: display_path(path),
                reason: "expected a list of strings",
            })?;
            target.retain(|key, _| keys.contains(&key.as_str()));
        }

        let mut ordered_fields = Vec::new();
        for (key, order) in patch {
            if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
                self.merge_ordered_list(target, patch, field, order, path)?;
                ordered_fields.push(field);
            }
        }

        for (key, value) in patch {
            // Directives were handled above or below; unknown ones are ignored.
            if key.starts_with('$') || ordered_fields.contains(&key.as_str()) {
                continue;
            }
            if value.is_null() {
                target.remove(key);
                continue;
            }
            let field_path = child_path(path, key);
            match (target.get_mut(key), value) {
                (Some(Value::Object(current)), Value::Object(patch)) => {
                    if self.merge_map(current, patch, &field_path)? == Outcome::Delete {
                        target.remove(key);
                    }
                }
                (Some(Value::Array(current)), Value::Array(patch)) => {
                    self.merge_list(current, patch, &field_path, None)?;
                }
                // New field, scalar, or a change of type: take the patch value.
                _ => match self.clean(value, &field_path)? {
                    Some(value) => {
                        target.insert(key.clone(), value);
                    }
                    None => {
                        target.remove(key);
                    }
                },
            }
        }

        for (key, values) in patch {
            let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
                continue;
            };
            let Value::Array(values) = values else {
                return Err(PatchError::InvalidDirective {
                    directive: key.clone(),
                    path: display_path(path),
                    reason: "expected a list",
                });
            };
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|item| !values.contains(item));
            }
        }
        Ok(Outcome::Keep)
    }

    /// apimachinery's `mergePatchIntoOriginal` for one `$setElementOrder/field`:
    /// merges the field's list, then orders it as the directive says.
    fn merge_ordered_list(
        &self,
        target: &mut Object,
        patch: &Object,
        field: &str,
        order: &Value,
        path: &str,
    ) -> Result<(), PatchError> {
        let invalid = |reason| PatchError::InvalidDirective {
            directive: format!("{SET_ELEMENT_ORDER}{field}"),
            path: display_path(path),
            reason,
        };
        let Value::Array(order) = order else {
            return Err(invalid("expected a list"));
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.as_slice()),
            Some(_) => return Err(invalid("the patched field is not a list")),
        };
        let list_path = child_path(path, field);
        let strategy = self.schema.list_strategy(&list_path);
        let key = strategy.merge_key();
        if let Some(patch_list) = patch_list {
            validate_order(patch_list, order, key, &list_path)?;
        }

        match (target.get_mut(field), patch_list) {
            (Some(Value::Array(current)), Some(patch_list)) => {
                self.merge_list(current, patch_list, &list_path, Some(order))?;
            }
            (Some(Value::Array(current)), None) => {
                if strategy != ListStrategy::Replace {
                    let original = identities(current, key);
                    let reordered = reorder(
                        std::mem::take(current),
                        &identities(order, key),
                        &original,
                        key,
                    );
                    *current = reordered;
                }
            }
            (_, Some(patch_list)) => {
                let mut list = self.clean_list(patch_list, &list_path)?;
                if strategy != ListStrategy::Replace {
                    list = reorder(list, &identities(order, key), &[], key);
                }
                target.insert(field.to_owned(), Value::Array(list));
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// apimachinery's `mergeSliceHandler`: `order` is the `$setElementOrder`
    /// list if there is one; otherwise the patch list sets the order.
    fn merge_list(
        &self,
        target: &mut Vec<Value>,
        patch: &[Value],
        path: &str,
        order: Option<&[Value]>,
    ) -> Result<(), PatchError> {
        let strategy = self.schema.list_strategy(path);
        if strategy == ListStrategy::Replace || has_replace_marker(patch, path)? {
            *target = self.clean_list(patch, path)?;
            return Ok(());
        }

        // Lists of scalars merge as sets even where a merge key is declared,
        // as apimachinery decides by element type.
        let holds_objects = target.iter().chain(patch).any(Value::is_object);
        let key = match strategy.merge_key() {
            Some(key) if holds_objects => Some(key),
            _ if holds_objects => {
                return Err(PatchError::NoMergeKey {
                    path: display_path(path),
                });
            }
            _ => None,
        };
        let original = identities(target, key);
        match key {
            Some(key) => self.merge_keyed(target, patch, key, path)?,
            None => {
                let mut union = Vec::with_capacity(target.len() + patch.len());
                for item in target.drain(..).chain(patch.iter().cloned()) {
                    if !union.contains(&item) {
                        union.push(item);
                    }
                }
                *target = union;
            }
        }
        let order = identities(order.unwrap_or(patch), key);
        *target = reorder(std::mem::take(target), &order, &original, key);
        Ok(())
    }

    /// apimachinery's `mergeSliceWithSpecialElements` followed by
    /// `mergeSliceWithoutSpecialElements`: deletions first, then merges.
    fn merge_keyed(
        &self,
        target: &mut Vec<Value>,
        patch: &[Value],
        key: &'static str,
        path: &str,
    ) -> Result<(), PatchError> {
        let missing_key = || PatchError::MissingMergeKey {
            path: display_path(path),
            key,
        };
        let mut merges = Vec::with_capacity(patch.len());
        for element in patch {
            let Value::Object(fields) = element else {
                return Err(PatchError::ElementNotObject {
                    path: display_path(path),
                });
            };
            match fields.get(PATCH) {
                None => merges.push((fields, fields.get(key).ok_or_else(missing_key)?)),
                Some(Value::String(directive)) if directive == "delete" => {
                    let id = fields.get(key).ok_or_else(missing_key)?;
                    target.retain(|item| item.get(key) != Some(id));
                }
                // The list-wide replace marker was dealt with by the caller.
                Some(Value::String(directive)) if directive == "replace" => {}
                Some(other) => return Err(invalid_patch_directive(path, other)),
            }
        }
        for (fields, id) in merges {
            match target.iter_mut().find(|item| item.get(key) == Some(id)) {
                Some(Value::Object(current)) => {
                    self.merge_map(current, fields, path)?;
                }
                _ => {
                    let mut added = Object::new();
                    self.merge_map(&mut added, fields, path)?;
                    target.push(Value::Object(added));
                }
            }
        }
        Ok(())
    }

    /// The value to store for a patch value that has nothing to merge into:
    /// the value with directives applied and nulls dropped, or `None` if it
    /// deletes itself.
    fn clean(&self, value: &Value, path: &str) -> Result<Option<Value>, PatchError> {
        Ok(match value {
            Value::Object(patch) => {
                let mut object = Object::new();
                match self.merge_map(&mut object, patch, path)? {
                    Outcome::Keep => Some(Value::Object(object)),
                    Outcome::Delete => None,
                }
            }
            Value::Array(patch) => Some(Value::Array(self.clean_list(patch, path)?)),
            scalar => Some(scalar.clone()),
        })
    }

    /// A patch list taken as it is, like apimachinery's `removeDirectives`:
    /// `$patch` elements are dropped, the others cleaned.
    fn clean_list(&self, patch: &[Value], path: &str) -> Result<Vec<Value>, PatchError> {
        let mut list = Vec::with_capacity(patch.len());
        for element in patch {
            if let Some(directive) = element.get(PATCH) {
                if !matches!(directive.as_str(), Some("replace" | "delete")) {
                    return Err(invalid_patch_directive(path, directive));
                }
                continue;
            }
            list.extend(self.clean(element, path)?);
        }
        Ok(list)
    }
}

/// Whether a patch list carries `{"$patch": "replace"}`, which makes it replace
/// the target list.
fn has_replace_marker(patch: &[Value], path: &str) -> Result<bool, PatchError> {
    let mut replace = false;
    for directive in patch.iter().filter_map(|element| element.get(PATCH)) {
        match directive.as_str() {
            Some("replace") => replace = true,
            Some("delete") => {}
            _ => return Err(invalid_patch_directive(path, directive)),
        }
    }
    Ok(replace)
}

/// apimachinery's `validatePatchWithSetOrderList`: every element of the patch
/// list must appear in the `$setElementOrder` list, in the same relative order.
fn validate_order(
    patch: &[Value],
    order: &[Value],
    key: Option<&'static str>,
    path: &str,
) -> Result<(), PatchError> {
    let mut remaining = order.iter();
    for element in patch.iter().filter(|element| element.get(PATCH).is_none()) {
        let id = identity(element, key).ok_or_else(|| match key {
            Some(key) => PatchError::MissingMergeKey {
                path: display_path(path),
                key,
            },
            None => PatchError::OrderMismatch {
                path: display_path(path),
            },
        })?;
        // `any` consumes the order list up to the match, enforcing relative order.
        if !remaining.any(|named| identity(named, key) == Some(id)) {
            return Err(PatchError::OrderMismatch {
                path: display_path(path),
            });
        }
    }
    Ok(())
}

/// What identifies a list element: its merge key's value, or the whole value
/// in a list of scalars.
fn identity<'a>(element: &'a Value, key: Option<&str>) -> Option<&'a Value> {
    match key {
        Some(key) => element.get(key),
        None => Some(element),
    }
}

fn identities(list: &[Value], key: Option<&str>) -> Vec<Option<Value>> {
    list.iter()
        .map(|element| identity(element, key).cloned())
        .collect()
}

/// apimachinery's `normalizeElementOrder`: elements named in `order` come in
/// that order; the others keep their relative server order, each staying in
/// front of the first named element that followed it on the server. Elements
/// unknown to both go last.
fn reorder(
    merged: Vec<Value>,
    order: &[Option<Value>],
    original: &[Option<Value>],
    key: Option<&str>,
) -> Vec<Value> {
    let position = |ids: &[Option<Value>], element: &Value| {
        let id = identity(element, key)?;
        ids.iter().position(|other| other.as_ref() == Some(id))
    };
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|element| position(order, element).is_some());
    named.sort_by_key(|element| position(order, element));
    server_only.sort_by_key(|element| position(original, element).unwrap_or(usize::MAX));

    let mut result = Vec::with_capacity(named.len() + server_only.len());
    let mut server_only = server_only.into_iter().peekable();
    for element in named {
        if let Some(at) = position(original, &element) {
            while let Some(earlier) = server_only
                .next_if(|other| position(original, other).is_some_and(|other_at| other_at < at))
            {
                result.push(earlier);
            }
        }
        result.push(element);
    }
    result.extend(server_only);
    result
}

fn string_list(value: &Value) -> Option<Vec<&str>> {
    value.as_array()?.iter().map(Value::as_str).collect()
}

fn invalid_patch_directive(path: &str, value: &Value) -> PatchError {
    PatchError::InvalidPatchDirective {
        path: display_path(path),
        value: value.to_string(),
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "<root>".to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::{MergeSchema, PatchError, apply};

    fn patched(target: Value, patch: Value, schema: &MergeSchema) -> Value {
        let mut target = target;
        if let Err(err) = apply(&mut target, &patch, schema) {
            panic!("patch failed: {err}");
        }
        target
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "default",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "finalizers": ["a/one", "b/two"],
            },
            "spec": {
                "containers": [{
                    "name": "c",
                    "image": "busybox:1.35",
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "B", "value": "2"},
                    ],
                }],
                "restartPolicy": "Always",
            },
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                ],
            },
        })
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|element| element["name"].as_str())
            .collect()
    }

    #[test]
    fn kubectl_apply_changes_image_and_keeps_server_fields() {
        let patch = json!({
            "metadata": {"annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"
            }},
            "spec": {
                "$setElementOrder/containers": [{"name": "c"}],
                "containers": [{"image": "busybox:1.36", "name": "c"}],
            },
        });
        let result = patched(pod(), patch, MergeSchema::pod());
        let mut expected = pod();
        expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!("{\"new\":true}");
        expected["spec"]["containers"][0]["image"] = json!("busybox:1.36");
        assert_eq!(result, expected);
    }

    #[test]
    fn kubectl_apply_adds_a_container_in_order() {
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "d"}],
            "containers": [{"name": "d", "image": "nginx"}],
        }});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(names(&result["spec"]["containers"]), ["c", "d"]);
        assert_eq!(
            result["spec"]["containers"][1],
            json!({"name": "d", "image": "nginx"})
        );
        assert_eq!(result["spec"]["containers"][0]["image"], "busybox:1.35");
    }

    #[test]
    fn delete_directive_removes_a_container() {
        let mut target = pod();
        target["spec"]["containers"]
            .as_array_mut()
            .expect("containers is a list")
            .push(json!({"name": "d", "image": "nginx"}));
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "d"}],
            "containers": [{"$patch": "delete", "name": "c"}],
        }});
        let result = patched(target, patch, MergeSchema::pod());
        assert_eq!(
            result["spec"]["containers"],
            json!([{"name": "d", "image": "nginx"}])
        );
    }

    #[test]
    fn conditions_merge_by_type() {
        let patch = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": null},
            {"type": "ContainersReady", "status": "True"},
        ]}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["status"]["conditions"],
            json!([
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
            ])
        );
        assert_eq!(result["status"]["phase"], "Running");
    }

    #[test]
    fn env_merges_by_name_inside_a_container() {
        let patch = json!({"spec": {"containers": [{
            "name": "c",
            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
        }]}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["spec"]["containers"][0]["env"],
            json!([
                {"name": "A", "value": "1"},
                {"name": "B", "value": "20"},
                {"name": "C", "value": "3"},
            ])
        );
        assert_eq!(
            result["spec"]["containers"][0]["ports"],
            pod()["spec"]["containers"][0]["ports"]
        );
    }

    #[test]
    fn ports_merge_by_container_port() {
        let patch = json!({"spec": {"containers": [{
            "name": "c",
            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        }]}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 80, "protocol": "TCP", "name": "http"},
                {"containerPort": 443},
            ])
        );
    }

    #[test]
    fn null_deletes_a_label() {
        let patch = json!({"metadata": {"labels": {"tier": null, "new": "x", "absent": null}}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["metadata"]["labels"],
            json!({"app": "web", "new": "x"})
        );
    }

    #[test]
    fn retain_keys_prunes_unlisted_fields() {
        let target = json!({"spec": {"strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1},
        }}});
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"],
            "type": "Recreate",
        }}});
        let result = patched(target, patch, MergeSchema::generic());
        assert_eq!(result, json!({"spec": {"strategy": {"type": "Recreate"}}}));
    }

    #[test]
    fn set_element_order_reorders_existing_elements() {
        let target = json!({"spec": {"containers": [
            {"name": "a", "image": "1"},
            {"name": "b", "image": "2"},
            {"name": "sidecar", "image": "3"},
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        }});
        let result = patched(target, patch, MergeSchema::pod());
        assert_eq!(names(&result["spec"]["containers"]), ["b", "a", "sidecar"]);
        assert!(result["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn set_element_order_keeps_server_only_elements_where_the_server_had_them() {
        // apimachinery keeps an unnamed element in front of the named element
        // that followed it on the server.
        let target = json!({"spec": {"containers": [
            {"name": "injected"},
            {"name": "a"},
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}],
        }});
        let result = patched(target, patch, MergeSchema::pod());
        assert_eq!(names(&result["spec"]["containers"]), ["injected", "a", "b"]);
    }

    #[test]
    fn new_elements_without_set_element_order_go_first_like_kube() {
        // apimachinery's mergeSortedSlice puts a patch element the server does
        // not know before the server-only ones (the kubectl patch docs show an
        // added container listed first); kubectl apply avoids this by sending
        // `$setElementOrder`.
        let patch = json!({"spec": {"containers": [{"name": "d", "image": "redis"}]}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(names(&result["spec"]["containers"]), ["d", "c"]);
    }

    #[test]
    fn patch_list_order_wins_over_server_order() {
        let target = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"volumes": [{"name": "b", "emptyDir": {}}, {"name": "a"}]}});
        let result = patched(target, patch, MergeSchema::pod());
        assert_eq!(
            result["spec"]["volumes"],
            json!([{"name": "b", "emptyDir": {}}, {"name": "a"}])
        );
    }

    #[test]
    fn set_element_order_on_a_new_list() {
        let patch = json!({"spec": {
            "$setElementOrder/volumes": [{"name": "y"}, {"name": "x"}],
            "volumes": [{"name": "y"}, {"name": "x"}],
        }});
        let result = patched(json!({}), patch, MergeSchema::pod());
        assert_eq!(
            result,
            json!({"spec": {"volumes": [{"name": "y"}, {"name": "x"}]}})
        );
    }

    #[test]
    fn set_element_order_on_a_primitive_list() {
        let patch = json!({"metadata": {
            "$setElementOrder/finalizers": ["c/three", "b/two", "a/one"],
            "finalizers": ["c/three"],
        }});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["metadata"]["finalizers"],
            json!(["c/three", "b/two", "a/one"])
        );
    }

    #[test]
    fn finalizers_union_and_delete_from_primitive_list() {
        let patch = json!({"metadata": {
            "finalizers": ["b/two", "c/three"],
            "$deleteFromPrimitiveList/finalizers": ["a/one", "not/there"],
        }});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["metadata"]["finalizers"],
            json!(["b/two", "c/three"])
        );
        assert!(
            result["metadata"]
                .get("$deleteFromPrimitiveList/finalizers")
                .is_none()
        );
    }

    #[test]
    fn replace_directive_on_a_list() {
        let patch = json!({"status": {"conditions": [
            {"$patch": "replace"},
            {"type": "Initialized", "status": "True"},
        ]}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(
            result["status"]["conditions"],
            json!([{"type": "Initialized", "status": "True"}])
        );
    }

    #[test]
    fn replace_directive_on_a_map() {
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert_eq!(result["metadata"]["labels"], json!({"only": "this"}));
    }

    #[test]
    fn delete_directive_on_a_map_removes_it() {
        let patch = json!({"metadata": {"labels": {"$patch": "delete"}}});
        let result = patched(pod(), patch, MergeSchema::pod());
        assert!(result["metadata"].get("labels").is_none());
        assert_eq!(result["metadata"]["name"], "p");

        let result = patched(pod(), json!({"$patch": "delete"}), MergeSchema::pod());
        assert_eq!(result, json!({}));
    }

    #[test]
    fn generic_schema_replaces_lists_and_merges_maps() {
        let target = json!({"spec": {
            "items": [{"name": "a", "v": 1}, {"name": "b"}],
            "tags": ["x", "y"],
            "nested": {"keep": true, "change": 1},
        }});
        let patch = json!({"spec": {
            "items": [{"name": "a", "v": 2}],
            "tags": ["z"],
            "nested": {"change": 2},
        }});
        let result = patched(target, patch, MergeSchema::generic());
        assert_eq!(
            result,
            json!({"spec": {
                "items": [{"name": "a", "v": 2}],
                "tags": ["z"],
                "nested": {"keep": true, "change": 2},
            }})
        );
    }

    #[test]
    fn container_statuses_are_replaced_like_upstream() {
        let target = json!({"status": {"containerStatuses": [
            {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}},
        ]}});
        let patch = json!({"status": {"containerStatuses": [
            {"name": "c", "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}},
        ]}});
        let result = patched(target, patch.clone(), MergeSchema::pod());
        assert_eq!(result, patch);
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let target = json!({"metadata": {"ownerReferences": [
            {"uid": "1", "kind": "ReplicaSet", "name": "rs"},
        ]}});
        let patch = json!({"metadata": {"ownerReferences": [
            {"uid": "1", "controller": true},
            {"uid": "2", "kind": "Job", "name": "j"},
        ]}});
        let result = patched(target, patch, MergeSchema::pod());
        assert_eq!(
            result["metadata"]["ownerReferences"],
            json!([
                {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": true},
                {"uid": "2", "kind": "Job", "name": "j"},
            ])
        );
    }

    #[test]
    fn node_schema() {
        let target = json!({
            "spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "False"}],
                "images": [{"names": ["a"]}],
            },
        });
        let patch = json!({
            "spec": {"podCIDRs": ["fd00::/64"], "taints": [{"key": "b", "effect": "NoExecute"}]},
            "status": {
                "addresses": [{"type": "Hostname", "address": "n1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "images": [{"names": ["b"]}],
            },
        });
        let result = patched(target, patch, MergeSchema::node());
        assert_eq!(
            result,
            json!({
                "spec": {
                    "podCIDRs": ["fd00::/64", "10.0.0.0/24"],
                    "taints": [{"key": "b", "effect": "NoExecute"}],
                },
                "status": {
                    "addresses": [
                        {"type": "Hostname", "address": "n1"},
                        {"type": "InternalIP", "address": "10.0.0.1"},
                    ],
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "images": [{"names": ["b"]}],
                },
            })
        );
    }

    #[rstest]
    #[case::scalar_replaced(json!({"a": 1}), json!({"a": 2}), json!({"a": 2}))]
    #[case::type_change(json!({"a": {"b": 1}}), json!({"a": [1]}), json!({"a": [1]}))]
    #[case::new_field_drops_nulls(json!({}), json!({"a": {"b": null, "c": 1}}), json!({"a": {"c": 1}}))]
    #[case::unknown_directive_ignored(json!({"a": 1}), json!({"$foo": 1, "a": 2}), json!({"a": 2}))]
    #[case::directives_stripped_from_new_values(
        json!({}),
        json!({"m": {"$retainKeys": ["x"], "x": {"$patch": "replace", "y": 1}, "l": [{"$patch": "replace"}, 2]}}),
        json!({"m": {"x": {"y": 1}, "l": [2]}})
    )]
    #[case::delete_of_absent_map_adds_nothing(json!({}), json!({"a": {"$patch": "delete"}}), json!({}))]
    #[case::non_object_target(json!(null), json!({"a": 1}), json!({"a": 1}))]
    #[case::delete_from_absent_list(json!({}), json!({"$deleteFromPrimitiveList/x": ["a"]}), json!({}))]
    fn generic_cases(#[case] target: Value, #[case] patch: Value, #[case] expected: Value) {
        assert_eq!(patched(target, patch, MergeSchema::generic()), expected);
    }

    #[rstest]
    #[case::not_an_object(json!(["x"]), "patch is not a JSON object")]
    #[case::missing_merge_key(
        json!({"spec": {"containers": [{"image": "x"}]}}),
        "element of list `spec.containers` lacks merge key `name`"
    )]
    #[case::delete_without_merge_key(
        json!({"spec": {"containers": [{"$patch": "delete"}]}}),
        "element of list `spec.containers` lacks merge key `name`"
    )]
    #[case::nested_missing_merge_key(
        json!({"spec": {"containers": [{"name": "c", "env": [{"value": "1"}]}]}}),
        "element of list `spec.containers.env` lacks merge key `name`"
    )]
    #[case::invalid_map_directive(
        json!({"metadata": {"$patch": "merge"}}),
        "invalid $patch directive value \"merge\" at `metadata`"
    )]
    #[case::invalid_list_directive(
        json!({"status": {"conditions": [{"$patch": "bogus", "type": "Ready"}]}}),
        "invalid $patch directive value \"bogus\" at `status.conditions`"
    )]
    #[case::element_not_object(
        json!({"spec": {"containers": [{"name": "c"}, "d"]}}),
        "element of list `spec.containers` is not an object"
    )]
    #[case::objects_in_primitive_list(
        json!({"metadata": {"finalizers": [{"a": 1}]}}),
        "list `metadata.finalizers` holds objects but has no merge key"
    )]
    #[case::bad_retain_keys(
        json!({"metadata": {"$retainKeys": "name"}}),
        "invalid $retainKeys directive at `metadata`: expected a list of strings"
    )]
    #[case::order_mismatch(
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}],
            "containers": [{"name": "d"}],
        }}),
        "order of list `spec.containers` does not match its $setElementOrder list"
    )]
    fn errors(#[case] patch: Value, #[case] message: &str) {
        let mut target = pod();
        let err = apply(&mut target, &patch, MergeSchema::pod()).expect_err("patch must fail");
        assert_eq!(err.to_string(), message);
        // A failed patch leaves the target untouched.
        assert_eq!(target, pod());
    }

    #[test]
    fn missing_merge_key_is_a_typed_error() {
        let mut target = pod();
        let patch = json!({"status": {"conditions": [{"status": "True"}]}});
        let err = apply(&mut target, &patch, MergeSchema::pod()).expect_err("patch must fail");
        assert!(matches!(
            err,
            PatchError::MissingMergeKey { key: "type", .. }
        ));
    }
}
