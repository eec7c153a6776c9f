//! Your own scheduler under test: `podcheck run` starts it as a process against the
//! embedded control plane and checks what it did. The example scheduler (examples/scheduler)
//! passes `suites/scheduler`; the taint-ignoring fixture fails `binding` with the oracle's
//! reason; with no scheduler at all, `binding` explains why nothing happened.

mod support;

use support::{text, workspace};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example scheduler's binary, built (once per test process; cargo's own lock keeps
/// concurrent builds apart) in the profile these tests were built in. The first build on a
/// machine that has only run the tests takes minutes (see .config/nextest.toml).
fn example_scheduler() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_podcheck")).parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        // The whole workspace, as `.ci/run` builds it: features unify across the packages
        // a build selects, so `-p podcheck-example-scheduler` alone would compile its
        // dependencies a second time, with other features; this is a no-op after CI's build.
        cmd.args(["build", "--quiet", "--workspace", "--all-targets"])
            .current_dir(workspace());
        if bin_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        // What cargo sets for this test process must not reach the build: build scripts
        // that watch such variables (ring's watches CARGO_MANIFEST_DIR) would rebuild.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let per_package = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ];
            if per_package.iter().any(|p| key.starts_with(p)) {
                cmd.env_remove(key.as_ref());
            }
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the example scheduler failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = bin_dir.join("podcheck-example-scheduler");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// `podcheck run ARGS` from the workspace, reports in `reports`, with TMPDIR in `tmp` (where
/// podcheck puts the scheduler's kubeconfig and log).
fn run(args: &[&str], reports: &Path, tmp: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .arg("run")
        .args(args)
        .args(["--runtime", "sim", "--snapshot", "ignore", "--report-dir"])
        .arg(reports)
        .current_dir(workspace())
        .env("TMPDIR", tmp)
        .env_remove("CI")
        .output()
        .expect("podcheck runs")
}

fn results(reports: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(reports.join("results.json")).unwrap()).unwrap()
}

fn stage<'a>(results: &'a serde_json::Value, case: &str, stage: &str) -> &'a serde_json::Value {
    results["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == case)
        .and_then(|c| c["stages"].as_array()?.iter().find(|s| s["stage"] == stage))
        .unwrap_or_else(|| panic!("no {case} / {stage} in {results:#}"))
}

