//! Events, in both their APIs: core/v1 (what is stored) and events.k8s.io/v1 (a second view
//! of the same objects at `/registry/events/NS/NAME`, converted on the way in and out as
//! kube-apiserver converts through its internal type: pkg/apis/events/v1/conversion.go).
//! No generation; the field selectors each API has; `kubectl get events` columns.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::validation::{go_quote, invalid, required, validate_name};
use super::{Resource, Strategy};
use crate::apiserver::object::str_at;
use crate::apiserver::table::{Column, age, col, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["ev"],
    ..Resource::new("", "events", "event", "Event", true, &Events)
};

/// events.k8s.io/v1 Events: the same objects as core/v1's.
pub(super) static EVENTS_V1: Resource = Resource {
    short_names: &["ev"],
    ..Resource::new("events.k8s.io", "events", "event", "Event", true, &EventsV1)
};

/// events.k8s.io/v1 field name ↔ core/v1 field name, for the fields that differ.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// Fields both APIs name alike.
const SHARED: [&str; 8] = [
    "metadata",
    "reason",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingInstance",
];

/// An events.k8s.io/v1 Event as core/v1 stores it, with the fields core/v1 always
/// serializes (Go's `omitempty` keeps structs and `metav1.Time`s): `involvedObject`,
/// `source: {}`, null timestamps, empty reporting strings.
pub(crate) fn v1_to_core(v1: &Value) -> Value {
    let mut core = Map::new();
    core.insert("apiVersion".into(), json!("v1"));
    core.insert("kind".into(), json!("Event"));
    for field in SHARED {
        if let Some(v) = v1.get(field) {
            core.insert(field.into(), v.clone());
        }
    }
    for (from, to) in RENAMED {
        if let Some(v) = v1.get(from) {
            core.insert(to.into(), v.clone());
        }
    }
    for (field, empty) in [
        ("involvedObject", json!({})),
        ("source", json!({})),
        ("firstTimestamp", Value::Null),
        ("lastTimestamp", Value::Null),
        ("eventTime", Value::Null),
        ("reportingComponent", json!("")),
        ("reportingInstance", json!("")),
    ] {
        core.entry(field).or_insert(empty);
    }
    Value::Object(core)
}

/// A stored core/v1 Event as events.k8s.io/v1 serves it: `regarding` and
/// `deprecatedSource` always there, null times, empty strings left out.
pub(crate) fn core_to_v1(core: &Value) -> Value {
    let mut v1 = Map::new();
    v1.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    v1.insert("kind".into(), json!("Event"));
    for field in SHARED {
        if let Some(v) = core.get(field) {
            v1.insert(field.into(), v.clone());
        }
    }
    for (to, from) in RENAMED {
        if let Some(v) = core.get(from) {
            v1.insert(to.into(), v.clone());
        }
    }
    v1.retain(|_, v| v.as_str() != Some(""));
    for (field, empty) in [
        ("regarding", json!({})),
        ("deprecatedSource", json!({})),
        ("deprecatedFirstTimestamp", Value::Null),
        ("deprecatedLastTimestamp", Value::Null),
        ("eventTime", Value::Null),
    ] {
        v1.entry(field).or_insert(empty);
    }
    Value::Object(v1)
}

/// The `source` field selector: the source's component, else the reporting controller
/// (pkg/registry/core/event/strategy.go `ToSelectableFields`).
fn source_field(core: &Value) -> Option<String> {
    str_at(core, "/source/component")
        .filter(|s| !s.is_empty())
        .or_else(|| str_at(core, "/reportingComponent"))
        .map(str::to_string)
}

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
                "source" => Ok(source_field(obj)),
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

struct EventsV1;

impl Strategy for EventsV1 {
    fn has_generation(&self) -> bool {
        false
    }

