//! Pods: defaulting (kube-apiserver's `SetDefaults_Pod` and the ServiceAccount and
//! DefaultTolerationSeconds admission plugins), validation (`validation.rs`), what an update
//! may change, graceful deletion, field selectors and `kubectl get pods` columns.

mod validation;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{Resource, STATUS, Strategy, Subresource, set_default};
use crate::apiserver::object::str_at;
use crate::apiserver::registry::DeleteOptions;
use crate::apiserver::status::cause;
use crate::apiserver::strategic_merge::MergeSchema;
use crate::apiserver::table::{AGE, Column, NAME, age, col, or_none, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["po"],
    categories: &["all"],
    subresources: &[
        STATUS,
        Subresource {
            name: "binding",
            kind: "Binding",
            verbs: &["create"],
        },
        Subresource {
            name: "exec",
            kind: "PodExecOptions",
            verbs: &["create", "get"],
        },
        Subresource {
            name: "log",
            kind: "Pod",
            verbs: &["get"],
        },
    ],
    has_status_subresource: true,
    ..Resource::new("", "pods", "pod", "Pod", true, &Pods)
};

struct Pods;

impl Strategy for Pods {
    fn prepare_for_create(&self, pod: &mut Value) {
        default_pod(pod);
    }

    fn validate(&self, pod: &Value) -> Vec<StatusCause> {
        validation::validate_pod(pod)
    }

    /// The spec half of defaulting applies to updates too, as decoding does.
    fn prepare_for_update(&self, new: &mut Value) {
        default_pod_spec(new);
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<StatusCause> {
        let causes = validation::validate_pod(new);
        if !causes.is_empty() {
            return causes;
        }
        // A bound pod stays on its node.
        let old_node = old.pointer("/spec/nodeName");
        if old_node.is_some_and(|n| !n.is_null()) && new.pointer("/spec/nodeName") != old_node {
            return vec![cause(
                "FieldValueForbidden",
                "spec.nodeName",
                POD_UPDATE_FORBIDDEN,
            )];
        }
        let (old_spec, new_spec) = (
            old.get("spec").cloned().unwrap_or_default(),
            new.get("spec").cloned().unwrap_or_default(),
        );
        if pod_update_forbidden(&old_spec, &new_spec) {
            return vec![cause("FieldValueForbidden", "spec", POD_UPDATE_FORBIDDEN)];
        }
        Vec::new()
    }

    fn merge_schema(&self) -> &'static MergeSchema {
        MergeSchema::pod()
    }

    /// Pods on a node stop gracefully: the kubelet finishes the delete. An unbound or
    /// finished pod has nothing to stop.
    fn grace_period(&self, pod: &Value, opts: &DeleteOptions) -> Option<i64> {
        let unbound = str_at(pod, "/spec/nodeName").is_none_or(str::is_empty);
        let finished = matches!(str_at(pod, "/status/phase"), Some("Succeeded" | "Failed"));
        if unbound || finished {
            return Some(0);
        }
        let spec_grace = pod
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        Some(opts.grace_period_seconds.unwrap_or(spec_grace).max(0))
    }

    fn removed_by_controller(&self) -> bool {
        true
    }

    fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        let s = |p: &str| Ok(str_at(obj, p).map(str::to_string));
        match field {
            "spec.nodeName" => s("/spec/nodeName"),
            "spec.schedulerName" => s("/spec/schedulerName"),
            "spec.restartPolicy" => s("/spec/restartPolicy"),
            "spec.serviceAccountName" => s("/spec/serviceAccountName"),
            "status.phase" => s("/status/phase"),
            "status.podIP" => s("/status/podIP"),
            "status.nominatedNodeName" => s("/status/nominatedNodeName"),
            "spec.hostNetwork" => Ok(Some(
                obj.pointer("/spec/hostNetwork")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            )),
            _ => Err(()),
        }
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col(
                "Ready",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            col("IP", 1, "IP address allocated to the pod."),
            col("Node", 1, "Name of the node the pod is assigned to."),
            col(
                "Nominated Node",
                1,
                "Name of the node the pod is nominated to.",
            ),
            col("Readiness Gates", 1, "Readiness gates of the pod."),
        ]
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
        let name = text(o, "/metadata/name");
        let created = age(o, "/metadata/creationTimestamp", now);
        let statuses = o
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = o
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let ready = statuses
            .iter()
            .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
            .count();
        let restarts: i64 = statuses
            .iter()
            .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
            .sum();
        let gates = o
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        vec![
            json!(name),
            json!(format!("{ready}/{total}")),
            json!(pod_status(o)),
            json!(restarts.to_string()),
            json!(created),
            json!(or_none(text(o, "/status/podIP"))),
            json!(or_none(text(o, "/spec/nodeName"))),
            json!(or_none(text(o, "/status/nominatedNodeName"))),
            json!(if gates == 0 {
                "<none>".to_string()
            } else {
                format!("0/{gates}")
            }),
        ]
    }
}

