//! Generates podcheck-protos' `src/etcd/*.rs` and `src/cri/*.rs` from the `.proto` files
//! shipped inside the crates `etcd-client` and `k8s-cri` (versions pinned in Cargo.toml and
//! Cargo.lock). Usage: `podcheck-protos-generate OUT_SRC_DIR` (see ../regenerate.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .expect("usage: podcheck-protos-generate OUT_SRC_DIR"),
    );
    let etcd = crate_dir("etcd-client");
    let cri = crate_dir("k8s-cri");

    // etcd v3: rpc.proto (KV, Watch, Lease, Cluster, Maintenance, Auth) and what it imports.
    let etcd_proto = etcd.join("proto");
    generate(
        &out.join("etcd"),
        &[
            "etcd/api/authpb/auth.proto",
            "etcd/api/mvccpb/kv.proto",
            "etcd/api/etcdserverpb/rpc.proto",
        ],
        &etcd_proto,
    );

    // CRI v1: runtime.v1 RuntimeService and ImageService.
    generate(&out.join("cri"), &["v1.proto"], &cri.join("proto"));
}

fn generate(out: &Path, protos: &[&str], include: &Path) {
    std::fs::create_dir_all(out).expect("create output dir");
    let protos: Vec<PathBuf> = protos.iter().map(|p| include.join(p)).collect();
    // Comments off everywhere: prost's "." matches every message, enum and field; tonic's
    // service generator only takes exact service and method names, so list them all.
    let mut config = prost_build::Config::new();
    config.disable_comments(["."]);
    let fds = config
        .load_fds(&protos, &[include.to_path_buf()])
        .unwrap_or_else(|e| panic!("protoc on {protos:?}: {e}"));
    let mut services = Vec::new();
    for file in &fds.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                services.push(format!("{name}.{}", method.name()));
            }
            services.push(name);
        }
    }
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(true)
        .emit_rerun_if_changed(false)
        .disable_comments(services)
        .out_dir(out)
        .compile_fds_with_config(fds, config)
        .unwrap_or_else(|e| panic!("generating {protos:?}: {e}"));
}

/// Where Cargo unpacked the source of the package `name` (a dependency of this generator).
fn crate_dir(name: &str) -> PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let pkg = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("package {name} not in cargo metadata"));
    let manifest_path = PathBuf::from(pkg["manifest_path"].as_str().expect("manifest_path"));
    eprintln!("{name} {}: {}", pkg["version"], manifest_path.display());
    manifest_path.parent().expect("crate dir").to_path_buf()
}
