//! Faults at stage boundaries (`faults:` in a suite): each kind injected into the embedded
//! control plane, observed at the stage it breaks with its evidence, and thrown back (the
//! runner makes a case that leaves a switch thrown an error, so every pass below also says
//! nothing was left behind). On a cluster podcheck did not make, such cases are skipped.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Up, podcheck, real_or_skip, text};

const SUITE: &str = "harness/podcheck/tests/fixtures/faults/suite.yaml";

fn run(args: &[&str], reports: &Path) -> (std::process::Output, Value) {
    let out = podcheck()
        .args(["run", SUITE, "--snapshot", "ignore", "--report-dir"])
        .arg(reports)
        .args(args)
        .output()
        .unwrap();
    let results = std::fs::read_to_string(reports.join("results.json"))
        .unwrap_or_else(|e| panic!("no results.json ({e}):\n{}", text(&out)));
    (out, serde_json::from_str(&results).unwrap())
}

fn case<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn stage<'a>(case: &'a Value, name: &str) -> &'a Value {
    case["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap()
}

/// The fault's evidence on `stage`: injected, in the control plane's words.
fn fault_evidence(case: &Value, stage_name: &str) -> String {
    let s = stage(case, stage_name);
    let details: Vec<&str> = s["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "fault")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(details.len(), 1, "{}: {s:#}", case["name"]);
    assert!(details[0].starts_with("fault injected"), "{}", details[0]);
    details[0].to_string()
}

fn at_ms(case: &Value, stage_name: &str) -> f64 {
    stage(case, stage_name)["atMs"].as_f64().unwrap_or(-1.0)
}

/// Every case of the fixture passed, and each fault shows at the stage it breaks.
fn check_every_kind(results: &Value) {
    for c in results["suites"][0]["cases"].as_array().unwrap() {
        assert_eq!(c["verdict"], "passed", "{c:#}");
    }
    let evidence = |name: &str, stage_name: &str| fault_evidence(case(results, name), stage_name);
    assert!(evidence("scheduler-stopped", "binding").contains("scheduler stopped"));
    // Stopped for 1.5 s, then bound by the scheduler started again.
    let restarts = case(results, "scheduler-restarts");
    assert!(evidence("scheduler-restarts", "binding").contains("ended at +15"));
    assert!(at_ms(restarts, "binding") >= 1500.0, "{restarts:#}");
    assert!(at_ms(case(results, "scheduler-paused"), "binding") >= 1000.0);
    let cni = case(results, "cni-add-fails");
    assert!(evidence("cni-add-fails", "cniAttach").contains("code 11"));
    assert!(
        stage(cni, "cniAttach")["observed"]
            .as_str()
            .unwrap()
            .contains("failed (add): no IP addresses available"),
        "{cni:#}"
    );
    assert_eq!(stage(cni, "dns")["status"], "skipped");
    let killed = case(results, "runtime-killed");
    assert!(evidence("runtime-killed", "criLaunch").contains("killed"));
    assert!(
        stage(killed, "criLaunch")["observed"]
            .as_str()
            .unwrap()
            .contains("code = Unavailable"),
        "{killed:#}"
    );
    // Back 1 s later: the kubelet's next sync starts the pod, and every stage passes.
    let restarts = case(results, "runtime-restarts");
    assert!(evidence("runtime-restarts", "criLaunch").contains("ended at +"));
    assert!(at_ms(restarts, "criLaunch") >= 1000.0, "{restarts:#}");
    assert!(
        stage(restarts, "criLaunch")["evidence"]
            .to_string()
            .contains("code = Unavailable"),
        "{restarts:#}"
    );
    let drops = case(results, "dns-drops");
    assert!(evidence("dns-drops", "dns").contains("drops every query"));
    assert!(
        stage(drops, "dns")["observed"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    let delays = case(results, "dns-delays");
    assert!(evidence("dns-delays", "dns").contains("300ms late"));
    assert!(stage(delays, "dns")["durationMs"].as_f64().unwrap() >= 300.0);
    // The create itself waited for the store.
    let store = case(results, "store-writes-delayed");
    assert!(evidence("store-writes-delayed", "etcdWrite").contains("400ms"));
    assert!(at_ms(store, "auth") >= 400.0, "{store:#}");
    let status = case(results, "status-updates-delayed");
    assert!(evidence("status-updates-delayed", "statusUpdate").contains("1s late"));
    assert!(at_ms(status, "statusUpdate") >= 1000.0, "{status:#}");
}

#[test]
fn every_fault_kind_shows_at_its_stage_on_the_simulated_providers() {
    let dir = tempfile::tempdir().unwrap();
    let (out, results) = run(&["--store", "memory", "--runtime", "sim"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    check_every_kind(&results);
}

#[test]
fn every_fault_kind_shows_at_its_stage_on_real_components() {
    if !real_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (out, results) = run(&["--store", "etcd", "--runtime", "containerd"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    check_every_kind(&results);
    let providers = results["target"]["providers"].to_string();
    assert!(providers.contains("containerd"), "{providers}");
    // On real components, the runtime and the CNI plugin really broke.
    let killed = fault_evidence(case(&results, "runtime-killed"), "criLaunch");
    assert!(killed.contains("containerd gets SIGKILL"), "{killed}");
    let cni = fault_evidence(case(&results, "cni-add-fails"), "cniAttach");
    assert!(cni.contains("is a wrapper that fails ADD"), "{cni}");
}

#[test]
fn cases_with_faults_are_skipped_on_a_cluster_podcheck_did_not_make() {
    let up = Up::start(&["--store", "memory", "--runtime", "sim"]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = up.kubeconfig.display().to_string();
    let (out, results) = run(&["--kubeconfig", &kubeconfig], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    for c in results["suites"][0]["cases"].as_array().unwrap() {
        assert_eq!(c["verdict"], "skipped", "{c:#}");
        assert!(
            c["error"]
                .as_str()
                .unwrap()
                .contains("only to the embedded control plane"),
            "{c:#}"
        );
    }
}

#[test]
fn a_fault_validates_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {name: s}\nspec:\n  cases:\n    - name: c\n      pod: {spec: {containers: [{name: c, image: busybox}]}}\n      faults:\n        - break: dnsDrops\n          at: pending\n        - break: schedulerPaused\n          at: criLaunch\n",
    )
    .unwrap();
    let out = podcheck().arg("validate").arg(&suite).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("suite.yaml:12:15: a schedulerPaused fault at criLaunch comes after"),
        "{said}"
    );
}
