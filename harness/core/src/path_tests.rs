//! Where recorded sequences end the path: the sequences a real kubelet and scheduler
//! produce, folded as the observer folds them.

use k8s_openapi::api::core::v1::{Event, Pod};
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::observation::WatchName;
use crate::recording::{CaseFacts, Change, Observed, Recording};
use crate::result::Provider;

// --- recorded inputs -------------------------------------------------------------------

/// The pod with a phase, a node (or none), True conditions and one container's state.
fn pod(
    rv: u32,
    phase: &str,
    node: Option<&str>,
    conditions: &[&str],
    waiting: Option<&str>,
) -> Pod {
    let state = match waiting {
        Some(reason) => json!({"waiting": {"reason": reason}}),
        None if phase == "Running" => json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
        None => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let conditions: Vec<_> = conditions
        .iter()
        .map(|c| json!({"type": c, "status": "True"}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "team", "resourceVersion": rv.to_string()},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0, "state": state}],
        },
    }))
    .expect("a Pod")
}

fn unschedulable_pod(rv: u32) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "team", "resourceVersion": rv.to_string()},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        ]},
    }))
    .expect("a Pod")
}

fn seen(at_ms: f64, change: Change, pod: Pod) -> Observed {
    Observed::Pod { at_ms, change, pod }
}

fn event(at_ms: f64, uid: &str, reason: &str, warning: bool) -> Observed {
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": format!("web.{uid}"), "uid": uid},
        "involvedObject": {"name": "web"},
        "reason": reason,
        "message": format!("{reason} message"),
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": "kubelet"},
    }))
    .expect("an Event");
    Observed::Event {
        at_ms,
        change: Change::Added,
        event,
    }
}

fn created(code: u16) -> Observed {
    Observed::Created(CreateOutcome {
        code,
        at_ms: 5.0,
        ..CreateOutcome::default()
    })
}

fn pending(at_ms: f64) -> Observed {
    seen(at_ms, Change::Added, pod(1, "Pending", None, &[], None))
}

fn bound(at_ms: f64) -> Observed {
    seen(
        at_ms,
        Change::Modified,
        pod(2, "Pending", Some("node-1"), &["PodScheduled"], None),
    )
}

fn running(at_ms: f64) -> Observed {
    seen(
        at_ms,
        Change::Modified,
        pod(
            9,
            "Running",
            Some("node-1"),
            &["PodScheduled", "Initialized", "ContainersReady", "Ready"],
            None,
        ),
    )
}

fn waiting(at_ms: f64, rv: u32, reason: &str) -> Observed {
    seen(
        at_ms,
        Change::Modified,
        pod(
            rv,
            "Pending",
            Some("node-1"),
            &["PodScheduled"],
            Some(reason),
        ),
    )
}

/// The Events of a start that went well.
fn started() -> Vec<Observed> {
    vec![
        event(30.0, "e1", "Scheduled", false),
        event(60.0, "e2", "Pulled", false),
        event(70.0, "e3", "Created", false),
        event(80.0, "e4", "Started", false),
    ]
}

fn fold(inputs: Vec<Observed>) -> Recording {
    let mut recording = Recording::new(CaseFacts {
        identity: "admin".into(),
        namespace: "team".into(),
        pod_name: "web".into(),
        pod_networks: Vec::new(),
        node_aliases: Default::default(),
        apiserver: Provider {
            component: "apiserver".into(),
            name: "kube-apiserver".into(),
            real: true,
            version: String::new(),
        },
    });
    for input in inputs {
        recording.apply(input);
    }
    recording
}

fn cat(parts: Vec<Vec<Observed>>) -> Vec<Observed> {
    parts.into_iter().flatten().collect()
}

fn stuck_on(reason: &str) -> Option<PathEnd> {
    Some(PathEnd::Stuck {
        container: "app".into(),
        reason: reason.into(),
    })
}

// --- the table -------------------------------------------------------------------------

