//! The fold itself: what each input leaves in the Observation.

use k8s_openapi::api::core::v1::{Event, Pod};
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::observation::{WatchGap, WatchName};

fn facts() -> CaseFacts {
    CaseFacts {
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
    }
}

fn fold(inputs: impl IntoIterator<Item = Observed>) -> Observation {
    let mut recording = Recording::new(facts());
    for input in inputs {
        recording.apply(input);
    }
    recording.finish()
}

fn pod(name: &str, rv: &str, node: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "resourceVersion": rv},
        "spec": {"nodeName": node, "containers": [{"name": "app"}]},
        "status": {"phase": "Pending"},
    }))
    .expect("a Pod")
}

fn event(uid: Option<&str>, reason: &str, source: Option<&str>, reporting: Option<&str>) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": "web.1", "uid": uid},
        "involvedObject": {"name": "web", "fieldPath": "spec.containers{app}"},
        "reason": reason,
        "message": "m",
        "type": "Warning",
        "source": {"component": source},
        "reportingComponent": reporting,
    }))
    .expect("an Event")
}

fn broke(watch: WatchName, at_ms: f64, reason: &str) -> Observed {
    Observed::WatchBroke {
        watch,
        at_ms,
        reason: reason.into(),
    }
}

fn resumed(watch: WatchName, at_ms: f64, relisted: bool) -> Observed {
    Observed::WatchResumed {
        watch,
        at_ms,
        relisted,
    }
}

fn gap(
    watch: WatchName,
    from_ms: f64,
    until_ms: Option<f64>,
    reason: &str,
    relisted: bool,
) -> WatchGap {
    WatchGap {
        watch,
        from_ms,
        until_ms,
        reason: reason.into(),
        relisted,
    }
}

#[test]
fn sightings_keep_their_order_and_kind() {
    let o = fold([
        Observed::Pod {
            at_ms: 1.0,
            change: Change::Added,
            pod: pod("web", "1", None),
        },
        Observed::Pod {
            at_ms: 2.0,
            change: Change::Modified,
            pod: pod("web", "2", Some("n")),
        },
        Observed::Pod {
            at_ms: 3.0,
            change: Change::Deleted,
            pod: pod("web", "3", Some("n")),
        },
    ]);
    let kinds: Vec<(f64, &str)> = o
        .sightings
        .iter()
        .map(|s| (s.at_ms, s.kind.as_str()))
        .collect();
    assert_eq!(kinds, [(1.0, "ADDED"), (2.0, "MODIFIED"), (3.0, "DELETED")]);
}

#[rstest]
#[case::unchanged_in_the_gap("2", &["ADDED", "MODIFIED"])]
#[case::changed_in_the_gap("7", &["ADDED", "MODIFIED", "RELISTED"])]
fn a_relist_adds_the_pod_only_when_it_changed(#[case] rv: &str, #[case] kinds: &[&str]) {
    let o = fold([
        Observed::Pod {
            at_ms: 1.0,
            change: Change::Added,
            pod: pod("web", "1", None),
        },
        Observed::Pod {
            at_ms: 2.0,
            change: Change::Modified,
            pod: pod("web", "2", None),
        },
        Observed::Pod {
            at_ms: 9.0,
            change: Change::Relisted,
            pod: pod("web", rv, None),
        },
    ]);
    let seen: Vec<&str> = o.sightings.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(seen, kinds);
}

#[rstest]
#[case::source(Some("kubelet"), Some("other"), "kubelet")]
#[case::empty_source(Some(""), Some("default-scheduler"), "default-scheduler")]
#[case::reporting_only(None, Some("default-scheduler"), "default-scheduler")]
#[case::neither(None, None, "")]
fn an_event_names_its_component(
    #[case] source: Option<&str>,
    #[case] reporting: Option<&str>,
    #[case] component: &str,
) {
    let o = fold([Observed::Event {
        at_ms: 4.0,
        change: Change::Added,
        event: event(Some("u1"), "Failed", source, reporting),
    }]);
    assert_eq!(
        o.events,
        [EventSighting {
            at_ms: 4.0,
            reason: "Failed".into(),
            message: "m".into(),
            warning: true,
            component: component.into(),
            field_path: Some("spec.containers{app}".into()),
        }]
    );
}

