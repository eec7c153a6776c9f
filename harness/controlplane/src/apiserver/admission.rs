//! Admission: what the apiserver fills in and checks before an object reaches the store.
//! Defaulting follows Kubernetes' `SetDefaults_*` and admission plugins
//! (ServiceAccount, DefaultTolerationSeconds); validation covers what a pod needs to run.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::{Value, json};

use super::object::{is_dns1123_label, is_dns1123_subdomain};
use super::status::cause;

fn set_default(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map.get(field).is_none_or(Value::is_null)
    {
        map.insert(field.to_string(), value);
    }
}

/// Pod defaulting, as kube-apiserver does it on create.
pub fn default_pod(pod: &mut Value) {
    default_pod_spec(pod);
    let qos = qos_class(&pod["spec"]);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// The message kube-apiserver gives for a change to an immutable part of a pod's spec.
pub const POD_UPDATE_FORBIDDEN: &str = "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Whether an update changes a pod's spec beyond what Kubernetes allows on a live pod:
/// container images, activeDeadlineSeconds, added tolerations, terminationGracePeriodSeconds
/// and removed schedulingGates may change; everything else is immutable. Both specs are
/// defaulted.
pub fn pod_update_forbidden(old: &Value, new: &Value) -> bool {
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
    // Binding sets nodeName once; the registry guards moving a bound pod separately.
    if old.get("nodeName").is_none_or(Value::is_null) {
        match n.get("nodeName") {
            Some(v) => a.insert("nodeName".into(), v.clone()),
            None => a.remove("nodeName"),
        };
    }
    &allowed != new
}

/// The spec half of pod defaulting (also applied to updates, as decoding does).
pub fn default_pod_spec(pod: &mut Value) {
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
pub fn qos_class(spec: &Value) -> &'static str {
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

/// Pod validation: what a pod must have to be run at all.
pub fn validate_pod(pod: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(pod, &mut causes);
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    match containers {
        None => causes.push(cause(
            "FieldValueRequired",
            "spec.containers",
            "Required value",
        )),
        Some(list) if list.is_empty() => causes.push(cause(
            "FieldValueRequired",
            "spec.containers",
            "Required value",
        )),
        Some(_) => {}
    }
    let mut seen = Vec::new();
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            let path = format!("spec.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(cause(
                    "FieldValueRequired",
                    &format!("{path}.name"),
                    "Required value",
                )),
                Some(n) if !is_dns1123_label(n) => causes.push(cause(
                    "FieldValueInvalid",
                    &format!("{path}.name"),
                    format!("Invalid value: \"{n}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
                )),
                Some(n) if seen.contains(&n) => causes.push(cause(
                    "FieldValueDuplicate",
                    &format!("{path}.name"),
                    format!("Duplicate value: \"{n}\""),
                )),
                Some(n) => seen.push(n),
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty())
            {
                causes.push(cause(
                    "FieldValueRequired",
                    &format!("{path}.image"),
                    "Required value",
                ));
            }
        }
    }
    causes
}

/// Every object's name must be a DNS-1123 subdomain.
pub fn validate_name(obj: &Value, causes: &mut Vec<StatusCause>) {
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        None | Some("") => causes.push(cause(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )),
        Some(n) if !is_dns1123_subdomain(n) => causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{n}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        )),
        Some(_) => {}
    }
}

/// RBAC objects' names need only be valid path segments (`system:node` is a name).
pub fn validate_path_segment_name(obj: &Value, causes: &mut Vec<StatusCause>) {
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        None | Some("") => causes.push(cause(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )),
        Some(n) if n == "." || n == ".." || n.contains('/') || n.contains('%') => {
            causes.push(cause(
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{n}\": may not be '.' or '..' and may not contain '/' or '%'"
                ),
            ))
        }
        Some(_) => {}
    }
}

/// Namespace defaulting: the `kubernetes` finalizer, phase Active and the name label.
pub fn default_namespace(ns: &mut Value) {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = super::object::meta_mut(ns);
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    labels["kubernetes.io/metadata.name"] = json!(name);
    ns["spec"] = json!({"finalizers": ["kubernetes"]});
    ns["status"] = json!({"phase": "Active"});
}

/// Service defaulting, with the ClusterIP already chosen (None for headless).
pub fn default_service(svc: &mut Value, cluster_ip: Option<String>) {
    if !svc.get("spec").is_some_and(Value::is_object) {
        svc["spec"] = json!({});
    }
    let spec = &mut svc["spec"];
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    if let Some(ip) = cluster_ip {
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            set_default(p, "targetPort", port);
        }
    }
    svc["status"] = json!({"loadBalancer": {}});
}

#[cfg(test)]
mod tests {
    use super::*;
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
