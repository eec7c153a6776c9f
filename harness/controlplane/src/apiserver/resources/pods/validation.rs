//! Pod validation: what kube-apiserver's `ValidatePodCreate` checks of what a pod needs to
//! run.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

use super::super::validation::{
    PORT_RANGE_MSG, check_enum, dns1123_label_errors, duplicate, go_quote, int_field, invalid,
    label_key_errors, label_value_errors, max_len_error, required, validate_name,
};
use podcheck_core::quantity::ExactQuantity;

/// Pod validation as kube-apiserver's `ValidatePodCreate` does it for what a pod needs to
/// run: metadata (name, namespace, labels), containers (names, images, ports, env,
/// resources, policies) and the pod's restart, DNS and deadline settings. The pod has been
/// defaulted, so a field that is absent is left to defaulting; one that is set is checked.
/// Causes come in the order of the fields in the Pod type, each once.
pub(super) fn validate_pod(pod: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(pod, &mut causes);
    validate_pod_metadata(pod, &mut causes);
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let list = |field: &str| {
        spec.get(field)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let (init, regular) = (list("initContainers"), list("containers"));
    let regular_names: Vec<&str> = regular.iter().map(container_name).collect();
    // A name an init container shares with a regular or an earlier init container is
    // reported on the init container, as Kubernetes does.
    let mut init_names: Vec<&str> = Vec::new();
    for (i, c) in init.iter().enumerate() {
        let name = container_name(c);
        let duplicate = regular_names.contains(&name) || init_names.contains(&name);
        if !duplicate && !name.is_empty() {
            init_names.push(name);
        }
        // Init containers run one at a time, so their host ports clash only within one.
        let path = format!("spec.initContainers[{i}]");
        validate_container(c, &path, duplicate, &mut Vec::new(), &mut causes);
    }
    if regular.is_empty() {
        causes.push(required("spec.containers", ""));
    }
    let mut host_ports = Vec::new();
    for (i, c) in regular.iter().enumerate() {
        let duplicate = regular_names[..i].contains(&container_name(c));
        let path = format!("spec.containers[{i}]");
        validate_container(c, &path, duplicate, &mut host_ports, &mut causes);
    }
    check_enum(
        spec.get("restartPolicy"),
        "spec.restartPolicy",
        &["Always", "OnFailure", "Never"],
        &mut causes,
    );
    // terminationGracePeriodSeconds is not range-checked: kube-apiserver stores negative
    // values (the kubelet treats them as 1), which the pod update rule relies on.
    match int_field(spec.get("activeDeadlineSeconds")) {
        Some(Ok(seconds)) if (1..=i64::from(i32::MAX)).contains(&seconds) => {}
        Some(value) => causes.push(invalid(
            "spec.activeDeadlineSeconds",
            &value.map_or_else(|raw| raw, |n| n.to_string()),
            "must be between 1 and 2147483647, inclusive",
        )),
        None => {}
    }
    check_enum(
        spec.get("dnsPolicy"),
        "spec.dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &mut causes,
    );
    if spec.get("dnsPolicy").and_then(Value::as_str) == Some("None") {
        match spec.get("dnsConfig").filter(|c| !c.is_null()) {
            None => causes.push(required(
                "spec.dnsConfig",
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(config)
                if config
                    .get("nameservers")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty) =>
            {
                causes.push(required(
                    "spec.dnsConfig.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ))
            }
            Some(_) => {}
        }
    }
    let mut unique: Vec<StatusCause> = Vec::with_capacity(causes.len());
    for c in causes {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    unique
}

const ENV_NAME_MSG: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// The name of a container, empty when it has none.
fn container_name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// apimachinery's `IsValidPortName` messages (an IANA_SVC_NAME).
fn port_name_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.len() > 15 {
        errors.push(max_len_error(15));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        errors
            .push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !name.bytes().any(|c| c.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".into());
    }
    if name.contains("--") {
        errors.push("must not contain consecutive hyphens".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errors.push("must not begin or end with a hyphen".into());
    }
    errors
}

/// The pod's namespace and labels (its name is `validate_name`'s).
fn validate_pod_metadata(pod: &Value, causes: &mut Vec<StatusCause>) {
    if let Some(ns) = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
    {
        for msg in dns1123_label_errors(ns) {
            causes.push(invalid("metadata.namespace", &go_quote(ns), &msg));
        }
    }
    let Some(labels) = pod.pointer("/metadata/labels").and_then(Value::as_object) else {
        return;
    };
    for (key, value) in labels {
        for msg in label_key_errors(key) {
            causes.push(invalid("metadata.labels", &go_quote(key), &msg));
        }
        if let Some(value) = value.as_str() {
            for msg in label_value_errors(value) {
                causes.push(invalid("metadata.labels", &go_quote(value), &msg));
            }
        }
    }
}

/// One container's fields, in the order of the Container type. `duplicate` says whether
/// its name is taken; `host_ports` holds the `protocol/hostIP/port` already in use.
fn validate_container(
    c: &Value,
    path: &str,
    duplicate_name: bool,
    host_ports: &mut Vec<String>,
    causes: &mut Vec<StatusCause>,
) {
    let name_field = format!("{path}.name");
    let name = container_name(c);
    if name.is_empty() {
        causes.push(required(&name_field, ""));
    } else {
        for msg in dns1123_label_errors(name) {
            causes.push(invalid(&name_field, &go_quote(name), &msg));
        }
    }
    if duplicate_name {
        causes.push(duplicate(&name_field, name));
    }
    match c.get("image").and_then(Value::as_str) {
        None | Some("") => causes.push(required(&format!("{path}.image"), "")),
        Some(image) if image.trim() != image => causes.push(invalid(
            &format!("{path}.image"),
            &go_quote(image),
            "must not have leading or trailing whitespace",
        )),
        Some(_) => {}
    }
    let ports = c.get("ports").and_then(Value::as_array);
    validate_ports(
        ports.map(Vec::as_slice).unwrap_or_default(),
        path,
        host_ports,
        causes,
    );
    for (j, var) in c
        .get("env")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("{path}.env[{j}].name");
        match var.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(required(&field, "")),
            Some(n) if n.bytes().any(|b| !(0x20..0x7f).contains(&b) || b == b'=') => {
                causes.push(invalid(&field, &go_quote(n), ENV_NAME_MSG))
            }
            Some(_) => {}
        }
    }
    if let Some(resources) = c.get("resources") {
        validate_resources(resources, &format!("{path}.resources"), causes);
    }
    check_enum(
        c.get("terminationMessagePolicy"),
        &format!("{path}.terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
        causes,
    );
    check_enum(
        c.get("imagePullPolicy"),
        &format!("{path}.imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
        causes,
    );
}

/// A container's ports: names unique within the container (as Kubernetes checks them),
/// host ports unique by protocol and host IP, port numbers in range, known protocols.
fn validate_ports(
    ports: &[Value],
    path: &str,
    host_ports: &mut Vec<String>,
    causes: &mut Vec<StatusCause>,
) {
    let mut names: Vec<&str> = Vec::new();
    for (j, port) in ports.iter().enumerate() {
        let path = format!("{path}.ports[{j}]");
        if let Some(name) = port
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            let errors = port_name_errors(name);
            for msg in &errors {
                causes.push(invalid(&format!("{path}.name"), &go_quote(name), msg));
            }
            if errors.is_empty() && names.contains(&name) {
                causes.push(duplicate(&format!("{path}.name"), name));
            } else if errors.is_empty() {
                names.push(name);
            }
        }
        let field = format!("{path}.hostPort");
        match int_field(port.get("hostPort")) {
            None | Some(Ok(0)) => {}
            Some(Ok(n)) => {
                if !(1..=65535).contains(&n) {
                    causes.push(invalid(&field, &n.to_string(), PORT_RANGE_MSG));
                }
                let text = |f: &str| port.get(f).and_then(Value::as_str).unwrap_or_default();
                let key = format!("{}/{}/{n}", text("protocol"), text("hostIP"));
                if host_ports.contains(&key) {
                    causes.push(duplicate(&field, &key));
                } else {
                    host_ports.push(key);
                }
            }
            Some(Err(raw)) => causes.push(invalid(&field, &raw, PORT_RANGE_MSG)),
        }
        let field = format!("{path}.containerPort");
        match int_field(port.get("containerPort")) {
            None | Some(Ok(0)) => causes.push(required(&field, "")),
            Some(Ok(n)) if (1..=65535).contains(&n) => {}
            Some(value) => causes.push(invalid(
                &field,
                &value.map_or_else(|raw| raw, |n| n.to_string()),
                PORT_RANGE_MSG,
            )),
        }
        check_enum(
            port.get("protocol"),
            &format!("{path}.protocol"),
            &["SCTP", "TCP", "UDP"],
            causes,
        );
    }
}

/// Whether Kubernetes lets a resource's request be below its limit: native resources
/// other than huge pages may; extended resources (and huge pages) must match.
fn overcommit_allowed(resource: &str) -> bool {
    (!resource.contains('/') || resource.contains("kubernetes.io/"))
        && !resource.starts_with("hugepages-")
}

/// A container's requests and limits: quantities that parse, are not negative, and
/// requests within (or, for extended resources, equal to) limits.
fn validate_resources(resources: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let (limits_path, requests_path) = (format!("{path}.limits"), format!("{path}.requests"));
    let mut limits = Vec::new();
    if let Some(list) = resources.get("limits").and_then(Value::as_object) {
        for (resource, value) in list {
            let q = quantity_field(value, &format!("{limits_path}[{resource}]"), causes);
            limits.push((resource.as_str(), q));
        }
    }
    let Some(requests) = resources.get("requests").and_then(Value::as_object) else {
        return;
    };
    for (resource, value) in requests {
        let request = quantity_field(value, &format!("{requests_path}[{resource}]"), causes);
        match limits.iter().find(|(r, _)| *r == resource.as_str()) {
            Some((_, Some(limit))) => {
                let Some(request) = request else { continue };
                let order = request.compare(limit);
                let rule = if order.is_ne() && !overcommit_allowed(resource) {
                    "must be equal to"
                } else if order.is_gt() {
                    "must be less than or equal to"
                } else {
                    continue;
                };
                causes.push(invalid(
                    &requests_path,
                    &go_quote(&request.canonical()),
                    &format!("{rule} {resource} limit of {}", limit.canonical()),
                ));
            }
            Some((_, None)) => {}
            None if !overcommit_allowed(resource) => causes.push(required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
}

/// A requests or limits value: pushes the cause if it does not parse or is negative.
fn quantity_field(
    value: &Value,
    field: &str,
    causes: &mut Vec<StatusCause>,
) -> Option<ExactQuantity> {
    let text = match value {
        Value::Null => return Some(ExactQuantity::zero()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // The JSON decoder trims spaces before `ParseQuantity`, as `UnmarshalJSON` does.
    match ExactQuantity::parse(text.trim()) {
        Ok(q) => {
            if q.is_negative() {
                causes.push(invalid(
                    field,
                    &go_quote(&q.canonical()),
                    "must be greater than or equal to 0",
                ));
            }
            Some(q)
        }
        Err(error) => {
            causes.push(invalid(field, &go_quote(&text), &error.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::pods::default_pod;
    use rstest::rstest;
    use serde_json::json;

    /// A defaulted pod that sets every field these rules look at, validly.
    fn valid_pod() -> Value {
        let mut pod = json!({
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": {"app": "web", "example.com/tier": "Front_end.1", "empty": ""},
            },
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [
                            {"name": "http", "containerPort": 80, "hostPort": 8080},
                            {"name": "metrics-1", "containerPort": 9090, "protocol": "UDP"},
                        ],
                        "env": [{"name": "A_B", "value": "1"}, {"name": "weird.name-1 x", "value": ""}],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi", "example.com/gpu": "1"},
                            "limits": {"cpu": "1", "memory": "128Mi", "example.com/gpu": "1"},
                        },
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    },
                    {"name": "sidecar", "image": "busybox", "ports": [{"name": "http", "containerPort": 81}]},
                ],
                "restartPolicy": "OnFailure",
                "activeDeadlineSeconds": 60,
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["10.96.0.10"]},
            },
        });
        default_pod(&mut pod);
        pod
    }

    /// Sets the field at a JSON pointer whose parent exists.
    fn set(pod: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let key = key.replace("~1", "/").replace("~0", "~");
        match pod.pointer_mut(parent).expect("parent exists") {
            Value::Object(map) => {
                map.insert(key, value);
            }
            Value::Array(list) => list[key.parse::<usize>().expect("an index")] = value,
            other => panic!("cannot set {key} in {other}"),
        }
    }

    fn summary(causes: &[StatusCause]) -> Vec<(String, String, String)> {
        causes
            .iter()
            .map(|c| {
                (
                    c.reason.clone().unwrap_or_default(),
                    c.field.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_valid_pod_has_no_causes() {
        assert_eq!(summary(&validate_pod(&valid_pod())), []);
    }

    #[rstest]
    // metadata
    #[case("/metadata/namespace", json!("Bad_NS"), "FieldValueInvalid", "metadata.namespace",
        "Invalid value: \"Bad_NS\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
    #[case("/metadata/namespace", json!("a.b"), "FieldValueInvalid", "metadata.namespace",
        "Invalid value: \"a.b\": must not contain dots")]
    #[case("/metadata/namespace", json!("n".repeat(64)), "FieldValueInvalid", "metadata.namespace",
        "Invalid value: \"nnnn")]
    #[case("/metadata/labels/-bad", json!("v"), "FieldValueInvalid", "metadata.labels",
        "Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]
    #[case("/metadata/labels/Example.com~1x", json!("v"), "FieldValueInvalid", "metadata.labels",
        "Invalid value: \"Example.com/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]
    #[case("/metadata/labels/~1x", json!("v"), "FieldValueInvalid", "metadata.labels",
        "Invalid value: \"/x\": prefix part must be non-empty")]
    #[case("/metadata/labels/a~1b~1c", json!("v"), "FieldValueInvalid", "metadata.labels",
        "Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")]
    #[case(&format!("/metadata/labels/{}", "k".repeat(64)), json!("v"), "FieldValueInvalid", "metadata.labels",
        &format!("Invalid value: \"{}\": name part must be no more than 63 characters", "k".repeat(64)))]
    #[case("/metadata/labels/app", json!("-web"), "FieldValueInvalid", "metadata.labels",
        "Invalid value: \"-web\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]
    #[case("/metadata/labels/app", json!("v".repeat(64)), "FieldValueInvalid", "metadata.labels",
        &format!("Invalid value: \"{}\": must be no more than 63 characters", "v".repeat(64)))]
    // containers
    #[case("/spec/containers/0/name", json!("Web"), "FieldValueInvalid", "spec.containers[0].name",
        "Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")]
    #[case("/spec/containers/1/name", json!("web"), "FieldValueDuplicate", "spec.containers[1].name",
        "Duplicate value: \"web\"")]
    #[case("/spec/initContainers/0/name", json!("sidecar"), "FieldValueDuplicate", "spec.initContainers[0].name",
        "Duplicate value: \"sidecar\"")]
    #[case("/spec/containers/0/image", json!(""), "FieldValueRequired", "spec.containers[0].image", "Required value")]
    #[case("/spec/containers/0/image", json!(" nginx"), "FieldValueInvalid", "spec.containers[0].image",
        "Invalid value: \" nginx\": must not have leading or trailing whitespace")]
    #[case("/spec/containers", json!([]), "FieldValueRequired", "spec.containers", "Required value")]
    // ports
    #[case("/spec/containers/0/ports/0/containerPort", json!(70000), "FieldValueInvalid",
        "spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")]
    #[case("/spec/containers/0/ports/0/containerPort", json!(0), "FieldValueRequired",
        "spec.containers[0].ports[0].containerPort", "Required value")]
    #[case("/spec/containers/0/ports/0/hostPort", json!(70000), "FieldValueInvalid",
        "spec.containers[0].ports[0].hostPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")]
    #[case("/spec/containers/0/ports/0/hostPort", json!(-1), "FieldValueInvalid",
        "spec.containers[0].ports[0].hostPort", "Invalid value: -1: must be between 1 and 65535, inclusive")]
    #[case("/spec/containers/0/ports/0/protocol", json!("HTTP"), "FieldValueNotSupported",
        "spec.containers[0].ports[0].protocol", "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"")]
    #[case("/spec/containers/0/ports/0/name", json!("Http"), "FieldValueInvalid", "spec.containers[0].ports[0].name",
        "Invalid value: \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")]
    #[case("/spec/containers/0/ports/0/name", json!("8080"), "FieldValueInvalid", "spec.containers[0].ports[0].name",
        "Invalid value: \"8080\": must contain at least one letter (a-z)")]
    #[case("/spec/containers/0/ports/0/name", json!("a--b"), "FieldValueInvalid", "spec.containers[0].ports[0].name",
        "Invalid value: \"a--b\": must not contain consecutive hyphens")]
    #[case("/spec/containers/0/ports/0/name", json!("web-"), "FieldValueInvalid", "spec.containers[0].ports[0].name",
        "Invalid value: \"web-\": must not begin or end with a hyphen")]
    #[case("/spec/containers/0/ports/0/name", json!("abcdefghijklmnop"), "FieldValueInvalid",
        "spec.containers[0].ports[0].name", "Invalid value: \"abcdefghijklmnop\": must be no more than 15 characters")]
    #[case("/spec/containers/0/ports/1/name", json!("http"), "FieldValueDuplicate", "spec.containers[0].ports[1].name",
        "Duplicate value: \"http\"")]
    #[case("/spec/containers/1/ports/0/hostPort", json!(8080), "FieldValueDuplicate",
        "spec.containers[1].ports[0].hostPort", "Duplicate value: \"TCP//8080\"")]
    // enums
    #[case("/spec/restartPolicy", json!("Sometimes"), "FieldValueNotSupported", "spec.restartPolicy",
        "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"")]
    #[case("/spec/restartPolicy", json!(""), "FieldValueRequired", "spec.restartPolicy", "Required value")]
    #[case("/spec/dnsPolicy", json!("Cluster"), "FieldValueNotSupported", "spec.dnsPolicy",
        "Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"")]
    #[case("/spec/containers/0/imagePullPolicy", json!("Sometimes"), "FieldValueNotSupported",
        "spec.containers[0].imagePullPolicy",
        "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"")]
    #[case("/spec/containers/0/terminationMessagePolicy", json!("Stdout"), "FieldValueNotSupported",
        "spec.containers[0].terminationMessagePolicy",
        "Unsupported value: \"Stdout\": supported values: \"File\", \"FallbackToLogsOnError\"")]
    // resources
    #[case("/spec/containers/0/resources/requests/cpu", json!("abc"), "FieldValueInvalid",
        "spec.containers[0].resources.requests[cpu]",
        "Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    #[case("/spec/containers/0/resources/requests/cpu", json!("1KM"), "FieldValueInvalid",
        "spec.containers[0].resources.requests[cpu]", "Invalid value: \"1KM\": unable to parse quantity's suffix")]
    #[case("/spec/containers/0/resources/limits/ephemeral-storage", json!("-1Gi"), "FieldValueInvalid",
        "spec.containers[0].resources.limits[ephemeral-storage]", "Invalid value: \"-1Gi\": must be greater than or equal to 0")]
    #[case("/spec/containers/0/resources/requests/cpu", json!("2"), "FieldValueInvalid",
        "spec.containers[0].resources.requests", "Invalid value: \"2\": must be less than or equal to cpu limit of 1")]
    #[case("/spec/containers/0/resources/requests/memory", json!("1.5Gi"), "FieldValueInvalid",
        "spec.containers[0].resources.requests",
        "Invalid value: \"1536Mi\": must be less than or equal to memory limit of 128Mi")]
    #[case("/spec/containers/0/resources/requests/example.com~1gpu", json!(2), "FieldValueInvalid",
        "spec.containers[0].resources.requests", "Invalid value: \"2\": must be equal to example.com/gpu limit of 1")]
    #[case("/spec/containers/0/resources/requests/example.com~1fpga", json!("1"), "FieldValueRequired",
        "spec.containers[0].resources.limits", "Required value: Limit must be set for non overcommitable resources")]
    // env
    #[case("/spec/containers/0/env/0/name", json!(""), "FieldValueRequired", "spec.containers[0].env[0].name",
        "Required value")]
    #[case("/spec/containers/0/env/0/name", json!("A=B"), "FieldValueInvalid", "spec.containers[0].env[0].name",
        "Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='")]
    #[case("/spec/containers/0/env/1/name", json!("tab\there"), "FieldValueInvalid", "spec.containers[0].env[1].name",
        "Invalid value: \"tab\\there\": a valid environment variable name must consist only of printable ASCII characters other than '='")]
    #[case("/spec/containers/0/env/1/name", json!("café"), "FieldValueInvalid", "spec.containers[0].env[1].name",
        "Invalid value: \"café\": a valid environment variable name must consist only of printable ASCII characters other than '='")]
    // DNS and deadlines
    #[case("/spec/dnsConfig", json!(null), "FieldValueRequired", "spec.dnsConfig",
        "Required value: must provide `dnsConfig` when `dnsPolicy` is None")]
    #[case("/spec/dnsConfig", json!({"searches": ["a.b"]}), "FieldValueRequired", "spec.dnsConfig.nameservers",
        "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None")]
    #[case("/spec/activeDeadlineSeconds", json!(0), "FieldValueInvalid", "spec.activeDeadlineSeconds",
        "Invalid value: 0: must be between 1 and 2147483647, inclusive")]
    fn each_rule_names_its_field(
        #[case] pointer: &str,
        #[case] value: Value,
        #[case] reason: &str,
        #[case] field: &str,
        #[case] message: &str,
    ) {
        let mut pod = valid_pod();
        set(&mut pod, pointer, value);
        let causes = summary(&validate_pod(&pod));
        assert_eq!(causes.len(), 1, "{causes:#?}");
        let (r, f, m) = &causes[0];
        assert_eq!((r.as_str(), f.as_str()), (reason, field));
        assert!(
            m.starts_with(message),
            "{m}\ndoes not start with\n{message}"
        );
    }

    #[rstest]
    #[case("/spec/terminationGracePeriodSeconds", json!(-1))]
    #[case("/spec/containers/1/ports/0/name", json!("http"))]
    #[case("/spec/containers/0/resources/requests/cpu", json!(1))]
    #[case("/spec/containers/0/resources/requests/cpu", json!("1000m"))]
    #[case("/spec/containers/0/resources/requests/memory", json!("0.125Gi"))]
    #[case("/spec/containers/0/env/1/name", json!(" ~!@#$%^&*()"))]
    #[case("/spec/dnsPolicy", json!("ClusterFirstWithHostNet"))]
    fn kubernetes_accepts(#[case] pointer: &str, #[case] value: Value) {
        let mut pod = valid_pod();
        set(&mut pod, pointer, value);
        assert_eq!(summary(&validate_pod(&pod)), []);
    }

    #[test]
    fn causes_follow_the_fields_and_appear_once() {
        let mut pod = valid_pod();
        set(&mut pod, "/spec/dnsPolicy", json!("Cluster"));
        set(&mut pod, "/spec/restartPolicy", json!("Sometimes"));
        set(
            &mut pod,
            "/spec/containers/0/imagePullPolicy",
            json!("Sometimes"),
        );
        set(
            &mut pod,
            "/spec/containers/0/resources/requests/a.io~1x",
            json!("1"),
        );
        set(
            &mut pod,
            "/spec/containers/0/resources/requests/b.io~1x",
            json!("1"),
        );
        set(
            &mut pod,
            "/spec/containers/0/ports/0/containerPort",
            json!(0),
        );
        set(&mut pod, "/spec/initContainers/0/name", json!("Init"));
        set(&mut pod, "/metadata/labels/app", json!("-"));
        let fields: Vec<String> = summary(&validate_pod(&pod))
            .into_iter()
            .map(|(_, f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "metadata.labels",
                "spec.initContainers[0].name",
                "spec.containers[0].ports[0].containerPort",
                "spec.containers[0].resources.limits",
                "spec.containers[0].imagePullPolicy",
                "spec.restartPolicy",
                "spec.dnsPolicy",
            ]
        );
    }

    #[test]
    fn a_port_name_can_break_several_rules_at_once() {
        let mut pod = valid_pod();
        set(&mut pod, "/spec/containers/0/ports/0/name", json!("-A--"));
        let messages: Vec<String> = summary(&validate_pod(&pod))
            .into_iter()
            .map(|(_, _, m)| m)
            .collect();
        assert_eq!(
            messages,
            [
                "Invalid value: \"-A--\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "Invalid value: \"-A--\": must contain at least one letter (a-z)",
                "Invalid value: \"-A--\": must not contain consecutive hyphens",
                "Invalid value: \"-A--\": must not begin or end with a hyphen",
            ]
        );
    }
}
