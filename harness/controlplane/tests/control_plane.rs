//! The embedded control plane seen through the API, with kube-rs as the client: the same
//! way the harness and users' components see it.

use std::collections::HashSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use podcheck_controlplane::{Config, ControlPlane};
use serde_json::json;

mod upstream;

const DEADLINE: Duration = Duration::from_secs(30);

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"run": name}},
        "spec": {"containers": [{"name": "busybox", "image": "busybox"}]}
    }))
    .unwrap()
}

async fn start(nodes: u16) -> ControlPlane {
    ControlPlane::start(Config {
        nodes,
        ..Config::default()
    })
    .await
    .expect("control plane starts")
}

/// Polls `check` until it returns Some, or fails the test at the deadline.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    tokio::time::timeout(DEADLINE, async {
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

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn node_name(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

#[tokio::test]
async fn a_watch_sees_pending_then_bound_then_running() {
    let cp = start(1).await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut watch = pods
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("busybox"))
        .await
        .unwrap();

    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(event) = watch.try_next().await.unwrap() {
            match event {
                WatchEvent::Added(p) => seen.push((
                    "ADDED",
                    phase(&p).to_string(),
                    node_name(&p).map(str::to_string),
                )),
                WatchEvent::Modified(p) => {
                    seen.push((
                        "MODIFIED",
                        phase(&p).to_string(),
                        node_name(&p).map(str::to_string),
                    ));
                    if phase(&p) == "Running" {
                        return;
                    }
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    })
    .await
    .expect("the pod reaches Running");
    assert_eq!(seen[0], ("ADDED", "Pending".to_string(), None));
    let bound = seen
        .iter()
        .position(|(_, _, n)| n.as_deref() == Some("node-1"))
        .expect("a MODIFIED with the node");
    assert!(seen[bound].0 == "MODIFIED" && seen[bound].1 == "Pending");
    assert_eq!(seen.last().unwrap().1, "Running");
    cp.shutdown().await;
}

#[tokio::test]
async fn stale_updates_conflict_and_missing_pods_are_not_found() {
    let cp = start(1).await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    // A scheduler nobody runs: no binding or status write races the updates below.
    let mut idle = pod("stale");
    idle.spec.as_mut().unwrap().scheduler_name = Some("nobody".into());
    let created = pods.create(&PostParams::default(), &idle).await.unwrap();
    let mut fresh = created.clone();
    fresh
        .metadata
        .labels
        .get_or_insert_default()
        .insert("v".into(), "1".into());
    pods.replace("stale", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let mut stale = created;
    stale
        .metadata
        .labels
        .get_or_insert_default()
        .insert("v".into(), "2".into());
    match pods.replace("stale", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
        }
        other => panic!("expected 409, got {other:?}"),
    }
    match pods.get("missing").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "pods \"missing\" not found");
        }
        other => panic!("expected 404, got {other:?}"),
    }
    cp.shutdown().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_is_gone() {
    let cp = start(1).await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let old = pods
        .create(&PostParams::default(), &pod("old"))
        .await
        .unwrap();
    let old_rv = old.metadata.resource_version.unwrap();
    pods.create(&PostParams::default(), &pod("newer"))
        .await
        .unwrap();
    let store = cp.store();
    store
        .compact(store.revision().await.unwrap())
        .await
        .unwrap();
    let mut watch = pods
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .unwrap()
        .boxed();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    cp.shutdown().await;
}

async fn client_with_token(cp: &ControlPlane, token: Option<&str>) -> kube::Client {
    let mut kubeconfig: Kubeconfig = cp.kubeconfig();
    let auth = kubeconfig.auth_infos[0].auth_info.as_mut().unwrap();
    auth.token = token.map(|t| t.to_string().into());
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized_and_store_nothing() {
    let cp = start(1).await;
    for token in [None, Some("not-a-token")] {
        let pods: Api<Pod> = Api::namespaced(client_with_token(&cp, token).await, "default");
        match pods.create(&PostParams::default(), &pod("intruder")).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(
                    (s.code, s.reason.as_str()),
                    (401, "Unauthorized"),
                    "token {token:?}"
                );
            }
            other => panic!("expected 401 for token {token:?}, got {other:?}"),
        }
    }
    let stored = cp
        .store()
        .get("/registry/pods/default/intruder")
        .await
        .unwrap();
    assert!(stored.is_none(), "a rejected request reached the store");
    cp.shutdown().await;
}

