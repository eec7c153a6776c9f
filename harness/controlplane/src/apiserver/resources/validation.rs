//! Validation rules several kinds share, in apimachinery's words: names, labels, enums,
//! integers, and the field errors (`Required value`, `Invalid value`, `Duplicate value`)
//! their causes carry.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

use podcheck_core::dns_name;
use podcheck_core::dns_name::regex_error;
pub(super) use podcheck_core::dns_name::{
    label_errors as dns1123_label_errors, max_len_error,
    subdomain_errors as dns1123_subdomain_errors,
};

use crate::apiserver::status::cause;

const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
pub(super) const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// `Required value`, with kube-apiserver's detail when it gives one.
pub(super) fn required(field: &str, detail: &str) -> StatusCause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    cause("FieldValueRequired", field, message)
}

/// `Invalid value: <shown>: <detail>`; `shown` is already formatted (quoted for strings).
pub(super) fn invalid(field: &str, shown: &str, detail: &str) -> StatusCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {shown}: {detail}"),
    )
}

pub(super) fn duplicate(field: &str, value: &str) -> StatusCause {
    cause(
        "FieldValueDuplicate",
        field,
        format!("Duplicate value: {}", go_quote(value)),
    )
}

/// A string as Go's `%q` prints it, which is how field errors show string values.
pub(super) fn go_quote(s: &str) -> String {
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
/// An integer field: None when unset, Err with the JSON text when it is not an integer.
pub(super) fn int_field(value: Option<&Value>) -> Option<Result<i64, String>> {
    let value = value.filter(|v| !v.is_null())?;
    Some(value.as_i64().ok_or_else(|| value.to_string()))
}

/// An enumerated field: unset is left to defaulting, empty is required, anything else
/// must be one of `supported` (listed in kube-apiserver's order).
pub(super) fn check_enum(
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

fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// apimachinery's `IsQualifiedName` messages (label keys).
pub(super) fn label_key_errors(key: &str) -> Vec<String> {
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
pub(super) fn label_value_errors(value: &str) -> Vec<String> {
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

/// Every object's name must be a DNS-1123 subdomain.
pub(super) fn validate_name(obj: &Value, causes: &mut Vec<StatusCause>) {
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        None | Some("") => causes.push(cause(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )),
        Some(n) if !dns_name::is_subdomain(n) => causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{n}\": {}", dns_name::SUBDOMAIN_MESSAGE),
        )),
        Some(_) => {}
    }
}

/// RBAC objects' names need only be valid path segments (`system:node` is a name).
pub(super) fn validate_path_segment_name(obj: &Value, causes: &mut Vec<StatusCause>) {
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
