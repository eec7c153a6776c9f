//! Namespaces: names that are DNS-1123 labels, defaulting, the `default` ServiceAccount
//! made with each one, and deletion by termination (the namespace finalizer empties a
//! terminating namespace, then removes it).

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::validation::validate_name;
use super::{Resource, STATUS, Strategy};
use crate::apiserver::object::{self, str_at};
use crate::apiserver::registry::Registry;
use crate::apiserver::status::{ApiError, cause};
use crate::apiserver::table::{AGE, Column, NAME, age, col, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["ns"],
    subresources: &[STATUS],
    has_status_subresource: true,
    ..Resource::new(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &Namespaces,
    )
};

struct Namespaces;

#[async_trait]
impl Strategy for Namespaces {
    fn prepare_for_create(&self, ns: &mut Value) {
        default_namespace(ns);
    }

    fn validate(&self, ns: &Value) -> Vec<StatusCause> {
        let mut causes = Vec::new();
        validate_name(ns, &mut causes);
        if let Some(n) = object::name(ns)
            && !podcheck_core::dns_name::is_label(n)
        {
            causes.push(cause(
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{n}\": {}",
                    podcheck_core::dns_name::LABEL_MESSAGE
                ),
            ));
        }
        causes
    }

    /// The ServiceAccount controller's part: every namespace has `default`.
    async fn store(
        &self,
        registry: &Registry,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let created = registry.store_new(r, ns, name, &obj).await?;
        let accounts = super::lookup("", "v1", "serviceaccounts").expect("served");
        match registry
            .create(
                accounts,
                Some(name),
                json!({"metadata": {"name": "default"}}),
            )
            .await
        {
            Ok(_) | Err(ApiError { code: 409, .. }) => Ok(created),
            Err(e) => Err(e),
        }
    }

    fn terminates(&self) -> bool {
        true
    }

    fn removed_by_controller(&self) -> bool {
        true
    }

    fn field(&self, obj: &Value, field: &str) -> Result<Option<String>, ()> {
        match field {
            "status.phase" => Ok(str_at(obj, "/status/phase").map(str::to_string)),
            _ => Err(()),
        }
    }

    fn columns(&self) -> Vec<Column> {
        vec![NAME, col("Status", 0, "The status of the namespace"), AGE]
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
        let name = text(o, "/metadata/name");
        let created = age(o, "/metadata/creationTimestamp", now);
        vec![json!(name), json!(text(o, "/status/phase")), json!(created)]
    }
}

/// Namespace defaulting: the `kubernetes` finalizer, phase Active and the name label.
fn default_namespace(ns: &mut Value) {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = object::meta_mut(ns);
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    labels["kubernetes.io/metadata.name"] = json!(name);
    ns["spec"] = json!({"finalizers": ["kubernetes"]});
    ns["status"] = json!({"phase": "Active"});
}
