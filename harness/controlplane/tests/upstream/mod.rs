//! The upstream behaviours of the kubeadm-like profile, each switched on alone where it can
//! be, and the cluster facts a configuration can change, seen through the API as a harness
//! sees them.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::A};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod, Service};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use podcheck_controlplane::{Config, ControlPlane, Error, Like, PodIpam, Upstream};
use podcheck_node::not_ready::FirstFailures;
use serde_json::json;
use tokio::net::UdpSocket;

use super::{client_from, client_with_token, pod};

/// Long enough for a pod that meets a failed sandbox (10-15 s) and a failed pull (10 s).
const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns Some, or fails the test after [`PATIENCE`].
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn start_with(config: Config) -> ControlPlane {
    ControlPlane::start(config)
        .await
        .expect("control plane starts")
}

/// The podcheck profile with one upstream behaviour changed.
fn only(upstream: Upstream) -> Config {
    Config {
        upstream: Some(upstream),
        ..Config::default()
    }
}

async fn running(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(&format!("{name} running"), || async {
        pods.get(name)
            .await
            .ok()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await
}

async fn events_of(client: &kube::Client, pod: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .unwrap()
        .items
}

/// What `cat /etc/resolv.conf` shows in the pod's first container (the simulated runtime
/// answers it from the sandbox's DNS config).
async fn resolv_conf(cp: &ControlPlane, pod: &Pod) -> String {
    let id = pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .container_id
        .clone()
        .unwrap();
    let id = id.split_once("://").unwrap().1;
    let (_, runtime) = cp.nodes().next().unwrap();
    let out = runtime
        .exec_sync(id, &["cat".into(), "/etc/resolv.conf".into()])
        .await
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn scheduler_events_go_through_events_k8s_io_and_read_back_with_an_empty_source() {
    let cp = start_with(only(Upstream {
        scheduler_events_api: true,
        ..Upstream::podcheck()
    }))
    .await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("ev"))
        .await
        .unwrap();
    let scheduled = eventually("the Scheduled event", || async {
        events_of(&client, "ev")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await;
    let source = scheduled.source.clone().unwrap_or_default();
    assert_eq!(
        (source.component, source.host),
        (None, None),
        "{scheduled:?}"
    );
    assert_eq!(
        scheduled.reporting_component.as_deref(),
        Some("default-scheduler")
    );
    assert!(
        scheduled
            .reporting_instance
            .as_deref()
            .is_some_and(|i| i.starts_with("default-scheduler-")),
        "{scheduled:?}"
    );
    assert_eq!(scheduled.action.as_deref(), Some("Binding"));
    assert_eq!(
        scheduled.message.as_deref(),
        Some("Successfully assigned default/ev to node-1")
    );
    assert_eq!(scheduled.involved_object.name.as_deref(), Some("ev"));
    assert!(scheduled.event_time.is_some() && scheduled.first_timestamp.is_none());
    // The same object through events.k8s.io/v1, found by its own field selector.
    let v1: Api<EventV1> = Api::namespaced(client.clone(), "default");
    let listed = v1
        .list(&ListParams::default().fields("regarding.name=ev,reason=Scheduled"))
        .await
        .unwrap();
    let [event] = listed.items.as_slice() else {
        panic!("one Scheduled event: {listed:?}");
    };
    assert_eq!(event.metadata.name, scheduled.metadata.name);
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(event.note, scheduled.message);
    assert_eq!(
        event.regarding.as_ref().unwrap().name.as_deref(),
        Some("ev")
    );
    let by_controller = v1
        .list(&ListParams::default().fields("reportingController=default-scheduler"))
        .await
        .unwrap();
    assert!(!by_controller.items.is_empty());
    // A kubelet's core/v1 event reads through events.k8s.io with its deprecated fields.
    running(&pods, "ev").await;
    let started = v1
        .list(&ListParams::default().fields("regarding.name=ev,reason=Started"))
        .await
        .unwrap();
    let started = &started.items[0];
    assert_eq!(
        started
            .deprecated_source
            .as_ref()
            .unwrap()
            .component
            .as_deref(),
        Some("kubelet")
    );
    assert_eq!(started.deprecated_count, Some(1));
    // Discovery lists the group.
    let groups = client.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "events.k8s.io"));
    cp.shutdown().await;
}

#[tokio::test]
async fn events_k8s_io_serves_every_verb_on_the_core_objects() {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
    let cp = start_with(Config::default()).await;
    let client = cp.client().await.unwrap();
    let v1: Api<EventV1> = Api::namespaced(client.clone(), "default");
    let core: Api<Event> = Api::namespaced(client.clone(), "default");
    let event: EventV1 = serde_json::from_value(json!({
        "metadata": {"name": "thing.1"},
        "eventTime": "2026-12-01T10:00:00.000000Z",
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile", "reason": "Done", "type": "Normal", "note": "all good",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "thing", "namespace": "default"},
    }))
    .unwrap();
    v1.create(&PostParams::default(), &event).await.unwrap();
    let stored = core.get("thing.1").await.unwrap();
    assert_eq!(stored.message.as_deref(), Some("all good"));
    assert_eq!(
        stored.reporting_component.as_deref(),
        Some("example.com/controller")
    );
    assert_eq!(stored.involved_object.kind.as_deref(), Some("ConfigMap"));
    let mut watch = v1
        .watch(
            &WatchParams::default()
                .fields("regarding.name=thing")
                .timeout(10),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Added(e)) => assert_eq!(e.note.as_deref(), Some("all good")),
        other => panic!("expected ADDED, got {other:?}"),
    }
    v1.patch(
        "thing.1",
        &PatchParams::default(),
        &Patch::Merge(json!({"note": "better"})),
    )
    .await
    .unwrap();
    assert_eq!(
        core.get("thing.1").await.unwrap().message.as_deref(),
        Some("better")
    );
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Modified(e)) => assert_eq!(e.note.as_deref(), Some("better")),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // A new-style event must say who reported it and what it did.
    let mut bare = event.clone();
    bare.metadata.name = Some("thing.2".into());
    bare.action = None;
    match v1.create(&PostParams::default(), &bare).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (422, "Invalid")),
        other => panic!("expected 422, got {other:?}"),
    }
    v1.delete("thing.1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(matches!(core.get("thing.1").await, Err(kube::Error::Api(s)) if s.code == 404));
    cp.shutdown().await;
}

