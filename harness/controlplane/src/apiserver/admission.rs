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

/// Pod validation as kube-apiserver's `ValidatePodCreate` does it for what a pod needs to
/// run: metadata (name, namespace, labels), containers (names, images, ports, env,
/// resources, policies) and the pod's restart, DNS and deadline settings. The pod has been
/// defaulted, so a field that is absent is left to defaulting; one that is set is checked.
/// Causes come in the order of the fields in the Pod type, each once.
pub fn validate_pod(pod: &Value) -> Vec<StatusCause> {
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
    // values (the kubelet treats them as 1), which the update rule above relies on.
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

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const ENV_NAME_MSG: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";
const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// `Required value`, with kube-apiserver's detail when it gives one.
fn required(field: &str, detail: &str) -> StatusCause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    cause("FieldValueRequired", field, message)
}

/// `Invalid value: <shown>: <detail>`; `shown` is already formatted (quoted for strings).
fn invalid(field: &str, shown: &str, detail: &str) -> StatusCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {shown}: {detail}"),
    )
}

fn duplicate(field: &str, value: &str) -> StatusCause {
    cause(
        "FieldValueDuplicate",
        field,
        format!("Duplicate value: {}", go_quote(value)),
    )
}

/// A string as Go's `%q` prints it, which is how field errors show string values.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' ' => out.push(' '),
            c if c.is_ascii_graphic() => out.push(c),
            c if !c.is_ascii() && !c.is_control() && !c.is_whitespace() => out.push(c),
            c if c.is_ascii() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// apimachinery's `RegexError`: the message, examples and the regular expression.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// The name of a container, empty when it has none.
fn container_name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// An integer field: None when unset, Err with the JSON text when it is not an integer.
fn int_field(value: Option<&Value>) -> Option<Result<i64, String>> {
    let value = value.filter(|v| !v.is_null())?;
    Some(value.as_i64().ok_or_else(|| value.to_string()))
}

/// An enumerated field: unset is left to defaulting, empty is required, anything else
/// must be one of `supported` (listed in kube-apiserver's order).
fn check_enum(
    value: Option<&Value>,
    field: &str,
    supported: &[&str],
    causes: &mut Vec<StatusCause>,
) {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return;
    };
    match value.as_str() {
        Some("") => causes.push(required(field, "")),
        Some(s) if supported.contains(&s) => {}
        shown => {
            let shown = shown.map_or_else(|| value.to_string(), go_quote);
            let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
            causes.push(cause(
                "FieldValueNotSupported",
                field,
                format!(
                    "Unsupported value: {shown}: supported values: {}",
                    list.join(", ")
                ),
            ));
        }
    }
}

fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// apimachinery's `IsDNS1123Label` messages.
fn dns1123_label_errors(s: &str) -> Vec<String> {
    if is_dns1123_label(s) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push(max_len_error(63));
    }
    if !matches_dns1123_label(s) {
        errors.push(if matches_dns1123_subdomain(s) {
            "must not contain dots".to_string()
        } else {
            regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            )
        });
    }
    errors
}

/// apimachinery's `IsDNS1123Subdomain` messages.
fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 253 {
        errors.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(s) {
        errors.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errors
}

/// apimachinery's `IsQualifiedName` messages (label keys).
fn label_key_errors(key: &str) -> Vec<String> {
    let name_rule = || {
        regex_error(
            QUALIFIED_NAME_MSG,
            QUALIFIED_NAME_FMT,
            &["MyName", "my.name", "123-abc"],
        )
    };
    let mut errors = Vec::new();
    let name = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                errors.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                name_rule()
            )];
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_name(name) {
        errors.push(format!("name part {}", name_rule()));
    }
    errors
}

