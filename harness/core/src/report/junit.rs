//! `junit.xml`: one testcase per case × stage (pod suites) or case × check (conformance
//! suites).
//!
//! CI systems show JUnit testcases one by one, so splitting a case into its stages makes the
//! failing stage (`busybox-runs / binding`) the thing a reader sees first, instead of a case
//! name they would have to look up.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{ReportError, evidence_line};
use crate::result::{
    CaseKind, CaseResult, CheckResult, Evidence, RunResults, StageResult, StageStatus, SuiteResult,
    Verdict,
};

/// Renders the run as a JUnit XML document named `podcheck`.
///
/// Fails only if a duration in `results` is not a valid time (negative, NaN, huge) or the
/// XML writer fails.
pub fn render(results: &RunResults) -> Result<String, ReportError> {
    let mut report = Report::new("podcheck");
    report.set_time(duration("run", results.duration_ms)?);
    for suite in &results.suites {
        report.add_test_suite(test_suite(results, suite)?);
    }
    report.to_string().map_err(ReportError::Junit)
}

fn test_suite(results: &RunResults, suite: &SuiteResult) -> Result<TestSuite, ReportError> {
    let mut ts = TestSuite::new(suite.name.as_str());
    // Repeated on every suite: JUnit has no report-level properties, and a reader of one
    // suite should still see what it ran against.
    let target = &results.target;
    ts.add_properties([
        ("run.id", results.run_id.as_str()),
        ("suite.path", suite.path.as_str()),
        ("target.kind", target.kind.as_str()),
        ("target.server", target.server.as_str()),
        ("target.version", target.version.as_str()),
    ]);
    ts.add_property(("suite.kind", suite.kind.as_str()));
    for c in &suite.components {
        ts.add_property((
            format!("component.{}", c.component),
            format!("{} {}", c.name, c.version).trim_end().to_owned(),
        ));
    }
    for p in &target.providers {
        let realness = if p.real { "real" } else { "simulated" };
        ts.add_property((
            format!("provider.{}", p.component),
            format!("{} {} ({realness})", p.name, p.version),
        ));
    }
    let mut total_ms = 0.0;
    for case in &suite.cases {
        total_ms += case.duration_ms;
        ts.add_test_cases(test_cases(suite, case)?);
    }
    ts.set_time(duration(&suite.name, total_ms)?);
    Ok(ts)
}

fn test_cases(suite: &SuiteResult, case: &CaseResult) -> Result<Vec<TestCase>, ReportError> {
    let classname = format!("{}.{}", suite.name, case.name);
    let mut out = Vec::new();
    let recorded_failure = match &case.kind {
        CaseKind::Pod { stages } => {
            let mut stages: Vec<&StageResult> = stages.iter().collect();
            stages.sort_by_key(|s| s.stage);
            for stage in &stages {
                out.push(stage_case(&classname, case, stage)?);
            }
            stages.iter().any(|s| s.status == StageStatus::Failed)
        }
        CaseKind::Conformance { checks } | CaseKind::Load { checks, .. } => {
            for check in checks {
                out.push(check_case(&classname, case, check)?);
            }
            checks.iter().any(|c| c.status == StageStatus::Failed)
        }
    };

    match case.verdict {
        Verdict::Error => {
            let text = case.error.as_deref().unwrap_or("the case could not be run");
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(text)
                .set_type("setup")
                .set_description(text);
            out.push(case_level(&classname, case, "setup", status)?);
        }
        // A failed case must show up as a failure even if no stage carries it, or CI would
        // report green.
        Verdict::Failed if !recorded_failure => {
            let text = case
                .error
                .as_deref()
                .unwrap_or("the case failed, but no stage recorded a failure");
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(text)
                .set_type("verdict")
                .set_description(text);
            out.push(case_level(&classname, case, "verdict", status)?);
        }
        Verdict::Skipped => {
            let text = case.error.as_deref().unwrap_or("the suite cannot run here");
            let mut status = TestCaseStatus::skipped();
            status.set_message(text);
            out.push(case_level(&classname, case, "skipped", status)?);
        }
        Verdict::Passed | Verdict::Failed => {}
    }
    Ok(out)
}

