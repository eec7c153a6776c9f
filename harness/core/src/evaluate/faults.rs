//! What a case's faults add to the verdicts: each fault's story as evidence of the stage it
//! acts on, a recovery deadline once it ended, and stages the case expects to fail.

use super::round;
use crate::fault::FaultRecord;
use crate::observation::Observation;
use crate::result::{Evidence, Source, StageResult, StageStatus};

/// Adds the faults that act on `r`'s stage as its evidence, and holds the stage to their
/// recovery deadlines.
pub(super) fn show(r: &mut StageResult, obs: &Observation) {
    let stage = r.stage;
    for fault in obs.faults.iter().filter(|f| f.acts_on == stage) {
        r.evidence.push(Evidence {
            source: Source::Fault,
            provider: fault.component.clone(),
            real: fault.real,
            detail: fault.detail(),
            at_ms: fault.injected_ms.map(round),
        });
        recovery(r, fault);
        blame(r, fault);
    }
}

/// A stage that failed while a fault acted on it: the hint says so first.
fn blame(r: &mut StageResult, fault: &FaultRecord) {
    if r.status != StageStatus::Failed || fault.injected_ms.is_none() {
        return;
    }
    let until = match fault.ended_ms {
        Some(ms) if fault.recover_within.is_none() => format!(" until +{ms:.0} ms"),
        _ => String::new(),
    };
    let rest = r.hint.take().map(|h| format!("; {h}")).unwrap_or_default();
    r.hint = Some(format!(
        "the case's fault was in force{until}: {}{rest}",
        fault.fault
    ));
}

/// A stage that was to pass within `recoverWithin` of its fault's end.
fn recovery(r: &mut StageResult, fault: &FaultRecord) {
    let (Some(within), Some(ended)) = (fault.recover_within, fault.ended_ms) else {
        return;
    };
    let limit = ended + within.0.as_secs_f64() * 1e3;
    if r.status != StageStatus::Passed || r.at_ms.is_none_or(|at| at <= limit) {
        return;
    }
    let at = r.at_ms.unwrap_or_default();
    r.status = StageStatus::Failed;
    r.message = Some(format!(
        "{} recovered {:.0} ms after the fault ended ({}), past recoverWithin {within}",
        r.stage,
        at - ended,
        fault.fault
    ));
    r.hint = Some(format!(
        "{} took long to resume once it could: look at its retry interval or back-off",
        r.stage.component()
    ));
}

/// A stage the case expects to fail with `words`: it passes when it failed so, and fails
/// when it passed or failed in other words.
pub(super) fn expected_failure(mut r: StageResult, words: &str) -> StageResult {
    let shown = |r: &StageResult| {
        r.message.iter().any(|m| m.contains(words))
            || r.observed.contains(words)
            || r.evidence.iter().any(|e| e.detail.contains(words))
    };
    match r.status {
        StageStatus::Failed if shown(&r) => {
            let said = r.message.take().unwrap_or_else(|| r.observed.clone());
            // Where the words were, when not in the message itself.
            let matched = r
                .evidence
                .iter()
                .find(|e| e.detail.contains(words))
                .filter(|_| !said.contains(words))
                .map(|e| format!(" ({})", e.detail))
                .unwrap_or_default();
            r.status = StageStatus::Passed;
            r.observed = format!("failed as expected: {said}{matched}");
            r.hint = None;
        }
        StageStatus::Failed => {
            let was = r.message.take().unwrap_or_else(|| r.observed.clone());
            r.message = Some(format!("failed, but not with {words:?}: {was}"));
        }
        StageStatus::Passed => {
            r.status = StageStatus::Failed;
            r.message = Some(format!(
                "passed; the case expects it to fail with {words:?}"
            ));
            r.hint = Some(
                "the fault (or the broken input) did not reach this stage: check `at` and the evidence"
                    .into(),
            );
        }
        StageStatus::Skipped => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Stage;

    fn failing(message: &str, evidence: &[&str]) -> StageResult {
        StageResult {
            stage: Stage::CriLaunch,
            status: StageStatus::Failed,
            expected: String::new(),
            observed: "containers not running".into(),
            at_ms: None,
            duration_ms: None,
            evidence: evidence
                .iter()
                .map(|d| Evidence {
                    source: Source::Api,
                    provider: "p".into(),
                    real: true,
                    detail: d.to_string(),
                    at_ms: None,
                })
                .collect(),
            message: Some(message.into()),
            hint: Some("h".into()),
        }
    }

    #[test]
    fn a_stage_that_failed_in_the_expected_words_passes_and_says_where_they_were() {
        let r = expected_failure(
            failing(
                "the containers never all ran",
                &["event Failed: dial: connection refused"],
            ),
            "connection refused",
        );
        assert_eq!(r.status, StageStatus::Passed);
        assert_eq!(
            r.observed,
            "failed as expected: the containers never all ran (event Failed: dial: connection refused)"
        );
        assert_eq!(r.hint, None);
    }

    #[test]
    fn a_stage_that_failed_otherwise_or_passed_fails() {
        let r = expected_failure(failing("the containers never all ran", &[]), "refused");
        assert_eq!(r.status, StageStatus::Failed);
        assert_eq!(
            r.message.as_deref(),
            Some("failed, but not with \"refused\": the containers never all ran")
        );
        let mut passed = failing("", &[]);
        passed.status = StageStatus::Passed;
        passed.message = None;
        let r = expected_failure(passed, "refused");
        assert_eq!(r.status, StageStatus::Failed);
        assert_eq!(
            r.message.as_deref(),
            Some("passed; the case expects it to fail with \"refused\"")
        );
    }

    #[test]
    fn a_stage_that_failed_under_a_fault_says_so_in_its_hint() {
        let fault = FaultRecord {
            fault: "the scheduler stopped".into(),
            at: Stage::Auth,
            acts_on: Stage::CriLaunch,
            injected_ms: Some(-1.0),
            ended_ms: Some(3001.0),
            how: String::new(),
            component: String::new(),
            real: true,
            error: None,
            recover_within: None,
        };
        let mut r = failing("late", &[]);
        blame(&mut r, &fault);
        assert_eq!(
            r.hint.as_deref(),
            Some("the case's fault was in force until +3001 ms: the scheduler stopped; h")
        );
        let mut never = fault.clone();
        never.injected_ms = None;
        let mut r = failing("late", &[]);
        blame(&mut r, &never);
        assert_eq!(r.hint.as_deref(), Some("h"));
    }

    #[test]
    fn a_late_recovery_fails_its_stage() {
        let mut r = failing("", &[]);
        r.status = StageStatus::Passed;
        r.message = None;
        r.at_ms = Some(5000.0);
        let fault = FaultRecord {
            fault: "the scheduler stopped".into(),
            at: Stage::Auth,
            acts_on: Stage::CriLaunch,
            injected_ms: Some(0.0),
            ended_ms: Some(1000.0),
            how: String::new(),
            component: String::new(),
            real: true,
            error: None,
            recover_within: Some(crate::duration::Duration::from_secs(2)),
        };
        recovery(&mut r, &fault);
        assert_eq!(r.status, StageStatus::Failed);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "criLaunch recovered 4000 ms after the fault ended (the scheduler stopped), past recoverWithin 2s"
            )
        );
        r.status = StageStatus::Passed;
        r.at_ms = Some(2500.0);
        r.message = None;
        recovery(&mut r, &fault);
        assert_eq!(r.status, StageStatus::Passed);
    }
}
