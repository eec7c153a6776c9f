//! `meta.k8s.io/v1` Tables: the server-side printing that `kubectl get` asks for, with the
//! columns kubectl users know (priority 1 columns are the `-o wide` ones).

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::object::{parse_time, str_at};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: i32,
    description: &'static str,
}

const fn col(name: &'static str, priority: i32, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        priority,
        description,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = col(
    "Age",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

fn columns(resource: &str) -> Vec<Column> {
    match resource {
        "pods" => vec![
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
        ],
        "nodes" => vec![
            NAME,
            col("Status", 0, "The status of the node"),
            col("Roles", 0, "The roles of the node"),
            AGE,
            col("Version", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", 1, "List of internal IPs."),
            col("External-IP", 1, "List of external IPs."),
            col("OS-Image", 1, "OS Image reported by the node."),
            col("Kernel-Version", 1, "Kernel Version reported by the node."),
            col(
                "Container-Runtime",
                1,
                "Container Runtime Version reported by the node.",
            ),
        ],
        "events" => vec![
            col("Last Seen", 0, "Time when this Event was last seen"),
            col(
                "Type",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            col(
                "Reason",
                0,
                "This should be a short, machine understandable string that gives the reason for this event being generated.",
            ),
            col("Object", 0, "The object that this event is about."),
            col(
                "Message",
                0,
                "A human-readable description of the status of this operation.",
            ),
        ],
        "namespaces" => vec![NAME, col("Status", 0, "The status of the namespace"), AGE],
        "services" => vec![
            NAME,
            col("Type", 0, "The type of the service."),
            col("Cluster-IP", 0, "The cluster IP of the service."),
            col("External-IP", 0, "The external IP of the service."),
            col("Port(s)", 0, "The ports of the service."),
            AGE,
            col("Selector", 1, "The label selector of the service."),
        ],
        _ => vec![NAME, AGE],
    }
}

/// A Table of `objects` of `resource`, as of `now`.
pub fn table(
    resource: &str,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
    now: Timestamp,
) -> Value {
    let column_definitions: Vec<Value> = columns(resource)
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(resource, o, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = o.clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    })
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

fn s(obj: &Value, pointer: &str) -> String {
    str_at(obj, pointer).unwrap_or("").to_string()
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn age(obj: &Value, pointer: &str, now: Timestamp) -> String {
    str_at(obj, pointer)
        .and_then(parse_time)
        .map(|t| human_duration(now.duration_since(t).as_secs()))
        .unwrap_or_else(|| "<unknown>".into())
}

fn cells(resource: &str, o: &Value, now: Timestamp) -> Vec<Value> {
    let name = s(o, "/metadata/name");
    let created = age(o, "/metadata/creationTimestamp", now);
    match resource {
        "pods" => {
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
                json!(or_none(s(o, "/status/podIP"))),
                json!(or_none(s(o, "/spec/nodeName"))),
                json!(or_none(s(o, "/status/nominatedNodeName"))),
                json!(if gates == 0 {
                    "<none>".to_string()
                } else {
                    format!("0/{gates}")
                }),
            ]
        }
        "nodes" => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                })
                .and_then(|c| c.get("status").and_then(Value::as_str))
                == Some("True");
            let mut status = if ready { "Ready" } else { "NotReady" }.to_string();
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<&str> = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            roles.sort_unstable();
            let address = |kind: &str| {
                o.pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|x| x.get("type").and_then(Value::as_str) == Some(kind))
                    })
                    .and_then(|x| x.get("address").and_then(Value::as_str))
                    .unwrap_or("<none>")
                    .to_string()
            };
            vec![
                json!(name),
                json!(status),
                json!(if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                }),
                json!(created),
                json!(s(o, "/status/nodeInfo/kubeletVersion")),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(s(o, "/status/nodeInfo/osImage")),
                json!(s(o, "/status/nodeInfo/kernelVersion")),
                json!(s(o, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        "events" => {
            let last = [
                "/lastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find(|p| str_at(o, p).is_some_and(|v| !v.is_empty()))
            .map(|p| age(o, p, now))
            .unwrap_or_else(|| "<unknown>".into());
            let object = format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_lowercase(),
                s(o, "/involvedObject/name")
            );
            vec![
                json!(last),
                json!(s(o, "/type")),
                json!(s(o, "/reason")),
                json!(object),
                json!(s(o, "/message")),
            ]
        }
        "namespaces" => vec![json!(name), json!(s(o, "/status/phase")), json!(created)],
        "services" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            format!("{port}/{proto}")
                        })
                        .collect()
                })
                .unwrap_or_default();
            let selector: Vec<String> = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(s(o, "/spec/type")),
                json!(or_none(s(o, "/spec/clusterIP"))),
                json!("<none>"),
                json!(if ports.is_empty() {
                    "<none>".into()
                } else {
                    ports.join(",")
                }),
                json!(created),
                json!(if selector.is_empty() {
                    "<none>".into()
                } else {
                    selector.join(",")
                }),
            ]
        }
        _ => vec![json!(name), json!(created)],
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

/// kubectl's `HumanDuration`: `45s`, `3m12s`, `2h5m`, `3d4h`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86400);
    let with = |big: i64, unit: &str, small: i64, sunit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{sunit}")
        }
    };
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        with(mins, "m", secs % 60, "s")
    } else if mins < 180 {
        format!("{mins}m")
    } else if hours < 8 {
        with(hours, "h", mins % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        with(days, "d", hours % 24, "h")
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        with(days / 365, "y", days % 365, "d")
    } else {
        format!("{}y", days / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(5, "5s")]
    #[case(119, "119s")]
    #[case(192, "3m12s")]
    #[case(600, "10m")]
    #[case(3 * 3600 + 300, "3h5m")]
    #[case(30 * 3600, "30h")]
    #[case(3 * 86400 + 4 * 3600, "3d4h")]
    fn durations(#[case] secs: i64, #[case] text: &str) {
        assert_eq!(human_duration(secs), text);
    }

    #[test]
    fn pod_rows_have_kubectl_columns() {
        let now = Timestamp::now();
        let pod = json!({
            "metadata": {"name": "busybox", "creationTimestamp": super::super::object::timestamp(now - k8s_openapi::jiff::SignedDuration::from_secs(7))},
            "spec": {"nodeName": "node-1", "containers": [{"name": "busybox"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.5", "containerStatuses": [{"name": "busybox", "ready": true, "restartCount": 0}]}
        });
        let t = table("pods", &[pod], IncludeObject::Metadata, "42", now);
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

    #[test]
    fn accept_headers() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
