//! Loading suite files end to end: good suites load into the cases the runner gets, bad
//! suites give located diagnostics (snapshotted), and the committed JSON schema is current.
//!
//! Fixtures live in `tests/fixtures/`: `good/` suites must load, each `bad/*.yaml` has one
//! mistake. Bad suites are loaded under the placeholder directory [`ROOT`] (mapped onto the
//! fixture directory by the reader), so the rendered diagnostics, which wrap at 100
//! columns, are the same on every machine.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use podcheck_core::conformance::json_schema;
use podcheck_core::duration::Duration;
use podcheck_core::load::{self, CaseSpec, DEFAULT_TIMEOUT, Identity, Problem, Suite, SuiteError};
use podcheck_core::stage::Stage;
use podcheck_core::suite::{
    AuthExpectation, BindingExpectation, Expectation, LookupAddress, TaintEffect,
};
use rstest::rstest;
use serde_json::json;

/// What bad fixtures' paths start with in diagnostics, instead of the checkout's path.
const ROOT: &str = "[FIXTURES]";

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a file, mapping the placeholder [`ROOT`] onto the fixture directory.
fn read(path: &Path) -> std::io::Result<String> {
    let real = match path.strip_prefix(ROOT) {
        Ok(rest) => fixtures().join(rest),
        Err(_) => path.to_path_buf(),
    };
    std::fs::read_to_string(real)
}

fn load_ok(path: &Path) -> Suite {
    match load::load(path, &read) {
        Ok(suite) => suite,
        Err(e) => panic!("{} should load, but:\n{e}", path.display()),
    }
}

fn load_bad(name: &str) -> SuiteError {
    let path = Path::new(ROOT).join("bad").join(name);
    match load::load(&path, &read) {
        Ok(suite) => panic!("{name} should not load, but loaded {suite:#?}"),
        Err(e) => e,
    }
}

fn case<'a>(suite: &'a Suite, name: &str) -> &'a CaseSpec {
    suite
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in {}", suite.name))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ip(s: &str) -> Option<LookupAddress> {
    Some(LookupAddress::Ip(
        s.parse::<IpAddr>().expect("an IP address"),
    ))
}

fn service(namespace: Option<&str>, name: &str) -> Option<LookupAddress> {
    Some(LookupAddress::Service {
        namespace: namespace.map(str::to_string),
        name: name.into(),
    })
}

#[test]
fn the_built_in_pod_lifecycle_suite_loads() {
    let path = workspace().join("suites/pod-lifecycle/suite.yaml");
    let suite = load::load(&path, &|p| std::fs::read_to_string(p))
        .unwrap_or_else(|e| panic!("the built-in suite should load, but:\n{e}"));
    assert_eq!(suite.name, "pod-lifecycle");
    assert_eq!(suite.path, path);
    assert!(suite.nodes.is_empty());
    assert!(suite.identities.is_empty());
    assert_eq!(suite.cases.len(), 3);
    assert_eq!(
        suite.cases[2].expect.cri_launch,
        Some(podcheck_core::suite::CriLaunchExpectation::PullFails(
            "failed to resolve reference \"docker.io/library/nosuch:1.0\"".into()
        ))
    );
    let c = &suite.cases[0];
    assert_eq!(c.name, "busybox-runs");
    assert_eq!(c.tags, ["smoke"]);
    assert_eq!(c.pod_source, "pods/busybox.yaml");
    assert_eq!(c.identity, Identity::Admin);
    assert_eq!(
        c.pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "busybox", "labels": {"run": "busybox"}},
            "spec": {"containers": [{"name": "busybox", "image": "busybox",
                "imagePullPolicy": "IfNotPresent", "args": ["sleep", "3600"]}]},
        })
    );
    assert!(c.setup.is_empty());
    assert!(c.deadlines.is_empty());
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    for stage in Stage::ALL {
        assert_eq!(c.deadline(stage), DEFAULT_TIMEOUT, "{stage}");
        assert!(!load::expected_words(c, stage).is_empty());
    }
    let lookups: Vec<_> = c
        .dns_lookups
        .iter()
        .map(|l| (l.name.as_str(), l.address.clone()))
        .collect();
    assert_eq!(
        lookups,
        [
            (
                "kubernetes.default.svc.$(CLUSTER_DOMAIN)",
                service(Some("default"), "kubernetes")
            ),
            (
                "kube-dns.kube-system",
                service(Some("kube-system"), "kube-dns")
            ),
            ("no-such-service", None),
        ]
    );
}

