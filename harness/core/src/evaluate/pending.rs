//! pending: the first watch event shows the pod ADDED, Pending and not yet on a node.

use super::{api, failed, node_of, phase_of, result};
use crate::observation::Observation;
use crate::result::StageResult;
use crate::stage::Stage;

pub(super) fn pending(obs: &Observation) -> StageResult {
    let Some(first) = obs.sightings.first() else {
        return failed(
            result(Stage::Pending, false, "no watch event".into(), None, vec![]),
            "the watch opened before the create saw nothing",
            "the apiserver did not deliver the ADDED event",
        );
    };
    let detail = format!(
        "first watch event {}: phase {}, nodeName {}",
        first.kind,
        phase_of(&first.pod).unwrap_or("<none>"),
        node_of(&first.pod).unwrap_or("<none>")
    );
    let ok = first.kind == "ADDED"
        && phase_of(&first.pod) == Some("Pending")
        && node_of(&first.pod).is_none();
    let r = result(
        Stage::Pending,
        ok,
        format!(
            "{} {}, {}",
            first.kind,
            phase_of(&first.pod).unwrap_or("no phase"),
            node_of(&first.pod).map_or("unassigned".to_string(), |n| format!("on {n}"))
        ),
        Some(first.at_ms),
        vec![api(obs, detail, Some(first.at_ms))],
    );
    if ok {
        r
    } else if node_of(&first.pod).is_some() {
        failed(
            r,
            "the pod already had a node when first seen",
            "a pod created with spec.nodeName bypasses the scheduler; leave nodeName empty to test scheduling",
        )
    } else {
        failed(
            r,
            "the first state seen was not ADDED/Pending",
            "the apiserver must store new pods as Pending",
        )
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::result::{Source, StageStatus};

    #[rstest]
    #[case::added_pending_unassigned(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
    #[case::first_seen_with_a_node(
        |o: &mut Observation| o.sightings[0].pod = web(1),
        StageStatus::Failed,
        Some("the pod already had a node when first seen"),
        Some("a pod created with spec.nodeName bypasses the scheduler; leave nodeName empty")
    )]
    #[case::first_seen_modified(
        |o: &mut Observation| o.sightings[0].kind = "MODIFIED".into(),
        StageStatus::Failed,
        Some("the first state seen was not ADDED/Pending"),
        Some("must store new pods as Pending")
    )]
    #[case::first_seen_without_a_phase(
        |o: &mut Observation| o.sightings[0].pod.status = None,
        StageStatus::Failed,
        Some("the first state seen was not ADDED/Pending"),
        None
    )]
    #[case::no_sightings(
        |o: &mut Observation| o.sightings.clear(),
        StageStatus::Failed,
        Some("the watch opened before the create saw nothing"),
        Some("did not deliver the ADDED event")
    )]
    fn pending_verdicts(
        #[case] vary: fn(&mut Observation),
        #[case] status: StageStatus,
        #[case] message: Option<&str>,
        #[case] hint: Option<&str>,
    ) {
        assert_varied(
            &Case::new().build(),
            Stage::Pending,
            vary,
            status,
            message,
            hint,
        );
    }

    #[test]
    fn pending_cites_the_first_watch_event() {
        let r = verdict(&Case::new().build(), &running(), Stage::Pending);
        assert_eq!(r.at_ms, Some(20.0));
        assert_eq!(r.observed, "ADDED Pending, unassigned");
        evidence(
            &r,
            Source::Api,
            "first watch event ADDED: phase Pending, nodeName <none>",
        );
    }

    #[test]
    fn a_failed_pending_says_what_was_seen() {
        let mut o = running();
        o.sightings[0].pod.spec.as_mut().unwrap().node_name = Some("node-1".into());
        let r = verdict(&Case::new().build(), &o, Stage::Pending);
        assert_eq!(r.status, StageStatus::Failed);
        assert_eq!(r.observed, "ADDED Pending, on node-1");
    }
}
