//! binding: the pod was bound to a node the oracle finds feasible (the one the case names,
//! if any), with PodScheduled=True and a Scheduled event from the pod's scheduler. A batch,
//! a pod left to a scheduler that is not running, and a pod no node can take have files of
//! their own.

mod batch;
mod left_alone;
mod unschedulable;

use k8s_openapi::api::core::v1::Pod;

use super::{api, bound, condition, failed, node_of, result};
use crate::load::CaseSpec;
use crate::observation::Observation;
use crate::oracle;
use crate::result::StageResult;
use crate::stage::Stage;

use crate::suite::BindingExpectation;
pub(crate) use batch::batch_result;

pub(super) fn binding(case: &CaseSpec, obs: &Observation) -> StageResult {
    let expectation = case
        .expect
        .binding
        .clone()
        .unwrap_or(BindingExpectation::Pass);
    if let BindingExpectation::Unschedulable(reason) = &expectation {
        return unschedulable::unschedulable(obs, reason);
    }
    if let BindingExpectation::LeftAlone(window) = &expectation {
        return left_alone::left_alone(obs, *window);
    }
    let Some(s) = bound(obs) else {
        let last = obs.sightings.last().map(|s| &s.pod);
        let why = last
            .and_then(|p| condition(p, "PodScheduled"))
            .and_then(|c| c.message.clone());
        let failed_event = obs
            .events
            .iter()
            .rev()
            .find(|e| e.reason == "FailedScheduling");
        let mut evidence = vec![api(obs, "no watch event shows spec.nodeName", None)];
        if let Some(e) = failed_event {
            evidence.push(api(
                obs,
                format!("event FailedScheduling from {}: {}", e.component, e.message),
                Some(e.at_ms),
            ));
        }
        let r = result(Stage::Binding, false, "not bound".into(), None, evidence);
        let hint = match (why, failed_event) {
            (Some(m), _) => format!("the scheduler says: {m}"),
            (None, Some(_)) => {
                "the scheduler could not place the pod; see the FailedScheduling event".into()
            }
            (None, None) => format!(
                "no scheduler bound the pod within its deadline ({}), and none reported on it: is a scheduler for schedulerName {:?} running?",
                case.deadline(Stage::Binding),
                scheduler_name(obs)
            ),
        };
        return failed(r, "the pod was never bound to a node", hint);
    };
    let node = node_of(&s.pod).unwrap_or_default().to_string();
    // On a cluster the suite's nodes were mapped onto, the suite's name is what it expects.
    let named = obs.suite_node(&node).to_string();
    let called = if named == node {
        String::new()
    } else {
        format!(", the suite's {named}")
    };
    let mut evidence = vec![api(
        obs,
        format!("spec.nodeName = {node}{called} (watch {})", s.kind),
        Some(s.at_ms),
    )];
    let scheduled = scheduled_with_the_node(obs, s);
    match &scheduled {
        Scheduled::WithTheNode => evidence.push(api(
            obs,
            "condition PodScheduled=True set with the node, in one update (pods/binding)",
            Some(s.at_ms),
        )),
        Scheduled::NotSeenBetween(at) => evidence.push(api(
            obs,
            "condition PodScheduled=True seen after a watch gap: the update that bound the pod was not seen itself",
            Some(*at),
        )),
        Scheduled::Later(at) => evidence.push(api(
            obs,
            "condition PodScheduled=True first seen after the node was set (the kubelet reports it too)",
            Some(*at),
        )),
        Scheduled::Never => {
            evidence.push(api(obs, "condition PodScheduled=True never seen", None))
        }
    }
    let unbound_first = obs
        .sightings
        .first()
        .is_some_and(|f| node_of(&f.pod).is_none());
    if unbound_first {
        evidence.push(api(
            obs,
            format!("spec.nodeName went from unset to {node}: a binding"),
            Some(s.at_ms),
        ));
    }
    let event = obs.events.iter().find(|e| e.reason == "Scheduled");
    match event {
        Some(e) => evidence.push(api(
            obs,
            format!("event Scheduled from {}: {}", e.component, e.message),
            Some(e.at_ms),
        )),
        None => evidence.push(api(obs, "no Scheduled event", None)),
    }
    let feasibility = oracle_verdict(obs, &s.pod, &node);
    match &feasibility {
        Ok(()) => evidence.push(api(
            obs,
            format!(
                "oracle: {node} satisfies the pod's selector, affinity, tolerations and resources"
            ),
            None,
        )),
        Err(v) => evidence.push(api(
            obs,
            format!(
                "oracle: {node} is infeasible: {}",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            None,
        )),
    }
    let batch = batch::batch_binding(obs);
    let mut observed = format!("bound to {named}");
    if let Some(b) = &batch {
        observed.push_str(&format!("; {}", b.summary));
        evidence.push(api(obs, b.detail.clone(), None));
    }
    let r = result(Stage::Binding, true, observed, Some(s.at_ms), evidence);
    // An infeasible node is the graver fault, so it is reported before a different choice.
    if let Err(v) = feasibility {
        let reasons: Vec<String> = v.iter().map(ToString::to_string).collect();
        return failed(
            r,
            format!(
                "the scheduler bound the pod to {node}, which cannot take it: {}",
                reasons.join("; ")
            ),
            "the scheduler's filters disagree with the pod's constraints; compare its nodeSelector, affinity, tolerations and requests with the node",
        );
    }
    if let BindingExpectation::ScheduledTo(want) = &expectation
        && want != &named
    {
        return failed(
            r,
            format!("bound to {named}, not {want}"),
            "the scheduler chose another feasible node; check scoring, or the case's expectation",
        );
    }
    if !unbound_first {
        return failed(
            r,
            format!("the pod had node {node} from its first sighting: no scheduler bound it"),
            "a pod created with spec.nodeName skips the scheduler; leave nodeName unset and let the scheduler bind it",
        );
    }
    match scheduled {
        Scheduled::WithTheNode | Scheduled::NotSeenBetween(_) => {}
        Scheduled::Never => {
            return failed(
                r,
                "the pod has a node but PodScheduled=True was never set",
                "bind through the pods/binding subresource, which sets the condition",
            );
        }
        Scheduled::Later(_) => {
            return failed(
                r,
                "the node was set without PodScheduled=True: the condition came later, from the kubelet's status",
                "bind through the pods/binding subresource, which sets spec.nodeName and PodScheduled=True in one update",
            );
        }
    }
    let Some(event) = event else {
        return failed(
            r,
            "the pod was bound but no Scheduled event was recorded",
            "schedulers record a Scheduled event for every binding",
        );
    };
    let want = scheduler_name(obs);
    if event.component != want {
        let by = if event.component.is_empty() {
            "no reporting component".to_string()
        } else {
            format!("{:?}", event.component)
        };
        return failed(
            r,
            format!("the Scheduled event names {by}, not the pod's scheduler {want:?}"),
            "a scheduler reports its events under its schedulerName (reportingController, or source.component), as kube-scheduler reports as default-scheduler; another scheduler may have bound the pod",
        );
    }
    if let Some(b) = batch
        && let Some(problem) = b.problem
    {
        return failed(r, problem, b.hint);
    }
    r
}

/// When PodScheduled=True first appeared, relative to the node: kube-apiserver's binding
/// sets both in one update, and the kubelet reports the condition in every status too, so
/// only the condition *with* the node proves the binding set it.
enum Scheduled {
    WithTheNode,
    /// First seen in a state read after a watch gap: the binding itself was not seen.
    NotSeenBetween(f64),
    Later(f64),
    Never,
}

fn scheduled_with_the_node(
    obs: &Observation,
    bound: &crate::observation::PodSighting,
) -> Scheduled {
    let is_true = |p: &Pod| condition(p, "PodScheduled").is_some_and(|c| c.status == "True");
    if is_true(&bound.pod) {
        return if bound.kind == "RELISTED" {
            Scheduled::NotSeenBetween(bound.at_ms)
        } else {
            Scheduled::WithTheNode
        };
    }
    match obs
        .sightings
        .iter()
        .filter(|x| x.at_ms >= bound.at_ms)
        .find(|x| is_true(&x.pod))
    {
        Some(x) => Scheduled::Later(x.at_ms),
        None => Scheduled::Never,
    }
}

fn scheduler_name(obs: &Observation) -> String {
    obs.sightings
        .first()
        .and_then(|s| s.pod.spec.as_ref()?.scheduler_name.clone())
        .unwrap_or_else(|| "default-scheduler".into())
}

/// The oracle's verdict on `pod` bound to `node`, given the other pods bound there.
fn oracle_verdict(obs: &Observation, pod: &Pod, node: &str) -> Result<(), Vec<oracle::Violation>> {
    // In a batch, the copies bound after this pod were not on the node when it was placed.
    let bound_at = obs
        .batch
        .iter()
        .find(|b| Some(b.name.as_str()) == pod.metadata.name.as_deref())
        .and_then(|b| b.bound_ms);
    let later: Vec<&str> = match bound_at {
        Some(at) => obs
            .batch
            .iter()
            .filter(|b| b.bound_ms.is_none_or(|t| t > at))
            .map(|b| b.name.as_str())
            .collect(),
        None => Vec::new(),
    };
    oracle_verdict_before(obs, pod, node, &later)
}

/// The oracle's verdict as the scheduler faced it: without the pods named in `later` (copies
/// of a batch bound after this one), which were not on the node yet.
fn oracle_verdict_before(
    obs: &Observation,
    pod: &Pod,
    node: &str,
    later: &[&str],
) -> Result<(), Vec<oracle::Violation>> {
    let others: Vec<Pod> = obs
        .pods
        .iter()
        .filter(|p| node_of(p) == Some(node) && p.metadata.uid != pod.metadata.uid)
        .filter(|p| {
            p.metadata.namespace.as_deref() != Some(obs.namespace.as_str())
                || !later.contains(&p.metadata.name.as_deref().unwrap_or_default())
        })
        .cloned()
        .collect();
    match obs
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))
    {
        Some(n) => oracle::feasible(pod, n, &others),
        None => Err(vec![oracle::Violation::NodeNotFound]),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::evaluate::evaluate;
    use crate::evaluate::test_support::*;
    use crate::result::{Source, StageStatus};

    #[rstest]
    #[case::bound_feasible_scheduled(
        BindingExpectation::Pass,
        |_: &mut Observation| {},
        StageStatus::Passed,
        None,
        None
    )]
    #[case::infeasible_node_selector(
        BindingExpectation::Pass,
        with_node_selector,
        StageStatus::Failed,
        Some(
            "the scheduler bound the pod to node-1, which cannot take it: node(s) didn't match Pod's node affinity/selector (label disk: wanted ssd, node lacks it)"
        ),
        Some("the scheduler's filters disagree with the pod's constraints")
    )]
    #[case::infeasible_untolerated_taint(
        BindingExpectation::Pass,
        |o: &mut Observation| {
            o.nodes[0] = node(json!({
                "metadata": {"name": "node-1"},
                "spec": {"podCIDR": "10.244.0.0/24", "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}], "allocatable": {"pods": "110"}},
            }));
        },
        StageStatus::Failed,
        Some("node(s) had untolerated taint {dedicated: gpu}"),
        None
    )]
    #[case::bound_to_an_unknown_node(
        BindingExpectation::Pass,
        |o: &mut Observation| o.nodes.retain(|n| n.metadata.name.as_deref() != Some("node-1")),
        StageStatus::Failed,
        Some("which cannot take it: node not found"),
        None
    )]
    #[case::no_scheduled_event(
        BindingExpectation::Pass,
        |o: &mut Observation| o.events.retain(|e| e.reason != "Scheduled"),
        StageStatus::Failed,
        Some("the pod was bound but no Scheduled event was recorded"),
        Some("schedulers record a Scheduled event for every binding")
    )]
    #[case::no_pod_scheduled_condition(
        BindingExpectation::Pass,
        |o: &mut Observation| each_web(o, |p| {
            if let Some(cs) = p.status.as_mut().and_then(|s| s.conditions.as_mut()) {
                cs.retain(|c| c.type_ != "PodScheduled");
            }
        }),
        StageStatus::Failed,
        Some("the pod has a node but PodScheduled=True was never set"),
        Some("bind through the pods/binding subresource")
    )]
    #[case::pod_scheduled_only_from_the_kubelet(
        BindingExpectation::Pass,
        |o: &mut Observation| {
            if let Some(cs) = o.sightings[1].pod.status.as_mut().and_then(|s| s.conditions.as_mut()) {
                cs.retain(|c| c.type_ != "PodScheduled");
            }
        },
        StageStatus::Failed,
        Some("the node was set without PodScheduled=True: the condition came later, from the kubelet's status"),
        Some("in one update")
    )]
    #[case::created_with_a_node(
        BindingExpectation::Pass,
        |o: &mut Observation| { o.sightings.remove(0); },
        StageStatus::Failed,
        Some("the pod had node node-1 from its first sighting: no scheduler bound it"),
        Some("skips the scheduler")
    )]
    #[case::scheduled_to_a_mapped_node(
        BindingExpectation::ScheduledTo("node-1".into()),
        |o: &mut Observation| {
            each_web(o, |p| {
                if let Some(spec) = p.spec.as_mut().filter(|s| s.node_name.is_some()) {
                    spec.node_name = Some("kind-worker".into());
                }
            });
            for n in &mut o.nodes {
                n.metadata.name = Some("kind-worker".into());
            }
            for p in &mut o.pods {
                if let Some(spec) = p.spec.as_mut() {
                    spec.node_name = Some("kind-worker".into());
                }
            }
            o.node_aliases.insert("kind-worker".into(), "node-1".into());
        },
        StageStatus::Passed,
        None,
        None
    )]
    #[case::never_bound_with_a_scheduler_message(
        BindingExpectation::Pass,
        |o: &mut Observation| *o = unscheduled(),
        StageStatus::Failed,
        Some("the pod was never bound to a node"),
        Some("the scheduler says: 0/2 nodes are available")
    )]
    #[case::never_bound_with_only_an_event(
        BindingExpectation::Pass,
        |o: &mut Observation| {
            *o = unscheduled();
            o.sightings.truncate(1);
        },
        StageStatus::Failed,
        Some("the pod was never bound to a node"),
        Some("see the FailedScheduling event")
    )]
    #[case::never_bound_and_no_scheduler(
        BindingExpectation::Pass,
        never_bound,
        StageStatus::Failed,
        Some("the pod was never bound to a node"),
        Some(r#"is a scheduler for schedulerName "default-scheduler" running?"#)
    )]
    #[case::scheduled_event_from_another_scheduler(
        BindingExpectation::Pass,
        |o: &mut Observation| {
            for e in &mut o.events {
                if e.reason == "Scheduled" {
                    e.component = "my-scheduler".into();
                }
            }
        },
        StageStatus::Failed,
        Some(r#"the Scheduled event names "my-scheduler", not the pod's scheduler "default-scheduler""#),
        Some("another scheduler may have bound the pod")
    )]
    #[case::scheduled_event_without_a_component(
        BindingExpectation::Pass,
        |o: &mut Observation| o.events.iter_mut().for_each(|e| e.component.clear()),
        StageStatus::Failed,
        Some("the Scheduled event names no reporting component"),
        None
    )]
    #[case::infeasible_is_reported_before_another_choice(
        BindingExpectation::ScheduledTo("node-2".into()),
        with_node_selector,
        StageStatus::Failed,
        Some("which cannot take it: node(s) didn't match Pod's node affinity/selector"),
        None
    )]
    #[case::scheduled_to_the_expected_node(
        BindingExpectation::ScheduledTo("node-1".into()),
        |_: &mut Observation| {},
        StageStatus::Passed,
        None,
        None
    )]
    #[case::scheduled_to_another_node(
        BindingExpectation::ScheduledTo("node-2".into()),
        |_: &mut Observation| {},
        StageStatus::Failed,
        Some("bound to node-1, not node-2"),
        Some("the scheduler chose another feasible node")
    )]
    fn binding_verdicts(
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
    fn no_scheduler_names_the_deadline_and_the_scheduler_name() {
        let mut obs = running();
        never_bound(&mut obs);
        obs.timed_out = true;
        let case = Case::new().deadline(Stage::Binding, "5s").build();
        let r = verdict(&case, &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some(
                "the pod was never bound to a node (still not seen when the case's 30s deadline passed)",
            ),
            Some(
                r#"no scheduler bound the pod within its deadline (5s), and none reported on it: is a scheduler for schedulerName "default-scheduler" running?"#,
            ),
        );
    }

    #[test]
    fn binding_cites_the_node_the_condition_the_event_and_the_oracle() {
        let r = verdict(&Case::new().build(), &running(), Stage::Binding);
        assert_eq!(r.observed, "bound to node-1");
        assert_eq!(r.at_ms, Some(40.0));
        evidence(&r, Source::Api, "spec.nodeName = node-1 (watch MODIFIED)");
        evidence(&r, Source::Api, "condition PodScheduled=True");
        evidence(
            &r,
            Source::Api,
            "event Scheduled from default-scheduler: Successfully assigned team/web to node-1",
        );
        evidence(
            &r,
            Source::Api,
            "oracle: node-1 satisfies the pod's selector, affinity, tolerations and resources",
        );
    }

    #[test]
    fn the_oracle_names_the_violation_in_the_evidence() {
        let mut obs = running();
        with_node_selector(&mut obs);
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        evidence(
            &r,
            Source::Api,
            "oracle: node-1 is infeasible: node(s) didn't match Pod's node affinity/selector (label disk: wanted ssd, node lacks it)",
        );
    }

    #[test]
    fn the_oracle_counts_the_other_pods_on_the_node_but_not_the_pod_itself() {
        let mut obs = running();
        for n in &mut obs.nodes {
            let alloc = n.status.as_mut().and_then(|s| s.allocatable.as_mut());
            if let Some(a) = alloc {
                a.insert(
                    "pods".into(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity("2".into()),
                );
            }
        }
        // node-1 holds "other" and web itself: 2 of 2 allowed.
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(&r, StageStatus::Passed, None, None);
        obs.pods.push(other_pod("third", "10.244.0.7"));
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("Too many pods (allowed 2)"),
            None,
        );
    }

    #[test]
    fn a_pod_never_bound_skips_the_later_stages() {
        let results = evaluate(&Case::new().build(), &unscheduled());
        assert_eq!(of(&results, Stage::Binding).status, StageStatus::Failed);
        assert_eq!(of(&results, Stage::Pending).status, StageStatus::Passed);
        assert_later_skipped(
            &results,
            Stage::Binding,
            "the pod was never bound to a node",
        );
    }
}
