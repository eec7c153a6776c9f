//! Events: no generation, the `involvedObject.*`, `reason`, `type` and `source` fields,
//! and `kubectl get events` columns.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{Resource, Strategy};
use crate::apiserver::object::str_at;
use crate::apiserver::table::{Column, age, col, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["ev"],
    ..Resource::new("", "events", "event", "Event", true, &Events)
};

struct Events;

impl Strategy for Events {
    fn has_generation(&self) -> bool {
        false
    }

    fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        let s = |p: &str| Ok(str_at(obj, p).map(str::to_string));
        match field.strip_prefix("involvedObject.") {
            Some(
                sub @ ("kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion"
                | "fieldPath"),
            ) => s(&format!("/involvedObject/{sub}")),
            Some(_) => Err(()),
            None => match field {
                "reason" => s("/reason"),
                "type" => s("/type"),
                "reportingComponent" => s("/reportingComponent"),
                "source" => s("/source/component"),
                _ => Err(()),
            },
        }
    }

    fn columns(&self) -> Vec<Column> {
        vec![
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
        ]
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
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
            text(o, "/involvedObject/kind").to_lowercase(),
            text(o, "/involvedObject/name")
        );
        vec![
            json!(last),
            json!(text(o, "/type")),
            json!(text(o, "/reason")),
            json!(object),
            json!(text(o, "/message")),
        ]
    }
}