#[rstest]
#[case::runs(
    cat(vec![vec![created(201), pending(10.0), bound(40.0), running(120.0)], started()]),
    Some(PathEnd::Running),
    true
)]
#[case::ready_before_its_started_event(
    vec![created(201), pending(10.0), bound(40.0), running(120.0)],
    Some(PathEnd::Running),
    false
)]
#[case::bound_but_still_creating(
    vec![created(201), pending(10.0), bound(40.0)],
    None,
    false
)]
#[case::denied(vec![created(403)], Some(PathEnd::Denied { code: 403 }), true)]
// The kubelet retries a refused sandbox (the CNI not ready yet): not an end.
#[case::sandbox_refused(
    vec![created(201), pending(10.0), bound(40.0), event(50.0, "s1", "FailedCreatePodSandBox", true)],
    None,
    false
)]
#[case::sandbox_refused_then_running(
    cat(vec![
        vec![created(201), pending(10.0), bound(40.0), event(50.0, "s1", "FailedCreatePodSandBox", true)],
        started(),
        vec![running(900.0)],
    ]),
    Some(PathEnd::Running),
    true
)]
// A failed pull is pulled again after a back-off (a registry's 429): not an end either.
#[case::err_image_pull(
    vec![created(201), pending(10.0), bound(40.0), waiting(60.0, 3, "ErrImagePull")],
    None,
    false
)]
#[case::err_image_pull_then_running(
    cat(vec![
        vec![created(201), pending(10.0), bound(40.0), waiting(60.0, 3, "ErrImagePull")],
        started(),
        vec![running(700.0)],
    ]),
    Some(PathEnd::Running),
    true
)]
#[case::image_pull_back_off(
    vec![
        created(201), pending(10.0), bound(40.0),
        waiting(60.0, 3, "ErrImagePull"),
        waiting(400.0, 4, "ImagePullBackOff"),
    ],
    None,
    false
)]
#[case::create_container_error(
    vec![created(201), pending(10.0), bound(40.0), waiting(60.0, 3, "CreateContainerError")],
    None,
    false
)]
// What no retry cures ends the path, also when first seen after a watch gap.
#[case::never_pull_after_a_gap(
    vec![
        created(201), pending(10.0), bound(40.0),
        Observed::WatchBroke { watch: WatchName::Pod, at_ms: 50.0, reason: "connection reset".into() },
        Observed::WatchResumed { watch: WatchName::Pod, at_ms: 800.0, relisted: true },
        seen(800.0, Change::Relisted, pod(4, "Pending", Some("node-1"), &["PodScheduled"], Some("ErrImageNeverPull"))),
    ],
    stuck_on("ErrImageNeverPull"),
    false
)]
#[case::invalid_image_name(
    vec![created(201), pending(10.0), bound(40.0), waiting(60.0, 3, "InvalidImageName")],
    stuck_on("InvalidImageName"),
    false
)]
// Not a reason to stop: the kubelet is still at it.
#[case::container_creating(
    vec![created(201), pending(10.0), bound(40.0), waiting(60.0, 3, "ContainerCreating")],
    None,
    false
)]
#[case::failed(
    vec![created(201), pending(10.0), bound(40.0), seen(90.0, Change::Modified, pod(5, "Failed", Some("node-1"), &[], Some("ContainerCreating")))],
    Some(PathEnd::Finished { phase: "Failed".into() }),
    false
)]
// A pod that is to run is not done when the scheduler cannot place it: it may yet.
#[case::unschedulable_when_it_is_to_run(
    vec![created(201), pending(10.0), seen(30.0, Change::Modified, unschedulable_pod(2)), event(35.0, "f1", "FailedScheduling", true)],
    None,
    false
)]
// A watch gap in the middle: the state read by the re-list ends the path.
#[case::running_seen_after_a_watch_gap(
    cat(vec![
        vec![
            created(201), pending(10.0),
            Observed::WatchBroke { watch: WatchName::Pod, at_ms: 20.0, reason: "410 Gone".into() },
            Observed::WatchResumed { watch: WatchName::Pod, at_ms: 300.0, relisted: true },
            seen(300.0, Change::Relisted, pod(9, "Running", Some("node-1"), &["ContainersReady", "Ready"], None)),
        ],
        started(),
    ]),
    Some(PathEnd::Running),
    true
)]
fn a_pod_that_is_to_run(
    #[case] inputs: Vec<Observed>,
    #[case] end: Option<PathEnd>,
    #[case] events_in: bool,
) {
    let state = fold(inputs).path(Course::Run, 1000.0);
    assert_eq!(state, PathState { end, events_in });
}

