//! The image builder against the project's recipes (`fixtures/images`): the OCI layout, the
//! digests, the layer's contents, determinism and the errors. The recipes copy Debian's static
//! busybox (`/bin/busybox`, package busybox-static); without it these tests fail unless
//! `PODCHECK_SKIP_REAL=1`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use podcheck_node::images::{
    self, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ImageError, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_MANIFEST,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const HOST_BUSYBOX: &str = "/bin/busybox";

/// `true` when the host's busybox is there; `false` (skip) only with `PODCHECK_SKIP_REAL=1`.
fn have_busybox() -> bool {
    if Path::new(HOST_BUSYBOX).is_file() {
        return true;
    }
    if std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("PODCHECK_SKIP_REAL=1 and no {HOST_BUSYBOX}: skipping");
        return false;
    }
    panic!(
        "{HOST_BUSYBOX} is missing: install Debian's busybox-static (`apt-get install -y \
         busybox-static`, as .ci/run does) or set PODCHECK_SKIP_REAL=1 to skip tests on real \
         components"
    );
}

fn recipe_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/images")
        .join(name)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Every entry of a tar: path → (entry type, mode, uid, gid, mtime, link target, bytes).
#[derive(Debug)]
struct Entry {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn entries(tar_bytes: &[u8]) -> (Vec<String>, BTreeMap<String, Entry>) {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut order = Vec::new();
    let mut map = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        order.push(path.clone());
        let previous = map.insert(
            path.clone(),
            Entry {
                kind: header.entry_type(),
                mode: header.mode().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                mtime: header.mtime().unwrap(),
                link: header
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            },
        );
        assert!(previous.is_none(), "{path} twice in the archive");
    }
    (order, map)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn blob<'a>(archive: &'a BTreeMap<String, Entry>, digest: &str) -> &'a [u8] {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let entry = archive
        .get(&format!("blobs/sha256/{hex}"))
        .unwrap_or_else(|| panic!("no blob for {digest}"));
    assert_eq!(sha256(&entry.data), digest, "blob content matches its name");
    &entry.data
}

/// The archive, the parsed index, manifest, config, and the uncompressed layer's entries.
struct Opened {
    archive: BTreeMap<String, Entry>,
    index: Value,
    manifest: Value,
    config: Value,
    layer_gz: Vec<u8>,
    layer_tar: Vec<u8>,
}

fn open(bytes: &[u8]) -> Opened {
    let (_, archive) = entries(bytes);
    let index: Value = serde_json::from_slice(&archive["index.json"].data).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest: Value = serde_json::from_slice(blob(&archive, &manifest_digest)).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let config: Value = serde_json::from_slice(blob(&archive, &config_digest)).unwrap();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let layer_gz = blob(&archive, &layer_digest).to_vec();
    let layer_tar = gunzip(&layer_gz);
    Opened {
        archive,
        index,
        manifest,
        config,
        layer_gz,
        layer_tar,
    }
}

#[test]
fn busybox_archive_is_an_oci_layout_naming_its_reference() {
    if !have_busybox() {
        return;
    }
    let recipe = images::load_recipe(recipe_path("busybox.yaml")).unwrap();
    let built = images::build_archive(&recipe).unwrap();
    assert_eq!(built.reference, "docker.io/library/busybox:latest");
    // What a pod names as `busybox` is this reference after CRI's normalisation.
    assert_eq!(
        images::normalize_reference("busybox").unwrap().to_string(),
        built.reference
    );

    let (order, _) = entries(&built.bytes);
    assert_eq!(
        &order[..4],
        ["oci-layout", "index.json", "blobs/", "blobs/sha256/"]
    );
    let o = open(&built.bytes);
    assert_eq!(
        serde_json::from_slice::<Value>(&o.archive["oci-layout"].data).unwrap(),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );
    assert_eq!(
        order.len(),
        7,
        "layout, index, two dirs, three blobs: {order:?}"
    );

    // index.json
    assert_eq!(o.index["schemaVersion"], 2);
    let manifests = o.index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    let desc = &manifests[0];
    assert_eq!(desc["mediaType"], MEDIA_TYPE_MANIFEST);
    assert_eq!(desc["digest"], built.manifest_digest.as_str());
    assert_eq!(
        desc["annotations"][ANNOTATION_CONTAINERD_NAME],
        built.reference.as_str()
    );
    assert_eq!(desc["annotations"][ANNOTATION_REF_NAME], "latest");
    assert_eq!(desc["platform"]["architecture"], o.config["architecture"]);
    let manifest_blob = blob(&o.archive, &built.manifest_digest);
    assert_eq!(desc["size"], manifest_blob.len());

    // manifest
    assert_eq!(o.manifest["schemaVersion"], 2);
    assert_eq!(o.manifest["mediaType"], MEDIA_TYPE_MANIFEST);
    assert_eq!(o.manifest["config"]["digest"], built.config_digest.as_str());
    assert_eq!(
        o.manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = o.manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], MEDIA_TYPE_LAYER_GZIP);
    // The layer digest is the sha256 of the gzip blob; the diff_id that of the plain tar.
    assert_eq!(layers[0]["digest"], sha256(&o.layer_gz).as_str());
    assert_eq!(layers[0]["digest"], built.layer_digest.as_str());
    assert_eq!(layers[0]["size"], o.layer_gz.len());
    assert_eq!(
        o.config["rootfs"],
        serde_json::json!({"type": "layers", "diff_ids": [sha256(&o.layer_tar)]})
    );
    assert_eq!(built.layer_diff_id, sha256(&o.layer_tar));
    assert_ne!(built.layer_diff_id, built.layer_digest);

    // config
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        assert_eq!(o.config["architecture"], "amd64");
        assert_eq!(o.config["os"], "linux");
    }
    assert_eq!(o.config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(o.config["config"].get("Entrypoint").is_none());
    assert!(
        o.config["config"]["Env"][0]
            .as_str()
            .unwrap()
            .starts_with("PATH=")
    );
}