#[tokio::test]
async fn a_pod_that_fits_nowhere_waits_until_a_matching_node_appears() {
    let cp = start(1).await;
    let client = cp.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut picky = pod("picky");
    picky.spec.as_mut().unwrap().node_selector =
        Some([("disk".to_string(), "nvme".to_string())].into());
    pods.create(&PostParams::default(), &picky).await.unwrap();

    let condition = eventually("PodScheduled=False", || async {
        let p = pods.get("picky").await.ok()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False").then_some(c)
    })
    .await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert!(condition.message.unwrap().starts_with(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    ));
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let failed = eventually("a FailedScheduling event", || async {
        let list = events
            .list(
                &ListParams::default().fields("involvedObject.name=picky,reason=FailedScheduling"),
            )
            .await
            .ok()?;
        list.items.into_iter().next()
    })
    .await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(node_name(&pods.get("picky").await.unwrap()), None);

    let nodes: Api<Node> = Api::all(client.clone());
    let nvme: Node = serde_json::from_value(json!({
        "metadata": {"name": "nvme-node", "labels": {"disk": "nvme"}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &nvme).await.unwrap();
    eventually("the pod bound to the new node", || async {
        let p = pods.get("picky").await.ok()?;
        (node_name(&p) == Some("nvme-node")).then_some(())
    })
    .await;
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_pods_created_at_once_all_run_with_unique_addresses() {
    let cp = start(2).await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let creates = (0..200).map(|i| {
        let pods = pods.clone();
        async move {
            pods.create(&PostParams::default(), &pod(&format!("p-{i}")))
                .await
        }
    });
    let created = futures::future::join_all(creates).await;
    assert!(created.iter().all(Result::is_ok), "every create succeeds");
    let running = eventually("200 running pods", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| phase(p) == "Running")
            .collect();
        (running.len() == 200).then_some(running)
    })
    .await;
    let ips: HashSet<String> = running
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 200, "pod IPs are unique");
    for p in &running {
        let node = node_name(p).unwrap();
        let ip = p.status.as_ref().unwrap().pod_ip.as_deref().unwrap();
        let index: u8 = node.trim_start_matches("node-").parse().unwrap();
        assert!(
            ip.starts_with(&format!("10.244.{}.", index - 1)),
            "{ip} lies in {node}'s podCIDR"
        );
    }
    cp.shutdown().await;
}

#[tokio::test]
async fn cluster_dns_answers_the_kubernetes_service() {
    use hickory_proto::rr::{RData, RecordType, rdata::A};
    use hickory_resolver::TokioResolver;
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;

    let cp = start(1).await;
    let addr = cp.dns_addr();
    // Only the builtin server: no system config, search path, hosts file or cache.
    let mut server = NameServerConfig::udp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(2);
    options.use_hosts_file = ResolveHosts::Never;
    let resolver = TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .unwrap();
    let found = resolver
        .lookup("kubernetes.default.svc.cluster.local.", RecordType::A)
        .await
        .unwrap();
    let ips: Vec<_> = found
        .answers()
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect();
    assert_eq!(ips, vec![std::net::Ipv4Addr::new(10, 96, 0, 1)]);
    cp.shutdown().await;
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_pods_then_itself() {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    let cp = start(1).await;
    let client = cp.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    accounts
        .get("default")
        .await
        .expect("every namespace has a default ServiceAccount");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    pods.create(&PostParams::default(), &pod("x"))
        .await
        .unwrap();
    eventually("the pod running", || async {
        (phase(&pods.get("x").await.ok()?) == "Running").then_some(())
    })
    .await;

    let terminating = namespaces
        .delete("team", &Default::default())
        .await
        .unwrap();
    let phase_of = |n: &Namespace| n.status.as_ref().and_then(|s| s.phase.clone());
    assert_eq!(
        terminating.left().map(|n| phase_of(&n)),
        Some(Some("Terminating".into()))
    );
    match pods.create(&PostParams::default(), &pod("late")).await {
        Err(kube::Error::Api(s)) => assert!(s.code == 403 || s.code == 404, "{s:?}"),
        other => panic!("a terminating namespace accepted a pod: {other:?}"),
    }
    eventually("the namespace gone", || async {
        matches!(namespaces.get("team").await, Err(kube::Error::Api(ref s)) if s.code == 404)
            .then_some(())
    })
    .await;
    assert!(
        cp.store()
            .get("/registry/pods/team/x")
            .await
            .unwrap()
            .is_none()
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn patches_merge_as_kubernetes_merges_them() {
    use kube::api::{Patch, PatchParams};
    let cp = start(1).await;
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let mut p = pod("patched");
    p.spec.as_mut().unwrap().containers[0].env = Some(vec![
        serde_json::from_value(json!({"name": "A", "value": "1"})).unwrap(),
    ]);
    pods.create(&PostParams::default(), &p).await.unwrap();
    // Strategic merge: containers merge by name; the image may change on a live pod, and
    // the unmentioned env stays.
    let smp = json!({"spec": {"containers": [{"name": "busybox", "image": "busybox:1.37"}]}});
    let after = pods
        .patch("patched", &PatchParams::default(), &Patch::Strategic(&smp))
        .await
        .unwrap();
    let c = &after.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("busybox:1.37"));
    let env: Vec<_> = c.env.clone().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(env, ["A"]);
    assert_eq!(after.metadata.generation, Some(2));
    // Anything else in a live pod's spec is immutable: 422 naming `spec`, nothing changes.
    let env_change = json!({"spec": {"containers": [{"name": "busybox", "env": [{"name": "B", "value": "2"}]}]}});
    match pods
        .patch(
            "patched",
            &PatchParams::default(),
            &Patch::Strategic(&env_change),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
            assert!(
                s.message.contains("pod updates may not change fields"),
                "{s:?}"
            );
        }
        other => panic!("changing env of a live pod must be refused: {other:?}"),
    }
    let kept = pods.get("patched").await.unwrap();
    assert_eq!(
        kept.spec.unwrap().containers[0].env.as_ref().unwrap().len(),
        1
    );
    // Merge patch: a null removes a label.
    pods.patch(
        "patched",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"run": null, "tier": "web"}}})),
    )
    .await
    .unwrap();
    let labels = pods.get("patched").await.unwrap().metadata.labels.unwrap();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        [("tier".to_string(), "web".to_string())]
    );
    // JSON patch with a failing test operation changes nothing.
    let jp: json_patch::Patch = serde_json::from_value(json!([{"op": "test", "path": "/metadata/name", "value": "other"}, {"op": "remove", "path": "/metadata/labels"}])).unwrap();
    assert!(
        pods.patch("patched", &PatchParams::default(), &Patch::<()>::Json(jp))
            .await
            .is_err()
    );
    assert!(pods.get("patched").await.unwrap().metadata.labels.is_some());
    cp.shutdown().await;
}

