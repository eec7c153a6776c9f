//! `podcheck` as its users run it: `podcheck up`, then the machine's real kubectl.

mod support;

use support::{Up, text, workspace};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn column(table: &str, row_starts: &str, header: &str) -> String {
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    let at = head
        .find(header)
        .unwrap_or_else(|| panic!("no column {header} in {head}"));
    let row = lines
        .find(|l| l.starts_with(row_starts))
        .unwrap_or_else(|| panic!("no row {row_starts} in\n{table}"));
    row[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn kubectl_runs_a_pod_through_its_life() {
    let up = Up::start(&["--runtime", "sim", "--nodes", "2"]);
    let nodes = up.ok(&["get", "nodes"]);
    assert_eq!(column(&nodes, "node-1", "STATUS"), "Ready", "{nodes}");
    assert_eq!(column(&nodes, "node-2", "STATUS"), "Ready", "{nodes}");

    assert!(
        up.ok(&["run", "busybox", "--image", "busybox"])
            .contains("pod/busybox created")
    );
    let wide = up.until(&["get", "pods", "-o", "wide"], |t| t.contains("Running"));
    let ip = column(&wide, "busybox", "IP");
    let node = column(&wide, "busybox", "NODE");
    assert_eq!(column(&wide, "busybox", "READY"), "1/1");
    let cidr = up.ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]);
    let prefix = cidr.trim_end_matches("0/24");
    assert!(
        ip.starts_with(prefix),
        "pod IP {ip} lies in {node}'s podCIDR {cidr}"
    );

    let yaml = up.ok(&["get", "pod", "busybox", "-o", "yaml"]);
    for needle in [
        "type: PodScheduled",
        "type: Initialized",
        "type: ContainersReady",
        "type: Ready",
        "containerStatuses:",
        "containerID: sim://",
        "running:",
        "phase: Running",
    ] {
        assert!(yaml.contains(needle), "`{needle}` missing from\n{yaml}");
    }
    let events = up.until(&["get", "events"], |t| t.contains("Started"));
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            events
                .lines()
                .any(|l| l.contains(reason) && l.contains("pod/busybox")),
            "no {reason} event in\n{events}"
        );
    }
    let describe = up.ok(&["describe", "pod", "busybox"]);
    assert!(
        describe.contains("Successfully assigned default/busybox to"),
        "{describe}"
    );

    assert!(
        up.ok(&["delete", "pod", "busybox"])
            .contains("pod \"busybox\" deleted")
    );
    let gone = up.kubectl(&["get", "pod", "busybox"]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("(NotFound): pods \"busybox\" not found")
    );
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Field 4, after the parenthesised command name, is the parent pid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