#[test]
fn a_relisted_event_already_seen_is_not_recorded_twice() {
    let o = fold([
        Observed::Event {
            at_ms: 1.0,
            change: Change::Added,
            event: event(Some("u1"), "Scheduled", Some("s"), None),
        },
        Observed::Event {
            at_ms: 9.0,
            change: Change::Added,
            event: event(Some("u1"), "Scheduled", Some("s"), None),
        },
        Observed::Event {
            at_ms: 9.0,
            change: Change::Added,
            event: event(Some("u2"), "Pulled", Some("k"), None),
        },
    ]);
    let reasons: Vec<(f64, &str)> = o
        .events
        .iter()
        .map(|e| (e.at_ms, e.reason.as_str()))
        .collect();
    assert_eq!(reasons, [(1.0, "Scheduled"), (9.0, "Pulled")]);
}

#[rstest]
#[case::none(vec![], vec![])]
#[case::resumed_from_its_resource_version(
    vec![broke(WatchName::Pod, 10.0, "connection reset"), resumed(WatchName::Pod, 12.5, false)],
    vec![gap(WatchName::Pod, 10.0, Some(12.5), "connection reset", false)]
)]
#[case::relisted(
    vec![broke(WatchName::Events, 10.0, "410 Gone"), resumed(WatchName::Events, 40.0, true)],
    vec![gap(WatchName::Events, 10.0, Some(40.0), "410 Gone", true)]
)]
// Failing again while reopening: one gap, from the first break, with its first reason.
#[case::failed_again_while_reopening(
    vec![broke(WatchName::Pod, 10.0, "reset"), broke(WatchName::Pod, 20.0, "refused"), resumed(WatchName::Pod, 30.0, false)],
    vec![gap(WatchName::Pod, 10.0, Some(30.0), "reset", false)]
)]
#[case::never_resumed(
    vec![broke(WatchName::Batch, 10.0, "refused")],
    vec![gap(WatchName::Batch, 10.0, None, "refused", false)]
)]
// Each watch has its own gaps.
#[case::two_watches(
    vec![
        broke(WatchName::Pod, 10.0, "a"),
        broke(WatchName::Events, 11.0, "b"),
        resumed(WatchName::Events, 12.0, false),
        resumed(WatchName::Pod, 13.0, false),
        broke(WatchName::Pod, 50.0, "c"),
        resumed(WatchName::Pod, 51.0, false),
    ],
    vec![
        gap(WatchName::Pod, 10.0, Some(13.0), "a", false),
        gap(WatchName::Events, 11.0, Some(12.0), "b", false),
        gap(WatchName::Pod, 50.0, Some(51.0), "c", false),
    ]
)]
// A resume without a break records nothing.
#[case::resume_alone(vec![resumed(WatchName::Pod, 5.0, false)], vec![])]
fn watch_gaps_are_recorded(#[case] inputs: Vec<Observed>, #[case] gaps: Vec<WatchGap>) {
    assert_eq!(fold(inputs).watch_gaps, gaps);
}

#[test]
fn a_gap_shows_in_the_timeline() {
    let mut o = fold([
        Observed::Created(CreateOutcome {
            code: 201,
            at_ms: 3.0,
            ..CreateOutcome::default()
        }),
        broke(WatchName::Pod, 10.0, "connection reset"),
        resumed(WatchName::Pod, 12.5, true),
        broke(WatchName::Events, 20.0, "refused"),
    ]);
    o.watch_gaps.push(gap(
        WatchName::Batch,
        30.0,
        Some(31.0),
        "closed early",
        false,
    ));
    let lines: Vec<String> = o.timeline().into_iter().map(|e| e.what).collect();
    assert_eq!(
        lines,
        [
            "create answered 201",
            "watch on the pod broke: connection reset; relisted after 2.5 ms (changes in between are lost)",
            "watch on the pod's Events broke: refused; not resumed",
            "watch on the namespace's pods broke: closed early; resumed after 1.0 ms",
        ]
    );
}

