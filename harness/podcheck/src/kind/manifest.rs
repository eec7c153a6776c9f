//! `--cni-manifest`: a multi-document YAML file of Kubernetes objects (a CNI's install
//! manifest), read here (pure) and created through the API, one dynamic object each, as
//! kubectl create would: namespaced objects without a namespace go to `default`, a `List`
//! stands for its items.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::{Scope, pinned_kind};
use serde_json::Value;

/// The objects of a manifest, in order; `shown` names the file in errors.
pub fn parse(text: &str, shown: &str) -> Result<Vec<Value>, String> {
    let documents: Vec<Value> =
        serde_saphyr::from_str_multiple(text).map_err(|e| format!("{shown}: {e}"))?;
    let mut objects = Vec::new();
    for (i, document) in documents.into_iter().enumerate() {
        let items = match document {
            // Comment-only documents (`---` then nothing) are common in vendors' manifests.
            Value::Null => continue,
            Value::Object(ref o) if o.get("kind").and_then(Value::as_str) == Some("List") => o
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            other => vec![other],
        };
        for object in items {
            let field = |path: &str| object.pointer(path).and_then(Value::as_str);
            if field("/apiVersion").is_none() || field("/kind").is_none() {
                return Err(format!(
                    "{shown}: document {} is not a Kubernetes object (it needs apiVersion and kind)",
                    i + 1
                ));
            }
            if field("/metadata/name").is_none() {
                return Err(format!(
                    "{shown}: document {} ({}) has no metadata.name",
                    i + 1,
                    field("/kind").unwrap_or_default()
                ));
            }
            objects.push(object);
        }
    }
    if objects.is_empty() {
        return Err(format!("{shown}: no Kubernetes object in it"));
    }
    Ok(objects)
}

/// `DaemonSet kube-system/kindnet`, `ClusterRole calico-node`.
pub fn describe(object: &Value) -> String {
    let field = |path: &str| object.pointer(path).and_then(Value::as_str);
    let kind = field("/kind").unwrap_or_default();
    let name = field("/metadata/name").unwrap_or_default();
    match field("/metadata/namespace") {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// What creating a manifest's objects came to.
#[derive(Debug, Default)]
pub struct Applied {
    pub created: usize,
    /// Objects that were there already (a reused cluster that has its CNI).
    pub existing: usize,
}

/// Creates every object in order. A kind the API does not serve yet is asked for again
/// until `deadline` (a manifest's CustomResourceDefinitions take a moment to be served
/// before its custom resources can be created). The error names the object.
pub async fn create_all(
    client: &kube::Client,
    objects: &[Value],
    deadline: Duration,
) -> Result<Applied, (String, String)> {
    let started = Instant::now();
    let mut applied = Applied::default();
    for object in objects {
        let shown = describe(object);
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities) = loop {
            match pinned_kind(client, &gvk).await {
                Ok(found) => break found,
                Err(e) if started.elapsed() < deadline => {
                    tracing::debug!(object = %shown, error = %e, "kind not served yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err((
                        shown,
                        format!("the cluster does not serve {api_version} {kind}: {e}"),
                    ));
                }
            }
        };
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let dynamic: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| (shown.clone(), e.to_string()))?;
        let remaining = deadline
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(10));
        match tokio::time::timeout(remaining, api.create(&PostParams::default(), &dynamic)).await {
            Ok(Ok(_)) => applied.created += 1,
            Ok(Err(kube::Error::Api(s))) if s.code == 409 => applied.existing += 1,
            Ok(Err(e)) => return Err((shown, e.to_string())),
            Err(_) => return Err((shown, format!("no answer within {remaining:?}"))),
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_empty_documents() {
        let text = "# a vendor's header\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: cni, namespace: kube-system}\n---\n# nothing here\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: cni-config, namespace: kube-system}, data: {a: b}}\n  - {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: cni}, rules: []}\n";
        let objects = parse(text, "cni.yaml").unwrap();
        let shown: Vec<String> = objects.iter().map(describe).collect();
        assert_eq!(
            shown,
            [
                "ServiceAccount kube-system/cni",
                "ConfigMap kube-system/cni-config",
                "ClusterRole cni"
            ]
        );
    }

    #[test]
    fn what_is_not_an_object_is_named() {
        let e = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nfoo: bar\n",
            "m.yaml",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "m.yaml: document 2 is not a Kubernetes object (it needs apiVersion and kind)"
        );
        let e = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "m.yaml").unwrap_err();
        assert_eq!(e, "m.yaml: document 1 (ConfigMap) has no metadata.name");
        assert_eq!(
            parse("# empty\n", "m.yaml").unwrap_err(),
            "m.yaml: no Kubernetes object in it"
        );
        assert!(
            parse("a: [\n", "m.yaml")
                .unwrap_err()
                .starts_with("m.yaml: ")
        );
    }
}