#[rstest]
#[case::condition_and_event(
    vec![created(201), pending(10.0), seen(30.0, Change::Modified, unschedulable_pod(2)), event(35.0, "f1", "FailedScheduling", true)],
    Some(PathEnd::Unschedulable)
)]
#[case::event_first_then_condition(
    vec![created(201), pending(10.0), event(25.0, "f1", "FailedScheduling", true), seen(30.0, Change::Modified, unschedulable_pod(2))],
    Some(PathEnd::Unschedulable)
)]
#[case::condition_without_event(
    vec![created(201), pending(10.0), seen(30.0, Change::Modified, unschedulable_pod(2))],
    None
)]
#[case::event_without_condition(
    vec![created(201), pending(10.0), event(25.0, "f1", "FailedScheduling", true)],
    None
)]
// Bound after all: the path goes on as a running pod's, and ends when it runs.
#[case::bound_after_all(vec![created(201), pending(10.0), bound(40.0)], None)]
#[case::bound_and_running(
    cat(vec![vec![created(201), pending(10.0), bound(40.0), running(120.0)], started()]),
    Some(PathEnd::Running)
)]
#[case::denied(vec![created(422)], Some(PathEnd::Denied { code: 422 }))]
fn a_pod_that_is_to_stay_unscheduled(#[case] inputs: Vec<Observed>, #[case] end: Option<PathEnd>) {
    let state = fold(inputs).path(Course::Unschedulable, 1000.0);
    assert_eq!(state.end, end);
}

#[rstest]
#[case::within_the_window(vec![created(201), pending(10.0)], 400.0, None)]
#[case::window_passed(vec![created(201), pending(10.0)], 500.0, Some(PathEnd::LeftAlone { touched: false }))]
#[case::bound(vec![created(201), pending(10.0), bound(40.0)], 100.0, Some(PathEnd::LeftAlone { touched: true }))]
#[case::reported_on(
    vec![created(201), pending(10.0), event(30.0, "f1", "FailedScheduling", true)],
    100.0,
    Some(PathEnd::LeftAlone { touched: true })
)]
#[case::marked_unschedulable(
    vec![created(201), pending(10.0), seen(30.0, Change::Modified, unschedulable_pod(2))],
    100.0,
    Some(PathEnd::LeftAlone { touched: true })
)]
fn a_pod_that_is_to_be_left_alone(
    #[case] inputs: Vec<Observed>,
    #[case] now_ms: f64,
    #[case] end: Option<PathEnd>,
) {
    let state = fold(inputs).path(Course::LeftAlone { window_ms: 500.0 }, now_ms);
    assert_eq!(
        state,
        PathState {
            end,
            events_in: true
        }
    );
}

fn failed_pull_event(at_ms: f64) -> Observed {
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "web.p1", "uid": "p1"},
        "involvedObject": {"name": "web"},
        "reason": "Failed",
        "message": "Failed to pull image \"nosuch:1.0\": not found",
        "type": "Warning",
        "source": {"component": "kubelet"},
    }))
    .expect("an Event");
    Observed::Event {
        at_ms,
        change: Change::Added,
        event,
    }
}

/// A container waiting with a reason and the runtime's message.
fn waiting_with(at_ms: f64, rv: u32, reason: &str, message: &str) -> Observed {
    let mut p = pod(
        rv,
        "Pending",
        Some("node-1"),
        &["PodScheduled"],
        Some(reason),
    );
    if let Some(cs) = p
        .status
        .as_mut()
        .and_then(|s| s.container_statuses.as_mut())
    {
        cs[0]
            .state
            .as_mut()
            .unwrap()
            .waiting
            .as_mut()
            .unwrap()
            .message = Some(message.into());
    }
    seen(at_ms, Change::Modified, p)
}