#[test]
fn a_batch_keeps_when_each_copy_was_first_bound() {
    let mut recording = Recording::new(facts());
    for input in [
        Observed::Created(CreateOutcome {
            code: 201,
            ..CreateOutcome::default()
        }),
        Observed::CopyCreated {
            name: "web-1".into(),
            created_ms: 2.0,
            code: 201,
        },
        Observed::CopyCreated {
            name: "web-2".into(),
            created_ms: 2.5,
            code: 403,
        },
        Observed::BatchPod {
            at_ms: 5.0,
            change: Change::Modified,
            pod: pod("web", "3", None),
        },
        Observed::BatchPod {
            at_ms: 6.0,
            change: Change::Modified,
            pod: pod("web", "4", Some("node-1")),
        },
    ] {
        recording.apply(input);
    }
    assert_eq!(recording.batch_names(), ["web", "web-1"]);
    assert!(!recording.batch_bound());
    for input in [
        Observed::BatchPod {
            at_ms: 7.0,
            change: Change::Modified,
            pod: pod("web-1", "5", Some("node-2")),
        },
        Observed::BatchPod {
            at_ms: 8.0,
            change: Change::Modified,
            pod: pod("web", "6", Some("node-3")),
        },
    ] {
        recording.apply(input);
    }
    assert!(recording.batch_bound());
    let row = |name: &str, created_ms, code, bound_ms, node: Option<&str>| BatchPod {
        name: name.into(),
        created_ms,
        code,
        bound_ms,
        node: node.map(str::to_string),
    };
    assert_eq!(
        recording.finish().batch,
        [
            row("web", 0.0, 201, Some(6.0), Some("node-1")),
            row("web-1", 2.0, 201, Some(7.0), Some("node-2")),
            row("web-2", 2.5, 403, None, None),
        ]
    );
}

#[test]
fn a_single_pod_has_no_batch() {
    let o = fold([
        Observed::Created(CreateOutcome {
            code: 201,
            ..CreateOutcome::default()
        }),
        Observed::BatchPod {
            at_ms: 6.0,
            change: Change::Modified,
            pod: pod("web", "4", Some("node-1")),
        },
    ]);
    assert!(o.batch.is_empty());
}

#[test]
fn probes_not_run_say_why() {
    let o = fold([]);
    assert_eq!(
        (&o.store_after_running, &o.netns, &o.dns, &o.runtime),
        (
            &Probe::Unavailable("the pod never ran".into()),
            &Probe::Unavailable("the pod never ran".into()),
            &Probe::Unavailable("the pod never ran".into()),
            &Probe::Unavailable("no container was reported".into()),
        )
    );
    assert_eq!(o.api_after_running, None);
    assert_eq!(o.scheduler_under_test, None);
}

#[test]
fn reported_containers_drop_the_scheme() {
    let mut p = pod("web", "9", Some("n"));
    p.status = serde_json::from_value(json!({"phase": "Running", "containerStatuses": [
        {"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "containerID": "containerd://abc"},
        {"name": "side", "image": "i", "imageID": "", "ready": false, "restartCount": 0},
        {"name": "raw", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "containerID": "def"},
    ]}))
    .expect("a status");
    let mut recording = Recording::new(facts());
    recording.apply(Observed::Pod {
        at_ms: 1.0,
        change: Change::Modified,
        pod: p,
    });
    assert_eq!(
        recording.reported_containers(),
        [
            ("app".to_string(), "abc".to_string()),
            ("raw".to_string(), "def".to_string())
        ]
    );
}

#[rstest]
#[case::added(Change::Added, 1)]
#[case::relisted(Change::Relisted, 1)]
// A repeated Event (its count going up) or a deleted one is not a new Event.
#[case::modified(Change::Modified, 0)]
#[case::deleted(Change::Deleted, 0)]
fn only_new_events_are_recorded(#[case] change: Change, #[case] recorded: usize) {
    let o = fold([Observed::Event {
        at_ms: 1.0,
        change,
        event: event(Some("u1"), "BackOff", Some("kubelet"), None),
    }]);
    assert_eq!(o.events.len(), recorded);
}

#[test]
fn a_deleted_copy_was_not_bound_by_its_deletion() {
    let mut recording = Recording::new(facts());
    recording.apply(Observed::BatchPod {
        at_ms: 1.0,
        change: Change::Deleted,
        pod: pod("web", "2", Some("node-1")),
    });
    assert!(!recording.batch_bound());
}