/// apimachinery's `IsValidLabelValue` messages.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push(max_len_error(63));
    }
    if !value.is_empty() && !matches_qualified_name(value) {
        errors.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
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
fn quantity_field(value: &Value, field: &str, causes: &mut Vec<StatusCause>) -> Option<Quantity> {
    let text = match value {
        Value::Null => return Some(Quantity::zero()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match Quantity::parse(&text) {
        Ok(q) => {
            if q.negative {
                causes.push(invalid(
                    field,
                    &go_quote(&q.canonical()),
                    "must be greater than or equal to 0",
                ));
            }
            Some(q)
        }
        Err(error) => {
            causes.push(invalid(field, &go_quote(&text), error));
            None
        }
    }
}

/// How a quantity was written, which is how apimachinery writes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuantityFormat {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A resource quantity held exactly, as apimachinery's `resource.Quantity` holds it.
#[derive(Clone, Debug)]
struct Quantity {
    negative: bool,
    /// The magnitude's decimal digits (0-9), no leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The magnitude is `digits × 10^exp`.
    exp: i64,
    format: QuantityFormat,
    /// The text as written, which apimachinery prints back when it was already canonical.
    text: Option<String>,
}

const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

impl Quantity {
    fn zero() -> Self {
        Quantity {
            negative: false,
            digits: Vec::new(),
            exp: 0,
            format: QuantityFormat::DecimalSi,
            text: None,
        }
    }

    /// apimachinery's `ParseQuantity` (after the JSON decoder's trimming of spaces): the
    /// grammar, the suffixes, rounding up to nano units and the 2^63-1 cap on binary ones.
    fn parse(text: &str) -> Result<Self, &'static str> {
        let s = text.trim();
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(QUANTITY_FORMAT_ERROR);
        }
        let negative = b[0] == b'-';
        let mut pos = usize::from(matches!(b[0], b'-' | b'+'));
        while pos < b.len() && b[pos] == b'0' {
            pos += 1;
        }
        let num_start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let num = &s[num_start..pos];
        let mut denom = "";
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            denom = &s[start..pos];
        }
        let suffix_start = pos;
        while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
            pos += 1;
        }
        if pos < b.len() && matches!(b[pos], b'-' | b'+') {
            pos += 1;
        }
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos < b.len() {
            return Err(QUANTITY_FORMAT_ERROR);
        }
        let (format, exponent) =
            quantity_suffix(&s[suffix_start..]).ok_or(QUANTITY_SUFFIX_ERROR)?;

        // apimachinery keeps the text when its fast path finds it already canonical.
        let num_text = if num.is_empty() { "0" } else { num };
        let shifted = format!("{num_text}{denom}");
        let kept = match format {
            QuantityFormat::BinarySi => {
                let precision = 15 - num_text.len() as i64 - i64::from(exponent) * 3 / 10 - 1;
                denom.is_empty()
                    && precision >= 0
                    && shifted
                        .parse::<i64>()
                        .ok()
                        .is_some_and(|v| v.checked_mul(1i64 << exponent).is_some() && v & 7 != 0)
            }
            _ => {
                let precision = 18 - (num_text.len() + denom.len()) as i64;
                let scale = i64::from(exponent) - denom.len() as i64;
                precision >= 0
                    && scale >= -9
                    && scale % 3 == 0
                    && !shifted.ends_with("000")
                    && !shifted.starts_with('0')
            }
        };

        let mut q = Quantity {
            negative,
            digits: shifted.bytes().map(|c| c - b'0').collect(),
            exp: -(denom.len() as i64),
            format,
            text: kept.then(|| s.to_string()),
        };
        if format == QuantityFormat::BinarySi {
            for _ in 0..exponent {
                q.double();
            }
        } else {
            q.exp += i64::from(exponent);
        }
        q.normalize();
        q.round_up_to_nano();
        if format == QuantityFormat::BinarySi {
            let max = Quantity::integer(i64::MAX.unsigned_abs());
            if q.compare_magnitude(&max).is_gt() {
                q.digits = max.digits;
                q.exp = 0;
            }
            if !q.digits.is_empty() && q.compare_magnitude(&Quantity::integer(1)).is_lt() {
                q.format = QuantityFormat::DecimalSi;
            }
        }
        q.negative &= !q.digits.is_empty();
        Ok(q)
    }

    fn integer(n: u64) -> Self {
        let mut q = Quantity {
            digits: n.to_string().bytes().map(|c| c - b'0').collect(),
            ..Quantity::zero()
        };
        q.normalize();
        q
    }

    fn double(&mut self) {
        let mut carry = 0;
        for d in self.digits.iter_mut().rev() {
            let v = *d * 2 + carry;
            *d = v % 10;
            carry = v / 10;
        }
        if carry > 0 {
            self.digits.insert(0, carry);
        }
    }

    /// Drops leading zeros and moves trailing zeros into the exponent.
    fn normalize(&mut self) {
        let leading = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..leading);
        let trailing = self.digits.iter().rev().take_while(|d| **d == 0).count();
        self.digits.truncate(self.digits.len() - trailing);
        self.exp = if self.digits.is_empty() {
            0
        } else {
            self.exp + trailing as i64
        };
    }

    /// Rounds a non-zero magnitude up to a whole number of nano units, as apimachinery does
    /// (asking for some of a resource gets some).
    fn round_up_to_nano(&mut self) {
        if self.digits.is_empty() || self.exp >= -9 {
            return;
        }
        let dropped = (-9 - self.exp).unsigned_abs();
        if dropped >= self.digits.len() as u64 {
            self.digits = vec![1];
        } else {
            // Normalized digits end in a non-zero digit, so something was dropped.
            self.digits.truncate(self.digits.len() - dropped as usize);
            let mut carry = true;
            for d in self.digits.iter_mut().rev() {
                if !carry {
                    break;
                }
                *d += 1;
                carry = *d == 10;
                if carry {
                    *d = 0;
                }
            }
            if carry {
                self.digits.insert(0, 1);
            }
        }
        self.exp = -9;
        self.normalize();
    }

    fn compare_magnitude(&self, other: &Self) -> std::cmp::Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Less,
            (false, true) => return std::cmp::Ordering::Greater,
            (false, false) => {}
        }
        let top = |q: &Self| q.digits.len() as i64 + q.exp;
        top(self).cmp(&top(other)).then_with(|| {
            let len = self.digits.len().max(other.digits.len());
            let digit = |q: &Self, i: usize| q.digits.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| digit(self, i).cmp(&digit(other, i)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }

    /// `Quantity.Cmp`.
    fn compare(&self, other: &Self) -> std::cmp::Ordering {
        let sign = |q: &Self| match (q.digits.is_empty(), q.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        sign(self).cmp(&sign(other)).then_with(|| {
            let magnitude = self.compare_magnitude(other);
            if sign(self) < 0 {
                magnitude.reverse()
            } else {
                magnitude
            }
        })
    }

    /// `Quantity.String()`: the kept text, or the canonical form (largest suffix of the
    /// quantity's own kind that leaves a whole mantissa).
    fn canonical(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        if self.digits.is_empty() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        if format == QuantityFormat::BinarySi {
            if self.compare_magnitude(&Quantity::integer(1024)).is_lt() || self.exp < 0 {
                format = QuantityFormat::DecimalSi;
            } else {
                let mut n = self.digits.iter().fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(*d))
                });
                for _ in 0..self.exp {
                    n = n.saturating_mul(10);
                }
                let mut power = 0;
                while n >= 1024 && n % 1024 == 0 {
                    n /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .get(power)
                    .copied()
                    .unwrap_or_default();
                return format!("{sign}{n}{suffix}");
            }
        }
        let exponent = self.exp.div_euclid(3) * 3;
        let mut mantissa: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        mantissa.push_str(&"0".repeat((self.exp - exponent) as usize));
        let suffix = match (format, exponent) {
            (QuantityFormat::DecimalExponent, 0) => String::new(),
            (QuantityFormat::DecimalExponent, e) => format!("e{e}"),
            // apimachinery's decimal suffixes end at E; past them it prints none at all.
            (_, e) => match e {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => "",
            }
            .to_string(),
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

/// A quantity suffix: its format and power (of 10, or of 2 for binary suffixes).
fn quantity_suffix(suffix: &str) -> Option<(QuantityFormat, i32)> {
    let decimal = |e| Some((QuantityFormat::DecimalSi, e));
    let binary = |e| Some((QuantityFormat::BinarySi, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        // Go parses the exponent as an int64 and keeps its low 32 bits.
        s if s.len() > 1 && s.starts_with(['e', 'E']) => s[1..]
            .parse::<i64>()
            .ok()
            .map(|e| (QuantityFormat::DecimalExponent, e as i32)),
        _ => None,
    }
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

/// Service defaulting, with the ClusterIP already chosen (None for headless; ignored for
/// ExternalName Services, which have none).
pub fn default_service(svc: &mut Value, cluster_ip: Option<String>) {
    if !svc.get("spec").is_some_and(Value::is_object) {
        svc["spec"] = json!({});
    }
    let spec = &mut svc["spec"];
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if external {
        // An ExternalName Service is only a DNS alias: no ClusterIP, no traffic policy.
        if let Some(spec) = spec.as_object_mut() {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
        }
    } else {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if headless && !external {
        spec["clusterIPs"] = json!(["None"]);
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if let Some(ip) = cluster_ip.filter(|_| !external) {
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

/// Service validation, as kube-apiserver's `ValidateService` for what DNS and clients read:
/// the type, an ExternalName's name, the ClusterIP, and the ports (each named when there
/// are several, names unique DNS-1123 labels, numbers in range, known protocols).
pub fn validate_service(svc: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(svc, &mut causes);
    let spec = svc.get("spec").cloned().unwrap_or_else(|| json!({}));
    check_enum(
        spec.get("type"),
        "spec.type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        &mut causes,
    );
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    let cluster_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    if external {
        match spec.get("externalName").and_then(Value::as_str) {
            None | Some("") => causes.push(required("spec.externalName", "")),
            Some(name) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                for e in dns1123_subdomain_errors(name) {
                    causes.push(invalid("spec.externalName", &go_quote(name), &e));
                }
            }
        }
    } else if !cluster_ip.is_empty()
        && cluster_ip != "None"
        && cluster_ip.parse::<std::net::IpAddr>().is_err()
    {
        causes.push(invalid(
            "spec.clusterIPs[0]",
            &go_quote(cluster_ip),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() && !external && cluster_ip != "None" {
        causes.push(required("spec.ports", ""));
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let field = |f: &str| format!("spec.ports[{i}].{f}");
        match p.get("name").and_then(Value::as_str).unwrap_or("") {
            "" if ports.len() > 1 => causes.push(required(&field("name"), "")),
            "" => {}
            name => {
                for e in dns1123_label_errors(name) {
                    causes.push(invalid(&field("name"), &go_quote(name), &e));
                }
                if names.contains(&name) {
                    causes.push(duplicate(&field("name"), name));
                }
                names.push(name);
            }
        }
        match int_field(p.get("port")) {
            None => causes.push(invalid(&field("port"), "0", PORT_RANGE_MSG)),
            Some(Ok(n)) if !(1..=65535).contains(&n) => {
                causes.push(invalid(&field("port"), &n.to_string(), PORT_RANGE_MSG))
            }
            Some(Err(shown)) => causes.push(invalid(&field("port"), &shown, PORT_RANGE_MSG)),
            Some(Ok(_)) => {}
        }
        check_enum(
            p.get("protocol"),
            &field("protocol"),
            &["SCTP", "TCP", "UDP"],
            &mut causes,
        );
    }
    causes
}

/// EndpointSlice validation, as kube-apiserver's `ValidateEndpointSlice` for what DNS
/// reads: the address type, each endpoint's addresses (of that type, 1 to 100) and
/// hostname, and the ports.
pub fn validate_endpoint_slice(slice: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(slice, &mut causes);
    let address_type = slice.get("addressType").and_then(Value::as_str);
    match address_type {
        None => causes.push(required("addressType", "")),
        Some(_) => check_enum(
            slice.get("addressType"),
            "addressType",
            &["FQDN", "IPv4", "IPv6"],
            &mut causes,
        ),
    }
    let endpoints = slice
        .get("endpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, e) in endpoints.iter().enumerate() {
        let addresses = e
            .get("addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let field = format!("endpoints[{i}].addresses");
        if addresses.is_empty() {
            causes.push(required(&field, "must contain at least 1 address"));
        } else if addresses.len() > 100 {
            causes.push(cause(
                "FieldValueTooMany",
                &field,
                format!("Too many: {}: must have at most 100 items", addresses.len()),
            ));
        }
        for (j, a) in addresses.iter().enumerate() {
            let text = a.as_str().unwrap_or_default();
            let ok = match address_type {
                Some("IPv4") => text.parse::<std::net::Ipv4Addr>().is_ok(),
                Some("IPv6") => text.parse::<std::net::Ipv6Addr>().is_ok(),
                Some("FQDN") => dns1123_subdomain_errors(text).is_empty(),
                _ => true,
            };
            if !ok {
                let detail = match address_type {
                    Some("IPv4") => "must be a valid IPv4 address",
                    Some("IPv6") => "must be a valid IPv6 address",
                    _ => "must be a valid fully qualified domain name",
                };
                causes.push(invalid(&format!("{field}[{j}]"), &go_quote(text), detail));
            }
        }
        if let Some(hostname) = e.get("hostname").and_then(Value::as_str) {
            for err in dns1123_label_errors(hostname) {
                causes.push(invalid(
                    &format!("endpoints[{i}].hostname"),
                    &go_quote(hostname),
                    &err,
                ));
            }
        }
    }
    let ports = slice
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let field = |f: &str| format!("ports[{i}].{f}");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() {
            for e in dns1123_label_errors(name) {
                causes.push(invalid(&field("name"), &go_quote(name), &e));
            }
        }
        if names.contains(&name) {
            causes.push(duplicate(&field("name"), name));
        }
        names.push(name);
        if let Some(Ok(n)) = int_field(p.get("port"))
            && !(1..=65535).contains(&n)
        {
            causes.push(invalid(&field("port"), &n.to_string(), PORT_RANGE_MSG));
        }
        check_enum(
            p.get("protocol"),
            &field("protocol"),
            &["SCTP", "TCP", "UDP"],
            &mut causes,
        );
    }
    causes
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

#[cfg(test)]
mod pod_validation_tests {
    use super::*;
    use rstest::rstest;

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

    #[rstest]
    #[case("100m", "100m")]
    #[case("1000m", "1")]
    #[case("1.5", "1500m")]
    #[case("0.5", "500m")]
    #[case(".5", "500m")]
    #[case("1000", "1k")]
    #[case("2", "2")]
    #[case("+2", "+2")]
    #[case("-1", "-1")]
    #[case("0", "0")]
    #[case("-0", "0")]
    #[case("1e3", "1e3")]
    #[case("1.5e3", "1500")]
    #[case("12e6", "12e6")]
    #[case("1E", "1E")]
    #[case("1Ki", "1Ki")]
    #[case("8Gi", "8Gi")]
    #[case("1024Ki", "1Mi")]
    #[case("1.5Gi", "1536Mi")]
    #[case("1.5Ki", "1536")]
    #[case("0.5Ki", "512")]
    #[case("0.1n", "1n")]
    #[case("1.0000000001", "1000000001n")]
    #[case("16Ei", "9223372036854775807")]
    #[case(" 64Mi ", "64Mi")]
    fn quantities_print_as_kubernetes_prints_them(#[case] text: &str, #[case] canonical: &str) {
        assert_eq!(
            Quantity::parse(text).expect("parses").canonical(),
            canonical
        );
    }

    #[rstest]
    #[case("")]
    #[case("abc")]
    #[case("1 Gi")]
    #[case("1.5.5")]
    #[case("1e3.5")]
    #[case("1e")]
    #[case("1KM")]
    #[case("1Gb")]
    fn malformed_quantities_are_refused(#[case] text: &str) {
        assert!(Quantity::parse(text).is_err(), "{text}");
    }

    #[rstest]
    #[case("100m", "0.2", std::cmp::Ordering::Less)]
    #[case("1Gi", "1G", std::cmp::Ordering::Greater)]
    #[case("1000m", "1", std::cmp::Ordering::Equal)]
    #[case("1e3", "1k", std::cmp::Ordering::Equal)]
    #[case("-2", "-1", std::cmp::Ordering::Less)]
    #[case("-1", "0", std::cmp::Ordering::Less)]
    #[case("128974848", "129e6", std::cmp::Ordering::Less)]
    #[case("123Mi", "128974848", std::cmp::Ordering::Equal)]
    fn quantities_compare_exactly(
        #[case] a: &str,
        #[case] b: &str,
        #[case] order: std::cmp::Ordering,
    ) {
        let (a, b) = (Quantity::parse(a).unwrap(), Quantity::parse(b).unwrap());
        assert_eq!(a.compare(&b), order);
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use rstest::rstest;

    fn fields(causes: &[StatusCause]) -> Vec<String> {
        causes.iter().filter_map(|c| c.field.clone()).collect()
    }

    #[rstest]
    #[case::cluster_ip(json!({"ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}))]
    #[case::one_unnamed_port(json!({"ports": [{"port": 80}]}))]
    #[case::headless_without_ports(json!({"clusterIP": "None"}))]
    #[case::external_name(json!({"type": "ExternalName", "externalName": "www.example.com"}))]
    #[case::external_name_fqdn(json!({"type": "ExternalName", "externalName": "www.example.com."}))]
    #[case::node_port(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}))]
    fn services_kubernetes_accepts(#[case] spec: Value) {
        let svc = json!({"metadata": {"name": "web"}, "spec": spec});
        assert_eq!(validate_service(&svc), Vec::new());
    }

    #[rstest]
    #[case::no_ports(json!({}), &["spec.ports"])]
    #[case::unnamed_of_two(json!({"ports": [{"name": "a", "port": 80}, {"port": 81}]}), &["spec.ports[1].name"])]
    #[case::duplicate_names(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}), &["spec.ports[1].name"])]
    #[case::bad_name(json!({"ports": [{"name": "Http", "port": 80}]}), &["spec.ports[0].name"])]
    #[case::port_range(json!({"ports": [{"name": "a", "port": 70000}]}), &["spec.ports[0].port"])]
    #[case::protocol(json!({"ports": [{"name": "a", "port": 80, "protocol": "ICMP"}]}), &["spec.ports[0].protocol"])]
    #[case::type_(json!({"type": "Magic", "ports": [{"port": 80}]}), &["spec.type"])]
    #[case::external_without_name(json!({"type": "ExternalName"}), &["spec.externalName"])]
    #[case::external_bad_name(json!({"type": "ExternalName", "externalName": "Not_A_Name"}), &["spec.externalName"])]
    #[case::cluster_ip(json!({"clusterIP": "10.96.0.300", "ports": [{"port": 80}]}), &["spec.clusterIPs[0]"])]
    fn invalid_services_name_the_field(#[case] spec: Value, #[case] expected: &[&str]) {
        let svc = json!({"metadata": {"name": "web"}, "spec": spec});
        assert_eq!(fields(&validate_service(&svc)), expected);
    }

    #[test]
    fn headless_and_external_services_get_no_cluster_ip() {
        let mut headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        default_service(&mut headless, None);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(headless["spec"]["type"], "ClusterIP");
        let mut external = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
        default_service(&mut external, Some("10.96.0.7".into()));
        assert!(external["spec"].get("clusterIP").is_none());
        assert!(external["spec"].get("clusterIPs").is_none());
        let mut plain =
            json!({"metadata": {"name": "p"}, "spec": {"ports": [{"name": "http", "port": 80}]}});
        default_service(&mut plain, Some("10.96.0.8".into()));
        assert_eq!(plain["spec"]["clusterIP"], "10.96.0.8");
        assert_eq!(plain["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(plain["spec"]["ports"][0]["targetPort"], 80);
    }

    #[test]
    fn endpoint_slices_are_checked_against_their_address_type() {
        let good = json!({"metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "web-0"}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
        assert_eq!(validate_endpoint_slice(&good), Vec::new());
        let bad = json!({"metadata": {"name": "s"}, "addressType": "IPv6",
            "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "Web_0"}, {"addresses": []}],
            "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81, "protocol": "ICMP"}]});
        assert_eq!(
            fields(&validate_endpoint_slice(&bad)),
            [
                "endpoints[0].addresses[0]",
                "endpoints[0].hostname",
                "endpoints[1].addresses",
                "ports[1].name",
                "ports[1].protocol"
            ]
        );
        let untyped = json!({"metadata": {"name": "s"}});
        assert_eq!(fields(&validate_endpoint_slice(&untyped)), ["addressType"]);
    }
}