const NOT_FOUND: &str = "failed to resolve reference \"docker.io/library/nosuch:1.0\": not found";
const RATE_LIMITED: &str =
    "unexpected status code: 429 Too Many Requests - Server message: toomanyrequests";

#[rstest]
#[case::pull_failed_with_its_event(
    vec![created(201), pending(10.0), bound(40.0), waiting_with(60.0, 3, "ErrImagePull", NOT_FOUND), failed_pull_event(61.0)],
    Some(PathEnd::PullFailed { container: "app".into(), reason: "ErrImagePull".into() }),
    true
)]
#[case::pull_failed_event_still_out(
    vec![created(201), pending(10.0), bound(40.0), waiting_with(60.0, 3, "ImagePullBackOff", NOT_FOUND)],
    Some(PathEnd::PullFailed { container: "app".into(), reason: "ImagePullBackOff".into() }),
    false
)]
#[case::still_pulling(vec![created(201), pending(10.0), bound(40.0)], None, false)]
// A registry's 429 first: the kubelet pulls again after its back-off; not the failure the
// case expects, so not an end.
#[case::rate_limited_first(
    vec![created(201), pending(10.0), bound(40.0), waiting_with(60.0, 3, "ErrImagePull", RATE_LIMITED), failed_pull_event(61.0)],
    None,
    true
)]
#[case::rate_limited_then_not_found(
    vec![
        created(201), pending(10.0), bound(40.0),
        waiting_with(60.0, 3, "ErrImagePull", RATE_LIMITED),
        waiting_with(10_060.0, 4, "ErrImagePull", NOT_FOUND),
        failed_pull_event(10_061.0),
    ],
    Some(PathEnd::PullFailed { container: "app".into(), reason: "ErrImagePull".into() }),
    true
)]
// It ran after all: the verdict says the pull did not fail.
#[case::ran(
    cat(vec![vec![created(201), pending(10.0), bound(40.0), running(120.0)], started()]),
    Some(PathEnd::Running),
    false
)]
fn a_pod_whose_pull_is_to_fail(
    #[case] inputs: Vec<Observed>,
    #[case] end: Option<PathEnd>,
    #[case] events_in: bool,
) {
    let state = fold(inputs).path(Course::PullFails { words: "not found" }, 1000.0);
    assert_eq!(state, PathState { end, events_in });
}

#[test]
fn the_denial_reads_as_evaluate_has_always_written_it() {
    assert_eq!(
        PathEnd::Denied { code: 403 }.to_string(),
        "the pod was not created: the apiserver answered 403"
    );
}

// --- the wait --------------------------------------------------------------------------

fn ended(events_in: bool) -> PathState {
    PathState {
        end: Some(PathEnd::Running),
        events_in,
    }
}

const OPEN: PathState = PathState {
    end: None,
    events_in: false,
};

#[rstest]
// Ended with its Events in: stop at once.
#[case::complete(vec![(ended(true), 10.0)], WaitStep::Stop { timed_out: false })]
// Ended without them: wait the grace (2 s here) from the first time it was seen ended.
#[case::in_the_grace(vec![(ended(false), 10.0), (ended(false), 2009.0)], WaitStep::Continue)]
#[case::grace_over(vec![(ended(false), 10.0), (ended(false), 2010.0)], WaitStep::Stop { timed_out: false })]
#[case::events_in_during_the_grace(vec![(ended(false), 10.0), (ended(true), 500.0)], WaitStep::Stop { timed_out: false })]
#[case::open(vec![(OPEN, 10.0)], WaitStep::Continue)]
#[case::deadline(vec![(OPEN, 10.0), (OPEN, 30_000.0)], WaitStep::Stop { timed_out: true })]
// Ended just before the deadline, Events still out: the deadline wins, as it always did.
#[case::deadline_in_the_grace(vec![(ended(false), 29_000.0), (ended(false), 30_000.0)], WaitStep::Stop { timed_out: true })]
fn the_wait(#[case] steps: Vec<(PathState, f64)>, #[case] last: WaitStep) {
    let mut wait = Wait::new(30_000.0, 2_000.0);
    let (final_state, final_now) = steps.last().cloned().expect("a step");
    for (state, now) in &steps[..steps.len() - 1] {
        assert_eq!(wait.step(state, *now), WaitStep::Continue);
    }
    assert_eq!(wait.step(&final_state, final_now), last);
}