#[test]
fn a_suite_using_every_feature_loads() {
    let path = fixtures().join("good/every-feature/suite.yaml");
    let suite = load_ok(&path);
    assert_eq!(suite.name, "every-feature");
    assert_eq!(
        suite.description,
        "Uses every field and every expectation variant of the suite format."
    );

    // Nodes.
    let nodes: Vec<_> = suite.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    let [n1, n2, n3] = &suite.nodes[..] else {
        unreachable!()
    };
    assert!(n1.labels.is_empty() && n1.taints.is_empty() && n1.capacity.is_empty());
    assert!(!n1.unschedulable);
    assert_eq!(
        n2.labels,
        BTreeMap::from([
            ("disktype".to_string(), "ssd".to_string()),
            (
                "topology.kubernetes.io/zone".to_string(),
                "zone-b".to_string()
            ),
        ])
    );
    let taints: Vec<_> = n2
        .taints
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str(), t.effect))
        .collect();
    assert_eq!(
        taints,
        [
            ("dedicated", "gpu", TaintEffect::NoSchedule),
            ("maintenance", "", TaintEffect::NoExecute),
            ("spot", "true", TaintEffect::PreferNoSchedule),
        ]
    );
    assert_eq!(
        n2.capacity,
        BTreeMap::from([
            ("cpu".to_string(), "4".to_string()),
            ("memory".to_string(), "8Gi".to_string()),
            ("pods".to_string(), "20".to_string()),
        ])
    );
    assert!(!n2.unschedulable);
    assert!(n3.unschedulable);

    // Identities.
    let alice = Identity::User {
        name: "alice".into(),
        groups: vec!["developers".into(), "system:authenticated".into()],
    };
    let bob = Identity::User {
        name: "bob".into(),
        groups: vec![],
    };
    assert_eq!(suite.identities, [alice.clone(), bob.clone()]);

    let names: Vec<_> = suite.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "from-file",
            "unnamed-file",
            "anonymous",
            "invalid-image",
            "skipped"
        ]
    );

    // A pod file, a declared identity, setup objects, every stage named, deadlines,
    // its own timeout and DNS lookups with and without an address.
    let c = case(&suite, "from-file");
    assert_eq!(
        c.description,
        "A pod read from a file, created by a declared identity, with setup objects."
    );
    assert_eq!(c.tags, ["smoke", "file"]);
    assert_eq!(c.pod_source, "pods/web.yaml");
    assert_eq!(c.identity, alice);
    assert_eq!(c.pod["metadata"]["name"], "web", "the file's name is kept");
    assert_eq!(
        c.pod["metadata"].get("namespace"),
        None,
        "the namespace is the runner's"
    );
    assert_eq!(c.pod["apiVersion"], "v1");
    assert_eq!(c.pod["kind"], "Pod");
    assert_eq!(c.pod["spec"]["nodeSelector"], json!({"disktype": "ssd"}));
    assert_eq!(
        c.setup,
        [
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
            }),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"mode": "test"},
            }),
        ]
    );
    assert_eq!(c.expect.auth, Some(AuthExpectation::Allowed));
    assert_eq!(c.expect.etcd_write, Some(Expectation::Pass));
    assert_eq!(c.expect.pending, Some(Expectation::Pass));
    assert_eq!(
        c.expect.binding,
        Some(BindingExpectation::ScheduledTo("node-2".into()))
    );
    assert_eq!(
        c.expect.cri_launch,
        Some(podcheck_core::suite::CriLaunchExpectation::Pass)
    );
    assert_eq!(c.expect.cni_attach, Some(Expectation::Pass));
    assert_eq!(
        c.expect.dns,
        Some(Expectation::Skip("the image has no resolver".into()))
    );
    assert_eq!(c.expect.status_update, Some(Expectation::Pass));
    assert_eq!(
        c.deadlines,
        BTreeMap::from([
            (Stage::Auth, Duration::parse("500ms").unwrap()),
            (Stage::Binding, secs(2)),
            (Stage::StatusUpdate, secs(90)),
        ])
    );
    assert_eq!(c.timeout, secs(120));
    assert_eq!(c.deadline(Stage::Auth), Duration::parse("500ms").unwrap());
    assert_eq!(c.deadline(Stage::StatusUpdate), secs(90));
    assert_eq!(
        c.deadline(Stage::Dns),
        secs(120),
        "falls back to the case's"
    );
    let lookups: Vec<_> = c
        .dns_lookups
        .iter()
        .map(|l| (l.name.as_str(), l.address.clone()))
        .collect();
    assert_eq!(
        lookups,
        [
            ("web", ip("10.96.0.42")),
            ("kubernetes.default", ip("fd00::1")),
            (
                "kube-dns.kube-system.svc.$(CLUSTER_DOMAIN)",
                service(Some("kube-system"), "kube-dns")
            ),
            ("web.$(CLUSTER_DOMAIN)", service(None, "web")),
            ("no-such-service", None),
        ]
    );
    assert_eq!(load::expected_words(c, Stage::Binding), "bound to node-2");
    assert_eq!(
        load::expected_words(c, Stage::Dns),
        "skip: the image has no resolver"
    );

    // A pod file without a name, unschedulable.
    let c = case(&suite, "unnamed-file");
    assert_eq!(c.pod_source, "pods/unnamed.yaml");
    assert_eq!(c.identity, bob);
    assert_eq!(
        c.pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "unnamed-file"},
            "spec": {"containers": [{
                "name": "hog",
                "image": "busybox",
                "resources": {"requests": {"cpu": "64"}},
            }]},
        }),
        "apiVersion, kind and the case's name are filled in"
    );
    assert_eq!(
        c.expect.binding,
        Some(BindingExpectation::Unschedulable("Insufficient cpu".into()))
    );
    assert_eq!(
        c.expect.status_update,
        Some(Expectation::Skip("never scheduled".into()))
    );
    assert_eq!(c.expect.auth, None);
    assert_eq!(c.timeout, secs(45), "the suite's timeout");
    assert!(c.deadlines.is_empty());
    assert_eq!(c.deadline(Stage::Binding), secs(45));
    assert!(c.dns_lookups.is_empty());
    assert!(c.setup.is_empty());
    assert!(c.tags.is_empty());
    assert_eq!(c.description, "");

    // An inline pod with no metadata, sent without credentials.
    let c = case(&suite, "anonymous");
    assert_eq!(c.pod_source, "inline");
    assert_eq!(c.identity, Identity::Anonymous);
    assert_eq!(
        c.pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "anonymous"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        })
    );
    assert_eq!(c.expect.auth, Some(AuthExpectation::Denied(401)));
    assert_eq!(load::expected_words(c, Stage::Auth), "denied (401)");

    // An inline pod with its own name, and a namespace that is dropped.
    let c = case(&suite, "invalid-image");
    assert_eq!(c.pod_source, "inline");
    assert_eq!(c.identity, Identity::Admin, "`admin` is the administrator");
    assert_eq!(
        c.pod["metadata"],
        json!({"name": "custom-name", "labels": {"app": "bad"}})
    );
    assert_eq!(
        c.expect.auth,
        Some(AuthExpectation::Invalid("spec.containers[0].image".into()))
    );
    assert_eq!(
        load::expected_words(c, Stage::Auth),
        "invalid (422) at spec.containers[0].image"
    );

    // Skips, and an inline pod with empty metadata.
    let c = case(&suite, "skipped");
    assert_eq!(
        c.identity,
        Identity::Admin,
        "no identity is the administrator"
    );
    assert_eq!(c.pod["metadata"], json!({"name": "skipped"}));
    let why = || "checked elsewhere".to_string();
    assert_eq!(c.expect.auth, Some(AuthExpectation::Skip(why())));
    assert_eq!(c.expect.etcd_write, Some(Expectation::Skip(why())));
    assert_eq!(c.expect.pending, Some(Expectation::Skip(why())));
    assert_eq!(c.expect.binding, Some(BindingExpectation::Skip(why())));
    assert_eq!(c.expect.dns, None);
}