#[test]
fn ctrl_c_stops_everything_and_leaves_nothing_behind() {
    let mut up = Up::start(&["--runtime", "sim"]);
    up.ok(&["run", "sleeper", "--image", "busybox"]);
    up.until(&["get", "pod", "sleeper"], |t| t.contains("Running"));
    let pid = up.child.id();
    let run_dir: PathBuf = up.kubeconfig.parent().unwrap().to_path_buf();
    assert!(run_dir.exists());
    let status = up.interrupt();
    assert!(status.success(), "podcheck exited with {status}");
    assert!(!up.kubeconfig.exists(), "the kubeconfig is left behind");
    assert!(
        !run_dir.exists(),
        "the run directory {} is left behind",
        run_dir.display()
    );
    assert!(
        children_of(pid).is_empty(),
        "processes of the run are left behind"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn an_existing_kubeconfig_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "precious").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args(["up", "--kubeconfig"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("will not overwrite"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

fn podcheck(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args(args)
        .current_dir(dir)
        .env_remove("CI")
        // Run inside GitHub Actions, a test's run must not write into the job's summary.
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("podcheck runs")
}

/// (suite, case, stage) → status, from a results.json.
fn verdicts(report_dir: &Path) -> Vec<(String, String, String, String)> {
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("results.json")).unwrap())
            .unwrap();
    let mut out = Vec::new();
    for suite in results["suites"].as_array().unwrap() {
        for case in suite["cases"].as_array().unwrap() {
            for stage in case["stages"].as_array().unwrap() {
                out.push((
                    suite["name"].as_str().unwrap().to_string(),
                    case["name"].as_str().unwrap().to_string(),
                    stage["stage"].as_str().unwrap().to_string(),
                    stage["status"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn run_passes_every_builtin_suite_and_writes_the_reports() {
    let reports = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_podcheck"));
    cmd.args(["run", "--report-dir"])
        .arg(reports.path())
        .current_dir(workspace());
    // The committed snapshots are checked here, the way CI checks them.
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for file in ["results.json", "junit.xml", "summary.md", "report.html"] {
        assert!(reports.path().join(file).exists(), "{file} is missing");
    }
    let all = verdicts(reports.path());
    assert!(all.len() >= 8 * 11, "{} stage results", all.len());
    assert!(
        all.iter().all(|(_, _, _, status)| status != "failed"),
        "{all:?}"
    );
    assert!(
        text(&out).contains("unchanged"),
        "snapshots were compared: {}",
        text(&out)
    );
    let results = std::fs::read_to_string(reports.path().join("results.json")).unwrap();
    assert!(
        results.contains("watch ADDED: phase Pending"),
        "each case carries its timeline"
    );
}

#[test]
fn a_wrong_expectation_fails_the_run_on_exactly_that_stage() {
    let reports = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let report_dir = reports.path().to_str().unwrap();
    let out = podcheck(
        &[
            "run",
            "wrong-expectation.yaml",
            "--snapshot",
            "ignore",
            "--report-dir",
            report_dir,
        ],
        &fixtures,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    // Each testcase element, with whether it holds a failure.
    let failing: Vec<&str> = junit
        .split("<testcase ")
        .skip(1)
        .filter(|tc| {
            tc.split("</testcase>")
                .next()
                .unwrap_or(tc)
                .contains("<failure")
        })
        .map(|tc| tc.split('"').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(failing, ["expects-node-2 / binding"], "{junit}");
    assert!(
        text(&out).contains("bound to node-1, not node-2"),
        "{}",
        text(&out)
    );
}

/// A copy of the fixture `name` in a directory of its own, where runs write `reports/`.
fn fixture_in_temp_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::copy(fixtures.join(name), dir.path().join(name)).unwrap();
    dir
}

/// The report directories under `reports/`, by name.
fn report_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (suite, case) of every case in a results.json.
fn cases_of(results: &serde_json::Value) -> Vec<(String, String)> {
    let mut cases = Vec::new();
    for suite in results["suites"].as_array().unwrap() {
        for case in suite["cases"].as_array().unwrap() {
            cases.push((
                suite["path"].as_str().unwrap().to_string(),
                case["name"].as_str().unwrap().to_string(),
            ));
        }
    }
    cases
}

#[test]
fn rerun_failed_runs_only_the_failed_case_with_the_runs_target_options() {
    let dir = fixture_in_temp_dir("one-fails.yaml");
    let first = podcheck(
        &[
            "run",
            "one-fails.yaml",
            "--snapshot",
            "ignore",
            "--store",
            "memory",
            "--runtime",
            "sim",
            "--jobs",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let first_dir = report_dirs(dir.path()).pop().unwrap();
    let rerun = podcheck(&["run", "--rerun-failed"], dir.path());
    assert_eq!(rerun.status.code(), Some(1), "{}", text(&rerun));
    assert!(
        text(&rerun).contains("rerunning 1 case(s) of reports/"),
        "{}",
        text(&rerun)
    );
    let dirs = report_dirs(dir.path());
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let rerun_dir = dirs.iter().find(|d| **d != first_dir).unwrap();
    let before = json(&first_dir.join("results.json"));
    assert_eq!(before["summary"]["cases"], 2);
    let after = json(&rerun_dir.join("results.json"));
    assert_eq!(
        cases_of(&after),
        [("one-fails.yaml".to_string(), "expects-node-2".to_string())]
    );
    // The target options came from the first run's invocation.json: the memory store,
    // where etcd would be chosen when installed; and the rerun records them again.
    let store = after["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "store")
        .unwrap();
    assert_eq!(store["name"], "memory", "{store}");
    let recorded = json(&rerun_dir.join("invocation.json"));
    let words: Vec<&str> = recorded["targetArgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for pair in [["--store", "memory"], ["--runtime", "sim"], ["--jobs", "1"]] {
        assert!(words.windows(2).any(|w| w == pair), "{pair:?}: {words:?}");
    }
}

#[test]
fn rerun_failed_says_clearly_when_there_is_nothing_to_rerun() {
    let dir = fixture_in_temp_dir("one-fails.yaml");
    let none = podcheck(&["run", "--rerun-failed"], dir.path());
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(text(&none).contains("no previous run"), "{}", text(&none));
    let empty = dir.path().join("reports/empty");
    std::fs::create_dir_all(&empty).unwrap();
    let no_results = podcheck(&["run", "--rerun-failed", "reports/empty"], dir.path());
    assert_eq!(no_results.status.code(), Some(2), "{}", text(&no_results));
    assert!(
        text(&no_results).contains("reports/empty holds no results.json"),
        "{}",
        text(&no_results)
    );
    // A run's results, written by hand: every case passed, then one that is gone failed.
    let results = |verdict: &str, case: &str| {
        serde_json::json!({
            "schema": "podcheck.dev/results/v1alpha1", "runId": "r", "startedAt": "t",
            "durationMs": 1.0,
            "target": {"kind": "local", "server": "", "version": "", "providers": []},
            "suites": [{"name": "one-fails", "path": "one-fails.yaml", "cases": [
                {"name": case, "verdict": verdict, "durationMs": 1.0, "stages": []}]}],
            "summary": {"cases": 1, "passed": 0, "failed": 0, "errors": 0}
        })
        .to_string()
    };
    let run = dir.path().join("reports/by-hand");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("results.json"), results("passed", "runs")).unwrap();
    let passed = podcheck(&["run", "--rerun-failed"], dir.path());
    assert_eq!(passed.status.code(), Some(0), "{}", text(&passed));
    assert!(
        text(&passed).contains("nothing to rerun: every case of reports/by-hand passed"),
        "{}",
        text(&passed)
    );
    std::fs::write(run.join("results.json"), results("failed", "renamed")).unwrap();
    let gone = podcheck(&["run", "--rerun-failed", "reports/by-hand"], dir.path());
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone));
    assert!(
        text(&gone).contains(
            "case \"renamed\" did not pass in reports/by-hand, but one-fails.yaml no longer has it"
        ),
        "{}",
        text(&gone)
    );
}

#[test]
fn in_github_actions_the_summary_is_appended_and_the_failure_annotated_at_its_case() {
    let dir = fixture_in_temp_dir("one-fails.yaml");
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "## an earlier step\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args([
            "run",
            "one-fails.yaml",
            "--snapshot",
            "ignore",
            "--runtime",
            "sim",
        ])
        .current_dir(dir.path())
        .env_remove("CI")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(
        written.starts_with("## an earlier step\n## podcheck: "),
        "{written}"
    );
    assert!(written.contains("expects-node-2"), "{written}");
    let fixture = std::fs::read_to_string(dir.path().join("one-fails.yaml")).unwrap();
    let line = 1 + fixture
        .lines()
        .position(|l| l.trim() == "- name: expects-node-2")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(
        errors[0].starts_with(&format!(
            "::error file=one-fails.yaml,line={line},title=podcheck one-fails / expects-node-2%3A stage binding failed::"
        )),
        "{stdout}"
    );
    assert!(errors[0].contains("%0Aexpected: "), "{}", errors[0]);
}

#[test]
fn an_unwritable_step_summary_is_a_warning_not_a_failed_run() {
    let dir = fixture_in_temp_dir("one-fails.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args([
            "run",
            "one-fails.yaml",
            "--case",
            "runs",
            "--runtime",
            "sim",
        ])
        .current_dir(dir.path())
        .env_remove("CI")
        .env(
            "GITHUB_STEP_SUMMARY",
            dir.path().join("no/such/dir/summary.md"),
        )
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("warning: cannot append the summary to GITHUB_STEP_SUMMARY"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_bad_suite_exits_2_naming_file_line_and_column() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = podcheck(&["validate", "unknown-field.yaml"], &fixtures);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown-field.yaml:8:7"), "{err}");
    assert!(err.contains("podd"), "{err}");
    let run = podcheck(&["run", "unknown-field.yaml"], &fixtures);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn snapshots_catch_a_changed_verdict_and_pass_an_unchanged_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite_dir = dir.path().join("lifecycle");
    std::fs::create_dir_all(suite_dir.join("pods")).unwrap();
    let source = workspace().join("suites/pod-lifecycle");
    let suite = std::fs::read_to_string(source.join("suite.yaml")).unwrap();
    std::fs::write(suite_dir.join("suite.yaml"), &suite).unwrap();
    std::fs::copy(
        source.join("pods/busybox.yaml"),
        suite_dir.join("pods/busybox.yaml"),
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let r = reports.to_str().unwrap();

    let update = podcheck(
        &[
            "run",
            "lifecycle",
            "--snapshot",
            "update",
            "--report-dir",
            r,
        ],
        dir.path(),
    );
    assert_eq!(update.status.code(), Some(0), "{}", text(&update));
    let again = podcheck(&["run", "lifecycle", "--report-dir", r], dir.path());
    assert_eq!(
        again.status.code(),
        Some(0),
        "times and addresses differ between runs, verdicts do not: {}",
        text(&again)
    );
    assert!(text(&again).contains("unchanged"));

    // The same case, now expecting a node that does not exist: binding's verdict changes.
    let changed = suite.replace(
        "      pod: pods/busybox.yaml\n",
        "      pod: pods/busybox.yaml\n      expect:\n        binding: {scheduledTo: node-9}\n",
    );
    assert_ne!(changed, suite);
    std::fs::write(suite_dir.join("suite.yaml"), changed).unwrap();
    let check = podcheck(
        &["run", "lifecycle", "--snapshot", "check", "--report-dir", r],
        dir.path(),
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let out = text(&check);
    assert!(out.contains("CHANGED"), "{out}");
    assert!(
        out.contains("+  binding       FAILED"),
        "the diff shows the binding verdict: {out}"
    );
    assert!(
        suite_dir.join("suite.snap.pending").exists(),
        "the new snapshot awaits review"
    );
}

#[test]
fn a_kubeconfig_target_gives_the_same_verdicts_as_the_embedded_one() {
    let up = Up::start(&["--runtime", "sim"]);
    let ws = workspace();
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let suites = ["suites/pod-lifecycle", "suites/auth"];
    let mut args = vec!["run"];
    args.extend(suites);
    args.extend(["--snapshot", "ignore", "--report-dir"]);
    let mut local_args = args.clone();
    local_args.push(local.path().to_str().unwrap());
    let a = podcheck(&local_args, &ws);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let mut remote_args = args.clone();
    remote_args.push(remote.path().to_str().unwrap());
    remote_args.extend(["--kubeconfig", up.kubeconfig.to_str().unwrap()]);
    let b = podcheck(&remote_args, &ws);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    assert_eq!(verdicts(local.path()), verdicts(remote.path()));
    let results = std::fs::read_to_string(remote.path().join("results.json")).unwrap();
    assert!(
        results.contains("probe unavailable"),
        "remote evidence says which probes it lacked"
    );
    assert!(results.contains("\"kind\": \"kubeconfig\""));
}

#[test]
fn explain_lists_and_validates() {
    let ws = workspace();
    let out = podcheck(&["explain", "cniAttach"], &ws);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("CNI plugins"));
    assert_eq!(
        podcheck(&["explain", "scheduling"], &ws).status.code(),
        Some(2)
    );
    let list = podcheck(&["list"], &ws);
    assert!(String::from_utf8_lossy(&list.stdout).contains("taint-with-toleration"));
    assert!(podcheck(&["validate"], &ws).status.success());
}

#[test]
fn ctrl_c_during_a_run_deletes_the_runs_namespaces() {
    let up = Up::start(&["--runtime", "sim"]);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let reports = tempfile::tempdir().unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args(["run", "waits.yaml", "--snapshot", "ignore", "--kubeconfig"])
        .arg(&up.kubeconfig)
        .arg("--report-dir")
        .arg(reports.path())
        .current_dir(&fixtures)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the case's namespace exists, then interrupt.
    up.until(&["get", "namespaces"], |t| {
        t.contains("pc-waits-never-runs")
    });
    let pid = run.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "podcheck run did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let namespaces = up.ok(&["get", "namespaces", "-o", "name"]);
    assert!(
        !namespaces.contains("pc-waits"),
        "the run's namespace is left behind:\n{namespaces}"
    );
}

#[test]
fn the_store_is_etcd_where_installed_and_reports_name_it() {
    let ws = workspace();
    let doctor = podcheck(&["doctor"], &ws);
    assert!(doctor.status.success(), "{}", text(&doctor));
    let etcd_installed = Path::new("/usr/bin/etcd").is_file();
    assert!(
        etcd_installed || std::env::var_os("PODCHECK_SKIP_REAL").is_some(),
        "etcd is not installed: apt-get install etcd-server (CI installs it)"
    );
    let store_line = String::from_utf8_lossy(&doctor.stdout)
        .lines()
        .find(|l| l.starts_with("store"))
        .unwrap_or_default()
        .to_string();
    assert!(
        store_line.contains(if etcd_installed { "etcd" } else { "memory" }),
        "{store_line}"
    );
    for (store, provider, real) in [("etcd", "etcd", true), ("memory", "memory", false)] {
        if store == "etcd" && !etcd_installed {
            continue;
        }
        let reports = tempfile::tempdir().unwrap();
        let out = podcheck(
            &[
                "run",
                "suites/pod-lifecycle",
                "--snapshot",
                "check",
                "--store",
                store,
                "--report-dir",
                reports.path().to_str().unwrap(),
            ],
            &ws,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "--store {store}: {}",
            text(&out)
        );
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(reports.path().join("results.json")).unwrap(),
        )
        .unwrap();
        let etcd_write = results["suites"][0]["cases"][0]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "etcdWrite")
            .unwrap()
            .clone();
        let evidence = &etcd_write["evidence"][0];
        assert_eq!(evidence["source"], "store");
        assert!(
            evidence["provider"].as_str().unwrap().starts_with(provider),
            "{evidence}"
        );
        assert_eq!(evidence["real"], real);
    }
}

#[test]
fn requiring_a_component_that_is_simulated_is_an_environment_error() {
    let ws = workspace();
    let doctor = podcheck(
        &["doctor", "--runtime", "sim", "--require-real", "runtime"],
        &ws,
    );
    assert_eq!(doctor.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&doctor.stderr).contains("runtime"));
    let run = podcheck(
        &[
            "run",
            "suites/pod-lifecycle",
            "--runtime",
            "sim",
            "--require-real",
            "store,runtime",
            "--snapshot",
            "ignore",
        ],
        &ws,
    );
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(
        text(&run).contains("real components required but not available: runtime"),
        "{}",
        text(&run)
    );
    let memory = podcheck(
        &[
            "run",
            "suites/pod-lifecycle",
            "--store",
            "memory",
            "--require-real",
            "store",
            "--snapshot",
            "ignore",
        ],
        &ws,
    );
    assert_eq!(memory.status.code(), Some(3), "{}", text(&memory));
    assert_eq!(
        podcheck(&["doctor", "--require-real", "gpu"], &ws)
            .status
            .code(),
        Some(2)
    );
}

/// The etcd processes started by `pid` (their `--name` carries podcheck's pid).
fn etcds_of(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("etcd") && cmdline.contains(&format!("--name podcheck-{pid}-")) {
            found.push((p, cmdline));
        }
    }
    found
}

#[test]
fn a_killed_podcheck_leaves_no_etcd_behind() {
    if !Path::new("/usr/bin/etcd").is_file() {
        assert!(
            std::env::var_os("PODCHECK_SKIP_REAL").is_some(),
            "etcd is not installed: apt-get install etcd-server (CI installs it)"
        );
        return;
    }
    let mut up = Up::start(&["--runtime", "sim", "--store", "etcd"]);
    let pid = up.child.id();
    let etcds = etcds_of(pid);
    assert_eq!(etcds.len(), 1, "podcheck up runs one etcd: {etcds:?}");
    let data_dir = etcds[0]
        .1
        .split(" --data-dir ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .map(PathBuf::from)
        .unwrap();
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    // A SIGKILLed podcheck cannot remove its own run directory; this test made it, so it does.
    let _ = std::fs::remove_dir_all(up.kubeconfig.parent().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !etcds_of(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "etcd outlived the podcheck that started it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What a SIGKILL could not clean, the next start does.
    let next = Up::start(&["--runtime", "sim", "--store", "etcd"]);
    assert!(
        !data_dir.parent().unwrap().exists(),
        "the killed run's etcd directory is still there"
    );
    drop(next);
}

#[test]
fn kubectl_apply_twice_patches_what_a_live_pod_allows_and_refuses_the_rest() {
    let up = Up::start(&["--runtime", "sim"]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = |image: &str, seconds: &str| {
        let path = dir
            .path()
            .join(format!("{}-{seconds}.yaml", image.replace(':', "_")));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: applied}}\nspec:\n  containers: [{{name: c, image: \"{image}\", args: [sleep, \"{seconds}\"]}}]\n"
            ),
        )
        .unwrap();
        path.to_string_lossy().to_string()
    };
    let first = manifest("busybox", "3600");
    assert!(
        up.ok(&["apply", "-f", &first])
            .contains("pod/applied created")
    );
    // The second apply is a strategic merge patch; a container's image may change.
    let newer = manifest("busybox:1.36", "3600");
    assert!(
        up.ok(&["apply", "-f", &newer])
            .contains("pod/applied configured")
    );
    let image = up.ok(&[
        "get",
        "pod",
        "applied",
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(image, "busybox:1.36");
    // Its arguments may not: 422, in kube-apiserver's words, and the pod is unchanged.
    let refused = up.kubectl(&["apply", "-f", &manifest("busybox:1.36", "60")]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("is invalid") && err.contains("pod updates may not change fields"),
        "{err}"
    );
    let args = up.ok(&[
        "get",
        "pod",
        "applied",
        "-o",
        "jsonpath={.spec.containers[0].args}",
    ]);
    assert_eq!(args, r#"["sleep","3600"]"#);
}

/// RBAC as kubectl sees it: `auth can-i` (a SelfSubjectAccessReview: protobuf from kubectl
/// 1.32 on, JSON from 1.27), Roles and RoleBindings made with `kubectl create` (protobuf
/// bodies too), and denials in kube-apiserver's words.
#[test]
fn kubectl_auth_can_i_and_rbac_denials_read_as_on_a_real_cluster() {
    let up = Up::start(&["--runtime", "sim"]);
    let old = Path::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.27");
    let can_i = |kubectl: &str, args: &[&str]| {
        let out = Command::new(kubectl)
            .arg("--request-timeout=20s")
            .args(["auth", "can-i"])
            .args(args)
            .env("KUBECONFIG", &up.kubeconfig)
            .env("KUBECACHEDIR", up.cache.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut kubectls = vec!["kubectl".to_string()];
    if old.is_file() {
        kubectls.push(old.display().to_string());
    }
    for k in &kubectls {
        assert_eq!(can_i(k, &["create", "pods"]), "yes", "{k}: the admin");
        assert_eq!(can_i(k, &["create", "pods", "--as", "alice"]), "no", "{k}");
    }
    up.ok(&["create", "namespace", "dev"]);
    up.ok(&[
        "create",
        "role",
        "pod-maker",
        "--verb=create,get",
        "--resource=pods",
        "-n",
        "dev",
    ]);
    up.ok(&[
        "create",
        "rolebinding",
        "alice-makes",
        "--role=pod-maker",
        "--user=alice",
        "-n",
        "dev",
    ]);
    for k in &kubectls {
        assert_eq!(
            can_i(k, &["create", "pods", "--as", "alice", "-n", "dev"]),
            "yes",
            "{k}"
        );
        assert_eq!(
            can_i(k, &["delete", "pods", "--as", "alice", "-n", "dev"]),
            "no",
            "{k}"
        );
        assert_eq!(
            can_i(k, &["create", "pods", "--as", "alice", "-n", "default"]),
            "no",
            "{k}"
        );
    }
    assert!(
        up.ok(&[
            "run", "made", "--image", "busybox", "--as", "alice", "-n", "dev"
        ])
        .contains("pod/made created")
    );
    let denied = up.kubectl(&["delete", "pod", "made", "--as", "alice", "-n", "dev"]);
    assert!(!denied.status.success());
    assert_eq!(
        String::from_utf8_lossy(&denied.stderr).trim(),
        "Error from server (Forbidden): pods \"made\" is forbidden: User \"alice\" cannot delete resource \"pods\" in API group \"\" in the namespace \"dev\""
    );
    assert!(up.ok(&["get", "pod", "made", "-n", "dev"]).contains("made"));
    // `kubectl create token` (a protobuf TokenRequest): the token is the ServiceAccount's.
    let token = up.ok(&["create", "token", "default", "-n", "dev"]);
    let as_sa = up.kubectl(&["get", "pods", "-n", "dev", "--token", token.trim()]);
    assert_eq!(
        String::from_utf8_lossy(&as_sa.stderr).trim(),
        "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:dev:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"dev\""
    );
}

/// kube-apiserver serves requests without credentials as `system:anonymous` by default
/// (kind and kubeadm leave it on), and RBAC then answers 403: `anonymous-is-rejected`
/// expects a 401 and passes on both, as long as nothing reaches the store.
#[test]
fn a_request_without_credentials_is_denied_whether_anonymous_auth_is_on_or_off() {
    for flags in [
        &["--runtime", "sim"][..],
        &["--runtime", "sim", "--anonymous"][..],
    ] {
        let up = Up::start(flags);
        let reports = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
            .args(["run", "suites/auth", "--case", "anonymous-is-rejected"])
            .args(["--snapshot", "ignore", "--kubeconfig"])
            .arg(&up.kubeconfig)
            .arg("--report-dir")
            .arg(reports.path())
            .current_dir(workspace())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {}", text(&out));
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.path().join("results.json")).unwrap())
                .unwrap();
        let auth = &results["suites"][0]["cases"][0]["stages"][0];
        let want = if flags.contains(&"--anonymous") {
            "403"
        } else {
            "401"
        };
        assert!(
            auth["observed"].as_str().unwrap().starts_with(want),
            "{flags:?}: {auth}"
        );
    }
}

/// `podcheck report RUN_DIR` draws a run's reports again from its results.json alone, and
/// names report.html last.
#[test]
fn report_writes_the_reports_again_from_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let results = serde_json::json!({
        "schema": "podcheck.dev/results/v1alpha1",
        "runId": "20261207T000000Z-0001",
        "startedAt": "2026-12-07T00:00:00Z",
        "durationMs": 12.0,
        "target": {"kind": "local", "server": "https://127.0.0.1:1", "version": "v1.33.1", "providers": []},
        "suites": [{"name": "s<b>", "path": "s.yaml", "cases": [{
            "name": "c", "verdict": "passed", "durationMs": 3.0,
            "stages": [{"stage": "auth", "status": "passed", "expected": "pass",
                        "observed": "201", "atMs": 3.0, "durationMs": 3.0, "evidence": []}]
        }]}],
        "summary": {"cases": 1, "passed": 1, "failed": 0, "errors": 0}
    });
    let recorded = results.to_string();
    std::fs::write(dir.path().join("results.json"), &recorded).unwrap();
    let out = podcheck(&["report", dir.path().to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in ["junit.xml", "summary.md", "report.html"] {
        assert!(dir.path().join(name).is_file(), "{name}: {}", text(&out));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("reports: ") && last.ends_with("report.html"),
        "{last}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("s&lt;b&gt;"), "the suite's name is escaped");
    std::fs::remove_file(dir.path().join("report.html")).unwrap();
    let file = dir.path().join("results.json");
    let out = podcheck(&["report", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        dir.path().join("report.html").is_file(),
        "results.json names its run directory too"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        recorded,
        "results.json stays as the run wrote it"
    );
}

#[test]
fn report_says_what_is_wrong_with_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().to_str().unwrap();
    let out = podcheck(&["report", run_dir], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("results.json: No such file"), "{stderr}");
    assert!(
        stderr.contains("help: give the report directory of a `podcheck run`"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("results.json"),
        "{\n  \"schema\": \"podcheck.dev/results/v1alpha1\",\n  \"runId\": [1]\n}\n",
    )
    .unwrap();
    let out = podcheck(&["report", run_dir], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a podcheck results document"),
        "{stderr}"
    );
    assert!(
        stderr.contains("results.json:3:"),
        "points at the line: {stderr}"
    );
    assert!(!dir.path().join("report.html").exists());
}
