//! `podcheck load` end to end with the built binary: pods on the embedded control plane
//! with every metric and ClusterLoader2's PerfData; an SLO breached on purpose; a
//! `--kubeconfig` cluster (a `podcheck up`) left without the run's namespace; a bad `--slo`.

mod support;

use std::path::Path;
use std::process::Output;

use support::{Up, podcheck, text};

/// `podcheck load ARGS --out DIR` on the simulated providers.
fn load(args: &[&str], out: &Path) -> Output {
    podcheck()
        .arg("load")
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

const METRICS: [&str; 10] = [
    "etcdWrite",
    "pending",
    "binding",
    "criLaunch",
    "cniAttach",
    "statusUpdate",
    "create_to_schedule",
    "schedule_to_run",
    "run_to_watch",
    "pod_startup",
];

#[test]
fn two_hundred_pods_on_four_nodes_run_and_every_metric_has_two_hundred_samples() {
    let out = tempfile::tempdir().unwrap();
    let args = [
        "--pods",
        "200",
        "--nodes",
        "4",
        "--store",
        "memory",
        "--runtime",
        "sim",
    ];
    let run = load(&args, out.path());
    let shown = text(&run);
    assert_eq!(run.status.code(), Some(0), "{shown}");
    for metric in METRICS {
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with(metric) && l.ends_with(" 200")),
            "{metric} has no row with n=200:\n{shown}"
        );
    }
    assert!(shown.contains("dns"), "{shown}");
    assert!(shown.contains("not measured"), "{shown}");
    assert!(shown.contains("throughput:"), "{shown}");
    assert!(shown.contains("VmRSS"), "{shown}");

    let perfdata = json(&out.path().join("perfdata.json"));
    assert_eq!(perfdata["version"], "v1");
    let items = perfdata["dataItems"].as_array().unwrap();
    for metric in METRICS {
        let item = items
            .iter()
            .find(|i| i["labels"]["Metric"] == metric)
            .unwrap_or_else(|| panic!("{metric} missing from {perfdata:#}"));
        assert_eq!(item["unit"], "ms");
        let (p50, p99) = (
            item["data"]["Perc50"].as_f64().unwrap(),
            item["data"]["Perc99"].as_f64().unwrap(),
        );
        assert!(0.0 <= p50 && p50 <= p99, "{item}");
    }
    let report = json(&out.path().join("load.json"));
    assert_eq!(report["progress"]["ready"], 200);
    assert_eq!(report["podTimes"].as_array().unwrap().len(), 200);
    for m in report["metrics"].as_array().unwrap() {
        assert_eq!(m["n"], 200, "{m}");
    }
    assert!(
        report["memory"]["embedded"]["after"]["vmHwmKib"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn a_breached_slo_exits_1_and_names_the_breach() {
    let out = tempfile::tempdir().unwrap();
    let args = [
        "--pods",
        "10",
        "--store",
        "memory",
        "--runtime",
        "sim",
        "--slo",
        "pod_startup.p50<1us",
        "--slo",
        "pod_startup.p99<1h",
    ];
    let run = load(&args, out.path());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        stdout.contains("SLO FAIL pod_startup.p50<1us: ") && stdout.contains("(breached)"),
        "{stdout}"
    );
    assert!(stdout.contains("SLO PASS pod_startup.p99<1h: "), "{stdout}");
    let report = json(&out.path().join("load.json"));
    assert_eq!(report["slos"][0]["holds"], false);
}

#[test]
fn a_kubeconfig_cluster_takes_the_pods_and_loses_the_namespace_afterwards() {
    let up = Up::start(&["--nodes", "2", "--store", "memory", "--runtime", "sim"]);
    let out = tempfile::tempdir().unwrap();
    let kubeconfig = up.kubeconfig.to_str().unwrap().to_string();
    let run = load(&["--pods", "20", "--kubeconfig", &kubeconfig], out.path());
    let shown = text(&run);
    assert_eq!(run.status.code(), Some(0), "{shown}");
    assert!(shown.contains("memory: not measured"), "{shown}");
    let report = json(&out.path().join("load.json"));
    let namespace = report["namespace"].as_str().unwrap();
    assert!(namespace.starts_with("podcheck-load-"), "{namespace}");
    assert_eq!(report["progress"]["ready"], 20);
    let namespaces = up.ok(&["get", "namespaces", "-o", "name"]);
    assert!(!namespaces.contains(namespace), "{namespaces}");

    // --nodes shapes the embedded control plane only.
    let refused = load(
        &["--pods", "1", "--nodes", "2", "--kubeconfig", &kubeconfig],
        out.path(),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
}

#[test]
fn a_bad_slo_is_a_usage_error_naming_the_bad_part() {
    let out = tempfile::tempdir().unwrap();
    for (slo, says) in [
        ("podStartup.p99<5s", "unknown metric \"podStartup\""),
        ("pod_startup.p95<5s", "unknown percentile \"p95\""),
        ("pod_startup.p99<5", "\"5\" is not a duration"),
        ("pod_startup.p99", "has no `<` or `<=`"),
    ] {
        let run = load(&["--pods", "1", "--slo", slo], out.path());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{slo}: {}", text(&run));
        assert!(
            stderr.contains("error: --slo: ") && stderr.contains(says),
            "{stderr}"
        );
    }
    // The embedded control plane runs at most 5,000 nodes.
    let many = load(&["--pods", "1", "--nodes", "5001"], out.path());
    assert_eq!(many.status.code(), Some(2), "{}", text(&many));
    assert!(text(&many).contains("5001"), "{}", text(&many));
    assert!(!out.path().join("load.json").exists());
}

#[test]
fn pods_that_do_not_run_in_time_exit_1_saying_how_far_they_got() {
    let out = tempfile::tempdir().unwrap();
    let args = [
        "--pods",
        "5",
        "--scheduler",
        "none",
        "--timeout",
        "1s",
        "--store",
        "memory",
        "--runtime",
        "sim",
    ];
    let run = load(&args, out.path());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(stdout.contains("5 created"), "{stdout}");
    assert!(stdout.contains("0 scheduled"), "{stdout}");
    assert!(
        stdout.contains("timed out (--timeout): 5 of 5 pods not Ready"),
        "{stdout}"
    );
    let report = json(&out.path().join("load.json"));
    assert_eq!(report["timedOut"], true);
}

/// A suite's load cases through `podcheck run`: each case's checks in results.json (every
/// pod ran, one per SLO, with the measured value) and its load, a failing SLO exits 1, and
/// the snapshot holds the checks' outcomes and no times.
#[test]
fn a_suites_load_cases_run_alone_and_carry_their_checks() {
    let reports = tempfile::tempdir().unwrap();
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/load/suite.yaml");
    let run = podcheck()
        .args(["run", "--store", "memory", "--runtime", "sim"])
        .args(["--snapshot", "ignore", "--report-dir"])
        .arg(reports.path())
        .arg(&suite)
        .output()
        .unwrap();
    let shown = text(&run);
    assert_eq!(run.status.code(), Some(1), "{shown}");
    assert!(shown.contains("load: 50 pods, 50 Ready"), "{shown}");

    let results = json(&reports.path().join("results.json"));
    let cases = results["suites"][0]["cases"].as_array().unwrap();
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {results:#}"))
    };
    let status = |case: &serde_json::Value, check: &str| {
        let found = case["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check);
        let found = found.unwrap_or_else(|| panic!("no check {check}: {case:#}"));
        (found["status"].clone(), found["observed"].clone())
    };

    let fifty = case("fifty-pods");
    assert_eq!(fifty["verdict"], "passed", "{fifty:#}");
    assert_eq!(fifty["stages"], serde_json::json!([]));
    assert_eq!(fifty["load"]["pods"], 50);
    assert_eq!(fifty["load"]["progress"]["ready"], 50);
    assert_eq!(status(fifty, "all 50 pods ran").0, "passed");
    let (held, value) = status(fifty, "pod_startup.p99<1h");
    assert_eq!(held, "passed");
    assert!(value.as_str().unwrap().ends_with("ms"), "{value}");

    let fast = case("too-fast");
    assert_eq!(fast["verdict"], "failed", "{fast:#}");
    assert_eq!(status(fast, "all 10 pods ran").0, "passed");
    assert_eq!(status(fast, "pod_startup.p50<1us").0, "failed");
    assert_eq!(status(fast, "binding.p99<1h").0, "passed");
    assert_eq!(fast["load"]["slos"][0]["holds"], false);

    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"too-fast / pod_startup.p50&lt;1us\""),
        "{junit}"
    );
    let summary = std::fs::read_to_string(reports.path().join("summary.md")).unwrap();
    assert!(summary.contains("Load cases"), "{summary}");
}

#[test]
fn podcheck_validate_locates_a_bad_load() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {name: s}\nspec:\n  cases:\n    - name: many\n      load:\n        pods: 5\n        slo: [pod_startup.p95<5s]\n",
    )
    .unwrap();
    let run = podcheck().arg("validate").arg(&suite).output().unwrap();
    let shown = text(&run);
    assert_eq!(run.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains(&format!("{}:9:15: ", suite.display())),
        "{shown}"
    );
    assert!(shown.contains("unknown percentile \"p95\""), "{shown}");
}