/// The only problem of a suite with one mistake.
fn only_problem(err: &SuiteError) -> &Problem {
    assert_eq!(err.0.len(), 1, "one problem expected, got:\n{err}");
    &err.0[0]
}

#[rstest]
#[case::unknown_field("unknown-field.yaml", 8, 7, "podd")]
#[case::wrong_type_timeout("wrong-type-timeout.yaml", 6, 12, "invalid duration")]
#[case::wrong_type_tags("wrong-type-tags.yaml", 8, 13, "tags")]
#[case::bad_duration("bad-duration.yaml", 9, 16, "5 sec")]
#[case::missing_pod_file("missing-pod-file.yaml", 8, 12, "pods/missing.yaml")]
#[case::unknown_identity("unknown-identity.yaml", 12, 17, "mallory")]
#[case::duplicate_case("duplicate-case.yaml", 11, 13, "twice")]
#[case::invalid_case_name("invalid-case-name.yaml", 7, 13, "Not_A_Label")]
#[case::wrong_api_version("wrong-api-version.yaml", 1, 13, "podcheck.dev/v1")]
#[case::wrong_kind("wrong-kind.yaml", 2, 7, "Pod")]
#[case::syntax_error("syntax-error.yaml", 10, 11, "':'")]
#[case::not_a_pod("not-a-pod.yaml", 8, 12, "ConfigMap")]
#[case::bad_lookup_address("bad-lookup-address.yaml", 11, 20, "web.example.org")]
#[case::unknown_lookup_variable("unknown-lookup-variable.yaml", 10, 17, "$(CLUSTER_DOMIAN)")]
#[case::load_bad_slo("load-bad-slo.yaml", 12, 13, "unknown percentile \"p95\"")]
#[case::load_with_expect(
    "load-with-expect.yaml",
    9,
    9,
    "`expect` does not apply to a load case"
)]
#[case::load_too_many_pods("load-too-many-pods.yaml", 8, 20, "pods 1000000 is out of range")]
fn bad_suites_give_located_diagnostics(
    #[case] fixture: &str,
    #[case] line: u64,
    #[case] column: u64,
    #[case] mentions: &str,
) {
    let err = load_bad(fixture);
    let p = only_problem(&err);
    let rendered = err.to_string();
    let snapshot = fixture.trim_end_matches(".yaml");
    insta::assert_snapshot!(snapshot, rendered);
    let file = format!("{ROOT}/bad/{fixture}");
    assert_eq!(
        (p.line, p.column),
        (line, column),
        "where {fixture}'s problem is"
    );
    assert!(
        rendered.contains(&format!("{file}:{line}:{column}: ")),
        "the diagnostic names file:line:col:\n{rendered}"
    );
    assert!(
        rendered.contains(mentions),
        "the diagnostic mentions {mentions:?}:\n{rendered}"
    );
    assert!(
        !rendered.contains(env!("CARGO_MANIFEST_DIR")),
        "no real path leaks into the snapshot:\n{rendered}"
    );
}