    /// events.k8s.io/v1's strict create validation (pkg/apis/core/validation/events.go
    /// `ValidateEventCreate`): a new-style event names its time, reporter and action, and
    /// leaves the deprecated fields unset.
    fn validate(&self, event: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        validate_name(event, &mut causes);
        let set = |f: &str| event.get(f).is_some_and(|v| !v.is_null());
        let text = |f: &str| event.get(f).and_then(Value::as_str).unwrap_or("");
        if !set("eventTime") {
            causes.push(required("eventTime", ""));
        }
        if !matches!(text("type"), "Normal" | "Warning") {
            let detail = format!("has invalid value: {}", text("type"));
            causes.push(invalid("type", &go_quote(""), &detail));
        }
        for field in [
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ] {
            if set(field) && event[field] != json!(0) {
                causes.push(invalid(field, &go_quote(""), "needs to be unset"));
            }
        }
        let source_set = ["component", "host"].iter().any(|k| {
            str_at(event, &format!("/deprecatedSource/{k}")).is_some_and(|v| !v.is_empty())
        });
        if source_set {
            causes.push(invalid(
                "deprecatedSource",
                &go_quote(""),
                "needs to be unset",
            ));
        }
        for field in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            if text(field).is_empty() {
                causes.push(required(field, ""));
            }
        }
        causes
    }

    fn stored_form(&self, obj: Value) -> Value {
        v1_to_core(&obj)
    }

    fn served_form(&self, obj: Value) -> Value {
        core_to_v1(&obj)
    }

    /// pkg/apis/events/v1 `AddFieldLabelConversionsForEvent`: `regarding.*`,
    /// `reportingController`, `reason`, `type`, `source`.
    fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        let s = |p: &str| Ok(str_at(obj, p).map(str::to_string));
        match field.strip_prefix("regarding.") {
            Some(
                sub @ ("kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion"
                | "fieldPath"),
            ) => s(&format!("/regarding/{sub}")),
            Some(_) => Err(()),
            None => match field {
                "reason" => s("/reason"),
                "type" => s("/type"),
                "reportingController" => s("/reportingController"),
                "source" => Ok(source_field(&v1_to_core(obj))),
                _ => Err(()),
            },
        }
    }

    fn columns(&self) -> Vec<Column> {
        Events.columns()
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
        Events.cells(&v1_to_core(o), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "p.1", "namespace": "ns"},
            "eventTime": "2026-12-01T10:00:00.000000Z",
            "reportingController": "default-scheduler",
            "reportingInstance": "default-scheduler-host",
            "action": "Binding", "reason": "Scheduled", "type": "Normal",
            "note": "Successfully assigned ns/p to node-1",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
        })
    }

    #[test]
    fn an_events_v1_event_reads_through_core_v1_as_kube_apiserver_serves_it() {
        let core = v1_to_core(&scheduler_event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["source"], json!({}), "empty source");
        assert_eq!(core["reportingComponent"], "default-scheduler");
        assert_eq!(core["reportingInstance"], "default-scheduler-host");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "Successfully assigned ns/p to node-1");
        assert_eq!(core["action"], "Binding");
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(core["lastTimestamp"], Value::Null);
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        let k8s: k8s_openapi::api::core::v1::Event = serde_json::from_value(core).unwrap();
        assert_eq!(k8s.source.unwrap_or_default().component, None);
    }

    #[test]
    fn a_core_event_reads_through_events_v1_with_its_deprecated_fields() {
        let kubelet = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "p.2", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
            "reason": "Pulled", "message": "Container image \"busybox\" already present on machine",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:00:00Z",
            "count": 1, "type": "Normal", "reportingComponent": "kubelet", "reportingInstance": "node-1",
        });
        let v1 = core_to_v1(&kubelet);
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"]["fieldPath"], "spec.containers{c}");
        assert_eq!(v1["note"], kubelet["message"]);
        assert_eq!(v1["deprecatedSource"], kubelet["source"]);
        assert_eq!(v1["deprecatedFirstTimestamp"], kubelet["firstTimestamp"]);
        assert_eq!(v1["deprecatedCount"], 1);
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["eventTime"], Value::Null);
        assert!(v1.get("message").is_none() && v1.get("source").is_none());
        assert_eq!(
            core_to_v1(&v1_to_core(&scheduler_event())),
            json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "p.1", "namespace": "ns"},
                "eventTime": "2026-12-01T10:00:00.000000Z",
                "reportingController": "default-scheduler",
                "reportingInstance": "default-scheduler-host",
                "action": "Binding", "reason": "Scheduled", "type": "Normal",
                "note": "Successfully assigned ns/p to node-1",
                "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
                "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null,
            }),
            "a round trip keeps everything"
        );
    }

    #[test]
    fn field_selectors_of_each_api() {
        let v1 = scheduler_event();
        assert_eq!(EventsV1.field(&v1, "regarding.name"), Ok(Some("p".into())));
        assert_eq!(
            EventsV1.field(&v1, "reportingController"),
            Ok(Some("default-scheduler".into()))
        );
        assert_eq!(
            EventsV1.field(&v1, "source"),
            Ok(Some("default-scheduler".into())),
            "no source component: the reporting controller"
        );
        assert_eq!(EventsV1.field(&v1, "involvedObject.name"), Err(()));
        let core = v1_to_core(&v1);
        assert_eq!(
            Events.field(&core, "source"),
            Ok(Some("default-scheduler".into()))
        );
        assert_eq!(Events.field(&core, "regarding.name"), Err(()));
    }

    #[test]
    fn new_style_events_must_name_their_reporter_and_action() {
        assert_eq!(EventsV1.validate(&scheduler_event()), Vec::new());
        let bare = json!({"metadata": {"name": "e"}, "type": "Odd", "deprecatedSource": {"component": "x"}});
        let fields: Vec<String> = EventsV1
            .validate(&bare)
            .into_iter()
            .filter_map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            [
                "eventTime",
                "type",
                "deprecatedSource",
                "reportingController",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
    }
}
