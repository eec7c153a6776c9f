//! Nodes: strategic merge by node patch metadata, the `spec.unschedulable` field and
//! `kubectl get nodes` columns.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{Resource, STATUS, Strategy};
use crate::apiserver::strategic_merge::MergeSchema;
use crate::apiserver::table::{AGE, Column, NAME, age, col, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["no"],
    subresources: &[STATUS],
    has_status_subresource: true,
    ..Resource::new("", "nodes", "node", "Node", false, &Nodes)
};

struct Nodes;

impl Strategy for Nodes {
    fn merge_schema(&self) -> &'static MergeSchema {
        MergeSchema::node()
    }

    fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        match field {
            "spec.unschedulable" => Ok(Some(
                obj.pointer("/spec/unschedulable")
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
        ]
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
        let name = text(o, "/metadata/name");
        let created = age(o, "/metadata/creationTimestamp", now);
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
            json!(text(o, "/status/nodeInfo/kubeletVersion")),
            json!(address("InternalIP")),
            json!(address("ExternalIP")),
            json!(text(o, "/status/nodeInfo/osImage")),
            json!(text(o, "/status/nodeInfo/kernelVersion")),
            json!(text(o, "/status/nodeInfo/containerRuntimeVersion")),
        ]
    }
}
