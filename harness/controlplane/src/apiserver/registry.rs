//! The object registry: every verb on every resource, over the store. The HTTP layer
//! (`http.rs`) and the control plane's bootstrap both go through it, so the same admission,
//! strategies and errors apply to every write.

use std::sync::Arc;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::object::{self, meta_mut};
use super::resources::{self, Resource, Served};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::strategic_merge;
use crate::store::{KeyValue, Revision, Store, StoreError};

/// How many times a write retries after losing a compare-and-swap race it did not ask for.
const MAX_UPDATE_RETRIES: usize = 32;

/// Selection and paging of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// How a patch body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// `DeleteOptions`, from the body or the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
}

impl DeleteOptions {
    pub fn from_body(body: &Value) -> Self {
        DeleteOptions {
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            precondition_uid: object::str_at(body, "/preconditions/uid").map(str::to_string),
            precondition_resource_version: object::str_at(body, "/preconditions/resourceVersion")
                .map(str::to_string),
        }
    }
}

/// The registry behind the apiserver.
pub struct Registry {
    pub store: Arc<dyn Store>,
    /// The range Services' ClusterIPs come from (`--service-cluster-ip-range`).
    pub service_cidr: ipnet::Ipv4Net,
    /// Serialises allocation from a pool all objects of a kind share (Service ClusterIPs):
    /// it reads every object, then writes one.
    allocation: tokio::sync::Mutex<()>,
    /// Watches, fed from one store watch per resource.
    pub(crate) fan_out: super::fan_out::FanOut,
}

