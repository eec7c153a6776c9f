//! Stage verdicts: pure functions from what was observed (and what the case expects) to a
//! result per stage. Nothing here waits or reads; every verdict can be tested on a table.
//!
//! Each stage's verdict has a file of its own; this one runs them in order and holds what
//! they share: the builders of results and evidence, the deadlines, where a pod's path
//! ends, and what a pod shows.

mod auth;
mod binding;
mod cni_attach;
mod cri_launch;
mod dns;
mod etcd_write;
mod faults;
mod pending;
mod status_update;
#[cfg(test)]
mod test_support;

use k8s_openapi::api::core::v1::Pod;

use crate::load::{CaseSpec, expected_words};
use crate::observation::{Observation, PodSighting};
use crate::result::{Evidence, Provider, Source, StageResult, StageStatus};
use crate::stage::Stage;
use crate::suite::{BindingExpectation, CriLaunchExpectation};

/// A batch's per-copy binding latencies (none for a single pod): what the binding verdict
/// quotes percentiles of, kept whole for the reports' distribution.
pub fn batch(obs: &Observation) -> Option<crate::result::BatchResult> {
    binding::batch_result(obs)
}

/// Evaluates all eight stages, in the seed's order.
pub fn evaluate(case: &CaseSpec, obs: &Observation) -> Vec<StageResult> {
    let mut results: Vec<StageResult> = Vec::new();
    // Once the pod's path ends (not admitted, or left unscheduled as expected), later
    // stages have nothing to check.
    let mut ended: Option<String> = None;
    for stage in Stage::ALL {
        let expected = expected_words(case, stage);
        let skip_reason = skip_requested(case, stage);
        let mut r = if let Some(why) = skip_reason {
            skipped(stage, &expected, format!("skipped by the case: {why}"))
        } else if let Some(why) = &ended {
            skipped(stage, &expected, why.clone())
        } else {
            let mut r = match stage {
                Stage::Auth => auth::auth(case, obs),
                Stage::EtcdWrite => etcd_write::etcd_write(obs),
                Stage::Pending => pending::pending(obs),
                Stage::Binding => binding::binding(case, obs),
                Stage::CriLaunch => cri_launch::cri_launch(case, obs),
                Stage::CniAttach => cni_attach::cni_attach(obs),
                Stage::Dns => dns::dns(obs),
                Stage::StatusUpdate => status_update::status_update(case, obs),
            };
            r.expected = expected;
            apply_deadline(&mut r, case, obs);
            faults::show(&mut r, obs);
            match case.expect.failed_words(stage) {
                Some(words) => faults::expected_failure(r, words),
                None => r,
            }
        };
        if ended.is_none() {
            ended = ends_path(case, stage, obs, &r);
        }
        r.duration_ms = r.at_ms.map(|at| {
            let before = results
                .iter()
                .filter_map(|p| p.at_ms)
                .filter(|p| *p <= at)
                .fold(0.0, f64::max);
            round(at - before)
        });
        results.push(r);
    }
    results
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn skip_requested(case: &CaseSpec, stage: Stage) -> Option<String> {
    case.expect.skip_reason(stage).map(str::to_string)
}

/// Whether the pod's path ends after `stage`, and why (the reason later stages show).
fn ends_path(case: &CaseSpec, stage: Stage, obs: &Observation, r: &StageResult) -> Option<String> {
    match stage {
        Stage::Auth => crate::path::denied(&obs.create).map(|end| end.to_string()),
        Stage::Binding
            if matches!(
                case.expect.binding,
                Some(BindingExpectation::Unschedulable(_))
            ) && r.status == StageStatus::Passed =>
        {
            Some("the pod stays unscheduled, as the case expects".into())
        }
        Stage::Binding
            if matches!(case.expect.binding, Some(BindingExpectation::LeftAlone(_)))
                && r.status == StageStatus::Passed =>
        {
            Some("the pod is left to its own scheduler, as the case expects".into())
        }
        Stage::Binding if bound(obs).is_none() => Some("the pod was never bound to a node".into()),
        _ if case.expect.failed_words(stage).is_some() && r.status == StageStatus::Passed => {
            Some(format!("{stage} failed, as the case expects"))
        }
        Stage::CriLaunch
            if matches!(
                case.expect.cri_launch,
                Some(CriLaunchExpectation::PullFails(_))
            ) && r.status == StageStatus::Passed =>
        {
            Some("the pod waits for an image it cannot pull, as the case expects".into())
        }
        _ => None,
    }
}

fn skipped(stage: Stage, expected: &str, why: String) -> StageResult {
    StageResult {
        stage,
        status: StageStatus::Skipped,
        expected: expected.to_string(),
        observed: "not evaluated".into(),
        at_ms: None,
        duration_ms: None,
        evidence: Vec::new(),
        message: Some(why),
        hint: None,
    }
}

fn result(
    stage: Stage,
    ok: bool,
    observed: String,
    at_ms: Option<f64>,
    evidence: Vec<Evidence>,
) -> StageResult {
    StageResult {
        stage,
        status: if ok {
            StageStatus::Passed
        } else {
            StageStatus::Failed
        },
        expected: String::new(),
        observed,
        at_ms: at_ms.map(round),
        duration_ms: None,
        evidence,
        message: None,
        hint: None,
    }
}

fn failed(mut r: StageResult, message: impl Into<String>, hint: impl Into<String>) -> StageResult {
    r.status = StageStatus::Failed;
    r.message = Some(message.into());
    r.hint = Some(hint.into());
    r
}

fn api(obs: &Observation, detail: impl Into<String>, at_ms: Option<f64>) -> Evidence {
    Evidence {
        source: Source::Api,
        provider: obs.apiserver.name.clone(),
        real: obs.apiserver.real,
        detail: detail.into(),
        at_ms: at_ms.map(round),
    }
}

fn from(source: Source, p: &Provider, detail: impl Into<String>, at_ms: f64) -> Evidence {
    Evidence {
        source,
        provider: format!("{} {}", p.name, p.version).trim().to_string(),
        real: p.real,
        detail: detail.into(),
        at_ms: Some(round(at_ms)),
    }
}

fn unavailable(source: Source, why: &str) -> Evidence {
    Evidence {
        source,
        provider: "none".into(),
        real: false,
        detail: format!("probe unavailable: {why}"),
        at_ms: None,
    }
}

fn apply_deadline(r: &mut StageResult, case: &CaseSpec, obs: &Observation) {
    let deadline = case.deadline(r.stage);
    let limit = deadline.0.as_secs_f64() * 1000.0;
    if r.status == StageStatus::Passed && r.at_ms.is_some_and(|at| at > limit) {
        let at = r.at_ms.unwrap_or_default();
        r.status = StageStatus::Failed;
        r.message = Some(format!(
            "{} took {at:.0} ms, past its deadline of {deadline}",
            r.stage
        ));
        let knob = if case.deadlines.contains_key(&r.stage) {
            format!("`deadlines.{}`", r.stage)
        } else {
            "the case's `timeout` (or set `deadlines.STAGE`)".to_string()
        };
        r.hint = Some(format!(
            "{} did its part, but late; raise {knob} if that is expected",
            r.stage.component()
        ));
    }
    if r.status == StageStatus::Failed && r.message.is_none() {
        r.message = Some(format!("expected {}, observed {}", r.expected, r.observed));
    }
    // Evidence that never came: say that the observer waited the whole deadline for it.
    if r.status == StageStatus::Failed
        && r.at_ms.is_none()
        && obs.timed_out
        && let Some(m) = r.message.as_mut()
    {
        m.push_str(&format!(
            " (still not seen when the case's {} deadline passed)",
            case.timeout
        ));
    }
}

// --- what a pod shows ------------------------------------------------------------------

/// The kubelet's refused sandboxes whose runtime blames the pod network: the CNI ADD
/// failed (containerd: `failed to setup network for sandbox …: plugin type="…" failed
/// (add): …`). The kubelet and the runtime did their part; the network did not.
fn network_refusals(obs: &Observation) -> Vec<&crate::observation::EventSighting> {
    obs.events
        .iter()
        .filter(|e| {
            e.reason == "FailedCreatePodSandBox"
                && (e.message.contains("failed to setup network for sandbox")
                    || e.message.contains("failed (add)"))
        })
        .collect()
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn phase_of(p: &Pod) -> Option<&str> {
    p.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn bound(obs: &Observation) -> Option<&PodSighting> {
    obs.sightings.iter().find(|s| node_of(&s.pod).is_some())
}

fn condition<'a>(p: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::observation::Probe;
    use crate::suite::AuthExpectation;

    // --- the whole path ----------------------------------------------------------------

    #[test]
    fn a_pod_that_went_all_the_way_passes_every_stage() {
        let results = evaluate(&Case::new().build(), &running());
        let stages: Vec<Stage> = results.iter().map(|r| r.stage).collect();
        assert_eq!(stages, Stage::ALL);
        for r in &results {
            assert_verdict(r, StageStatus::Passed, None, None);
            assert!(!r.evidence.is_empty(), "{r:#?}");
        }
        let at: Vec<Option<f64>> = results.iter().map(|r| r.at_ms).collect();
        assert_eq!(
            at,
            [10.0, 15.0, 20.0, 40.0, 120.0, 120.0, 140.0, 120.0].map(Some)
        );
        // Each from the latest stage that completed no later than it (dns at 140 comes before
        // statusUpdate in the list, but statusUpdate completed at 120).
        let durations: Vec<Option<f64>> = results.iter().map(|r| r.duration_ms).collect();
        assert_eq!(
            durations,
            [10.0, 5.0, 5.0, 20.0, 80.0, 0.0, 20.0, 0.0].map(Some)
        );
    }

    #[test]
    fn expected_words_are_filled_in_for_evaluated_and_skipped_stages() {
        let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
        let mut obs = running();
        obs.create = rejected(401, "Unauthorized", "Unauthorized");
        obs.store_after_create = Probe::Seen(store_read(None, None, 12.0));
        let results = evaluate(&case, &obs);
        assert_eq!(of(&results, Stage::Auth).expected, "denied (401)");
        assert_eq!(
            of(&results, Stage::Binding).expected,
            "bound to a feasible node"
        );
        assert_eq!(of(&results, Stage::Dns).expected, "pass");
    }

    // --- deadlines, skips and durations ------------------------------------------------

    #[rstest]
    #[case::auth(Stage::Auth, "5ms", "auth took 10 ms, past its deadline of 5ms")]
    #[case::etcd_write(
        Stage::EtcdWrite,
        "12ms",
        "etcdWrite took 15 ms, past its deadline of 12ms"
    )]
    #[case::binding(
        Stage::Binding,
        "30ms",
        "binding took 40 ms, past its deadline of 30ms"
    )]
    #[case::cri_launch(
        Stage::CriLaunch,
        "100ms",
        "criLaunch took 120 ms, past its deadline of 100ms"
    )]
    #[case::dns(Stage::Dns, "139ms", "dns took 140 ms, past its deadline of 139ms")]
    fn a_stage_past_its_deadline_fails(
        #[case] stage: Stage,
        #[case] d: &str,
        #[case] message: &str,
    ) {
        let case = Case::new().deadline(stage, d).build();
        let results = evaluate(&case, &running());
        let r = of(&results, stage);
        assert_verdict(
            r,
            StageStatus::Failed,
            Some(message),
            Some(&format!("raise `deadlines.{stage}` if that is expected")),
        );
        assert!(
            r.hint
                .as_deref()
                .unwrap_or_default()
                .starts_with(stage.component())
        );
        // The evidence stays: the stage did its part, late.
        assert!(!r.evidence.is_empty());
        for other in results.iter().filter(|r| r.stage != stage) {
            assert_eq!(other.status, StageStatus::Passed, "{other:#?}");
        }
    }

    #[rstest]
    #[case::just_in_time("40ms")]
    #[case::well_within("1s")]
    fn a_stage_within_its_deadline_passes(#[case] d: &str) {
        let case = Case::new().deadline(Stage::Binding, d).build();
        let r = verdict(&case, &running(), Stage::Binding);
        assert_verdict(&r, StageStatus::Passed, None, None);
    }

    #[test]
    fn without_its_own_deadline_a_stage_has_the_case_timeout() {
        let case = Case::new().timeout("100ms").build();
        let results = evaluate(&case, &running());
        let failed: Vec<Stage> = results
            .iter()
            .filter(|r| r.status == StageStatus::Failed)
            .map(|r| r.stage)
            .collect();
        assert_eq!(
            failed,
            [
                Stage::CriLaunch,
                Stage::CniAttach,
                Stage::Dns,
                Stage::StatusUpdate
            ]
        );
        assert_verdict(
            of(&results, Stage::Dns),
            StageStatus::Failed,
            Some("dns took 140 ms, past its deadline of 100ms"),
            None,
        );
    }

    #[test]
    fn a_failed_stage_keeps_its_own_message_past_its_deadline() {
        let case = Case::new().deadline(Stage::Binding, "1ms").build();
        let mut obs = running();
        obs.events.retain(|e| e.reason != "Scheduled");
        let r = verdict(&case, &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("no Scheduled event was recorded"),
            None,
        );
    }

    #[rstest]
    fn a_stage_the_case_skips_is_skipped_with_the_reason(
        #[values(
            Stage::Auth,
            Stage::EtcdWrite,
            Stage::Pending,
            Stage::Binding,
            Stage::CriLaunch,
            Stage::CniAttach,
            Stage::Dns,
            Stage::StatusUpdate
        )]
        stage: Stage,
    ) {
        let case = Case::new().skip(stage, "not on this target").build();
        // Even when the stage would fail: DNS cannot be probed here.
        let mut obs = running();
        obs.dns = Probe::Unavailable("no exec".into());
        let results = evaluate(&case, &obs);
        let r = of(&results, stage);
        assert_eq!(r.status, StageStatus::Skipped, "{r:#?}");
        assert_eq!(
            r.message.as_deref(),
            Some("skipped by the case: not on this target")
        );
        assert_eq!(r.expected, "skip: not on this target");
        assert_eq!(r.observed, "not evaluated");
        assert!(r.evidence.is_empty() && r.at_ms.is_none() && r.duration_ms.is_none());
        assert_eq!(r.hint, None);
        for other in results
            .iter()
            .filter(|r| r.stage != stage && r.stage != Stage::Dns)
        {
            assert_eq!(other.status, StageStatus::Passed, "{other:#?}");
        }
    }

    #[test]
    fn a_skipped_stage_does_not_shift_the_next_duration() {
        let case = Case::new().skip(Stage::Binding, "no scheduler").build();
        let results = evaluate(&case, &running());
        // criLaunch is measured from pending (20), the last stage that completed.
        assert_eq!(of(&results, Stage::CriLaunch).duration_ms, Some(100.0));
    }

    #[test]
    fn durations_are_measured_from_the_previous_stage_by_real_time() {
        let mut obs = running();
        // The watch delivered ADDED (12) before the store probe read the key (15), and the
        // create's response (10) before both.
        obs.sightings[0].at_ms = 12.0;
        let results = evaluate(&Case::new().build(), &obs);
        assert_eq!(of(&results, Stage::Pending).duration_ms, Some(2.0));
        assert_eq!(of(&results, Stage::Binding).duration_ms, Some(25.0));
        for r in &results {
            assert!(r.duration_ms.is_some_and(|d| d >= 0.0), "{r:#?}");
        }
    }

    #[test]
    fn a_stage_completed_before_every_earlier_one_is_measured_from_the_create() {
        let mut obs = running();
        obs.create.at_ms = 30.0;
        obs.sightings[0].at_ms = 7.0;
        let results = evaluate(&Case::new().build(), &obs);
        assert_eq!(of(&results, Stage::Pending).duration_ms, Some(7.0));
    }

    #[test]
    fn times_are_rounded_to_a_tenth_of_a_millisecond() {
        let mut obs = running();
        obs.create.at_ms = 10.04;
        if let Probe::Seen(s) = &mut obs.store_after_create {
            s.at_ms = 15.06;
        }
        let results = evaluate(&Case::new().build(), &obs);
        let auth = of(&results, Stage::Auth);
        assert_eq!((auth.at_ms, auth.duration_ms), (Some(10.0), Some(10.0)));
        let etcd = of(&results, Stage::EtcdWrite);
        assert_eq!((etcd.at_ms, etcd.duration_ms), (Some(15.1), Some(5.1)));
    }

    #[test]
    fn missing_evidence_at_the_deadline_says_so() {
        let mut o = running();
        never_bound(&mut o);
        o.timed_out = true;
        let r = verdict(&Case::new().build(), &o, Stage::Binding);
        assert!(r.message.unwrap().contains("deadline passed"));
    }
}
