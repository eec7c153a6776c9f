//! Reports derived from [`RunResults`](crate::result::RunResults).
//!
//! Each renderer returns the whole document as a `String`; the caller decides where it goes
//! (a file, `$GITHUB_STEP_SUMMARY`, stdout), so this module stays free of I/O.
//!
//! - [`github`]: GitHub Actions' `::error` annotations, pointing at each failure's case.
//! - [`json`]: `results.json`, the versioned document itself.
//! - [`junit`]: `junit.xml`, one testcase per case × stage so CI points at the stage that broke.
//! - [`markdown`]: `summary.md`, a stage matrix and the failures, for a GitHub step summary.
//! - [`html`]: `report.html`, each case's stages on a timeline, for a person to read.
//! - [`terminal`]: what `podcheck run` prints.
//!
//! `summary.md` and `report.html` are drawn from one [`model`], so they agree.

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod terminal;

use crate::result::{Evidence, Provider, Source};

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// quick-junit failed to write the XML (in practice: an encoding problem).
    #[error("failed to serialize the junit report")]
    Junit(#[source] quick_junit::SerializeError),
    /// A duration in the results is negative, NaN or too large to be a JUnit time. The results
    /// are malformed; writing `0` instead would hide that.
    #[error("invalid duration for {subject}: {ms} ms")]
    InvalidDuration {
        /// What the duration belongs to (`run`, `SUITE`, `CASE / STAGE`).
        subject: String,
        ms: f64,
    },
}

/// The name reports use for an evidence source (matches its JSON spelling).
pub(crate) fn source_name(source: Source) -> &'static str {
    match source {
        Source::Api => "api",
        Source::Store => "store",
        Source::Cri => "cri",
        Source::Netns => "netns",
        Source::Dns => "dns",
        Source::Cni => "cni",
        Source::Process => "process",
        Source::Registry => "registry",
        Source::Fault => "fault",
    }
}

/// Milliseconds rounded to a whole number, for humans.
pub(crate) fn format_ms(ms: f64) -> String {
    format!("{:.0} ms", ms.round())
}

/// One evidence line: `[source provider real|simulated] detail (+at ms)`.
///
/// Both the JUnit text and the Markdown list use it, so a reader sees the same line in CI as in
/// the step summary.
pub(crate) fn evidence_line(e: &Evidence) -> String {
    let realness = if e.real { "real" } else { "simulated" };
    let mut line = format!(
        "[{} {} {realness}] {}",
        source_name(e.source),
        e.provider,
        e.detail
    );
    if let Some(at) = e.at_ms {
        line.push_str(&format!(" (+{})", format_ms(at)));
    }
    line
}

