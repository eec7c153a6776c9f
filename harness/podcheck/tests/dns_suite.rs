//! `suites/dns/suite.yaml` against the embedded control plane's DNS server: every case
//! passes, and a wrong expectation fails with the name of the check that caught it.

use std::path::Path;
use std::time::Instant;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use podcheck_conformance::dns;
use podcheck_controlplane::providers::StoreChoice;
use podcheck_controlplane::{Config, ControlPlane};
use podcheck_core::conformance::dns::{DnsSuite, ExpectedRecord};
use podcheck_core::conformance::{AnySuite, load_any};
use podcheck_core::duration::Duration;
use podcheck_core::result::{
    RESULTS_SCHEMA, RunResults, StageStatus, SuiteResult, Summary, TargetInfo, Verdict,
};
use rstest::rstest;

async fn control_plane(store: StoreChoice) -> ControlPlane {
    ControlPlane::start(Config {
        nodes: 0,
        scheduler: false,
        store,
        ..Config::default()
    })
    .await
    .expect("control plane starts")
}

fn suite() -> DnsSuite {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/dns/suite.yaml");
    match load_any(&path, &|p| std::fs::read_to_string(p)) {
        Ok(AnySuite::Dns(suite)) => suite,
        Ok(other) => panic!("expected a DnsSuite, got kind {}", other.kind()),
        Err(e) => panic!("the suite does not load:\n{e}"),
    }
}

fn failures(result: &SuiteResult) -> String {
    let mut out = String::new();
    for case in result.cases.iter().filter(|c| c.verdict != Verdict::Passed) {
        for check in case
            .checks()
            .iter()
            .filter(|c| c.status == StageStatus::Failed)
        {
            out.push_str(&format!(
                "{} / {}: expected {}, observed {} ({})\n",
                case.name,
                check.name,
                check.expected,
                check.observed,
                check.message.as_deref().unwrap_or("")
            ));
        }
        if let Some(e) = &case.error {
            out.push_str(&format!("{}: {e}\n", case.name));
        }
    }
    out
}

/// On the memory store, and on etcd where it is installed (`auto` falls back to memory).
#[rstest]
#[case::memory(StoreChoice::Memory)]
#[case::etcd_where_installed(StoreChoice::Auto)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_suite_passes_against_the_builtin_server(#[case] store: StoreChoice) {
    let cp = control_plane(store).await;
    let suite = suite();
    let client = cp.client().await.unwrap();
    let started = Instant::now();
    let result = dns::run(&suite, client.clone(), cp.dns_addr(), "dns-suite", &[])
        .await
        .expect("the suite runs");
    eprintln!(
        "dns suite: {} cases in {:.0} ms",
        result.cases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );

    assert_eq!(result.kind, "dns");
    assert_eq!(result.cases.len(), suite.cases.len());
    assert!(
        result.cases.iter().all(|c| c.verdict == Verdict::Passed),
        "failed checks:\n{}",
        failures(&result)
    );
    let [server] = result.components.as_slice() else {
        panic!("one component under test: {:?}", result.components);
    };
    assert_eq!(server.component, "dns");
    assert_eq!(server.name, cp.dns_addr().to_string());
    assert_eq!(server.version, "dns-version 1.1.0");

    // The namespace goes away with the run.
    let namespaces: Api<Namespace> = Api::all(client);
    let left = namespaces.get_opt("dns-suite").await.unwrap();
    assert!(
        left.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
        "the suite's namespace is still there"
    );
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_answer_fails_with_the_checks_name() {
    let cp = control_plane(StoreChoice::Memory).await;
    let mut suite = suite();
    // Nothing will make this pass: fail fast.
    suite.timeout = Duration(std::time::Duration::from_secs(1));
    let case = suite
        .cases
        .iter_mut()
        .find(|c| c.name == "a-cluster-ip")
        .expect("the suite has a-cluster-ip");
    case.expect.answers = Some(vec![ExpectedRecord::A("10.0.0.99".into())]);

    let result = dns::run(
        &suite,
        cp.client().await.unwrap(),
        cp.dns_addr(),
        "dns-wrong",
        &[],
    )
    .await
    .expect("the suite runs");

    let failed: Vec<(&str, &str)> = result
        .cases
        .iter()
        .flat_map(|c| {
            c.checks()
                .iter()
                .filter(|k| k.status == StageStatus::Failed)
                .map(|k| (c.name.as_str(), k.name.as_str()))
        })
        .collect();
    assert_eq!(failed, [("a-cluster-ip", "answers")]);
    let case = result
        .cases
        .iter()
        .find(|c| c.name == "a-cluster-ip")
        .unwrap();
    assert_eq!(case.verdict, Verdict::Failed);
    let check = case.checks().iter().find(|k| k.name == "answers").unwrap();
    assert!(
        check
            .message
            .as_deref()
            .unwrap()
            .contains("missing A 10.0.0.99"),
        "{check:?}"
    );
    assert!(
        check.evidence[0]
            .detail
            .contains(&cp.dns_addr().to_string()),
        "the evidence names the server: {:?}",
        check.evidence
    );

    // JUnit names the case and the check that failed.
    let mut results = RunResults {
        schema: RESULTS_SCHEMA.into(),
        run_id: "test".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 0.0,
        target: TargetInfo {
            kind: "local".into(),
            server: cp.server_url(),
            version: String::new(),
            providers: vec![],
        },
        suites: vec![result],
        summary: Summary::default(),
    };
    results.summarize();
    let junit = podcheck_core::report::junit::render(&results).unwrap();
    assert!(junit.contains("a-cluster-ip / answers"), "{junit}");
    cp.shutdown().await;
}

/// A server that never answers costs the suite's timeout (plus the version question), not
/// a query timeout per case, and every case says it ran out of time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_fails_every_case_within_the_timeout() {
    let cp = control_plane(StoreChoice::Memory).await;
    let mut suite = suite();
    suite.timeout = Duration(std::time::Duration::from_secs(1));
    // Bound, never read: queries to it go unanswered (and stay on loopback).
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = Instant::now();
    let result = dns::run(
        &suite,
        cp.client().await.unwrap(),
        silent.local_addr().unwrap(),
        "dns-silent",
        &[],
    )
    .await
    .expect("the suite runs");
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(12),
        "took {took:?} for {} cases",
        result.cases.len()
    );
    assert!(
        result.cases.iter().all(|c| c.verdict == Verdict::Failed),
        "{}",
        failures(&result)
    );
    assert!(
        result
            .cases
            .iter()
            .any(|c| c.checks().iter().any(|k| k.name == "deadline")),
        "{}",
        failures(&result)
    );
    cp.shutdown().await;
}
