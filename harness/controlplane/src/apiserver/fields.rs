//! The fields each resource supports in field selectors, as Kubernetes' field sets define them.

use serde_json::Value;

use super::object::str_at;

/// The value of a selectable field of `obj`, or `Err` if the resource does not support it.
pub fn field(resource: &str, obj: &Value, field: &str) -> Result<Option<String>, ()> {
    let s = |p: &str| Ok(str_at(obj, p).map(str::to_string));
    match (resource, field) {
        (_, "metadata.name") => s("/metadata/name"),
        (_, "metadata.namespace") => s("/metadata/namespace"),
        ("pods", "spec.nodeName") => s("/spec/nodeName"),
        ("pods", "spec.schedulerName") => s("/spec/schedulerName"),
        ("pods", "spec.restartPolicy") => s("/spec/restartPolicy"),
        ("pods", "spec.serviceAccountName") => s("/spec/serviceAccountName"),
        ("pods", "status.phase") => s("/status/phase"),
        ("pods", "status.podIP") => s("/status/podIP"),
        ("pods", "status.nominatedNodeName") => s("/status/nominatedNodeName"),
        ("pods", "spec.hostNetwork") => Ok(Some(
            obj.pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        )),
        ("nodes", "spec.unschedulable") => Ok(Some(
            obj.pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        )),
        ("namespaces", "status.phase") => s("/status/phase"),
        ("events", f) => match f.strip_prefix("involvedObject.") {
            Some(
                sub @ ("kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion"
                | "fieldPath"),
            ) => s(&format!("/involvedObject/{sub}")),
            Some(_) => Err(()),
            None => match f {
                "reason" => s("/reason"),
                "type" => s("/type"),
                "reportingComponent" => s("/reportingComponent"),
                "source" => s("/source/component"),
                _ => Err(()),
            },
        },
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_and_event_fields() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        assert_eq!(field("pods", &pod, "spec.nodeName"), Ok(Some("n1".into())));
        assert_eq!(field("pods", &pod, "status.phase"), Ok(None));
        assert_eq!(field("pods", &pod, "spec.bogus"), Err(()));
        let ev = json!({"involvedObject": {"name": "p", "uid": "u"}});
        assert_eq!(
            field("events", &ev, "involvedObject.uid"),
            Ok(Some("u".into()))
        );
        assert_eq!(field("nodes", &pod, "involvedObject.uid"), Err(()));
    }
}