fn stage_case(
    classname: &str,
    case: &CaseResult,
    stage: &StageResult,
) -> Result<TestCase, ReportError> {
    outcome_case(
        classname,
        format!("{} / {}", case.name, stage.stage),
        Outcome {
            what: format!("stage: {} ({})", stage.stage, stage.stage.component()),
            kind: stage.stage.name(),
            status: stage.status,
            expected: &stage.expected,
            observed: &stage.observed,
            message: stage.message.as_deref(),
            hint: stage.hint.as_deref(),
            evidence: &stage.evidence,
            duration_ms: stage.duration_ms,
        },
    )
}

/// A conformance check as `CASE / CHECK`, its failure typed with the check's name.
fn check_case(
    classname: &str,
    case: &CaseResult,
    check: &CheckResult,
) -> Result<TestCase, ReportError> {
    outcome_case(
        classname,
        format!("{} / {}", case.name, check.name),
        Outcome {
            what: format!("check: {}", check.name),
            kind: &check.name,
            status: check.status,
            expected: &check.expected,
            observed: &check.observed,
            message: check.message.as_deref(),
            hint: check.hint.as_deref(),
            evidence: &check.evidence,
            duration_ms: check.duration_ms,
        },
    )
}

/// What a stage or a check concluded, as a testcase shows it.
struct Outcome<'a> {
    /// The failure text's first line: `stage: binding (scheduler)`, `check: add.succeeds`.
    what: String,
    /// The failure's type: the stage's or the check's name.
    kind: &'a str,
    status: StageStatus,
    expected: &'a str,
    observed: &'a str,
    message: Option<&'a str>,
    hint: Option<&'a str>,
    evidence: &'a [Evidence],
    duration_ms: Option<f64>,
}

/// One testcase for a stage or a check: success, a failure typed by its kind, or skipped.
fn outcome_case(classname: &str, name: String, o: Outcome<'_>) -> Result<TestCase, ReportError> {
    let status = match o.status {
        StageStatus::Passed => TestCaseStatus::success(),
        StageStatus::Failed => {
            let message = o
                .message
                .map(str::to_owned)
                .unwrap_or_else(|| format!("expected {}, observed {}", o.expected, o.observed));
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(message)
                .set_type(o.kind)
                .set_description(failure_text(&o));
            status
        }
        StageStatus::Skipped => {
            let mut status = TestCaseStatus::skipped();
            if let Some(message) = o.message {
                status.set_message(message);
            }
            status
        }
    };
    let time = duration(&name, o.duration_ms.unwrap_or(0.0))?;
    let mut tc = TestCase::new(name, status);
    tc.set_classname(classname).set_time(time);
    Ok(tc)
}

/// A testcase for the case as a whole (`CASE / setup`, `CASE / verdict`).
fn case_level(
    classname: &str,
    case: &CaseResult,
    label: &str,
    status: TestCaseStatus,
) -> Result<TestCase, ReportError> {
    let name = format!("{} / {label}", case.name);
    let time = duration(&name, case.duration_ms)?;
    let mut tc = TestCase::new(name, status);
    tc.set_classname(classname).set_time(time);
    Ok(tc)
}

/// The failure's text node: everything needed to act on it without opening `results.json`.
fn failure_text(o: &Outcome<'_>) -> String {
    let mut text = format!(
        "{}\nexpected: {}\nobserved: {}\n",
        o.what, o.expected, o.observed
    );
    if let Some(hint) = o.hint {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "hint: {hint}");
    }
    if !o.evidence.is_empty() {
        text.push_str("evidence:\n");
        for e in o.evidence {
            let _ = writeln!(text, "  {}", evidence_line(e));
        }
    }
    text
}