// --- staysReadyFor ---------------------------------------------------------------------

/// The pod Running, its container as `container` says (`exited`: terminated with exit
/// code 1, the pod out of Ready; `restarted`: running again, restartCount 1).
fn after_ready(at_ms: f64, rv: u32, container: &str) -> Observed {
    let (ready, state, restarts) = match container {
        "exited" => (
            "False",
            json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T00:00:02Z"}}),
            0,
        ),
        "restarted" => (
            "True",
            json!({"running": {"startedAt": "2026-01-01T00:00:03Z"}}),
            1,
        ),
        _ => (
            "True",
            json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
            0,
        ),
    };
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "team", "resourceVersion": rv.to_string()},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready},
                {"type": "Ready", "status": ready},
            ],
            "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "", "ready": ready == "True", "restartCount": restarts, "state": state}],
        },
    }))
    .expect("a Pod");
    seen(at_ms, Change::Modified, pod)
}

#[rstest]
#[case::never_ready(vec![pending(10.0), bound(20.0)], 9000.0, ReadyWindow::NeverReady)]
#[case::open(vec![pending(10.0), running(100.0)], 3000.0, ReadyWindow::Open { from_ms: 100.0, until_ms: 5100.0 })]
#[case::held(vec![pending(10.0), running(100.0), after_ready(900.0, 10, "ready")], 5100.0, ReadyWindow::Held { from_ms: 100.0, until_ms: 5100.0 })]
#[case::exited(vec![pending(10.0), running(100.0), after_ready(2100.0, 10, "exited")], 2200.0, ReadyWindow::Broke { from_ms: 100.0, at: 2 })]
// Ready again by the next sighting: the restart is what the window saw.
#[case::restarted_between_sightings(vec![pending(10.0), running(100.0), after_ready(3100.0, 10, "restarted")], 3200.0, ReadyWindow::Broke { from_ms: 100.0, at: 2 })]
#[case::deleted(vec![pending(10.0), running(100.0), seen(1000.0, Change::Deleted, pod(10, "Running", Some("node-1"), &["PodScheduled", "Initialized", "ContainersReady", "Ready"], None))], 1100.0, ReadyWindow::Broke { from_ms: 100.0, at: 2 })]
// After the window: the cleanup's business, not the pod's.
#[case::exited_after_the_window(vec![pending(10.0), running(100.0), after_ready(5200.0, 10, "exited")], 5300.0, ReadyWindow::Held { from_ms: 100.0, until_ms: 5100.0 })]
fn a_pod_that_is_to_stay_ready(
    #[case] inputs: Vec<Observed>,
    #[case] now_ms: f64,
    #[case] window: ReadyWindow,
) {
    assert_eq!(fold(inputs).ready_window(5000.0, now_ms), window);
}

#[test]
fn restarts_before_ready_do_not_break_the_window() {
    // Crashed once, then Ready with restartCount 1: the window starts from there.
    let inputs = vec![
        pending(10.0),
        after_ready(100.0, 9, "exited"),
        after_ready(200.0, 10, "restarted"),
        after_ready(300.0, 11, "restarted"),
    ];
    assert_eq!(
        fold(inputs).ready_window(1000.0, 1200.0),
        ReadyWindow::Held {
            from_ms: 200.0,
            until_ms: 1200.0
        }
    );
}