/// Pod defaulting, as kube-apiserver does it on create.
pub(super) fn default_pod(pod: &mut Value) {
    default_pod_spec(pod);
    let qos = qos_class(&pod["spec"]);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// The message kube-apiserver gives for a change to an immutable part of a pod's spec.
const POD_UPDATE_FORBIDDEN: &str = "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Whether an update changes a pod's spec beyond what Kubernetes allows on a live pod:
/// container images, activeDeadlineSeconds, added tolerations, terminationGracePeriodSeconds
/// and removed schedulingGates may change; everything else is immutable. Both specs are
/// defaulted.
fn pod_update_forbidden(old: &Value, new: &Value) -> bool {
    let mut allowed = old.clone();
    let (Some(a), Some(n)) = (allowed.as_object_mut(), new.as_object()) else {
        return old != new;
    };
    for list in ["containers", "initContainers"] {
        let (Some(olds), Some(news)) = (
            a.get_mut(list).and_then(Value::as_array_mut),
            n.get(list).and_then(Value::as_array),
        ) else {
            continue;
        };
        if olds.len() == news.len() {
            for (o, c) in olds.iter_mut().zip(news) {
                if let (Some(o), Some(image)) = (o.as_object_mut(), c.get("image")) {
                    o.insert("image".into(), image.clone());
                }
            }
        }
    }
    for field in [
        "activeDeadlineSeconds",
        "terminationGracePeriodSeconds",
        "schedulingGates",
    ] {
        match n.get(field) {
            Some(v) => a.insert(field.into(), v.clone()),
            None => a.remove(field),
        };
    }
    let kept = |list: Option<&Value>| list.and_then(Value::as_array).cloned().unwrap_or_default();
    let (old_t, new_t) = (kept(old.get("tolerations")), kept(n.get("tolerations")));
    if old_t.iter().all(|t| new_t.contains(t)) {
        a.insert("tolerations".into(), Value::Array(new_t));
    }
    // Binding sets nodeName once; `validate_update` guards moving a bound pod separately.
    if old.get("nodeName").is_none_or(Value::is_null) {
        match n.get("nodeName") {
            Some(v) => a.insert("nodeName".into(), v.clone()),
            None => a.remove("nodeName"),
        };
    }
    &allowed != new
}

/// The spec half of pod defaulting (also applied to updates, as decoding does).
fn default_pod_spec(pod: &mut Value) {
    if !pod.get("spec").is_some_and(Value::is_object) {
        pod["spec"] = json!({});
    }
    let spec = &mut pod["spec"];
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(sa);
    spec["serviceAccount"] = json!(sa);
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(default_container);
        }
    }
    // DefaultTolerationSeconds: pods survive a node's brief unreachability for five minutes.
    let tolerations = spec
        .as_object_mut()
        .expect("spec is an object")
        .entry("tolerations")
        .or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = list.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect").and_then(Value::as_str) == Some("NoExecute")
            });
            if !present {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

fn default_container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = if image_tag(image).is_none_or(|t| t == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// The tag of an image reference, if it has one (digests count as pinned).
fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return Some("digest");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

/// Kubernetes' QoS class from the containers' requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let (mut any, mut guaranteed) = (false, !containers.is_empty());
    for c in containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        any |= requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty());
        guaranteed &= ["cpu", "memory"].iter().all(|res| {
            let limit = limits.and_then(|l| l.get(*res));
            let request = requests.and_then(|r| r.get(*res)).or(limit);
            limit.is_some() && request == limit
        });
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// The STATUS column of `kubectl get pods`.
fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return "Terminating".into();
    }
    let mut reason = str_at(o, "/status/reason")
        .or_else(|| str_at(o, "/status/phase"))
        .unwrap_or("Pending")
        .to_string();
    for c in o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = r.to_string();
        } else if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            reason = r.to_string();
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::pods::validation::validate_pod;
    use crate::apiserver::table::{IncludeObject, table};
    use rstest::rstest;

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut pod = json!({"metadata": {"name": "busybox"}, "spec": {"containers": [{"name": "busybox", "image": "busybox"}]}});
        default_pod(&mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["enableServiceLinks"], true);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert!(validate_pod(&pod).is_empty());
    }

    #[rstest]
    #[case("busybox", "Always")]
    #[case("busybox:latest", "Always")]
    #[case("busybox:1.36", "IfNotPresent")]
    #[case("localhost:5000/busybox", "Always")]
    #[case("busybox@sha256:abc", "IfNotPresent")]
    fn pull_policy_follows_the_tag(#[case] image: &str, #[case] policy: &str) {
        let mut c = json!({"name": "c", "image": image});
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], policy);
    }

    #[rstest]
    #[case(json!({}), "BestEffort")]
    #[case(json!({"requests": {"cpu": "100m"}}), "Burstable")]
    #[case(json!({"limits": {"cpu": "1", "memory": "1Gi"}}), "Guaranteed")]
    fn qos(#[case] resources: Value, #[case] class: &str) {
        let spec = json!({"containers": [{"name": "c", "image": "i", "resources": resources}]});
        assert_eq!(qos_class(&spec), class);
    }

    #[test]
    fn invalid_pods_name_each_field() {
        let pod = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}});
        let fields: Vec<_> = validate_pod(&pod)
            .into_iter()
            .filter_map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "spec.containers[0].image",
                "spec.containers[1].name"
            ]
        );
        let empty = json!({"metadata": {"name": "a"}, "spec": {"containers": []}});
        assert_eq!(
            validate_pod(&empty)[0].field.as_deref(),
            Some("spec.containers")
        );
    }

    #[test]
    fn pod_rows_have_kubectl_columns() {
        let now = Timestamp::now();
        let pod = json!({
            "metadata": {"name": "busybox", "creationTimestamp": crate::apiserver::object::timestamp(now - k8s_openapi::jiff::SignedDuration::from_secs(7))},
            "spec": {"nodeName": "node-1", "containers": [{"name": "busybox"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.5", "containerStatuses": [{"name": "busybox", "ready": true, "restartCount": 0}]}
        });
        let t = table(&RESOURCE, &[pod], IncludeObject::Metadata, "42", now);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "busybox",
                "1/1",
                "Running",
                "0",
                "7s",
                "10.244.0.5",
                "node-1",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
    }
}

#[cfg(test)]
mod pod_update_tests {
    use super::*;

    fn spec() -> Value {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "busybox", "args": ["sleep", "1"]}]}});
        default_pod_spec(&mut pod);
        pod["spec"].clone()
    }

    #[test]
    fn only_images_deadlines_and_added_tolerations_may_change() {
        let old = spec();
        let mut image = old.clone();
        image["containers"][0]["image"] = json!("busybox:1.36");
        assert!(!pod_update_forbidden(&old, &image));
        let mut deadline = old.clone();
        deadline["activeDeadlineSeconds"] = json!(30);
        assert!(!pod_update_forbidden(&old, &deadline));
        let mut added = old.clone();
        added["tolerations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "k", "operator": "Exists"}));
        assert!(!pod_update_forbidden(&old, &added));
        assert!(
            pod_update_forbidden(&added, &old),
            "removing a toleration is forbidden"
        );
        let mut args = old.clone();
        args["containers"][0]["args"] = json!(["sleep", "2"]);
        assert!(pod_update_forbidden(&old, &args));
        let mut more = old.clone();
        more["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d", "image": "busybox"}));
        assert!(pod_update_forbidden(&old, &more));
        let mut bound = old.clone();
        bound["nodeName"] = json!("node-1");
        assert!(!pod_update_forbidden(&old, &bound));
        assert!(!pod_update_forbidden(&old, &old));
    }
}