#[test]
fn busybox_layer_holds_the_static_binary_applets_and_etc() {
    if !have_busybox() {
        return;
    }
    let recipe = images::load_recipe(recipe_path("busybox.yaml")).unwrap();
    let o = open(&images::build_archive(&recipe).unwrap().bytes);
    let (order, layer) = entries(&o.layer_tar);

    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "layer entries are sorted");
    for (path, e) in &layer {
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0), "{path}");
        assert!(!path.starts_with('/'), "{path}");
    }

    let bb = &layer["bin/busybox"];
    assert_eq!(bb.kind, tar::EntryType::Regular);
    assert_eq!(bb.mode, 0o755);
    assert!(
        bb.data == std::fs::read(HOST_BUSYBOX).unwrap(),
        "bin/busybox is the host's /bin/busybox"
    );
    images::check_static_elf(&bb.data).expect("static busybox");

    let host_applets = std::process::Command::new(HOST_BUSYBOX)
        .arg("--list")
        .output()
        .unwrap();
    let host_applets = String::from_utf8(host_applets.stdout).unwrap();
    let host_applets: Vec<&str> = host_applets.lines().collect();
    let wanted = [
        "sh", "cat", "echo", "ls", "sleep", "nslookup", "wget", "hostname", "env", "ps", "true",
        "false",
    ];
    let applets = recipe.layer.applets.as_ref().unwrap();
    for name in wanted {
        assert!(
            applets.names.iter().any(|n| n == name),
            "{name} in the recipe"
        );
    }
    for name in &applets.names {
        let e = layer
            .get(&format!("bin/{name}"))
            .unwrap_or_else(|| panic!("bin/{name}"));
        assert_eq!(e.kind, tar::EntryType::Symlink, "bin/{name}");
        assert_eq!(e.link.as_deref(), Some("busybox"), "bin/{name}");
        assert!(
            host_applets.contains(&name.as_str()),
            "{name} is an applet of the host's busybox"
        );
    }

    let passwd = String::from_utf8(layer["etc/passwd"].data.clone()).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    assert_eq!(layer["etc/passwd"].mode, 0o644);
    assert!(String::from_utf8_lossy(&layer["etc/group"].data).starts_with("root:x:0:"));
    for dir in ["bin/", "etc/", "tmp/"] {
        assert_eq!(layer[dir].kind, tar::EntryType::Directory, "{dir}");
    }
    assert_eq!(layer["tmp/"].mode, 0o1777);
}

