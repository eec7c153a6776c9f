use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::json;

use super::*;
use crate::images::{build_archive, parse_recipe};

fn built(reference: &str) -> crate::images::ImageArchive {
    let recipe = parse_recipe(&format!(
        "reference: {reference}\nlayer:\n  files:\n    - path: /hello\n      contents: hi\n"
    ))
    .unwrap();
    build_archive(&recipe).unwrap()
}

/// The regular files of a tar, by path.
fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() == tar::EntryType::Regular {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(path, data);
        }
    }
    out
}

fn tar_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, &data[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn err(bytes: &[u8]) -> String {
    read_archive(bytes, "in.tar").unwrap_err().to_string()
}

#[test]
fn a_built_layout_reads_back_byte_for_byte() {
    let archive = built("docker.io/me/tool:1");
    let images = read_archive(&archive.bytes, "tool.tar").unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.names, ["docker.io/me/tool:1"]);
    assert_eq!(image.manifest.digest, archive.manifest_digest);
    assert_eq!(image.manifest.media_type, MEDIA_TYPE_MANIFEST);
    let digests: Vec<&str> = image.blobs.iter().map(|b| b.digest.as_str()).collect();
    assert_eq!(digests, [&archive.config_digest, &archive.layer_digest]);
    for blob in image.blobs.iter().chain([&image.manifest]) {
        assert_eq!(digest(&blob.bytes), blob.digest);
    }
}

/// A `docker save` of Docker before 25: `manifest.json`, a config file, layer tars.
fn docker_save(repo_tags: serde_json::Value, layer: &[u8]) -> Vec<u8> {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_name = format!("{}.json", digest(config).trim_start_matches("sha256:"));
    let manifest =
        json!([{"Config": config_name, "RepoTags": repo_tags, "Layers": ["abc/layer.tar"]}]);
    tar_of(&BTreeMap::from([
        (
            "manifest.json".to_owned(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
        (config_name, config.to_vec()),
        ("abc/layer.tar".to_owned(), layer.to_vec()),
    ]))
}

#[test]
fn a_legacy_docker_save_becomes_an_oci_image_under_full_names() {
    let layer = tar_of(&BTreeMap::from([("hello".to_owned(), b"hi".to_vec())]));
    let images = read_archive(
        &docker_save(json!(["busybox:latest", "me/x:2"]), &layer),
        "s",
    )
    .unwrap();
    let image = &images[0];
    assert_eq!(
        image.names,
        ["docker.io/library/busybox:latest", "docker.io/me/x:2"]
    );
    assert_eq!(image.blobs[1].media_type, MEDIA_TYPE_LAYER);
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    assert_eq!(manifest["config"]["digest"], image.blobs[0].digest);
    assert_eq!(manifest["layers"][0]["digest"], image.blobs[1].digest);
    assert_eq!(manifest["layers"][0]["size"], layer.len());

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).unwrap();
    let gz = gz.finish().unwrap();
    let images = read_archive(&docker_save(json!(["busybox:latest"]), &gz), "s").unwrap();
    assert_eq!(images[0].blobs[1].media_type, MEDIA_TYPE_LAYER_GZIP);
}

/// The built layout with its `index.json` replaced and `extra` blobs added.
fn relayout(index: serde_json::Value, extra: &[&[u8]]) -> (crate::images::ImageArchive, Vec<u8>) {
    let archive = built("docker.io/me/tool:1");
    let mut files = untar(&archive.bytes);
    files.insert("index.json".into(), serde_json::to_vec(&index).unwrap());
    for blob in extra {
        files.insert(blob_path(&digest(blob)), blob.to_vec());
    }
    let bytes = tar_of(&files);
    (archive, bytes)
}

fn manifest_descriptor(
    archive: &crate::images::ImageArchive,
    os: &str,
    arch: &str,
) -> serde_json::Value {
    let files = untar(&archive.bytes);
    let size = files[&blob_path(&archive.manifest_digest)].len();
    json!({"mediaType": MEDIA_TYPE_MANIFEST, "digest": archive.manifest_digest, "size": size,
           "platform": {"os": os, "architecture": arch}})
}

#[test]
fn a_nested_index_yields_this_machines_manifest() {
    let archive = built("docker.io/me/tool:1");
    let host = Platform::host();
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        manifest_descriptor(&archive, "windows", "arm64"),
        manifest_descriptor(&archive, &host.os, &host.architecture),
    ]}))
    .unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::images::MEDIA_TYPE_INDEX, "digest": digest(&nested), "size": nested.len(),
        "annotations": {ANNOTATION_CONTAINERD_NAME: "quay.io/me/tool:2"}}]});
    let (archive, bytes) = relayout(index, &[&nested]);
    let images = read_archive(&bytes, "multi.tar").unwrap();
    assert_eq!(images[0].names, ["quay.io/me/tool:2"]);
    assert_eq!(images[0].manifest.digest, archive.manifest_digest);

    let other = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        manifest_descriptor(&archive, "windows", "arm64")]}))
    .unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::images::MEDIA_TYPE_INDEX, "digest": digest(&other), "size": other.len()}]});
    let (_, bytes) = relayout(index, &[&other]);
    let message = err(&bytes);
    assert!(message.contains("has no manifest for"), "{message}");
}