/// 1,000 clients update one ConfigMap at once, each adding its own key to what it read:
/// every update either wins (200) or gets 409 Conflict, and the final object holds exactly
/// the winners' keys — no update is lost, none is applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_conflicting_updates_lose_nothing() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let cp = start(1).await;
    let client = cp.client().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let empty: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "counter"}, "data": {}})).unwrap();
    maps.create(&PostParams::default(), &empty).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let maps = maps.clone();
        tasks.spawn(async move {
            let mut current = maps.get("counter").await.expect("get");
            current
                .data
                .get_or_insert_with(Default::default)
                .insert(format!("k{i}"), "1".into());
            match maps
                .replace("counter", &PostParams::default(), &current)
                .await
            {
                Ok(_) => Some(i),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    assert_eq!(s.reason, "Conflict", "{s:?}");
                    None
                }
                Err(e) => panic!("update {i} neither won nor conflicted: {e}"),
            }
        });
    }
    let mut winners = HashSet::new();
    while let Some(r) = tokio::time::timeout(DEADLINE * 4, tasks.join_next())
        .await
        .expect("the updates finish")
    {
        if let Some(i) = r.unwrap() {
            winners.insert(format!("k{i}"));
        }
    }
    assert!(!winners.is_empty());
    let last = maps.get("counter").await.unwrap();
    let keys: HashSet<String> = last.data.unwrap_or_default().into_keys().collect();
    assert_eq!(
        keys, winners,
        "the final object holds exactly the winners' keys"
    );
    cp.shutdown().await;
}

/// A control plane on containerd, or `None` where the real runtime is missing and
/// `PODCHECK_SKIP_REAL=1` says that is expected (without it, the test fails).
async fn real_control_plane() -> Option<ControlPlane> {
    use podcheck_controlplane::providers::{RuntimeChoice, real_runtime_usable};
    if let Err(why) = real_runtime_usable() {
        assert_eq!(
            std::env::var("PODCHECK_SKIP_REAL").as_deref(),
            Ok("1"),
            "the real runtime is needed: {why} (as .ci/run installs it), or PODCHECK_SKIP_REAL=1"
        );
        return None;
    }
    let cp = ControlPlane::start(Config {
        runtime: RuntimeChoice::Containerd,
        ..Config::default()
    })
    .await
    .expect("control plane with containerd starts");
    Some(cp)
}

