//! Watches that break: a fake apiserver, scripted request by request, ends a watch early,
//! expires its resourceVersion or fails the reopen, and the recording must show each gap.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use podcheck_core::observation::WatchName;
use podcheck_core::recording::{CaseFacts, Observed};
use podcheck_core::result::Provider;
use rstest::rstest;
use serde_json::{Value, json};

use super::Follow;
use crate::observer::Recorder;

const NS: &str = "watched";
const POD: &str = "p";
const FIELDS: &str = "metadata.name=p";
/// How long the follower watches: room for three failed reopens (50 + 100 + 200 ms).
const WATCHING: Duration = Duration::from_millis(1500);
/// No test waits longer than this for the follower, whatever it does.
const TEST_DEADLINE: Duration = Duration::from_secs(5);
const CLOSED_EARLY: &str = "the server closed the watch before its timeout";

/// The fake apiserver's answer to one request, given in the order they are asked.
enum Answer {
    /// A watch that sends these events and then ends: at once when `early`, else just
    /// after the follower's planned end.
    Watch { events: Vec<Value>, early: bool },
    /// A list of these pods at this resourceVersion.
    List {
        version: &'static str,
        pods: Vec<Value>,
    },
    /// A failure with this HTTP code.
    Fail(u16),
}

fn closes_early(events: Vec<Value>) -> Answer {
    Answer::Watch {
        events,
        early: true,
    }
}

fn stays_open(events: Vec<Value>) -> Answer {
    Answer::Watch {
        events,
        early: false,
    }
}

fn pod(version: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": NS, "resourceVersion": version},
    })
}

fn event(kind: &str, version: &str) -> Value {
    json!({"type": kind, "object": pod(version)})
}

fn expired() -> Value {
    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
        "status": "Failure", "code": 410, "reason": "Expired", "message": "too old"}})
}

/// What one request asked for.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    watch: bool,
    resource_version: Option<String>,
    field_selector: Option<String>,
}

fn watch_from(version: &str) -> Asked {
    Asked {
        watch: true,
        resource_version: Some(version.into()),
        field_selector: Some(FIELDS.into()),
    }
}

fn list() -> Asked {
    Asked {
        watch: false,
        resource_version: None,
        field_selector: Some(FIELDS.into()),
    }
}

struct Script {
    answers: Mutex<VecDeque<Answer>>,
    asked: Mutex<Vec<Asked>>,
    /// The follower's planned end; a watch that is not early ends just after it.
    until: Instant,
}

fn router(script: Arc<Script>) -> Router {
    Router::new().fallback(answer).with_state(script)
}

async fn answer(
    State(script): State<Arc<Script>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    script.asked.lock().unwrap().push(Asked {
        watch: query.get("watch").is_some_and(|w| w == "true"),
        resource_version: query.get("resourceVersion").cloned(),
        field_selector: query.get("fieldSelector").cloned(),
    });
    let next = script.answers.lock().unwrap().pop_front();
    match next {
        Some(Answer::Watch { events, early }) => {
            watch_body(events, (!early).then_some(script.until))
        }
        Some(Answer::List { version, pods }) => Json(json!({
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": {"resourceVersion": version},
            "items": pods,
        }))
        .into_response(),
        Some(Answer::Fail(code)) => failure(code, "scripted failure"),
        None => failure(500, "unscripted request"),
    }
}

/// One JSON event a line, then the end: at once, or just after `until`.
fn watch_body(events: Vec<Value>, until: Option<Instant>) -> Response {
    let lines = events
        .into_iter()
        .map(|e| Ok::<_, Infallible>(format!("{e}\n")));
    let end = futures::stream::once(async move {
        if let Some(until) = until {
            tokio::time::sleep_until((until + Duration::from_millis(20)).into()).await;
        }
    })
    .filter_map(|()| std::future::ready(None::<Result<String, Infallible>>));
    let body = Body::from_stream(futures::stream::iter(lines).chain(end));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn failure(code: u16, message: &str) -> Response {
    let reason = if code == 410 {
        "Expired"
    } else {
        "InternalError"
    };
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "code": code, "reason": reason, "message": message});
    let code = StatusCode::from_u16(code).expect("a scripted HTTP code");
    (code, Json(status)).into_response()
}

/// A Kubernetes API server answering from a script over plain HTTP; stops when dropped.
struct FakeApi {
    addr: SocketAddr,
    script: Arc<Script>,
    _stop: tokio::sync::watch::Sender<()>,
    _serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl FakeApi {
    /// Bound before it is spawned, so the first request cannot come too early.
    fn start(until: Instant, answers: Vec<Answer>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the fake API");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the fake API's address");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let script = Arc::new(Script {
            answers: Mutex::new(answers.into()),
            asked: Mutex::default(),
            until,
        });
        let (stop, mut stopped) = tokio::sync::watch::channel(());
        let serve = axum::serve(listener, router(script.clone()))
            .with_graceful_shutdown(async move { while stopped.changed().await.is_ok() {} });
        FakeApi {
            addr,
            script,
            _stop: stop,
            _serving: tokio::spawn(async move { serve.await }),
        }
    }

