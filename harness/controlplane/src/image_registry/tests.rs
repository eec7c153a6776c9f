use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use podcheck_node::images::catalog::Catalog;
use podcheck_node::images::{build_archive, parse_recipe};
use rstest::rstest;
use tower::ServiceExt as _;

use super::{Route, Shared, parse_route, router, valid_repository};

fn catalog() -> (Arc<Catalog>, String) {
    let recipe = parse_recipe(
        "reference: docker.io/library/tiny:1.0\nlayer:\n  files:\n    - path: /hello\n      contents: hi\n",
    )
    .unwrap();
    let archive = build_archive(&recipe).unwrap();
    let catalog = Catalog::default();
    catalog.add_archive(&archive.bytes, "tiny.tar").unwrap();
    (Arc::new(catalog), archive.manifest_digest)
}

async fn ask(
    shared: &Shared,
    method: Method,
    path: &str,
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router(shared.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn shared() -> (Shared, String) {
    let (catalog, digest) = catalog();
    (
        Shared {
            catalog,
            served: Arc::new(Mutex::new(Vec::new())),
        },
        digest,
    )
}

#[rstest]
#[case("/v2/", Route::Base)]
#[case("/v2", Route::Base)]
#[case("/v2/_catalog", Route::Catalog)]
#[case(
    "/v2/docker.io/library/busybox/tags/list",
    Route::Tags("docker.io/library/busybox")
)]
#[case(
    "/v2/docker.io/library/busybox/manifests/latest",
    Route::Manifest("docker.io/library/busybox", "latest")
)]
#[case("/v2/a/blobs/sha256:00", Route::Blob("a", "sha256:00"))]
#[case("/v2/a/manifests/", Route::Unknown)]
#[case("/v3/", Route::Unknown)]
fn routes_are_found_from_the_end(#[case] path: &str, #[case] want: Route<'_>) {
    assert_eq!(parse_route(path), want);
}

#[rstest]
#[case("docker.io/library/busybox", true)]
#[case("registry.k8s.io/pause", true)]
#[case("a/b_c/d-e", true)]
#[case("Upper/case", false)]
#[case("a//b", false)]
#[case("-a", false)]
#[case("", false)]
fn repository_names(#[case] name: &str, #[case] valid: bool) {
    assert_eq!(valid_repository(name), valid);
}

#[tokio::test]
async fn a_pull_resolves_the_tag_then_fetches_by_digest() {
    let (shared, digest) = shared();
    let since = Instant::now();
    let (status, headers, body) = ask(
        &shared,
        Method::HEAD,
        "/v2/docker.io/library/tiny/manifests/1.0",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "HEAD has no body");
    assert_eq!(headers["docker-content-digest"], digest.as_str());
    assert_eq!(
        headers["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(headers["docker-distribution-api-version"], "registry/2.0");
    let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();

    let path = format!("/v2/docker.io/library/tiny/manifests/{digest}");
    let (status, _, manifest) = ask(&shared, Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(manifest.len(), length);
    assert_eq!(podcheck_node::images::digest(&manifest), digest);

    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for blob in [&manifest["config"], &manifest["layers"][0]] {
        let want = blob["digest"].as_str().unwrap();
        let path = format!("/v2/docker.io/library/tiny/blobs/{want}");
        let (status, headers, bytes) = ask(&shared, Method::GET, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["docker-content-digest"], want);
        assert_eq!(podcheck_node::images::digest(&bytes), want);
        assert_eq!(bytes.len() as u64, blob["size"].as_u64().unwrap());
    }
    let served = shared.served.lock().unwrap().clone();
    assert_eq!(served.len(), 2);
    assert!(served.iter().all(|s| s.digest == digest && s.at >= since));
    assert_eq!(
        (served[0].method.as_str(), served[0].reference.as_str()),
        ("HEAD", "1.0")
    );
}

#[rstest]
#[case(
    Method::GET,
    "/v2/docker.io/library/tiny/manifests/2.0",
    StatusCode::NOT_FOUND,
    "MANIFEST_UNKNOWN"
)]
#[case(
    Method::GET,
    "/v2/docker.io/library/nosuch/manifests/1.0",
    StatusCode::NOT_FOUND,
    "NAME_UNKNOWN"
)]
#[case(
    Method::GET,
    "/v2/docker.io/library/tiny/blobs/sha256:0000",
    StatusCode::NOT_FOUND,
    "BLOB_UNKNOWN"
)]
#[case(
    Method::GET,
    "/v2/Docker.io/x/manifests/1",
    StatusCode::BAD_REQUEST,
    "NAME_INVALID"
)]
#[case(
    Method::PUT,
    "/v2/docker.io/library/tiny/manifests/1.0",
    StatusCode::METHOD_NOT_ALLOWED,
    "UNSUPPORTED"
)]
#[case(
    Method::POST,
    "/v2/docker.io/library/tiny/blobs/uploads/",
    StatusCode::METHOD_NOT_ALLOWED,
    "UNSUPPORTED"
)]
#[tokio::test]
async fn failures_speak_the_distribution_errors(
    #[case] method: Method,
    #[case] path: &str,
    #[case] status: StatusCode,
    #[case] code: &str,
) {
    let (shared, _) = shared();
    let (got, _, body) = ask(&shared, method, path).await;
    assert_eq!(got, status);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
}

#[tokio::test]
async fn listings() {
    let (shared, _) = shared();
    let (_, _, body) = ask(&shared, Method::GET, "/v2/_catalog").await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["repositories"],
        serde_json::json!(["docker.io/library/tiny"])
    );
    let (_, _, body) = ask(&shared, Method::GET, "/v2/docker.io/library/tiny/tags/list").await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["tags"], serde_json::json!(["1.0"]));
    let (status, _, _) = ask(&shared, Method::GET, "/v2/").await;
    assert_eq!(status, StatusCode::OK);
}