#[test]
fn docker_25_layouts_take_their_names_from_repo_tags() {
    let archive = built("docker.io/me/tool:1");
    let mut descriptor = manifest_descriptor(&archive, "linux", "amd64");
    descriptor["annotations"] = json!({ANNOTATION_REF_NAME: "latest"});
    let (_, bytes) = relayout(json!({"schemaVersion": 2, "manifests": [descriptor]}), &[]);
    let mut files = untar(&bytes);
    let saved = json!([{"Config": blob_path(&archive.config_digest), "RepoTags": ["team/app:3"], "Layers": []}]);
    files.insert("manifest.json".into(), serde_json::to_vec(&saved).unwrap());
    let images = read_archive(&tar_of(&files), "d25.tar").unwrap();
    assert_eq!(images[0].names, ["docker.io/team/app:3"]);

    // Without RepoTags a bare ref.name is no name at all.
    files.remove("manifest.json");
    let message = err(&tar_of(&files));
    assert!(message.contains("has no name"), "{message}");
}

#[test]
fn hostile_archives_are_errors_that_say_what_is_wrong() {
    assert!(err(b"not a tar at all, just some bytes that go on and on").contains("in.tar"));
    let empty = tar_of(&BTreeMap::new());
    assert!(
        err(&empty).contains("neither index.json"),
        "{}",
        err(&empty)
    );

    let archive = built("docker.io/me/tool:1");
    let files = untar(&archive.bytes);

    let mut tampered = files.clone();
    tampered.insert(blob_path(&archive.layer_digest), b"other bytes".to_vec());
    let message = err(&tar_of(&tampered));
    assert!(
        message.contains(&format!("blob {} has digest", archive.layer_digest)),
        "{message}"
    );

    let mut missing = files.clone();
    missing.remove(&blob_path(&archive.config_digest));
    let message = err(&tar_of(&missing));
    assert!(message.contains("is missing"), "{message}");

    let mut bad_json = files.clone();
    bad_json.insert("index.json".into(), b"{not json".to_vec());
    let message = err(&tar_of(&bad_json));
    assert!(message.contains("index.json is not valid"), "{message}");

    let mut no_images = files.clone();
    no_images.insert(
        "index.json".into(),
        br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
    );
    assert!(err(&tar_of(&no_images)).contains("no image"));

    let mut sha512 = files;
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": MEDIA_TYPE_MANIFEST,
        "digest": format!("sha512:{}", "0".repeat(128)), "size": 1}]});
    sha512.insert("index.json".into(), serde_json::to_vec(&index).unwrap());
    let message = err(&tar_of(&sha512));
    assert!(message.contains("only sha256"), "{message}");
}