impl Registry {
    /// A registry whose Services take ClusterIPs from the default range.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Registry {
            store,
            service_cidr: crate::cluster::DEFAULT_SERVICE_CIDR,
            allocation: tokio::sync::Mutex::new(()),
            fan_out: Default::default(),
        }
    }

    /// This registry, allocating ClusterIPs from `cidr`.
    pub fn with_service_cidr(mut self, cidr: ipnet::Ipv4Net) -> Self {
        self.service_cidr = cidr;
        self
    }

    /// Held while a strategy allocates from a shared pool and stores what it allocated.
    pub(crate) async fn allocating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.allocation.lock().await
    }

    fn namespace_of<'a>(r: &Resource, ns: Option<&'a str>) -> Option<&'a str> {
        if r.namespaced { ns } else { None }
    }

    async fn get_kv(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<KeyValue, ApiError> {
        let key = r.key(Self::namespace_of(r, ns), Some(name));
        self.store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(r, name))
    }

    pub async fn get(&self, r: &Resource, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        Ok(r.decode(&self.get_kv(r, ns, name).await?))
    }

    /// Lists objects matching `opts`; returns the items and the list's resourceVersion and
    /// continue token.
    pub async fn list(
        &self,
        r: &Resource,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value, ApiError> {
        check_fields(r, &opts.fields)?;
        let prefix = r.key(Self::namespace_of(r, ns), None);
        let (at, start_after) = match &opts.continue_token {
            Some(token) => {
                let (rev, key) = decode_continue(token)?;
                (Some(rev), Some(key))
            }
            None => match (
                opts.resource_version.as_deref(),
                opts.resource_version_match.as_deref(),
            ) {
                (Some(rv), Some("Exact")) => (Some(parse_rv(rv)?), None),
                _ => (None, None),
            },
        };
        let listing = self.store.list(&prefix, at).await?;
        let mut items = Vec::new();
        let mut next = None;
        for kv in &listing.items {
            if start_after
                .as_ref()
                .is_some_and(|after| kv.key.as_str() <= after.as_str())
            {
                continue;
            }
            let obj = r.decode(kv);
            if !matches(r, &obj, opts) {
                continue;
            }
            if opts.limit.is_some_and(|l| l > 0 && items.len() == l) {
                next = Some(encode_continue(listing.revision, &last_key(&items, r)));
                break;
            }
            items.push(obj);
        }
        let mut metadata = json!({"resourceVersion": listing.revision.to_string()});
        if let Some(token) = next {
            metadata["continue"] = json!(token);
        }
        Ok(json!({
            "kind": r.list_kind(),
            "apiVersion": r.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// Creates an object after admission; `ns` is the request's namespace.
    pub async fn create(
        &self,
        r: &Resource,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        check_type(r, &obj)?;
        let ns = Self::namespace_of(r, ns);
        if r.namespaced {
            let ns = ns.ok_or_else(|| ApiError::bad_request("a namespace is required"))?;
            match object::namespace(&obj) {
                Some(body_ns) if body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
            self.check_namespace_open(ns).await?;
        }
        let meta = meta_mut(&mut obj);
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
        {
            let name = format!("{prefix}{}", object::name_suffix());
            meta.insert("name".into(), json!(name));
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now()));
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("managedFields");
        if r.strategy.has_generation() {
            meta.insert("generation".into(), json!(1));
        }
        match ns {
            Some(ns) => {
                meta.insert("namespace".into(), json!(ns));
            }
            None => {
                meta.remove("namespace");
            }
        }
        obj["kind"] = json!(r.kind);
        obj["apiVersion"] = json!(r.api_version());

        r.strategy.prepare_for_create(&mut obj);
        let causes = r.strategy.validate(&obj);
        let name = object::name(&obj).unwrap_or_default().to_string();
        if !causes.is_empty() {
            return Err(ApiError::invalid(r, &name, causes));
        }
        r.strategy.store(self, r, ns, &name, obj).await
    }

    /// Writes a new object at its key (what most kinds' strategies store with).
    pub(crate) async fn store_new(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
    ) -> Result<Value, ApiError> {
        let key = r.key(ns, Some(name));
        match self.store.create(&key, r.encode(obj)).await {
            Ok(kv) => Ok(r.decode(&kv)),
            Err(StoreError::AlreadyExists { .. }) => Err(ApiError::already_exists(r, name)),
            Err(e) => Err(e.into()),
        }
    }

    async fn check_namespace_open(&self, ns: &str) -> Result<(), ApiError> {
        let namespaces = resources::lookup("", "v1", "namespaces").expect("namespaces are served");
        let namespace = self.get(namespaces, None, ns).await?;
        if object::str_at(&namespace, "/status/phase") == Some("Terminating") {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// The guaranteed-update loop: read, transform, compare-and-swap; on a lost race, read
    /// again, unless the caller pinned a resourceVersion (then the race is a 409).
    pub async fn update_with(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        pinned: Option<Revision>,
        transform: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let key = r.key(Self::namespace_of(r, ns), Some(name));
        for _ in 0..MAX_UPDATE_RETRIES {
            let kv = self.get_kv(r, ns, name).await?;
            if pinned.is_some_and(|p| p != kv.mod_revision) {
                return Err(ApiError::stale(r, name));
            }
            let current = r.decode(&kv);
            let mut next = transform(&current)?;
            object::set_resource_version(&mut next, kv.mod_revision);
            if next == current {
                return Ok(current);
            }
            if finalized(r, &next) {
                return self.remove(r, &key, name, Some(kv.mod_revision)).await;
            }
            match self
                .store
                .update(&key, r.encode(&next), kv.mod_revision)
                .await
            {
                Ok(kv) => return Ok(r.decode(&kv)),
                Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                Err(StoreError::Conflict { .. }) => {
                    return Err(ApiError::stale(r, name));
                }
                Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(r, name)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(
            r,
            name,
            "too many concurrent writers; try again",
        ))
    }

    /// PUT: replaces the object (or its status, for `sub = Some("status")`).
    pub async fn update(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        body: Value,
    ) -> Result<Value, ApiError> {
        if object::name(&body).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let pinned = object::resource_version(&body).map(parse_rv).transpose()?;
        self.update_with(r, ns, name, pinned, |old| {
            prepare_update(r, sub, old, body.clone())
        })
        .await
    }

    /// PATCH, in any of the three patch types.
    pub async fn patch(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        kind: PatchType,
        patch: Value,
    ) -> Result<Value, ApiError> {
        self.update_with(r, ns, name, None, |old| {
            let mut doc = old.clone();
            apply_patch(r, kind, &mut doc, &patch)?;
            if let Some(rv) = object::resource_version(&doc)
                && Some(rv) != object::resource_version(old)
            {
                return Err(ApiError::stale(r, name));
            }
            prepare_update(r, sub, old, doc)
        })
        .await
    }

    /// DELETE. Pods bound to a node are deleted gracefully: they get a `deletionTimestamp`
    /// and their kubelet finishes the deletion once the containers are stopped. Objects
    /// with finalizers wait for them; namespaces are emptied by the namespace finalizer.
    pub async fn delete(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let kv = self.get_kv(r, ns, name).await?;
        let current = r.decode(&kv);
        if let Some(uid) = &opts.precondition_uid
            && object::str_at(&current, "/metadata/uid") != Some(uid.as_str())
        {
            return Err(ApiError::conflict(
                r,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    object::str_at(&current, "/metadata/uid").unwrap_or("")
                ),
            ));
        }
        let pinned = opts
            .precondition_resource_version
            .as_deref()
            .map(parse_rv)
            .transpose()?;
        if pinned.is_some_and(|p| p != kv.mod_revision) {
            return Err(ApiError::stale(r, name));
        }
        let grace = r.strategy.grace_period(&current, opts);
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let terminating = r.strategy.terminates();
        if grace.is_some_and(|g| g > 0) || has_finalizers || terminating {
            let grace = grace.unwrap_or(0);
            return self
                .update_with(r, ns, name, pinned, |old| {
                    let mut next = old.clone();
                    let meta = meta_mut(&mut next);
                    let deadline = Timestamp::now() + SignedDuration::from_secs(grace);
                    let shorter = meta
                        .get("deletionTimestamp")
                        .and_then(Value::as_str)
                        .and_then(object::parse_time)
                        .is_none_or(|t| deadline < t);
                    if shorter {
                        meta.insert(
                            "deletionTimestamp".into(),
                            json!(object::timestamp(deadline)),
                        );
                        meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                    }
                    if terminating {
                        next["status"]["phase"] = json!("Terminating");
                    }
                    Ok(next)
                })
                .await;
        }
        let key = r.key(Self::namespace_of(r, ns), Some(name));
        self.remove(r, &key, name, Some(kv.mod_revision)).await
    }

    async fn remove(
        &self,
        r: &Resource,
        key: &str,
        name: &str,
        expected: Option<Revision>,
    ) -> Result<Value, ApiError> {
        match self.store.delete(key, expected).await {
            Ok((prev, _)) => Ok(r.decode(&prev)),
            Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(r, name)),
            Err(StoreError::Conflict { .. }) => Err(ApiError::stale(r, name)),
            Err(e) => Err(e.into()),
        }
    }

    /// `pods/binding`: assigns a pending pod to a node, once.
    pub async fn bind(&self, ns: &str, pod: &str, binding: &Value) -> Result<(), ApiError> {
        let pods = resources::lookup("", "v1", "pods").expect("pods are served");
        let bindings = resources::lookup("", "v1", "bindings").expect("bindings are served");
        let node = object::str_at(binding, "/target/name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    bindings,
                    pod,
                    vec![super::status::cause(
                        "FieldValueRequired",
                        "target.name",
                        "Required value",
                    )],
                )
            })?
            .to_string();
        let conflict = |why: String| ApiError::conflict(bindings, pod, &why);
        self.update_with(pods, Some(ns), pod, None, |old| {
            if old
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|v| !v.is_null())
            {
                return Err(conflict(format!(
                    "pod {pod} is being deleted, cannot be assigned to a host"
                )));
            }
            if let Some(current) = object::str_at(old, "/spec/nodeName").filter(|n| !n.is_empty()) {
                return Err(conflict(format!(
                    "pod {pod} is already assigned to node \"{current}\""
                )));
            }
            let mut next = old.clone();
            next["spec"]["nodeName"] = json!(node);
            set_condition(
                &mut next,
                json!({
                    "type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": object::now(),
                }),
            );
            Ok(next)
        })
        .await
        .map(|_| ())
    }

    /// Deletes everything in a terminating namespace, then the namespace itself. Pods go
    /// gracefully; the call returns once the namespace is gone or `deadline` passes.
    pub async fn finalize_namespace(
        &self,
        ns: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), ApiError> {
        let namespaces = resources::lookup("", "v1", "namespaces").expect("namespaces are served");
        loop {
            let mut remaining = 0;
            // A kind served in two APIs (events) is stored once: empty it once.
            let mut emptied: Vec<String> = Vec::new();
            for r in resources::RESOURCES
                .iter()
                .filter(|r| r.namespaced && r.strategy.served_as() == Served::Stored)
            {
                let prefix = r.key(Some(ns), None);
                if emptied.contains(&prefix) {
                    continue;
                }
                let listing = self.store.list(&prefix, None).await?;
                emptied.push(prefix);
                for kv in &listing.items {
                    remaining += 1;
                    let obj = r.decode(kv);
                    let name = object::name(&obj).unwrap_or_default().to_string();
                    let already = obj
                        .pointer("/metadata/deletionTimestamp")
                        .is_some_and(|v| !v.is_null());
                    if !already {
                        match self
                            .delete(r, Some(ns), &name, &DeleteOptions::default())
                            .await
                        {
                            Ok(_)
                            | Err(ApiError {
                                code: 404 | 409, ..
                            }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            if remaining == 0 {
                let key = namespaces.key(None, Some(ns));
                return match self.store.delete(&key, None).await {
                    Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::timeout(format!(
                    "namespace {ns} still holds {remaining} objects"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Whether an object that waits on finalizers has lost its last one and can go.
fn finalized(r: &Resource, obj: &Value) -> bool {
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let finalizers_left = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    deleting && !finalizers_left && !r.strategy.removed_by_controller()
}

/// Replaces or appends a condition by type in `status.conditions`.
pub fn set_condition(obj: &mut Value, condition: Value) {
    let kind = condition.get("type").cloned();
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
    let conditions = obj["status"]
        .as_object_mut()
        .expect("status is an object")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c.get("type") == kind.as_ref()) {
            Some(existing) => *existing = condition,
            None => list.push(condition),
        }
    }
}

/// The update rules every kind shares (what a status write may change, what belongs to the
/// server), then the kind's own defaulting and validation.
fn prepare_update(
    r: &Resource,
    sub: Option<&str>,
    old: &Value,
    mut new: Value,
) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if sub == Some("status") {
        let mut next = old.clone();
        next["status"] = new.get("status").cloned().unwrap_or_else(|| json!({}));
        // Status writers may also touch labels and annotations, as kubelets do.
        for field in ["labels", "annotations"] {
            if let Some(v) = new.pointer(&format!("/metadata/{field}")) {
                meta_mut(&mut next).insert(field.into(), v.clone());
            }
        }
        return Ok(next);
    }
    check_type(r, &new)?;
    // Identity and lifecycle fields belong to the server.
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = meta_mut(&mut new);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    new["kind"] = json!(r.kind);
    new["apiVersion"] = json!(r.api_version());
    if r.has_status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
    r.strategy.prepare_for_update(&mut new);
    let causes = r.strategy.validate_update(old, &new);
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            r,
            object::name(old).unwrap_or(""),
            causes,
        ));
    }
    if new.get("spec") != old.get("spec")
        && let Some(g) = old.pointer("/metadata/generation").and_then(Value::as_i64)
    {
        meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    Ok(new)
}

fn apply_patch(
    r: &Resource,
    kind: PatchType,
    doc: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    match kind {
        PatchType::Merge => {
            json_patch::merge(doc, patch);
            Ok(())
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(doc, &ops).map_err(|e| {
                ApiError::invalid(
                    r,
                    object::name(doc).unwrap_or(""),
                    vec![super::status::cause(
                        "FieldValueInvalid",
                        "",
                        format!("the JSON patch could not be applied: {e}"),
                    )],
                )
            })
        }
        PatchType::Strategic => strategic_merge::apply(doc, patch, r.strategy.merge_schema())
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

fn check_type(r: &Resource, obj: &Value) -> Result<(), ApiError> {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    if kind.is_some_and(|k| k != r.kind) || api_version.is_some_and(|v| v != r.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            api_version.unwrap_or(""),
            r.api_version()
        )));
    }
    Ok(())
}

fn check_fields(r: &Resource, selector: &FieldSelector) -> Result<(), ApiError> {
    let probe = json!({});
    for req in selector.requirements() {
        if r.field(&probe, &req.field).is_err() {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                req.field
            )));
        }
    }
    Ok(())
}

/// Whether `obj` matches the label and field selectors of `opts`.
pub fn matches(r: &Resource, obj: &Value, opts: &ListOptions) -> bool {
    opts.labels.matches(&object::labels(obj))
        && opts.fields.matches(|f| r.field(obj, f).ok().flatten())
}

pub fn parse_rv(rv: &str) -> Result<Revision, ApiError> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv}")))
}

fn last_key(items: &[Value], r: &Resource) -> String {
    items
        .last()
        .map(|o| r.key(object::namespace(o), object::name(o)))
        .unwrap_or_default()
}

fn encode_continue(rev: Revision, key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"rv": rev, "start": key}).to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    use base64::Engine;
    let bad = || ApiError::bad_request("continue key is not valid");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((
        v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?,
        v.get("start")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_string(),
    ))
}