/// Processes whose KUBECONFIG lies under `dir`: what a run's scheduler left behind.
fn left_behind(dir: &Path) -> Vec<String> {
    let needle = format!("KUBECONFIG={}", dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let environ = String::from_utf8_lossy(&environ);
        if environ.split('\0').any(|v| v.starts_with(&needle)) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

#[test]
fn the_example_scheduler_passes_the_scheduler_suite() {
    let bin = example_scheduler().display().to_string();
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = run(
        &["suites/scheduler", "--scheduler-command", &bin],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let r = results(reports.path());
    let component = &r["suites"][0]["components"][0];
    assert_eq!(component["component"], "scheduler", "{r:#}");
    assert_eq!(component["name"], bin.as_str());
    assert_eq!(component["version"], "podcheck-example-scheduler 0.1.0");
    let schedulers: Vec<&str> = r["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["component"] == "scheduler")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(schedulers, [bin.as_str()], "the builtin scheduler is off");
    let scheduled = stage(&r, "node-selector", "binding")["evidence"].to_string();
    assert!(
        scheduled.contains("event Scheduled from default-scheduler"),
        "{scheduled}"
    );
    let left_alone = stage(&r, "other-scheduler-left-alone", "binding")["evidence"].to_string();
    assert!(
        left_alone.contains("still running at the end of the window"),
        "{left_alone}"
    );
    let batch = stage(&r, "batch", "binding");
    let observed = batch["observed"].as_str().unwrap();
    assert!(
        observed.contains("20/20 copies bound, binding latency p50 ") && observed.contains("p99"),
        "{observed}"
    );
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!(
            r#"<property name="component.scheduler" value="{bin} podcheck-example-scheduler 0.1.0"/>"#
        )),
        "{junit}"
    );

    assert_eq!(left_behind(tmp.path()), Vec::<String>::new());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "podcheck left {leftovers:?}");
}

/// Beside the builtin (which keeps `default-scheduler`), under a name of its own: the
/// suite's pods are given that name, so the example, not the builtin, binds them.
#[test]
fn the_example_scheduler_under_its_own_name_binds_the_suites_pods() {
    let bin = example_scheduler().display().to_string();
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let command = format!("{bin} --scheduler-name my-scheduler");
    let out = run(
        &[
            "suites/scheduler",
            "--scheduler-command",
            &command,
            "--scheduler-name",
            "my-scheduler",
        ],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(reports.path());
    for case in ["node-selector", "preferred-affinity", "resource-fit"] {
        let evidence = stage(&r, case, "binding")["evidence"].to_string();
        assert!(
            evidence.contains("event Scheduled from my-scheduler"),
            "{case}: {evidence}"
        );
    }
}

#[test]
fn a_scheduler_that_ignores_taints_fails_binding_with_the_oracles_reason() {
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The suite names the scheduler itself (spec.components.scheduler).
    let out = run(
        &["harness/podcheck/tests/fixtures/wrong-scheduler.yaml"],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(reports.path());
    let binding = stage(&r, "plain-pod", "binding");
    assert_eq!(binding["status"], "failed", "{binding:#}");
    let message = binding["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the scheduler bound the pod to node-2, which cannot take it: node(s) had untolerated taint {dedicated: infra}"
    );
    assert_eq!(
        r["suites"][0]["components"][0]["version"],
        "taint-ignoring-scheduler 0.1.0"
    );
    // CI shows the failing stage, and why.
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    let testcase = junit
        .split("<testcase ")
        .find(|t| t.contains(r#"name="plain-pod / binding""#))
        .unwrap_or_else(|| panic!("no binding testcase in {junit}"));
    assert!(
        testcase.contains("<failure") && testcase.contains("untolerated taint {dedicated: infra}"),
        "{testcase}"
    );
    assert!(
        text(&out).contains("binding: the scheduler bound the pod to node-2, which cannot take it"),
        "{}",
        text(&out)
    );
    assert_eq!(left_behind(tmp.path()), Vec::<String>::new());
}

#[test]
fn without_a_scheduler_binding_explains_that_nobody_bound_the_pod() {
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = run(
        &[
            "harness/podcheck/tests/fixtures/no-scheduler.yaml",
            "--scheduler",
            "none",
        ],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(reports.path());
    let binding = stage(&r, "nobody-binds", "binding");
    assert_eq!(binding["status"], "failed");
    assert!(
        binding["message"]
            .as_str()
            .unwrap()
            .starts_with("the pod was never bound to a node"),
        "{binding:#}"
    );
    assert_eq!(
        binding["hint"],
        r#"no scheduler bound the pod within its deadline (2s), and none reported on it: is a scheduler for schedulerName "default-scheduler" running?"#
    );
    assert_eq!(stage(&r, "nobody-binds", "pending")["status"], "passed");
    let provider = r["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "scheduler")
        .cloned();
    assert_eq!(provider.unwrap()["name"], "none");
}

#[test]
fn a_scheduler_that_exits_at_once_is_an_environment_error() {
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = run(
        &[
            "harness/podcheck/tests/fixtures/no-scheduler.yaml",
            "--scheduler-command",
            "sh -c no-such-scheduler-program",
        ],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not be started: it exited (exit status: 127) before reading any pods; the end of its output:"),
        "{stderr}"
    );
    // Its own words, from its stderr.
    assert!(
        stderr.contains("no-such-scheduler-program: not found"),
        "{stderr}"
    );
}

#[test]
fn scheduler_flags_are_refused_for_a_kubeconfig_cluster() {
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = run(
        &[
            "suites/scheduler",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--scheduler",
            "none",
        ],
        reports.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a --kubeconfig cluster runs its own schedulers"),
        "{}",
        text(&out)
    );
}

/// `podcheck up --scheduler-command` serves the control plane with the user's scheduler
/// running, and stops it on SIGTERM.
#[test]
fn up_runs_the_users_scheduler_and_stops_it() {
    use std::io::{BufRead, BufReader};
    let scheduler = example_scheduler();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args([
            "up",
            "--runtime",
            "sim",
            "--store",
            "memory",
            "--scheduler-command",
        ])
        .arg(scheduler)
        .current_dir(workspace())
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("podcheck up starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) {
        let done = line.starts_with("Press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    // The scheduler podcheck started: a child of this `podcheck up` running the example.
    let children: Vec<PathBuf> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let ppid = std::fs::read_to_string(p.join("status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().to_string()));
            ppid == Some(child.id().to_string())
                && std::fs::read_link(p.join("exe")).is_ok_and(|exe| exe == scheduler)
        })
        .collect();
    assert_eq!(children.len(), 1, "{}", seen.join("\n"));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
    assert!(
        seen.iter()
            .any(|l| l.starts_with("scheduler: ") && l.contains("podcheck-example-scheduler")),
        "{}",
        seen.join("\n")
    );
    // Its process is gone with podcheck.
    assert!(
        !children[0].exists(),
        "the example scheduler ({}) outlived podcheck up",
        children[0].display()
    );
}

#[test]
fn a_paused_scheduler_process_binds_once_it_runs_again_and_is_never_left_stopped() {
    let bin = example_scheduler().display().to_string();
    let (reports, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = run(
        &[
            "harness/podcheck/tests/fixtures/faults/paused-scheduler.yaml",
            "--scheduler-command",
            &bin,
        ],
        reports.path(),
        tmp.path(),
    );
    // The runner makes a case that leaves a process stopped an error: a pass says it did not.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(reports.path());
    let binding = stage(&r, "resumes", "binding");
    assert!(binding["atMs"].as_f64().unwrap() >= 1500.0, "{binding:#}");
    let evidence = binding["evidence"].to_string();
    assert!(evidence.contains("SIGSTOP"), "{evidence}");
    assert!(
        evidence.contains("event Scheduled from default-scheduler"),
        "{evidence}"
    );
    assert!(left_behind(tmp.path()).is_empty());
}
