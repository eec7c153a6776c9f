//! `podcheck run --cri-socket PATH`: the node's kubelet uses a CRI runtime podcheck did not
//! start (here a containerd this test starts, on a bridge network of its own, through the
//! control plane's API), and the pod-lifecycle suite passes on it, reporting the runtime by
//! its CRI Version answer. Fails where the real runtime is missing, unless
//! `PODCHECK_SKIP_REAL=1`.

mod support;

use support::workspace;

use std::time::{Duration, Instant};

use podcheck_node::cri::{ContainerdOptions, ContainerdProcess};
use podcheck_node::network::{NodeNetwork, NodeNetworkOptions};

fn real_or_skip() -> bool {
    match podcheck_node::real_runtime_usable() {
        Ok(()) => true,
        Err(why) => {
            assert_eq!(
                std::env::var("PODCHECK_SKIP_REAL").as_deref(),
                Ok("1"),
                "the real runtime is missing ({why}); install containerd runc \
                 containernetworking-plugins, or set PODCHECK_SKIP_REAL=1"
            );
            false
        }
    }
}

/// The user's runtime: a containerd with its own directory, network and socket.
struct UserRuntime {
    containerd: ContainerdProcess,
    network: NodeNetwork,
    dir: tempfile::TempDir,
}

impl UserRuntime {
    async fn start() -> UserRuntime {
        // On tmpfs beside podcheck's own run directories, but not named like them.
        std::fs::create_dir_all("/run/podcheck").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("user-runtime-")
            .tempdir_in("/run/podcheck")
            .unwrap();
        let network = NodeNetwork::setup(NodeNetworkOptions::new(
            dir.path().join("net"),
            workspace().join("fixtures/cni/bridge.conflist"),
        ))
        .await
        .unwrap();
        let containerd = ContainerdProcess::start(ContainerdOptions::new(
            dir.path().join("containerd"),
            network.conf_dir(),
        ))
        .await
        .unwrap();
        UserRuntime {
            containerd,
            network,
            dir,
        }
    }

    async fn stop(self) {
        self.containerd.shutdown().await;
        self.network.teardown().await.unwrap();
        drop(self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_lifecycle_suite_passes_on_a_runtime_given_by_its_socket() {
    if !real_or_skip() {
        return;
    }
    let user = UserRuntime::start().await;
    let socket = user.containerd.socket().to_path_buf();
    let want_version = user.containerd.version().runtime_version.clone();
    let reports = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .current_dir(workspace())
        .env_remove("CI")
        .args([
            "run",
            "suites/pod-lifecycle",
            "--require-real",
            "runtime,network,dns",
        ])
        .arg("--cri-socket")
        .arg(&socket)
        // A failing run must not leave a pending snapshot in the source tree.
        .args(["--snapshot", "ignore"])
        .arg("--report-dir")
        .arg(reports.path())
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("podcheck run finished within 180 s")
        .unwrap();
    let took = began.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the user's runtime still has of podcheck's pods, before it is stopped.
    let leftover_sandboxes = std::process::Command::new("ctr")
        .arg("-a")
        .arg(&socket)
        .args(["-n", "k8s.io", "containers", "list", "-q"])
        .output()
        .unwrap();
    user.stop().await;
    eprintln!("podcheck run --cri-socket took {took:?}:\n{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).unwrap(),
    )
    .unwrap();
    let runtime = results["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "runtime")
        .unwrap_or_else(|| panic!("no runtime provider: {results}"));
    assert_eq!(runtime["name"], "containerd", "{runtime}");
    assert_eq!(runtime["version"], want_version.as_str(), "{runtime}");
    assert_eq!(runtime["real"], true, "{runtime}");
    for case in results["suites"][0]["cases"].as_array().unwrap() {
        assert_eq!(case["verdict"], "passed", "{case}");
        let cri = case["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "criLaunch")
            .unwrap();
        if case["name"] == "unknown-image-backs-off" {
            // The runtime's words reach the verdict through the kubelet's status and events.
            let all = cri.to_string();
            assert!(
                all.contains("ErrImagePull") && all.contains("failed to pull"),
                "{cri}"
            );
            continue;
        }
        assert!(
            cri["evidence"].as_array().unwrap().iter().any(
                |e| e["real"] == true && e["provider"].as_str().unwrap().contains("containerd")
            ),
            "{cri}"
        );
    }
    let cases = results["suites"][0]["cases"].as_array().unwrap();
    for case in cases
        .iter()
        .filter(|c| c["name"] != "unknown-image-backs-off")
    {
        let dns = case["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "dns")
            .unwrap();
        assert!(
            dns["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["real"] == true
                    && e["provider"].as_str().unwrap().contains("in-pod lookup")),
            "lookups ran inside the pod, through the runtime's network: {dns}"
        );
    }
    // The pods' containers are gone from the user's runtime, which itself was left running
    // (podcheck stops only what it started) until the test stopped it.
    assert!(
        String::from_utf8_lossy(&leftover_sandboxes.stdout)
            .trim()
            .is_empty(),
        "podcheck left containers in the user's runtime: {}",
        String::from_utf8_lossy(&leftover_sandboxes.stdout)
    );
    let prefix = format!("cp-{pid}-");
    let left: Vec<_> = std::fs::read_dir("/run/podcheck")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_missing_cri_socket_is_an_environment_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .current_dir(workspace())
        .env_remove("CI")
        .args(["doctor", "--require-real", "runtime"])
        .args(["--cri-socket", "/nonexistent/cri.sock"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("/nonexistent/cri.sock"), "{text}");
}