/// A provider as `component name version`, marked when it is a simulation, because a pass
/// against a simulated runtime or network proves less than one against the real thing.
pub(crate) fn provider_label(p: &Provider) -> String {
    let mut label = format!("{} {}", p.component, p.name);
    if !p.version.is_empty() {
        label.push(' ');
        label.push_str(&p.version);
    }
    if !p.real {
        label.push_str(" (simulated)");
    }
    label
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::result::{
        CaseKind, CaseResult, RESULTS_SCHEMA, RunResults, StageResult, StageStatus, SuiteResult,
        Summary, TargetInfo, Verdict,
    };
    use crate::stage::Stage;

    fn ev(source: Source, provider: &str, real: bool, detail: &str, at_ms: f64) -> Evidence {
        Evidence {
            source,
            provider: provider.into(),
            real,
            detail: detail.into(),
            at_ms: Some(at_ms),
        }
    }

    fn passed(stage: Stage, at_ms: f64, duration_ms: f64, evidence: Vec<Evidence>) -> StageResult {
        StageResult {
            stage,
            status: StageStatus::Passed,
            expected: "pass".into(),
            observed: "pass".into(),
            at_ms: Some(at_ms),
            duration_ms: Some(duration_ms),
            evidence,
            message: None,
            hint: None,
        }
    }

    fn skipped_after(stages: &[Stage], message: &str) -> Vec<StageResult> {
        stages
            .iter()
            .map(|&stage| StageResult {
                stage,
                status: StageStatus::Skipped,
                expected: "pass".into(),
                observed: String::new(),
                at_ms: None,
                duration_ms: None,
                evidence: vec![],
                message: Some(message.into()),
                hint: None,
            })
            .collect()
    }

    fn case(name: &str, identity: &str, verdict: Verdict, stages: Vec<StageResult>) -> CaseResult {
        CaseResult {
            name: name.into(),
            description: String::new(),
            tags: vec![],
            namespace: format!("podcheck-{name}"),
            pod: name.into(),
            identity: identity.into(),
            verdict,
            duration_ms: stages.iter().filter_map(|s| s.at_ms).fold(0.0, f64::max),
            error: None,
            kind: CaseKind::Pod { stages },
            timeline: vec![],
            batch: None,
        }
    }

    /// Two suites against the embedded control plane: a case that passes every stage, one
    /// denied at `auth` as expected, one stuck at `binding`, and one that could not be set up.
    pub(crate) fn fixture() -> RunResults {
        use Source::{Api, Cri, Netns, Store};
        use Stage::*;

        let busybox = case(
            "busybox-runs",
            "system:admin",
            Verdict::Passed,
            vec![
                passed(
                    Auth,
                    3.2,
                    3.2,
                    vec![ev(Api, "builtin", true, "201 Created", 3.2)],
                ),
                passed(
                    EtcdWrite,
                    3.6,
                    0.4,
                    vec![ev(
                        Store,
                        "memory",
                        true,
                        "/registry/pods/podcheck-busybox-runs/busybox-runs rev 41",
                        3.6,
                    )],
                ),
                passed(
                    Pending,
                    4.1,
                    0.5,
                    vec![ev(
                        Api,
                        "builtin",
                        true,
                        "watch ADDED phase=Pending nodeName=<none>",
                        4.1,
                    )],
                ),
                passed(
                    Binding,
                    11.7,
                    7.6,
                    vec![ev(
                        Api,
                        "builtin",
                        true,
                        "Scheduled: assigned to node-1",
                        11.7,
                    )],
                ),
                passed(
                    CriLaunch,
                    24.4,
                    12.7,
                    vec![
                        ev(Cri, "sim", false, "RunPodSandbox 5f0c… ready", 18.9),
                        ev(Cri, "sim", false, "StartContainer busybox running", 24.4),
                    ],
                ),
                passed(
                    CniAttach,
                    25.1,
                    0.7,
                    vec![ev(Netns, "sim", false, "eth0 10.244.0.7/24", 25.1)],
                ),
                passed(
                    Dns,
                    31.5,
                    6.4,
                    vec![ev(
                        Source::Dns,
                        "builtin",
                        true,
                        "kubernetes.default.svc.cluster.local → 10.96.0.1",
                        31.5,
                    )],
                ),
                passed(
                    StatusUpdate,
                    36.8,
                    5.3,
                    vec![ev(
                        Api,
                        "builtin",
                        true,
                        "phase=Running podIP=10.244.0.7",
                        36.8,
                    )],
                ),
            ],
        );

        let mut anon_stages = vec![StageResult {
            stage: Auth,
            status: StageStatus::Passed,
            expected: "denied 401".into(),
            observed: "denied 401".into(),
            at_ms: Some(1.4),
            duration_ms: Some(1.4),
            evidence: vec![ev(Api, "builtin", true, "401 Unauthorized", 1.4)],
            message: None,
            hint: None,
        }];
        anon_stages.extend(skipped_after(
            &Stage::ALL[1..],
            "auth denied the create, as expected; the pod never existed",
        ));
        let anonymous = case(
            "anonymous-denied",
            "system:anonymous",
            Verdict::Passed,
            anon_stages,
        );

        let mut gpu_stages = vec![
            passed(
                Auth,
                2.9,
                2.9,
                vec![ev(Api, "builtin", true, "201 Created", 2.9)],
            ),
            passed(
                EtcdWrite,
                3.3,
                0.4,
                vec![ev(
                    Store,
                    "memory",
                    true,
                    "/registry/pods/podcheck-gpu-pod-binds/gpu-pod-binds rev 57",
                    3.3,
                )],
            ),
            passed(
                Pending,
                3.8,
                0.5,
                vec![ev(
                    Api,
                    "builtin",
                    true,
                    "watch ADDED phase=Pending nodeName=<none>",
                    3.8,
                )],
            ),
            StageResult {
                stage: Binding,
                status: StageStatus::Failed,
                expected: "bound to a node".into(),
                observed: "unschedulable".into(),
                at_ms: Some(2003.4),
                duration_ms: Some(1999.6),
                evidence: vec![
                    ev(
                        Api,
                        "builtin",
                        true,
                        "event FailedScheduling: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector",
                        14.2,
                    ),
                    ev(
                        Api,
                        "builtin",
                        true,
                        "pod condition PodScheduled=False reason=Unschedulable",
                        14.6,
                    ),
                ],
                message: Some("no binding within the 2000 ms deadline".into()),
                hint: Some(
                    "the pod selects accelerator=nvidia; label a node or drop the nodeSelector"
                        .into(),
                ),
            },
        ];
        gpu_stages.extend(skipped_after(
            &Stage::ALL[4..],
            "binding failed; the pod never reached a node",
        ));
        let gpu = case("gpu-pod-binds", "system:admin", Verdict::Failed, gpu_stages);

        let registry = CaseResult {
            error: Some(
                "setup failed: create namespace podcheck-registry-down: deadline of 30 s exceeded"
                    .into(),
            ),
            duration_ms: 30000.0,
            ..case("registry-down", "system:admin", Verdict::Error, vec![])
        };

        let mut results = RunResults {
            schema: RESULTS_SCHEMA.into(),
            run_id: "run-20250601-120000-7f3a".into(),
            started_at: "2025-06-01T12:00:00Z".into(),
            duration_ms: 32118.5,
            target: TargetInfo {
                kind: "local".into(),
                server: "https://127.0.0.1:6443".into(),
                version: "v1.33.1-podcheck".into(),
                providers: vec![
                    Provider {
                        component: "apiserver".into(),
                        name: "builtin".into(),
                        real: true,
                        version: "0.1.0".into(),
                    },
                    Provider {
                        component: "store".into(),
                        name: "memory".into(),
                        real: true,
                        version: "0.1.0".into(),
                    },
                    Provider {
                        component: "scheduler".into(),
                        name: "builtin".into(),
                        real: true,
                        version: "0.1.0".into(),
                    },
                    Provider {
                        component: "runtime".into(),
                        name: "sim".into(),
                        real: false,
                        version: "0.1.0".into(),
                    },
                    Provider {
                        component: "network".into(),
                        name: "sim".into(),
                        real: false,
                        version: "0.1.0".into(),
                    },
                    Provider {
                        component: "dns".into(),
                        name: "builtin".into(),
                        real: true,
                        version: "0.1.0".into(),
                    },
                ],
            },
            suites: vec![
                SuiteResult {
                    name: "basics".into(),
                    path: "suites/basics.yaml".into(),
                    kind: "pods".into(),
                    components: vec![],
                    skipped: None,
                    cases: vec![busybox, anonymous],
                },
                SuiteResult {
                    name: "scheduling".into(),
                    path: "suites/scheduling.yaml".into(),
                    kind: "pods".into(),
                    components: vec![],
                    skipped: None,
                    cases: vec![gpu, registry],
                },
            ],
            summary: Summary::default(),
        };
        results.summarize();
        results
    }

    /// A CNI conformance suite (one case passes, one fails a single check) and a CRI suite
    /// skipped because containerd is not installed.
    pub(crate) fn conformance_fixture() -> RunResults {
        use crate::result::{CheckResult, ComponentUnderTest};
        let cni = |detail: &str| ev(Source::Cni, "bridge 1.1.1", true, detail, 3.0);
        let add = CaseResult::conformance(
            "add-bridge",
            "ADD returns a valid result",
            vec![
                CheckResult::passed(
                    "add.result-valid",
                    "a 1.0.0 result with interfaces and ips",
                    "valid",
                    vec![cni("ADD → {\"cniVersion\":\"1.0.0\",…}")],
                ),
                CheckResult::passed(
                    "add.netns-matches",
                    "eth0 holds 10.244.7.2/24",
                    "eth0 10.244.7.2/24",
                    vec![ev(Source::Netns, "ip", true, "eth0 10.244.7.2/24", 9.0)],
                ),
            ],
            12.5,
            None,
        );
        let bad = CaseResult::conformance(
            "missing-ipam-bridge",
            "a config without ipam is refused",
            vec![CheckResult::failed(
                "badConfig.error-code",
                "exit 1 with error JSON code 7 (invalid network config)",
                "exit 0",
                vec![cni("ADD → exit 0, no error")],
                "the plugin accepted a config without ipam",
                Some("validate the config before creating anything".into()),
            )],
            4.0,
            None,
        );
        let mut results = RunResults {
            schema: RESULTS_SCHEMA.into(),
            run_id: "run-20250601-120000-7f3a".into(),
            started_at: "2025-06-01T12:00:00Z".into(),
            duration_ms: 16.5,
            target: TargetInfo {
                kind: "local".into(),
                server: String::new(),
                version: String::new(),
                providers: vec![],
            },
            suites: vec![
                SuiteResult {
                    name: "cni".into(),
                    path: "suites/cni/suite.yaml".into(),
                    kind: "cni".into(),
                    components: vec![ComponentUnderTest {
                        component: "network".into(),
                        name: "bridge+host-local".into(),
                        version: "1.1.1".into(),
                    }],
                    skipped: None,
                    cases: vec![add, bad],
                },
                SuiteResult::skipped(
                    "cri",
                    "suites/cri/suite.yaml",
                    "cri",
                    &[("sandbox-lifecycle", "a sandbox runs, stops and is removed")],
                    crate::result::SuiteSkip {
                        reason: "containerd is not installed".into(),
                        install: Some("apt-get install containerd runc".into()),
                    },
                ),
            ],
            summary: Summary::default(),
        };
        results.summarize();
        results
    }

    #[test]
    fn fixture_covers_every_verdict() {
        let r = fixture();
        assert_eq!(
            r.summary,
            Summary {
                cases: 4,
                passed: 2,
                failed: 1,
                errors: 1,
                skipped: 0,
            }
        );
        assert_eq!(conformance_fixture().summary.skipped, 1);
    }

    #[test]
    fn evidence_line_marks_simulations_and_rounds_time() {
        let e = ev(Source::Cri, "sim", false, "StartContainer ok", 24.6);
        assert_eq!(
            evidence_line(&e),
            "[cri sim simulated] StartContainer ok (+25 ms)"
        );
        let e = Evidence {
            at_ms: None,
            ..ev(Source::Api, "builtin", true, "201", 0.0)
        };
        assert_eq!(evidence_line(&e), "[api builtin real] 201");
    }
}