#[tokio::test]
async fn the_quick_profile_keeps_core_events_with_a_source() {
    let cp = start_with(Config::default()).await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("quick"))
        .await
        .unwrap();
    let scheduled = eventually("the Scheduled event", || async {
        events_of(&client, "quick")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await;
    assert_eq!(
        scheduled.source.unwrap().component.as_deref(),
        Some("default-scheduler")
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn the_kubelet_writes_pod_scheduled_even_for_a_pod_no_scheduler_bound() {
    let cp = start_with(Config {
        scheduler: false,
        ..Config::default()
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let mut direct = pod("direct");
    direct.spec.as_mut().unwrap().node_name = Some("node-1".into());
    pods.create(&PostParams::default(), &direct).await.unwrap();
    let ran = running(&pods, "direct").await;
    let conditions = ran.status.unwrap().conditions.unwrap();
    let scheduled = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled, written by the kubelet");
    assert_eq!(scheduled.status, "True");
    cp.shutdown().await;
}

#[tokio::test]
async fn anonymous_requests_are_forbidden_not_unauthorized() {
    let cp = start_with(only(Upstream {
        anonymous: true,
        ..Upstream::podcheck()
    }))
    .await;
    let anonymous = client_with_token(&cp, None).await;
    let pods: Api<Pod> = Api::namespaced(anonymous.clone(), "default");
    match pods.create(&PostParams::default(), &pod("intruder")).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert_eq!(
                s.message,
                "pods is forbidden: User \"system:anonymous\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(
        cp.store()
            .get("/registry/pods/default/intruder")
            .await
            .unwrap()
            .is_none()
    );
    // Non-resource paths too: discovery is for the authenticated, /metrics for monitors.
    for path in ["/api", "/metrics"] {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        match anonymous.request_text(req).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 403, "{path}");
                assert_eq!(
                    s.message,
                    format!("forbidden: User \"system:anonymous\" cannot get path \"{path}\"")
                );
            }
            other => panic!("{path}: expected 403, got {other:?}"),
        }
    }
    let req = http::Request::get("/healthz").body(Vec::new()).unwrap();
    assert_eq!(anonymous.request_text(req).await.unwrap(), "ok");
    cp.shutdown().await;
}

#[tokio::test]
async fn an_rbac_grant_takes_effect_only_after_the_propagation_delay_and_reviews_agree() {
    let delay = Duration::from_millis(1500);
    let cp = start_with(only(Upstream {
        rbac_propagation: Some(delay),
        ..Upstream::podcheck()
    }))
    .await;
    let admin = cp.client().await.unwrap();
    let alice = client_from(cp.kubeconfig_for_user("alice", &[]).unwrap()).await;
    let alices_pods: Api<Pod> = Api::namespaced(alice.clone(), "default");
    // What a list and a SelfSubjectAccessReview of alice's say, each.
    let allowed_now = || async {
        let listed = alices_pods.list(&ListParams::default()).await.is_ok();
        let review: serde_json::Value = serde_json::from_str(
            &alice
                .request_text(
                    http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
                        .header("content-type", "application/json")
                        .body(
                            serde_json::to_vec(&json!({
                                "apiVersion": "authorization.k8s.io/v1",
                                "kind": "SelfSubjectAccessReview",
                                "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}},
                            }))
                            .unwrap(),
                        )
                        .unwrap(),
                )
                .await
                .unwrap(),
        )
        .unwrap();
        (listed, review["status"]["allowed"].as_bool().unwrap())
    };
    assert_eq!(allowed_now().await, (false, false));
    let grant = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "reader", "namespace": "default"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "alice-reads", "namespace": "default"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
         "subjects": [{"kind": "User", "name": "alice"}]},
    ]);
    for (object, plural) in grant
        .as_array()
        .unwrap()
        .iter()
        .zip(["roles", "rolebindings"])
    {
        let req = http::Request::post(format!(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/{plural}"
        ))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(object).unwrap())
        .unwrap();
        admin.request_text(req).await.unwrap();
    }
    let granted = Instant::now();
    let at_once = allowed_now().await;
    if granted.elapsed() < delay {
        assert_eq!(at_once, (false, false), "a grant is not in force at once");
    }
    eventually("the grant in force for lists and reviews", || async {
        (allowed_now().await == (true, true)).then_some(())
    })
    .await;
    assert!(
        granted.elapsed() >= delay - Duration::from_millis(50),
        "in force after {:?}",
        granted.elapsed()
    );
    cp.shutdown().await;
}

