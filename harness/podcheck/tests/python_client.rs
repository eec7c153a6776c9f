//! The official Kubernetes Python client (`kubernetes` from PyPI) against `podcheck up`: the
//! checks in tests/python/client_checks.py, each printing `ok NAME`.
//!
//! The client is installed once into a venv under the target directory and reused while it
//! imports. Without Python 3, or when the venv cannot be made (no PyPI), the tests fail,
//! unless `PODCHECK_SKIP_REAL=1` (then they are skipped, saying why).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::Up;

use podcheck_controlplane::store::{DEFAULT_ETCD_BINARY, EtcdProcess, Store};

/// How long `pip install kubernetes` may take (about 15 s here): less than the 120 s after
/// which nextest ends a test (.config/nextest.toml), so a slow PyPI fails with this message.
const PIP_DEADLINE: Duration = Duration::from_secs(100);
/// How long one run of the checks may take.
const CHECKS_DEADLINE: Duration = Duration::from_secs(120);

/// `None` (the test is skipped) only with `PODCHECK_SKIP_REAL=1`; otherwise panics with why.
fn unavailable(why: String) -> Option<PathBuf> {
    if std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("PODCHECK_SKIP_REAL=1 and {why}: skipping the Python client checks");
        return None;
    }
    panic!(
        "{why} (the Python client checks need python3 with venv and PyPI; \
         set PODCHECK_SKIP_REAL=1 to skip tests on real components)"
    );
}

/// Runs `cmd` to its end, killing it after `deadline`.
fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Result<Output, String> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?} could not start: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("{cmd:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            Err(format!("{cmd:?} did not finish within {deadline:?}"))
        }
    }
}

fn imports_kubernetes(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import kubernetes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's python, with `kubernetes` importable: the cached venv, or a new one.
///
/// A new venv is built beside the cached one and renamed into place, so tests running at
/// once never see a half-made venv (the venv's python finds its packages relative to itself).
fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    let python = venv.join("bin/python");
    if imports_kubernetes(&python) {
        return Some(python);
    }
    let began = Instant::now();
    // Removed when dropped, unless it was moved into place.
    let building = match tempfile::Builder::new()
        .prefix("python-venv.building-")
        .tempdir_in(venv.parent().unwrap())
    {
        Ok(dir) => dir,
        Err(e) => return unavailable(format!("no directory for a venv: {e}")),
    };
    let made = run_with_deadline(
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(building.path()),
        Duration::from_secs(60),
    );
    let failed = match made {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Some(e),
    };
    if let Some(why) = failed {
        return unavailable(why);
    }
    let pip = run_with_deadline(
        Command::new(building.path().join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "kubernetes"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        PIP_DEADLINE,
    );
    let failed = match pip {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "pip install kubernetes failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Some(e),
    };
    if let Some(why) = failed {
        return unavailable(why);
    }
    // Another test may have put its venv there first: then that one is used.
    if std::fs::rename(building.path(), &venv).is_err() && !imports_kubernetes(&python) {
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::rename(building.path(), &venv).expect("the venv is moved into place");
    }
    eprintln!(
        "made the venv {} with the kubernetes client in {:?}",
        venv.display(),
        began.elapsed()
    );
    assert!(
        imports_kubernetes(&python),
        "the new venv cannot import kubernetes"
    );
    Some(python)
}

/// Runs the checks script in `mode` against `up`; returns its stdout, failing the test on a
/// failed check.
fn checks(python: &Path, up: &Up, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_checks.py");
    let began = Instant::now();
    let out = run_with_deadline(
        Command::new(python)
            .arg(&script)
            .args(args)
            .env("KUBECONFIG", &up.kubeconfig)
            .env("PYTHONUNBUFFERED", "1"),
        CHECKS_DEADLINE,
    )
    .unwrap_or_else(|e| panic!("the Python checks did not run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client_checks.py {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!(
        "client_checks.py {args:?} passed in {:?}:\n{stdout}",
        began.elapsed()
    );
    stdout
}

fn assert_oks(stdout: &str, names: &[&str]) {
    let oks: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .collect();
    assert_eq!(oks, names, "the checks that passed, in order:\n{stdout}");
}

#[test]
fn the_python_client_drives_pods_namespaces_watches_status_and_bindings() {
    let Some(python) = python() else { return };
    let up = Up::start(&["--runtime", "sim", "--store", "memory"]);
    let stdout = checks(&python, &up, &["lifecycle"]);
    assert_oks(
        &stdout,
        &[
            "create-namespace",
            "create-pod",
            "watch-added-then-modified",
            "list-pods",
            "list-label-selector",
            "list-field-selector",
            "read-pod",
            "patch-pod-status",
            "create-binding",
            "create-pod-binding",
            "delete-pod",
            "delete-namespace",
        ],
    );
}

/// A resourceVersion the store has compacted away is answered 410 Expired: a watch gets one
/// ERROR event (which the client raises as `ApiException(410)`), an exact list a 410.
///
/// The embedded store compacts every five minutes, so the history is compacted before the
/// control plane starts instead: on a private etcd, as when kube-apiserver restarts on an
/// etcd that has compacted since (its watch cache then starts after the compaction).
#[test]
fn the_python_client_gets_410_for_a_compacted_resource_version() {
    if !Path::new(DEFAULT_ETCD_BINARY).is_file() {
        assert!(
            std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1"),
            "{DEFAULT_ETCD_BINARY} is missing: install it (apt-get install -y etcd-server; \
             .ci/run does) or set PODCHECK_SKIP_REAL=1 to skip tests on real components"
        );
        eprintln!("PODCHECK_SKIP_REAL=1 and no {DEFAULT_ETCD_BINARY}: skipping");
        return;
    }
    let Some(python) = python() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let etcd = rt.block_on(EtcdProcess::start()).expect("etcd starts");
    let compacted = rt.block_on(async {
        let store = etcd.connect().await.expect("connect to etcd");
        for i in 0..10 {
            store
                .create(
                    &format!("/podcheck-test/history/{i}"),
                    format!("{i}").into(),
                )
                .await
                .expect("a write");
        }
        let rev = store.revision().await.expect("the revision");
        store.compact(rev).await.expect("compaction");
        rev
    });
    assert!(compacted > 5, "revision {compacted}");
    let up = Up::start(&["--runtime", "sim", "--etcd-endpoint", etcd.endpoint()]);
    let stdout = checks(&python, &up, &["gone", "3"]);
    assert_oks(
        &stdout,
        &[
            "watch-410-error-event",
            "watch-410-raises",
            "watch-410-after-retry",
            "list-410",
            "relist-after-410",
        ],
    );
    drop(up);
    rt.block_on(etcd.shutdown());
}