/// kube-rs `exec` over WebSocket against a real container (containerd): stdout, and the exit
/// code in the `Status` of the error channel. Needs the real runtime; fails without it
/// unless `PODCHECK_SKIP_REAL=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_returns_stdout_and_the_exit_code() {
    use kube::api::AttachParams;
    use tokio::io::AsyncReadExt;
    let Some(cp) = real_control_plane().await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(cp.client().await.unwrap(), "default");
    let sleeper: Pod = serde_json::from_value(json!({
        "metadata": {"name": "sleeper"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                  "imagePullPolicy": "IfNotPresent", "args": ["sleep", "3600"]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &sleeper).await.unwrap();
    eventually("the pod runs", || async {
        let p = pods.get("sleeper").await.ok()?;
        (phase(&p) == "Running").then_some(())
    })
    .await;
    let run = |script: &'static str| {
        let pods = pods.clone();
        async move {
            let mut attached = pods
                .exec(
                    "sleeper",
                    ["sh", "-c", script],
                    &AttachParams::default().stderr(false),
                )
                .await
                .expect("exec upgrades");
            let mut out = String::new();
            attached
                .stdout()
                .unwrap()
                .read_to_string(&mut out)
                .await
                .unwrap();
            let status = attached.take_status().unwrap().await;
            attached.join().await.unwrap();
            (out, status)
        }
    };
    let (out, status) = run("echo hello from the container").await;
    assert_eq!(out, "hello from the container\n");
    assert_eq!(status.and_then(|s| s.status).as_deref(), Some("Success"));
    let (out, status) = run("echo partial; exit 3").await;
    assert_eq!(out, "partial\n");
    let status = status.expect("a status on the error channel");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status
        .details
        .and_then(|d| d.causes)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("3"));
    cp.shutdown().await;
}

/// The real nodes pull from the control plane's registry and nowhere else: the image that
/// runs is the manifest the registry served; an unknown image is the registry's "not found";
/// an image of any other registry fails within a second, its only dial the dead proxy on
/// loopback that containerd is given. Needs the real runtime, unless `PODCHECK_SKIP_REAL=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nodes_pull_from_the_registry_and_from_nowhere_else() {
    use podcheck_node::runtime::RuntimeError;
    let Some(cp) = real_control_plane().await else {
        return;
    };
    let registry = cp.image_registry().expect("real nodes have a registry");
    assert!(registry.addr().ip().is_loopback());
    let (_, runtime) = cp.nodes().next().unwrap();
    let since = std::time::Instant::now();
    let id = runtime.pull_image("busybox").await.unwrap();
    let served = registry.served_since(since);
    let got = served
        .iter()
        .find(|s| s.repository == "docker.io/library/busybox" && s.method == "GET")
        .unwrap_or_else(|| panic!("the pull went to the registry: {served:?}"));
    assert_eq!(id, format!("docker.io/library/busybox@{}", got.digest));
    assert_eq!(
        cp.images().resolve("busybox").as_deref(),
        Some(got.digest.as_str())
    );

    let err = runtime.pull_image("nosuch:1.0").await.unwrap_err();
    let RuntimeError::Rpc { code, message } = &err else {
        panic!("not an rpc error: {err:?}");
    };
    assert_eq!(code, "NotFound");
    assert!(
        message.ends_with("docker.io/library/nosuch:1.0: not found"),
        "{message}"
    );

    let began = std::time::Instant::now();
    let err = runtime
        .pull_image("example.com/elsewhere:1")
        .await
        .unwrap_err();
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "failed after {took:?}: {err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("proxyconnect tcp: dial tcp 127.0.0.1:"),
        "its only dial was to loopback: {message}"
    );
    cp.shutdown().await;
}