/// The same suite through `--kubeconfig` (a `podcheck up`): the load goes to that cluster,
/// and the load cases' namespaces are gone after the run.
#[test]
fn a_suites_load_cases_run_on_a_kubeconfig_cluster_and_leave_no_namespace() {
    let up = Up::start(&["--nodes", "2", "--store", "memory", "--runtime", "sim"]);
    let reports = tempfile::tempdir().unwrap();
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/load/suite.yaml");
    let run = podcheck()
        .arg("run")
        .arg("--kubeconfig")
        .arg(&up.kubeconfig)
        .args(["--snapshot", "ignore", "--report-dir"])
        .arg(reports.path())
        .arg(&suite)
        .output()
        .unwrap();
    let shown = text(&run);
    assert_eq!(run.status.code(), Some(1), "{shown}");
    let results = json(&reports.path().join("results.json"));
    assert_eq!(results["target"]["kind"], "kubeconfig");
    let verdicts: Vec<_> = results["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].clone(), c["verdict"].clone()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("fifty-pods".into(), "passed".into()),
            ("too-fast".into(), "failed".into())
        ],
        "{shown}"
    );
    let namespaces = up.ok(&["get", "namespaces", "-o", "name"]);
    assert!(!namespaces.contains("pc-load-"), "{namespaces}");
}
