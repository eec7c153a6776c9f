//! The image registry of the embedded cluster: the read side of the OCI distribution API
//! (`/v2/`, manifests and blobs by GET and HEAD, tag lists, the catalog) over plain HTTP on
//! 127.0.0.1, serving a [`Catalog`]. The nodes' containerds reach it through their
//! `hosts.toml`, each upstream registry under a path of its own (`/v2/docker.io/library/…`),
//! so `docker.io/library/busybox` and `quay.io/library/busybox` stay different repositories.
//!
//! Pushes are refused (`UNSUPPORTED`): podcheck adds images itself. Every manifest served
//! is recorded, so that a stage can show the digest a pull got.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use podcheck_node::images::archive::Blob;
use podcheck_node::images::catalog::Catalog;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The header every distribution response carries.
const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

/// A manifest the registry served: by tag (the resolve) or by digest (the fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedManifest {
    /// `docker.io/library/busybox`.
    pub repository: String,
    /// The tag or digest asked for.
    pub reference: String,
    pub digest: String,
    /// `GET` or `HEAD`.
    pub method: String,
    pub at: Instant,
}

/// What a registry served, readable while it runs and after (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct ServedLog(Arc<Mutex<Vec<ServedManifest>>>);

impl ServedLog {
    /// The manifests served since `since`, oldest first.
    pub fn since(&self, since: Instant) -> Vec<ServedManifest> {
        let served = self.0.lock().unwrap_or_else(|e| e.into_inner());
        served.iter().filter(|s| s.at >= since).cloned().collect()
    }
}

/// A running registry. Dropping it stops it.
pub struct ImageRegistry {
    addr: SocketAddr,
    catalog: Arc<Catalog>,
    served: Arc<Mutex<Vec<ServedManifest>>>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ImageRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageRegistry")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Shared {
    catalog: Arc<Catalog>,
    served: Arc<Mutex<Vec<ServedManifest>>>,
}

impl ImageRegistry {
    /// Serves `catalog` on a free port of 127.0.0.1.
    pub async fn start(catalog: Arc<Catalog>) -> std::io::Result<ImageRegistry> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            catalog: catalog.clone(),
            served: served.clone(),
        };
        let app = router(shared);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "the image registry stopped");
            }
        });
        tracing::debug!(%addr, "image registry listening");
        Ok(ImageRegistry {
            addr,
            catalog,
            served,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The images it serves.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The manifests served since `since`, oldest first.
    pub fn served_since(&self, since: Instant) -> Vec<ServedManifest> {
        self.served_log().since(since)
    }

    /// The log of what it serves, for probes that outlive a borrow of the registry.
    pub fn served_log(&self) -> ServedLog {
        ServedLog(self.served.clone())
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
        }
    }
}

impl Drop for ImageRegistry {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(shared: Shared) -> axum::Router {
    axum::Router::new().fallback(route).with_state(shared)
}

/// What a request under `/v2/` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Unknown,
}

/// Splits a path as the distribution spec lays it out; repository names hold slashes, so
/// the route is found from the end.
fn parse_route(path: &str) -> Route<'_> {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return if path == "/v2" {
            Route::Base
        } else {
            Route::Unknown
        };
    };
    if rest.is_empty() {
        return Route::Base;
    }
    if rest == "_catalog" {
        return Route::Catalog;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Route::Tags(name);
    }
    let split = |marker: &str| {
        rest.rsplit_once(marker)
            .filter(|(_, reference)| !reference.is_empty() && !reference.contains('/'))
    };
    if let Some((name, reference)) = split("/manifests/") {
        return Route::Manifest(name, reference);
    }
    if let Some((name, digest)) = split("/blobs/") {
        return Route::Blob(name, digest);
    }
    Route::Unknown
}

/// A repository name of the distribution spec: lowercase components separated by `/`,
/// each `[a-z0-9]+` joined by `.`, `_`, `__` or `-`s.
fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        })
}

async fn route(State(shared): State<Shared>, method: Method, uri: Uri) -> Response {
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry serves pulls only; podcheck adds images itself (--image-archive)",
        );
    }
    match parse_route(uri.path()) {
        Route::Base => json_response(json!({})),
        Route::Catalog => json_response(json!({"repositories": shared.catalog.repositories()})),
        Route::Tags(name) => match shared.catalog.tags(name) {
            Some(tags) => json_response(json!({"name": name, "tags": tags})),
            None => name_unknown(name),
        },
        Route::Manifest(name, reference) => {
            if !valid_repository(name) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "NAME_INVALID",
                    "invalid repository name",
                );
            }
            match shared.catalog.manifest(name, reference) {
                Some(blob) => {
                    record(&shared, name, reference, &blob.digest, &method);
                    blob_response(&blob, head)
                }
                None if !shared.catalog.has_repository(name) => name_unknown(name),
                None => error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("manifest unknown: {name}:{reference}"),
                ),
            }
        }
        Route::Blob(name, digest) => match shared.catalog.blob(name, digest) {
            Some(blob) => {
                let mut response = blob_response(&blob, head);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                response
            }
            None => error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                &format!("blob unknown to registry: {digest}"),
            ),
        },
        Route::Unknown => error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found"),
    }
}

fn record(shared: &Shared, repository: &str, reference: &str, digest: &str, method: &Method) {
    let mut served = shared.served.lock().unwrap_or_else(|e| e.into_inner());
    served.push(ServedManifest {
        repository: repository.to_owned(),
        reference: reference.to_owned(),
        digest: digest.to_owned(),
        method: method.to_string(),
        at: Instant::now(),
    });
}

/// The blob with its media type, digest and length; no body for HEAD.
fn blob_response(blob: &Blob, head: bool) -> Response {
    let body = if head {
        Body::empty()
    } else {
        Body::from(blob.bytes.clone())
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    headers.insert(header::CONTENT_TYPE, value(&blob.media_type));
    headers.insert("docker-content-digest", value(&blob.digest));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.bytes.len()));
    headers.insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    response
}

fn json_response(value: serde_json::Value) -> Response {
    let mut response = axum::Json(value).into_response();
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    response
}

fn name_unknown(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        &format!("repository name not known to registry: {name}"),
    )
}

/// An error body of the distribution spec.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": message, "detail": {}}]})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    response
}

#[cfg(test)]
mod tests;