#[test]
fn pause_image_names_the_sandbox_reference_and_traps_sigterm() {
    if !have_busybox() {
        return;
    }
    let recipe = images::load_recipe(recipe_path("pause.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pause.tar");
    let built = images::build(&recipe, &out).unwrap();
    assert_eq!(built.reference, "registry.k8s.io/pause:3.9");
    assert_eq!(built.path, out);
    let o = open(&std::fs::read(&out).unwrap());
    assert_eq!(
        o.index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
        "3.9"
    );
    assert_eq!(
        o.config["config"]["Entrypoint"][0], "/bin/sh",
        "{}",
        o.config
    );
    assert!(
        o.config["config"]["Entrypoint"][2]
            .as_str()
            .unwrap()
            .contains("trap")
    );
    let (_, layer) = entries(&o.layer_tar);
    for name in ["sh", "sleep"] {
        assert_eq!(
            layer[&format!("bin/{name}")].link.as_deref(),
            Some("busybox")
        );
    }
    assert_eq!(layer["bin/busybox"].mode, 0o755);
}

#[test]
fn builds_are_deterministic() {
    if !have_busybox() {
        return;
    }
    for name in ["busybox.yaml", "pause.yaml"] {
        let recipe = images::load_recipe(recipe_path(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = images::build(&recipe, &dir.path().join("a.tar")).unwrap();
        let b = images::build(&recipe, &dir.path().join("b.tar")).unwrap();
        assert_eq!(a.manifest_digest, b.manifest_digest, "{name}");
        assert_eq!(a.config_digest, b.config_digest, "{name}");
        assert_eq!(a.layer_digest, b.layer_digest, "{name}");
        assert_eq!(a.layer_diff_id, b.layer_diff_id, "{name}");
        assert!(
            std::fs::read(&a.path).unwrap() == std::fs::read(&b.path).unwrap(),
            "{name}: identical archives"
        );
    }
}

#[test]
fn unknown_field_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "reference: example.io/x:1\nlayer:\n  files: []\n  symlink: []\n",
    )
    .unwrap();
    let err = images::load_recipe(&path).unwrap_err();
    assert!(matches!(err, ImageError::ParseRecipe { .. }), "{err:?}");
    let top = err.to_string();
    assert!(
        top.contains("invalid image recipe") && top.contains("bad.yaml"),
        "{top}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("unknown field") && cause.contains("symlink"),
        "{cause}"
    );
}

#[test]
fn missing_source_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    std::fs::write(
        &path,
        "reference: example.io/x:1\nlayer:\n  files:\n    - { path: /bin/tool, source: no-such-tool }\n",
    )
    .unwrap();
    let recipe = images::load_recipe(&path).unwrap();
    let err = images::build(&recipe, &dir.path().join("x.tar")).unwrap_err();
    let message = err.to_string();
    let expected = dir.path().join("no-such-tool");
    assert!(
        message.contains(&expected.display().to_string()) && message.contains("/bin/tool"),
        "{message}"
    );
    assert!(matches!(err, ImageError::ReadSource { .. }), "{err:?}");
    assert!(
        !dir.path().join("x.tar").exists(),
        "nothing written on failure"
    );
}

#[test]
fn require_static_refuses_a_dynamic_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dyn.yaml");
    // This test's own executable is dynamically linked (glibc).
    let me = std::env::current_exe().unwrap();
    std::fs::write(
        &path,
        format!(
            "reference: example.io/x:1\nlayer:\n  files:\n    - {{ path: /bin/x, source: \"{}\", requireStatic: true }}\n",
            me.display()
        ),
    )
    .unwrap();
    let recipe = images::load_recipe(&path).unwrap();
    let err = images::build_archive(&recipe).unwrap_err();
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(matches!(err, ImageError::NotStatic { .. }), "{err:?}");
        assert!(err.to_string().contains("PT_INTERP"), "{err}");
    }
}

#[test]
fn inline_recipe_without_host_files_builds() {
    // Needs no busybox: a layer of inline files, directories and symlinks only.
    let recipe = images::parse_recipe(
        "reference: example.io/team/tool:v2\n\
         config: { cmd: [/bin/tool] }\n\
         layer:\n\
         \x20 directories: [{ path: /var/tmp, mode: \"1777\" }]\n\
         \x20 files: [{ path: /etc/motd, contents: hello }]\n\
         \x20 symlinks: [{ path: /etc/issue, target: motd }]\n",
    )
    .unwrap();
    let built = images::build_archive(&recipe).unwrap();
    let o = open(&built.bytes);
    assert_eq!(
        o.index["manifests"][0]["annotations"][ANNOTATION_CONTAINERD_NAME],
        "example.io/team/tool:v2"
    );
    assert_eq!(
        o.index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
        "v2"
    );
    let (order, layer) = entries(&o.layer_tar);
    assert_eq!(order, ["etc/", "etc/issue", "etc/motd", "var/", "var/tmp/"]);
    assert_eq!(layer["etc/motd"].data, b"hello");
    assert_eq!(layer["var/tmp/"].mode, 0o1777);
    assert_eq!(layer["var/"].mode, 0o755);
}