    fn client(&self) -> kube::Client {
        let uri = format!("http://{}", self.addr)
            .parse()
            .expect("the fake API's URI");
        kube::Client::try_from(kube::Config::new(uri)).expect("a client of the fake API")
    }

    fn asked(&self) -> Vec<Asked> {
        self.script.asked.lock().unwrap().clone()
    }
}

fn facts() -> CaseFacts {
    CaseFacts {
        identity: "admin".into(),
        namespace: NS.into(),
        pod_name: POD.into(),
        pod_networks: Vec::new(),
        node_aliases: Default::default(),
        apiserver: Provider {
            component: "apiserver".into(),
            name: "fake".into(),
            real: false,
            version: "v0".into(),
        },
    }
}

/// Each case: the server's answers, what the follower must ask, the pod's sightings
/// (kind, resourceVersion) and the gaps (reason, relisted), each of them closed.
#[rstest]
#[case::closed_early_resumes_from_the_last_version(
    vec![closes_early(vec![event("ADDED", "5")]), stays_open(vec![event("MODIFIED", "7")])],
    vec![watch_from("1"), watch_from("5")],
    vec![("ADDED", "5"), ("MODIFIED", "7")],
    vec![(CLOSED_EARLY, false)],
)]
#[case::expired_event_relists_then_watches_from_the_list(
    vec![
        closes_early(vec![event("ADDED", "5"), expired()]),
        Answer::List { version: "9", pods: vec![pod("8")] },
        stays_open(vec![event("MODIFIED", "10")]),
    ],
    vec![watch_from("1"), list(), watch_from("9")],
    vec![("ADDED", "5"), ("RELISTED", "8"), ("MODIFIED", "10")],
    vec![("too old (410 Expired)", true)],
)]
#[case::expired_on_reopen_relists(
    vec![
        closes_early(vec![event("ADDED", "5")]),
        Answer::Fail(410),
        Answer::List { version: "9", pods: vec![pod("8")] },
        stays_open(vec![event("MODIFIED", "10")]),
    ],
    vec![watch_from("1"), watch_from("5"), list(), watch_from("9")],
    vec![("ADDED", "5"), ("RELISTED", "8"), ("MODIFIED", "10")],
    vec![(CLOSED_EARLY, true)],
)]
#[case::failed_reopens_are_one_gap(
    vec![
        closes_early(vec![event("ADDED", "5")]),
        Answer::Fail(500),
        Answer::Fail(500),
        Answer::Fail(500),
        stays_open(vec![event("MODIFIED", "7")]),
    ],
    vec![watch_from("1"), watch_from("5"), watch_from("5"), watch_from("5"), watch_from("5")],
    vec![("ADDED", "5"), ("MODIFIED", "7")],
    vec![(CLOSED_EARLY, false)],
)]
#[case::the_planned_end_is_no_gap(
    vec![stays_open(vec![event("ADDED", "5")])],
    vec![watch_from("1")],
    vec![("ADDED", "5")],
    vec![],
)]
#[tokio::test]
async fn a_broken_watch_is_reopened_and_its_gap_recorded(
    #[case] answers: Vec<Answer>,
    #[case] asked: Vec<Asked>,
    #[case] sightings: Vec<(&str, &str)>,
    #[case] gaps: Vec<(&str, bool)>,
) {
    let until = Instant::now() + WATCHING;
    let api = FakeApi::start(until, answers);
    let recorder = Recorder::new(facts());
    let follow = Follow {
        api: Api::<Pod>::namespaced(api.client(), NS),
        name: WatchName::Pod,
        fields: Some(FIELDS.into()),
        until,
        recorder: recorder.clone(),
        observed: |at_ms, change, pod| Observed::Pod { at_ms, change, pod },
    };
    // What `Follow::start` runs in its task, awaited here so the test knows when it ended.
    let followed = async move {
        let stream = follow.watch("1").await.expect("the first watch opens");
        follow.record(stream, "1".into()).await;
    };
    tokio::time::timeout(TEST_DEADLINE, followed)
        .await
        .expect("the follower stops at its planned end");

    let seen = recorder.finish();
    assert_eq!(api.asked(), asked);
    let seen_sightings: Vec<_> = seen
        .sightings
        .iter()
        .map(|s| {
            let version = s.pod.metadata.resource_version.as_deref();
            (s.kind.as_str(), version.unwrap_or_default())
        })
        .collect();
    assert_eq!(seen_sightings, sightings);
    let seen_gaps: Vec<_> = seen
        .watch_gaps
        .iter()
        .map(|g| {
            let closed = g.until_ms.is_some_and(|until| until >= g.from_ms);
            (g.watch, g.reason.as_str(), g.relisted, closed)
        })
        .collect();
    let gaps: Vec<_> = gaps
        .into_iter()
        .map(|(reason, relisted)| (WatchName::Pod, reason, relisted, true))
        .collect();
    assert_eq!(seen_gaps, gaps);
}