#[test]
fn diagnostics_name_the_suite_file_as_given() {
    let path = fixtures().join("bad/unknown-identity.yaml");
    let err = load::load(&path, &read).expect_err("an unknown identity");
    let p = only_problem(&err);
    assert_eq!(p.file, path.display().to_string());
    assert!(
        err.to_string()
            .contains(&format!("{}:12:17: ", path.display())),
        "{err}"
    );
}

#[test]
fn problems_in_several_cases_are_all_reported() {
    let source = "\
apiVersion: podcheck.dev/v1alpha1
kind: Suite
metadata:
  name: several
spec:
  cases:
    - name: Bad_Name
      pod: pods/pod.yaml
    - name: stranger
      pod: pods/pod.yaml
      identity: mallory
    - name: nowhere
      pod: pods/missing.yaml
";
    let dir = fixtures().join("bad");
    let suite = dir.join("several.yaml");
    let err = load::load(&suite, &|p| {
        if p == suite {
            Ok(source.to_string())
        } else {
            std::fs::read_to_string(p)
        }
    })
    .expect_err("three problems");
    let at: Vec<_> = err.0.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(at, [(7, 13), (11, 17), (13, 12)], "{err}");
}

#[test]
fn the_committed_json_schema_is_current() {
    const SCHEMA: &str = "suites/schema/suite.v1alpha1.json";
    let committed = std::fs::read_to_string(workspace().join(SCHEMA)).unwrap_or_default();
    // Not assert_eq!: a diff of two schemas helps less than the command that fixes it.
    assert!(
        committed == json_schema(),
        "{SCHEMA} is stale or missing: it differs from podcheck_core::conformance::json_schema(). \
         Regenerate it from the workspace root with\n\n    \
         cargo run -p podcheck -- schema > {SCHEMA}\n"
    );
}
