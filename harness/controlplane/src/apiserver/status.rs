//! API errors, answered as `metav1.Status` objects with Kubernetes' codes and reasons.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ListMeta, Status, StatusCause, StatusDetails,
};

use super::resources::Resource;

/// A failed API request: becomes a `Status` with the same HTTP code.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<StatusDetails>>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, r: &Resource, name: &str) -> Self {
        self.details = Some(Box::new(StatusDetails {
            name: Some(name.to_string()),
            group: (!r.group.is_empty()).then(|| r.group.to_string()),
            kind: Some(r.plural.to_string()),
            ..StatusDetails::default()
        }));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn not_found(r: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", r.qualified_plural()),
        )
        .with_details(r, name)
    }

    /// A path the server does not serve.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn already_exists(r: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", r.qualified_plural()),
        )
        .with_details(r, name)
    }

    /// A stale resourceVersion, or a precondition that no longer holds.
    pub fn conflict(r: &Resource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                r.qualified_plural()
            ),
        )
        .with_details(r, name)
    }

    /// An update written against an old resourceVersion.
    pub fn stale(r: &Resource, name: &str) -> Self {
        Self::conflict(
            r,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(r: &Resource, name: &str, causes: Vec<StatusCause>) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c.field.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                )
            })
            .collect();
        let mut err = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", r.kind, summary.join(", ")),
        )
        .with_details(r, name);
        if let Some(d) = err.details.as_mut() {
            d.kind = Some(r.kind.to_string());
            d.causes = Some(causes);
        }
        err
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "the request body is too large",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code)),
            details: self.details.as_deref().cloned(),
            message: Some(self.message.clone()),
            metadata: ListMeta::default(),
            reason: Some(self.reason.to_string()),
            status: Some("Failure".to_string()),
        }
    }
}

/// A `Status` as JSON, with `kind` and `apiVersion` set (k8s-openapi's serializer adds them).
pub fn status_json(status: &Status) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or_default()
}

/// The `Success` status that subresources such as `binding` answer with.
pub fn success(code: u16) -> Status {
    Status {
        code: Some(i32::from(code)),
        status: Some("Success".into()),
        ..Status::default()
    }
}

/// A field-level validation failure.
pub fn cause(reason: &str, field: &str, message: impl Into<String>) -> StatusCause {
    StatusCause {
        reason: Some(reason.to_string()),
        field: Some(field.to_string()),
        message: Some(message.into()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(status_json(&self.to_status()))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::gone(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            StoreError::FutureRevision { requested, current } => ApiError::timeout(format!(
                "Too large resource version: {requested}, current: {current}"
            )),
            other => ApiError::internal(other.to_string()),
        }
    }
}
