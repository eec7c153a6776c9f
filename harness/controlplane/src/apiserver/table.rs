//! `meta.k8s.io/v1` Tables: the server-side printing that `kubectl get` asks for. Each
//! kind's strategy gives its columns (priority 1 columns are the `-o wide` ones) and
//! cells; what every table shares is here.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::object::{parse_time, str_at};
use super::resources::Resource;

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

/// One column of a kind's table.
pub(crate) struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: i32,
    description: &'static str,
}

pub(crate) const fn col(name: &'static str, priority: i32, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        priority,
        description,
    }
}

pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
pub(crate) const AGE: Column = col(
    "Age",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// A Table of `objects` of `r`, as of `now`.
pub fn table(
    r: &Resource,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
    now: Timestamp,
) -> Value {
    let column_definitions: Vec<Value> = r.strategy
        .columns()
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": r.strategy.cells(o, now)});
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

/// The string at `pointer`, empty when unset.
pub(crate) fn text(obj: &Value, pointer: &str) -> String {
    str_at(obj, pointer).unwrap_or("").to_string()
}

/// kubectl's `<none>` for an empty cell.
pub(crate) fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// The age of the timestamp at `pointer`, as of `now`.
pub(crate) fn age(obj: &Value, pointer: &str, now: Timestamp) -> String {
    str_at(obj, pointer)
        .and_then(parse_time)
        .map(|t| human_duration(now.duration_since(t).as_secs()))
        .unwrap_or_else(|| "<unknown>".into())
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
    fn accept_headers() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