fn duration(subject: &str, ms: f64) -> Result<Duration, ReportError> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| ReportError::InvalidDuration {
        subject: subject.to_owned(),
        ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;
    use crate::stage::Stage;

    fn status_of<'a>(report: &'a Report, name: &str) -> &'a TestCaseStatus {
        let mut found = report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .filter(|tc| tc.name.as_str() == name);
        let tc = found.next().unwrap_or_else(|| panic!("no testcase {name}"));
        assert!(found.next().is_none(), "testcase {name} appears twice");
        &tc.status
    }

    fn is_failure(status: &TestCaseStatus) -> bool {
        matches!(
            status,
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                ..
            }
        )
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture()).unwrap());
    }

    #[test]
    fn conformance_failure_is_on_exactly_the_check_that_broke() {
        let xml = render(&crate::report::tests::conformance_fixture()).unwrap();
        let report = Report::deserialize_from_str(&xml).unwrap();
        let failures: Vec<&str> = report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .filter(|tc| is_failure(&tc.status))
            .map(|tc| tc.name.as_str())
            .collect();
        assert_eq!(failures, ["missing-ipam-bridge / badConfig.error-code"]);
        match status_of(&report, "missing-ipam-bridge / badConfig.error-code") {
            TestCaseStatus::NonSuccess {
                ty, description, ..
            } => {
                assert_eq!(ty.as_deref(), Some("badConfig.error-code"));
                let text = description.as_deref().unwrap();
                assert!(
                    text.contains("[cni bridge 1.1.1 real] ADD → exit 0"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status_of(&report, "add-bridge / add.netns-matches"),
            TestCaseStatus::Success { .. }
        ));
        assert!(
            xml.contains(r#"name="component.network" value="bridge+host-local 1.1.1""#),
            "{xml}"
        );
    }

    #[test]
    fn failure_is_on_exactly_the_stage_that_broke() {
        let xml = render(&fixture()).unwrap();
        let report = Report::deserialize_from_str(&xml).unwrap();

        let failures: Vec<&str> = report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .filter(|tc| is_failure(&tc.status))
            .map(|tc| tc.name.as_str())
            .collect();
        assert_eq!(failures, ["gpu-pod-binds / binding"]);

        match status_of(&report, "gpu-pod-binds / binding") {
            TestCaseStatus::NonSuccess {
                message,
                ty,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_deref(),
                    Some("no binding within the 2000 ms deadline")
                );
                assert_eq!(ty.as_deref(), Some("binding"));
                let text = description.as_deref().unwrap();
                assert!(text.contains("expected: bound to a node"), "{text}");
                assert!(text.contains("hint: the pod selects"), "{text}");
                assert!(
                    text.contains("[api builtin real] event FailedScheduling"),
                    "{text}"
                );
            }
            other => panic!("unexpected status {other:?}"),
        }
        for stage in Stage::ALL {
            let status = status_of(&report, &format!("busybox-runs / {stage}"));
            assert!(matches!(status, TestCaseStatus::Success { .. }), "{stage}");
        }
        assert!(matches!(
            status_of(&report, "anonymous-denied / auth"),
            TestCaseStatus::Success { .. }
        ));
        assert!(matches!(
            status_of(&report, "anonymous-denied / dns"),
            TestCaseStatus::Skipped { .. }
        ));
        assert!(matches!(
            status_of(&report, "registry-down / setup"),
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            }
        ));

        // The raw XML agrees: the failing testcase holds a <failure>, a passing one does not.
        let element = |name: &str| {
            let rest = &xml[xml.find(&format!("<testcase name=\"{name}\"")).unwrap() + 1..];
            let end = rest.find("<testcase").or_else(|| rest.find("</testsuite>"));
            rest[..end.unwrap()].to_owned()
        };
        assert!(element("gpu-pod-binds / binding").contains("<failure"));
        assert!(!element("gpu-pod-binds / pending").contains("<failure"));
    }

    #[test]
    fn suites_carry_counts_and_target_properties() {
        let report = Report::deserialize_from_str(&render(&fixture()).unwrap()).unwrap();
        let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["basics", "scheduling"]);
        let scheduling = &report.test_suites[1];
        assert_eq!(
            (
                scheduling.tests,
                scheduling.failures,
                scheduling.errors,
                scheduling.skipped
            ),
            (9, 1, 1, 4)
        );
        let runtime = scheduling
            .properties
            .iter()
            .find(|p| p.name.as_str() == "provider.runtime")
            .unwrap();
        assert_eq!(runtime.value.as_str(), "sim 0.1.0 (simulated)");
    }

    #[test]
    fn failed_case_without_a_failed_stage_still_fails() {
        let mut results = fixture();
        let busybox = &mut results.suites[0].cases[0];
        busybox.verdict = Verdict::Failed;
        let report = Report::deserialize_from_str(&render(&results).unwrap()).unwrap();
        assert!(is_failure(status_of(&report, "busybox-runs / verdict")));
    }

    #[test]
    fn invalid_durations_are_errors() {
        let mut results = fixture();
        let CaseKind::Pod { stages } = &mut results.suites[0].cases[0].kind else {
            panic!("busybox-runs is a pod case");
        };
        stages[3].duration_ms = Some(-5.0);
        let err = render(&results).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid duration for busybox-runs / binding: -5 ms"
        );
    }
}
