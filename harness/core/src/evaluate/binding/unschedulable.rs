//! unschedulable: a pod no node can take stays unbound, with PodScheduled=False
//! (Unschedulable) and a FailedScheduling event whose message holds the expected reason.

use super::oracle_verdict;
use crate::evaluate::{api, bound, condition, failed, node_of, result};
use crate::observation::Observation;
use crate::result::{StageResult, StageStatus};
use crate::stage::Stage;

pub(super) fn unschedulable(obs: &Observation, reason: &str) -> StageResult {
    let mut evidence = Vec::new();
    if let Some(s) = bound(obs) {
        let node = node_of(&s.pod).unwrap_or_default().to_string();
        evidence.push(api(obs, format!("spec.nodeName = {node}"), Some(s.at_ms)));
        let why = match oracle_verdict(obs, &s.pod, &node) {
            Ok(()) => format!(", and the oracle finds {node} feasible: check the case"),
            Err(v) => format!(
                ", which cannot take it: {}",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let r = result(
            Stage::Binding,
            false,
            format!("bound to {node}"),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!("expected the pod to stay unscheduled, but it was bound to {node}{why}"),
            "the scheduler placed a pod that no node should take: check its filters",
        );
    }
    let condition_seen = obs.sightings.iter().find_map(|s| {
        let c = condition(&s.pod, "PodScheduled")?;
        (c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
            .then(|| (s.at_ms, c.message.clone().unwrap_or_default()))
    });
    if let Some((at, m)) = &condition_seen {
        evidence.push(api(
            obs,
            format!("condition PodScheduled=False, reason Unschedulable: {m}"),
            Some(*at),
        ));
    }
    let event = obs.events.iter().find(|e| e.reason == "FailedScheduling");
    if let Some(e) = event {
        evidence.push(api(
            obs,
            format!("event FailedScheduling from {}: {}", e.component, e.message),
            Some(e.at_ms),
        ));
    }
    let at = [condition_seen.as_ref().map(|c| c.0), event.map(|e| e.at_ms)]
        .into_iter()
        .flatten()
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let observed = event
        .map(|e| format!("unschedulable: {}", e.message))
        .unwrap_or_else(|| "pending, no FailedScheduling".into());
    let r = result(Stage::Binding, false, observed, at, evidence);
    match (condition_seen, event) {
        (Some(_), Some(e)) if e.message.contains(reason) => StageResult {
            status: StageStatus::Passed,
            ..r
        },
        (Some(_), Some(e)) => failed(
            r.clone(),
            format!(
                "unschedulable, but the reason {:?} does not contain {reason:?}",
                e.message
            ),
            "the scheduler rejected the pod for another reason than the case expects",
        ),
        (None, _) => failed(
            r,
            "PodScheduled=False with reason Unschedulable was never set",
            "the scheduler must report why a pod fits nowhere in the PodScheduled condition",
        ),
        (Some(_), None) => failed(
            r,
            "no FailedScheduling event was recorded",
            "the scheduler must record a FailedScheduling event",
        ),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::evaluate;
    use crate::evaluate::test_support::*;
    use crate::result::{Source, StageStatus};
    use crate::suite::BindingExpectation;

    #[rstest]
    #[case::unschedulable_as_expected(
        BindingExpectation::Unschedulable("didn't match".into()),
        |o: &mut Observation| *o = unscheduled(),
        StageStatus::Passed,
        None,
        None
    )]
    #[case::unschedulable_expected_but_bound(
        BindingExpectation::Unschedulable("didn't match".into()),
        |_: &mut Observation| {},
        StageStatus::Failed,
        Some("expected the pod to stay unscheduled, but it was bound to node-1, and the oracle finds node-1 feasible"),
        Some("the scheduler placed a pod that no node should take")
    )]
    #[case::unschedulable_expected_but_bound_to_an_infeasible_node(
        BindingExpectation::Unschedulable("didn't match".into()),
        with_node_selector,
        StageStatus::Failed,
        Some("but it was bound to node-1, which cannot take it: node(s) didn't match Pod's node affinity/selector (label disk: wanted ssd, node lacks it)"),
        None
    )]
    #[case::unschedulable_for_another_reason(
        BindingExpectation::Unschedulable("Insufficient cpu".into()),
        |o: &mut Observation| *o = unscheduled(),
        StageStatus::Failed,
        Some(r#"does not contain "Insufficient cpu""#),
        Some("the scheduler rejected the pod for another reason")
    )]
    #[case::unschedulable_without_the_condition(
        BindingExpectation::Unschedulable("didn't match".into()),
        |o: &mut Observation| {
            *o = unscheduled();
            o.sightings.truncate(1);
        },
        StageStatus::Failed,
        Some("PodScheduled=False with reason Unschedulable was never set"),
        None
    )]
    #[case::unschedulable_without_the_event(
        BindingExpectation::Unschedulable("didn't match".into()),
        |o: &mut Observation| {
            *o = unscheduled();
            o.events.clear();
        },
        StageStatus::Failed,
        Some("no FailedScheduling event was recorded"),
        None
    )]
    fn unschedulable_verdicts(
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
    fn an_expected_unschedulable_pod_passes_and_skips_the_later_stages() {
        let case = Case::new()
            .binding(BindingExpectation::Unschedulable("didn't match".into()))
            .build();
        let results = evaluate(&case, &unscheduled());
        let r = of(&results, Stage::Binding);
        assert_verdict(r, StageStatus::Passed, None, None);
        assert_eq!(r.expected, "unschedulable: didn't match");
        // Completed by the later of the condition (50) and the event (45).
        assert_eq!(r.at_ms, Some(50.0));
        assert!(
            r.observed
                .starts_with("unschedulable: 0/2 nodes are available")
        );
        evidence(
            r,
            Source::Api,
            "condition PodScheduled=False, reason Unschedulable: 0/2 nodes",
        );
        evidence(
            r,
            Source::Api,
            "event FailedScheduling from default-scheduler",
        );
        assert_later_skipped(
            &results,
            Stage::Binding,
            "the pod stays unscheduled, as the case expects",
        );
    }

    #[test]
    fn an_unschedulable_pod_for_the_wrong_reason_still_skips_the_later_stages() {
        let case = Case::new()
            .binding(BindingExpectation::Unschedulable("Insufficient cpu".into()))
            .build();
        let results = evaluate(&case, &unscheduled());
        assert_eq!(of(&results, Stage::Binding).status, StageStatus::Failed);
        assert_later_skipped(
            &results,
            Stage::Binding,
            "the pod was never bound to a node",
        );
    }
}