async fn deletion_takes(
    cp: &ControlPlane,
    name: &str,
    grace: Option<i64>,
    spec_grace: Option<i64>,
) -> Duration {
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let mut p = pod(name);
    p.spec.as_mut().unwrap().termination_grace_period_seconds = spec_grace;
    pods.create(&PostParams::default(), &p).await.unwrap();
    running(&pods, name).await;
    let params = DeleteParams {
        grace_period_seconds: grace.map(|g| g as u32),
        ..DeleteParams::default()
    };
    let began = Instant::now();
    pods.delete(name, &params).await.unwrap();
    eventually(&format!("{name} gone"), || async {
        matches!(pods.get(name).await, Err(kube::Error::Api(s)) if s.code == 404).then_some(())
    })
    .await;
    began.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_kubelet_waits_out_the_grace_period_the_quick_one_does_not() {
    let graceful = start_with(only(Upstream {
        graceful_termination: true,
        ..Upstream::podcheck()
    }))
    .await;
    let one = deletion_takes(&graceful, "one", Some(1), None).await;
    assert!(
        one >= Duration::from_secs(1) && one < Duration::from_secs(4),
        "--grace-period=1 took {one:?}"
    );
    let three = deletion_takes(&graceful, "three", None, Some(3)).await;
    assert!(
        three >= Duration::from_secs(3) && three < Duration::from_secs(6),
        "terminationGracePeriodSeconds 3 took {three:?}"
    );
    graceful.shutdown().await;
    let quick = start_with(Config::default()).await;
    let instant = deletion_takes(&quick, "instant", None, None).await;
    assert!(
        instant < Duration::from_secs(1),
        "the quick kubelet took {instant:?}"
    );
    quick.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_never_waits_out_a_grace_period() {
    let cp = start_with(only(Upstream {
        graceful_termination: true,
        ..Upstream::podcheck()
    }))
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    pods.create(&PostParams::default(), &pod("long"))
        .await
        .unwrap();
    running(&pods, "long").await;
    pods.delete("long", &DeleteParams::default()).await.unwrap();
    eventually("the kubelet stopping it", || async {
        let events = events_of(&cp.client().await.unwrap(), "long").await;
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Killing"))
            .then_some(())
    })
    .await;
    let began = Instant::now();
    cp.shutdown().await;
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "shutdown took {:?} with a 30 s grace period running",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_fails_while_the_cni_is_not_ready_is_tried_again() {
    let cp = start_with(only(Upstream {
        first_failures: FirstFailures {
            sandboxes: 1,
            pulls: 0,
        },
        ..Upstream::podcheck()
    }))
    .await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("early"))
        .await
        .unwrap();
    let failed = eventually("FailedCreatePodSandBox", || async {
        events_of(&client, "early")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
    })
    .await;
    let failed_at = Instant::now();
    let message = failed.message.unwrap();
    assert!(
        message.starts_with("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \""),
        "{message}"
    );
    assert!(
        message.contains("plugin type=\"calico\" failed (add)"),
        "{message}"
    );
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    let pending = pods.get("early").await.unwrap();
    assert_eq!(pending.status.unwrap().phase.as_deref(), Some("Pending"));
    running(&pods, "early").await;
    let waited = failed_at.elapsed();
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(17),
        "retried after {waited:?} (the kubelet's 10-15 s)"
    );
    let failures = events_of(&client, "early")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
        .count();
    assert_eq!(failures, 1, "one failed attempt, one event");
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_pull_backs_off_then_succeeds() {
    let cp = start_with(only(Upstream {
        first_failures: FirstFailures {
            sandboxes: 0,
            pulls: 1,
        },
        ..Upstream::podcheck()
    }))
    .await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("limited"))
        .await
        .unwrap();
    running(&pods, "limited").await;
    let messages: Vec<String> = events_of(&client, "limited")
        .await
        .into_iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect();
    let failed = messages
        .iter()
        .find(|m| m.starts_with("Failed: Failed to pull image \"busybox\": "))
        .unwrap_or_else(|| panic!("{messages:#?}"));
    assert!(
        failed.contains("429 Too Many Requests - Server message: toomanyrequests:"),
        "{failed}"
    );
    for expected in [
        "Failed: Error: ErrImagePull",
        "BackOff: Back-off pulling image \"busybox\"",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "{expected}: {messages:#?}"
        );
    }
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Pulled: Successfully pulled image \"busybox\""))
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn another_service_cidr_moves_every_service_ip() {
    let cp = start_with(Config {
        service_cidr: "10.100.0.0/16".parse().unwrap(),
        ..Config::default()
    })
    .await;
    assert_eq!(cp.cluster().dns_service_ip(), Ipv4Addr::new(10, 100, 0, 10));
    let client = cp.client().await.unwrap();
    let ip = |svc: Service| svc.spec.unwrap().cluster_ip.unwrap();
    let default: Api<Service> = Api::namespaced(client.clone(), "default");
    let system: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    assert_eq!(ip(default.get("kubernetes").await.unwrap()), "10.100.0.1");
    assert_eq!(ip(system.get("kube-dns").await.unwrap()), "10.100.0.10");
    let service = |name: &str, cluster_ip: Option<&str>| -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"clusterIP": cluster_ip, "ports": [{"port": 80}]},
        }))
        .unwrap()
    };
    let allocated = default
        .create(&PostParams::default(), &service("auto", None))
        .await
        .unwrap();
    assert_eq!(ip(allocated), "10.100.0.2");
    match default
        .create(
            &PostParams::default(),
            &service("web", Some("10.96.100.10")),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert_eq!(
                s.message,
                "Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.100.10\"}: failed to allocate IP 10.96.100.10: the provided network does not match the current range"
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    // Pods are told the moved DNS Service, and the DNS server answers with the new IPs.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod("moved"))
        .await
        .unwrap();
    let moved = running(&pods, "moved").await;
    assert!(
        resolv_conf(&cp, &moved)
            .await
            .contains("nameserver 10.100.0.10\n")
    );
    let answer = query(cp.dns_addr(), "kubernetes.default.svc.cluster.local.").await;
    assert_eq!(addresses(&answer), [Ipv4Addr::new(10, 100, 0, 1)]);
    cp.shutdown().await;
}

#[tokio::test]
async fn another_cluster_domain_is_the_zone_and_the_search_path() {
    let cp = start_with(Config {
        cluster_domain: "corp.example".into(),
        ..Config::default()
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    pods.create(&PostParams::default(), &pod("corp"))
        .await
        .unwrap();
    let p = running(&pods, "corp").await;
    assert_eq!(
        resolv_conf(&cp, &p).await,
        "search default.svc.corp.example svc.corp.example corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    let answer = query(cp.dns_addr(), "kubernetes.default.svc.corp.example.").await;
    assert_eq!(addresses(&answer), [Ipv4Addr::new(10, 96, 0, 1)]);
    let outside = query(cp.dns_addr(), "kubernetes.default.svc.cluster.local.").await;
    assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
    cp.shutdown().await;
}

#[tokio::test]
async fn the_hosts_search_domains_follow_the_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 192.0.2.53\nsearch corp.example lab.example.\n",
    )
    .unwrap();
    let config = |host_search_domains| Config {
        resolv_conf: resolv.clone(),
        upstream: Some(Upstream {
            host_search_domains,
            ..Upstream::podcheck()
        }),
        ..Config::default()
    };
    for (appended, search) in [
        (
            true,
            "search default.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n",
        ),
        (
            false,
            "search default.svc.cluster.local svc.cluster.local cluster.local\n",
        ),
    ] {
        let cp = start_with(config(appended)).await;
        let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
        pods.create(&PostParams::default(), &pod("searcher"))
            .await
            .unwrap();
        let p = running(&pods, "searcher").await;
        let resolv = resolv_conf(&cp, &p).await;
        assert!(resolv.starts_with(search), "{appended}: {resolv}");
        cp.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_ipam_puts_pod_ips_outside_the_nodes_pod_cidrs() {
    let cp = start_with(Config {
        nodes: 2,
        pod_ipam: PodIpam::Pool("192.168.0.0/16".parse().unwrap()),
        upstream: Some(Upstream {
            kubeadm_config_maps: true,
            ..Upstream::podcheck()
        }),
        ..Config::default()
    })
    .await;
    let client = cp.client().await.unwrap();
    // kubeadm init --pod-network-cidr = the pool, as Calico's docs have it.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let kubeadm = maps.get("kubeadm-config").await.unwrap().data.unwrap();
    let cluster: serde_json::Value =
        serde_saphyr::from_str(&kubeadm["ClusterConfiguration"]).unwrap();
    assert_eq!(cluster["networking"]["podSubnet"], "192.168.0.0/16");
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for i in 0..6 {
        pods.create(&PostParams::default(), &pod(&format!("pooled-{i}")))
            .await
            .unwrap();
    }
    let pool: podcheck_controlplane::Ipv4Net = "192.168.0.0/16".parse().unwrap();
    for i in 0..6 {
        let p = running(&pods, &format!("pooled-{i}")).await;
        let node_name = p.spec.unwrap().node_name.unwrap();
        let pod_cidr: podcheck_controlplane::Ipv4Net = nodes
            .get(&node_name)
            .await
            .unwrap()
            .spec
            .unwrap()
            .pod_cidr
            .unwrap()
            .parse()
            .unwrap();
        // kube-controller-manager carves the podCIDRs from the pod subnet, which kubeadm
        // init's --pod-network-cidr made the pool.
        assert_eq!(pod_cidr.prefix_len(), 24);
        assert!(pool.contains(&pod_cidr), "{pod_cidr}");
        let expected: podcheck_controlplane::Ipv4Net = match node_name.as_str() {
            "node-1" => "192.168.0.0/24".parse().unwrap(),
            _ => "192.168.1.0/24".parse().unwrap(),
        };
        assert_eq!(pod_cidr, expected, "{node_name}");
        let ip: Ipv4Addr = p.status.unwrap().pod_ip.unwrap().parse().unwrap();
        assert!(
            pool.contains(&ip) && !pod_cidr.contains(&ip),
            "{ip} on {node_name} ({pod_cidr})"
        );
    }
    cp.shutdown().await;
}

#[tokio::test]
async fn a_pool_too_small_for_the_nodes_pod_cidrs_is_refused() {
    for (pool, nodes) in [("192.168.0.0/24", 1), ("192.168.0.0/23", 2)] {
        let started = ControlPlane::start(Config {
            nodes,
            pod_ipam: PodIpam::Pool(pool.parse().unwrap()),
            ..Config::default()
        })
        .await;
        assert!(
            matches!(&started, Err(Error::Invalid(m)) if m.contains(pool)),
            "{pool} for {nodes} node(s): {started:?}"
        );
    }
}

#[tokio::test]
async fn a_real_runtime_with_pool_ipam_and_a_remote_dns_upstream_are_refused() {
    let pooled = ControlPlane::start(Config {
        pod_ipam: PodIpam::Pool("192.168.0.0/16".parse().unwrap()),
        runtime: podcheck_controlplane::providers::RuntimeChoice::Containerd,
        ..Config::default()
    })
    .await;
    assert!(matches!(pooled, Err(Error::Invalid(m)) if m.contains("need the simulated runtime")));
    let remote = ControlPlane::start(Config {
        dns_upstream: Some("192.0.2.53:53".parse().unwrap()),
        ..Config::default()
    })
    .await;
    assert!(matches!(remote, Err(Error::Invalid(m)) if m.contains("not a loopback address")));
}

/// A DNS server of the test's own on loopback: `www.example.com` A 192.0.2.1, after `delay`
/// (or never).
async fn upstream(delay: Option<Duration>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Some(delay) = delay else { continue };
            tokio::time::sleep(delay).await;
            let asked = Message::from_vec(&buf[..n]).unwrap();
            let mut answer = Message::response(asked.metadata.id, asked.metadata.op_code);
            answer.metadata.recursion_available = true;
            answer.add_queries(asked.queries.clone());
            answer.add_answer(Record::from_rdata(
                Name::from_ascii("www.example.com.").unwrap(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ));
            let _ = socket.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });
    (addr, task)
}

async fn query(server: SocketAddr, name: &str) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    socket.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(15), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 15 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn names_outside_the_cluster_go_to_the_upstream_and_a_silent_one_means_servfail() {
    let (fast, fast_task) = upstream(Some(Duration::ZERO)).await;
    let cp = start_with(Config {
        dns_upstream: Some(fast),
        ..Config::default()
    })
    .await;
    let answer = query(cp.dns_addr(), "www.example.com.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&answer), [Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(answer.metadata.id, 4242);
    let cluster = query(cp.dns_addr(), "kubernetes.default.svc.cluster.local.").await;
    assert_eq!(
        addresses(&cluster),
        [Ipv4Addr::new(10, 96, 0, 1)],
        "the zone stays ours"
    );
    cp.shutdown().await;
    fast_task.abort();

    let (silent, silent_task) = upstream(None).await;
    let cp = start_with(Config {
        dns_upstream: Some(silent),
        ..Config::default()
    })
    .await;
    let began = Instant::now();
    let answer = query(cp.dns_addr(), "www.example.com.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(9),
        "SERVFAIL after {took:?} (CoreDNS: attempts of 2 s until 5 s have passed)"
    );
    cp.shutdown().await;
    silent_task.abort();
}

#[tokio::test]
async fn kube_system_holds_kubeadms_config_maps() {
    let cp = start_with(Config {
        like: Like::Kubeadm,
        service_cidr: "10.100.0.0/16".parse().unwrap(),
        cluster_domain: "corp.example".into(),
        ..Config::default()
    })
    .await;
    let maps: Api<ConfigMap> = Api::namespaced(cp.client().await.unwrap(), "kube-system");
    let kubeadm = maps.get("kubeadm-config").await.unwrap().data.unwrap();
    let cluster: serde_json::Value =
        serde_saphyr::from_str(&kubeadm["ClusterConfiguration"]).unwrap();
    assert_eq!(cluster["networking"]["serviceSubnet"], "10.100.0.0/16");
    assert_eq!(cluster["networking"]["dnsDomain"], "corp.example");
    assert_eq!(cluster["networking"]["podSubnet"], "10.244.0.0/16");
    let kubelet = maps.get("kubelet-config").await.unwrap().data.unwrap();
    let kubelet: serde_json::Value = serde_saphyr::from_str(&kubelet["kubelet"]).unwrap();
    assert_eq!(kubelet["clusterDNS"], json!(["10.100.0.10"]));
    assert_eq!(kubelet["clusterDomain"], "corp.example");
    cp.shutdown().await;
    let quick = start_with(Config::default()).await;
    let maps: Api<ConfigMap> = Api::namespaced(quick.client().await.unwrap(), "kube-system");
    assert!(
        maps.get("kubeadm-config").await.is_err(),
        "only kubeadm writes them"
    );
    quick.shutdown().await;
}

/// The count of `apiserver_request_total` with these labels (all others any).
fn requests(metrics: &str, labels: &[(&str, &str)]) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_count_every_resource_request_for_admins_only() {
    let cp = start_with(Config::default()).await;
    let admin = cp.client().await.unwrap();
    let metrics = || async {
        admin
            .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
            .unwrap()
    };
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    pods.create(&PostParams::default(), &pod("counted"))
        .await
        .unwrap();
    running(&pods, "counted").await;
    let gets = [
        ("verb", "GET"),
        ("resource", "pods"),
        ("scope", "resource"),
        ("code", "200"),
    ];
    let before = requests(&metrics().await, &gets);
    for _ in 0..3 {
        pods.get("counted").await.unwrap();
    }
    let _ = pods.get("missing").await;
    pods.list(&ListParams::default()).await.unwrap();
    let text = metrics().await;
    assert!(
        text.contains("# TYPE apiserver_request_total counter"),
        "{text}"
    );
    assert_eq!(requests(&text, &gets), before + 3);
    assert!(
        requests(
            &text,
            &[("verb", "GET"), ("resource", "pods"), ("code", "404")]
        ) >= 1
    );
    assert!(
        requests(
            &text,
            &[
                ("verb", "LIST"),
                ("resource", "pods"),
                ("scope", "namespace")
            ]
        ) >= 1
    );
    assert!(
        requests(
            &text,
            &[
                ("verb", "POST"),
                ("resource", "pods"),
                ("scope", "resource"),
                ("code", "201")
            ]
        ) >= 1
    );
    assert!(
        requests(
            &text,
            &[
                ("verb", "WATCH"),
                ("resource", "pods"),
                ("scope", "cluster")
            ]
        ) >= 1,
        "the scheduler's watch"
    );
    assert!(
        requests(&text, &[("verb", "PATCH"), ("subresource", "status")]) >= 1,
        "the kubelet"
    );
    let alice = client_from(cp.kubeconfig_for_user("alice", &[]).unwrap()).await;
    match alice
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let monitor = client_from(
        cp.kubeconfig_for_user("prometheus", &["system:monitoring".into()])
            .unwrap(),
    )
    .await;
    monitor
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap();
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeadm_profile_runs_a_pod_through_its_transient_failures() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 192.0.2.53\nsearch corp.example\n").unwrap();
    let cp = start_with(Config {
        like: Like::Kubeadm,
        resolv_conf: resolv,
        ..Config::default()
    })
    .await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("kubeadm"))
        .await
        .unwrap();
    let p = running(&pods, "kubeadm").await;
    assert!(resolv_conf(&cp, &p).await.starts_with(
        "search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
    ));
    let reasons: Vec<String> = events_of(&client, "kubeadm")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for reason in [
        "Scheduled",
        "FailedCreatePodSandBox",
        "Failed",
        "BackOff",
        "Pulled",
        "Started",
    ] {
        assert!(reasons.iter().any(|r| r == reason), "{reason}: {reasons:?}");
    }
    cp.shutdown().await;
}