/// A user with no bindings is refused every verb on every served resource (403, in
/// kube-apiserver's words), and nothing reaches the store: its revision does not move.
#[tokio::test]
async fn a_user_without_bindings_is_refused_everything_and_stores_nothing() {
    use podcheck_controlplane::apiserver::resources::RESOURCES;
    let cp = ControlPlane::start(Config {
        nodes: 0,
        ..Config::default()
    })
    .await
    .unwrap();
    // A bearer token of a user nobody bound anything to: a ServiceAccount's, from TokenRequest.
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: Api<ServiceAccount> = Api::namespaced(cp.client().await.unwrap(), "default");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "mallory"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    let token = sas
        .create_token_request("mallory", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let client = client_with_token(&cp, Some(&token)).await;
    let store = cp.store();
    let before = store.revision().await.unwrap();
    let mut refused = 0;
    for r in RESOURCES {
        let base = if r.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let collection = if r.namespaced {
            format!("{base}/namespaces/default/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let item = format!("{collection}/x");
        let body = serde_json::to_vec(&json!({"apiVersion": r.api_version(), "kind": r.kind,
            "metadata": {"name": "x"}}))
        .unwrap();
        let requests: Vec<(&str, http::Request<Vec<u8>>)> = r
            .verbs()
            .iter()
            .map(|verb| {
                let b = http::Request::builder();
                let req = match *verb {
                    "get" => b.method("GET").uri(&item).body(vec![]),
                    "list" => b.method("GET").uri(&collection).body(vec![]),
                    "watch" => b
                        .method("GET")
                        .uri(format!("{collection}?watch=true"))
                        .body(vec![]),
                    "create" => b
                        .method("POST")
                        .uri(&collection)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                    "update" => b
                        .method("PUT")
                        .uri(&item)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                    "patch" => b
                        .method("PATCH")
                        .uri(&item)
                        .header("content-type", "application/merge-patch+json")
                        .body(b"{}".to_vec()),
                    "delete" => b.method("DELETE").uri(&item).body(vec![]),
                    other => panic!("unexpected verb {other}"),
                };
                (*verb, req.unwrap())
            })
            .collect();
        for (verb, req) in requests {
            let qualified = r.qualified_plural();
            if r.group == "authorization.k8s.io" {
                continue; // every authenticated user may ask what it may do
            }
            let err = client
                .request::<serde_json::Value>(req)
                .await
                .expect_err(&format!("{verb} {qualified} must be refused"));
            match err {
                kube::Error::Api(s) => {
                    assert_eq!(
                        (s.code, s.reason.as_str()),
                        (403, "Forbidden"),
                        "{verb} {qualified}: {s:?}"
                    );
                    assert!(
                        s.message.contains(&format!(
                            "User \"system:serviceaccount:default:mallory\" cannot {verb} resource \"{}\"",
                            r.plural
                        )),
                        "{verb} {qualified}: {}",
                        s.message
                    );
                    refused += 1;
                }
                other => panic!("{verb} {qualified}: {other}"),
            }
        }
    }
    assert!(refused > 80, "{refused} requests refused");
    assert_eq!(
        store.revision().await.unwrap(),
        before,
        "nothing reached the store"
    );
    cp.shutdown().await;
}

async fn client_from(kubeconfig: Kubeconfig) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn refused_as(pods: &Api<Pod>, name: &str) -> String {
    match pods.create(&PostParams::default(), &pod(name)).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{s:?}");
            s.message
        }
        other => panic!("expected 403, got {other:?}"),
    }
}

/// Client certificates signed by the control plane's CA (CN = user, O = groups) and
/// ServiceAccount tokens from TokenRequest authenticate as Kubernetes' authenticators do,
/// and RBAC bindings to those users, groups and ServiceAccounts take effect.
#[tokio::test]
async fn client_certificates_and_service_account_tokens_authenticate() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
    let cp = start(1).await;
    let admin = cp.client().await.unwrap();

    // A certificate for carol in group "builders": known, but not allowed yet.
    let carol = client_from(
        cp.kubeconfig_for_user("carol", &["builders".into()])
            .unwrap(),
    )
    .await;
    let carol_pods: Api<Pod> = Api::namespaced(carol, "default");
    let message = refused_as(&carol_pods, "by-carol").await;
    assert!(
        message.contains("User \"carol\" cannot create"),
        "{message}"
    );
    let by_group: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "builders-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "builders"}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &by_group)
        .await
        .unwrap();
    carol_pods
        .create(&PostParams::default(), &pod("by-carol"))
        .await
        .expect("the group O=builders is bound to edit");

    // A ServiceAccount's token from TokenRequest: system:serviceaccount:default:robot.
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let robot: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "robot"}})).unwrap();
    sas.create(&PostParams::default(), &robot).await.unwrap();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let issued = sas
        .create_token_request("robot", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = issued.status.unwrap().token;
    assert!(!token.is_empty());
    let robot_client = client_with_token(&cp, Some(&token)).await;
    let robot_pods: Api<Pod> = Api::namespaced(robot_client, "default");
    let message = refused_as(&robot_pods, "by-robot").await;
    assert!(
        message.contains("User \"system:serviceaccount:default:robot\" cannot create"),
        "{message}"
    );
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "robot-edit", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot"}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    robot_pods
        .create(&PostParams::default(), &pod("by-robot"))
        .await
        .expect("the RoleBinding allows the ServiceAccount");
    // A token for a ServiceAccount that does not exist is refused: 404.
    match sas
        .create_token_request("ghost", &PostParams::default(), &request)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        other => panic!("{other:?}"),
    }
    cp.shutdown().await;
}
