//! leftAlone: a pod that names a scheduler that is not running is not bound, marked or
//! reported on by any other for the whole window.

use super::scheduler_name;
use crate::evaluate::{api, bound, condition, failed, node_of, result};
use crate::observation::Observation;
use crate::result::{Evidence, Source, StageResult};
use crate::stage::Stage;

/// The pod names a scheduler that is not running: nobody may touch it for `window`.
pub(super) fn left_alone(obs: &Observation, window: crate::duration::Duration) -> StageResult {
    let want = scheduler_name(obs);
    if let Some(s) = bound(obs) {
        let node = node_of(&s.pod).unwrap_or_default().to_string();
        let by = obs
            .events
            .iter()
            .find(|e| e.reason == "Scheduled")
            .map(|e| format!(" (the Scheduled event names {:?})", e.component))
            .unwrap_or_default();
        let evidence = vec![api(obs, format!("spec.nodeName = {node}"), Some(s.at_ms))];
        let r = result(
            Stage::Binding,
            false,
            format!("bound to {node}"),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!("the pod asks for schedulerName {want:?}, yet it was bound to {node}{by}"),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    let touched = obs
        .events
        .iter()
        .find(|e| matches!(e.reason.as_str(), "Scheduled" | "FailedScheduling"));
    let marked = obs
        .sightings
        .iter()
        .find(|s| condition(&s.pod, "PodScheduled").is_some());
    let mut evidence = vec![api(
        obs,
        format!(
            "no watch event shows spec.nodeName in {:.0} ms",
            obs.observed_ms
        ),
        None,
    )];
    if let Some(e) = touched {
        evidence.push(api(
            obs,
            format!("event {} from {}: {}", e.reason, e.component, e.message),
            Some(e.at_ms),
        ));
        let r = result(
            Stage::Binding,
            false,
            format!("{} event", e.reason),
            Some(e.at_ms),
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod asks for schedulerName {want:?}, yet {:?} reported {} on it",
                e.component, e.reason
            ),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    if let Some(s) = marked {
        evidence.push(api(obs, "condition PodScheduled set", Some(s.at_ms)));
        let r = result(
            Stage::Binding,
            false,
            "PodScheduled set".into(),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod asks for schedulerName {want:?}, yet its PodScheduled condition was set"
            ),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    let window_ms = window.0.as_secs_f64() * 1e3;
    if obs.observed_ms + 1.0 < window_ms {
        let r = result(
            Stage::Binding,
            false,
            "watched too briefly".into(),
            None,
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod was watched for {:.0} ms, less than {window}",
                obs.observed_ms
            ),
            "raise the case's timeout above the leftAlone window",
        );
    }
    // Nothing happened: that shows the scheduler under test left the pod alone only if it
    // was there to act.
    if let Some(sched) = &obs.scheduler_under_test {
        let detail = format!(
            "scheduler under test {} {} at the end of the window",
            sched.command,
            if sched.running {
                "still running"
            } else {
                "not running"
            }
        );
        evidence.push(Evidence {
            source: Source::Process,
            provider: sched.command.clone(),
            real: true,
            detail,
            at_ms: Some(obs.observed_ms),
        });
        if !sched.running {
            let r = result(
                Stage::Binding,
                false,
                "inconclusive: the scheduler under test was not running".into(),
                None,
                evidence,
            );
            return failed(
                r,
                format!(
                    "the pod was left alone, but the scheduler under test ({}) had stopped, so that proves nothing",
                    sched.command
                ),
                "see the scheduler's log: it must keep running for the whole suite",
            );
        }
    }
    result(
        Stage::Binding,
        true,
        format!("left alone for {window}: pending, no scheduler events"),
        None,
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::duration::Duration;
    use crate::evaluate::evaluate;
    use crate::evaluate::test_support::*;
    use crate::observation::SchedulerState;
    use crate::result::StageStatus;
    use crate::suite::BindingExpectation;

    #[rstest]
    #[case::left_alone(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |o: &mut Observation| {
            never_bound(o);
            o.observed_ms = 2001.0;
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::left_alone_with_the_scheduler_under_test_running(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |o: &mut Observation| {
            never_bound(o);
            o.observed_ms = 2001.0;
            o.scheduler_under_test = Some(SchedulerState { command: "my-scheduler".into(), running: true });
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::left_alone_while_the_scheduler_under_test_had_stopped(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |o: &mut Observation| {
            never_bound(o);
            o.observed_ms = 2001.0;
            o.scheduler_under_test = Some(SchedulerState { command: "my-scheduler".into(), running: false });
        },
        StageStatus::Failed,
        Some("the scheduler under test (my-scheduler) had stopped, so that proves nothing"),
        Some("it must keep running")
    )]
    #[case::left_alone_but_bound(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |_: &mut Observation| {},
        StageStatus::Failed,
        Some(r#"the pod asks for schedulerName "default-scheduler", yet it was bound to node-1 (the Scheduled event names "default-scheduler")"#),
        Some("filter on spec.schedulerName")
    )]
    #[case::left_alone_but_reported_unschedulable(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |o: &mut Observation| {
            *o = unscheduled();
            o.sightings.truncate(1);
        },
        StageStatus::Failed,
        Some(r#"yet "default-scheduler" reported FailedScheduling on it"#),
        None
    )]
    #[case::left_alone_but_marked(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        |o: &mut Observation| {
            *o = unscheduled();
            o.events.clear();
            o.observed_ms = 5000.0;
        },
        StageStatus::Failed,
        Some("its PodScheduled condition was set"),
        None
    )]
    #[case::left_alone_watched_too_briefly(
        BindingExpectation::LeftAlone(Duration::from_secs(2)),
        never_bound,
        StageStatus::Failed,
        Some("the pod was watched for 150 ms, less than 2s"),
        None
    )]
    fn left_alone_verdicts(
        #[case] expect: BindingExpectation,
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().binding(expect).build(),
            Stage::Binding,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn a_pod_left_alone_as_expected_skips_the_later_stages() {
        let mut obs = running();
        never_bound(&mut obs);
        obs.observed_ms = 3000.0;
        let case = Case::new()
            .binding(BindingExpectation::LeftAlone(Duration::from_secs(3)))
            .build();
        let results = evaluate(&case, &obs);
        let r = of(&results, Stage::Binding);
        assert_eq!(
            r.observed,
            "left alone for 3s: pending, no scheduler events"
        );
        assert_eq!(r.expected, "left alone for 3s");
        assert_later_skipped(
            &results,
            Stage::Binding,
            "the pod is left to its own scheduler, as the case expects",
        );
    }
}
