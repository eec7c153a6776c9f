//! The embedded control plane's real pod network on a user's CNI conflist
//! (`--cni-conflist`, `--cni-bin-dir`): the pod-lifecycle suite passes with ptp +
//! host-local as the pod network, its evidence names ptp, and nothing is left behind; a
//! template that cannot be filled in is an environment error naming it.
//!
//! Needs root, etcd, containerd, runc and the CNI plugins; fails where they are missing
//! unless `PODCHECK_SKIP_REAL=1`.

mod support;

use support::{podcheck, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn real_or_skip() -> bool {
    let doctor = podcheck()
        .args(["doctor", "--require-real", "store,runtime,network,dns"])
        .output()
        .unwrap();
    let ptp = Path::new("/usr/lib/cni/ptp").is_file();
    if doctor.status.success() && ptp {
        return true;
    }
    assert_eq!(
        std::env::var("PODCHECK_SKIP_REAL").as_deref(),
        Ok("1"),
        "real components are missing (etcd-server containerd runc containernetworking-plugins \
         with ptp; or set PODCHECK_SKIP_REAL=1):\n{}",
        text(&doctor)
    );
    false
}

/// The node-network state dirs (`/run/podcheck/net/pcbrX`) and run dirs a podcheck
/// process had while it ran.
#[derive(Debug, Default)]
struct Footprint {
    bridges: Vec<String>,
    dirs: Vec<PathBuf>,
}

fn watch(pid: u32, stop: Arc<AtomicBool>) -> Arc<Mutex<Footprint>> {
    let seen = Arc::new(Mutex::new(Footprint::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let mut f = s.lock().unwrap();
            for e in std::fs::read_dir("/run/podcheck/net")
                .into_iter()
                .flatten()
                .flatten()
            {
                let owner = std::fs::read_to_string(e.path().join("owner")).unwrap_or_default();
                let name = e.file_name().to_string_lossy().into_owned();
                if owner.split_whitespace().next() == Some(pid.to_string().as_str())
                    && !f.bridges.contains(&name)
                {
                    f.bridges.push(name);
                }
            }
            for e in std::fs::read_dir("/run/podcheck")
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("cp-{pid}-"))
                    && !f.dirs.contains(&e.path())
                {
                    f.dirs.push(e.path());
                }
            }
            drop(f);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    seen
}

fn run_watched(cmd: &mut Command, within: Duration) -> (Output, Footprint, u32) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = watch(pid, stop.clone());
    let deadline = Instant::now() + within;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("podcheck did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let out = child.wait_with_output().unwrap();
    let footprint = std::mem::take(&mut *seen.lock().unwrap());
    (out, footprint, pid)
}

#[test]
fn pod_lifecycle_passes_with_ptp_as_the_pod_network() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let (out, footprint, pid) = run_watched(
        podcheck()
            .args([
                "run",
                "suites/pod-lifecycle",
                "--runtime",
                "containerd",
                "--require-real",
                "store,runtime,network,dns",
                "--cni-conflist",
                "fixtures/cni/ptp.conflist",
                "--cni-bin-dir",
                "/usr/lib/cni",
            ])
            .arg("--report-dir")
            .arg(reports.path()),
        Duration::from_secs(180),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).unwrap(),
    )
    .unwrap();
    let providers = results["target"]["providers"].to_string();
    assert!(providers.contains("ptp+host-local"), "{providers}");
    let cases: Vec<&serde_json::Value> = results["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap())
        .collect();
    assert!(!cases.is_empty());
    for case in &cases {
        assert_eq!(case["verdict"], "passed", "{case}");
    }
    // Every pod that got a network got it from ptp, with eth0 in its namespace.
    let attach: Vec<String> = cases
        .iter()
        .flat_map(|c| c["stages"].as_array().unwrap())
        .filter(|s| s["stage"] == "cniAttach" && s["status"] == "passed")
        .map(|s| s.to_string())
        .collect();
    assert!(!attach.is_empty(), "no pod was attached");
    assert!(
        attach
            .iter()
            .any(|s| s.contains("ptp+host-local") && s.contains("eth0")),
        "{attach:?}"
    );
    assert!(
        !attach.iter().any(|s| s.contains("bridge+host-local")),
        "{attach:?}"
    );
    // Nothing left: the run dirs, the node networks' state and bridges.
    assert!(
        !footprint.bridges.is_empty() && !footprint.dirs.is_empty(),
        "no real node was seen: {footprint:?}"
    );
    for d in &footprint.dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    for b in &footprint.bridges {
        let owner = std::fs::read_to_string(Path::new("/run/podcheck/net").join(b).join("owner"))
            .unwrap_or_default();
        assert_ne!(
            owner.split_whitespace().next(),
            Some(pid.to_string().as_str()),
            "the node network {b} of podcheck {pid} is left"
        );
        if Path::new("/sys/class/net").join(b).exists() {
            assert!(!owner.is_empty(), "bridge {b} left without an owner");
        }
    }
}

#[test]
fn a_conflist_that_cannot_be_filled_in_is_an_environment_error() {
    if !real_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conflist = dir.path().join("odd.conflist");
    std::fs::write(
        &conflist,
        r#"{"cniVersion":"1.0.0","name":"odd","plugins":[{"type":"ptp","ipam":{"type":"host-local","subnet":"{{podCidr}}"}}]}"#,
    )
    .unwrap();
    let out = podcheck()
        .args([
            "run",
            "suites/pod-lifecycle",
            "--runtime",
            "containerd",
            "--snapshot",
            "ignore",
        ])
        .arg("--cni-conflist")
        .arg(&conflist)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("odd.conflist") && said.contains("podCidr"),
        "the error names the template and the placeholder: {said}"
    );
}
