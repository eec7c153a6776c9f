//! Fixtures for the table tests of every stage's verdicts.
//!
//! Each test starts from [`running`] (an observation of a pod that went all the way to
//! Running on node-1) and [`Case::new`] (a case that expects every stage to pass), and
//! varies one thing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use serde_json::{Value, json};

use super::evaluate;
use crate::duration::Duration;
use crate::load::{CaseSpec, Identity};
use crate::observation::{
    ApiRead, CreateOutcome, DnsRead, EventSighting, ExpectedAnswer, InPodNetRead, LookupAttempt,
    LookupRead, NetnsRead, Observation, PeerRead, PodSighting, Probe, RegistryRead, RuntimeRead,
    StoreRead,
};
use crate::result::{Evidence, Provider, Source, StageResult, StageStatus};
use crate::stage::Stage;
use crate::suite::{
    AuthExpectation, BindingExpectation, CriLaunchExpectation, Expectation, Expectations,
};

// --- the case and the observation ------------------------------------------------------

pub(super) const NS: &str = "team";
pub(super) const UID: &str = "uid-web";
pub(super) const KEY: &str = "/registry/pods/team/web";
pub(super) const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef";
pub(super) const POD_IP: &str = "10.244.0.5";
pub(super) const DNS_IP: &str = "10.96.0.10";
pub(super) const KUBERNETES_IP: &str = "10.96.0.1";
pub(super) const RESOLV_CONF: &str = "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

/// A case that expects every stage to pass, with a 30s timeout and no per-stage deadline.
pub(super) struct Case(pub(super) CaseSpec);

impl Case {
    pub(super) fn new() -> Self {
        Case(CaseSpec {
            name: "web".into(),
            line: 1,
            description: String::new(),
            tags: Vec::new(),
            pod: json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            }),
            pod_source: "inline".into(),
            identity: Identity::Admin,
            setup: Vec::new(),
            expect: Expectations::default(),
            deadlines: BTreeMap::new(),
            timeout: Duration::from_secs(30),
            dns_lookups: Vec::new(),
            replicas: 1,
            faults: Vec::new(),
            stays_ready_for: None,
            load: None,
        })
    }

    pub(super) fn auth(mut self, a: Option<AuthExpectation>) -> Self {
        self.0.expect.auth = a;
        self
    }

    pub(super) fn cri_launch(mut self, c: CriLaunchExpectation) -> Self {
        self.0.expect.cri_launch = Some(c);
        self
    }

    pub(super) fn binding(mut self, b: BindingExpectation) -> Self {
        self.0.expect.binding = Some(b);
        self
    }

    /// Sets a generic stage's expectation (not auth or binding, which have their own).
    pub(super) fn expect(mut self, stage: Stage, x: Expectation) -> Self {
        let e = &mut self.0.expect;
        let slot = match stage {
            Stage::EtcdWrite => &mut e.etcd_write,
            Stage::Pending => &mut e.pending,
            Stage::CniAttach => &mut e.cni_attach,
            Stage::Dns => &mut e.dns,
            Stage::StatusUpdate => &mut e.status_update,
            Stage::Auth | Stage::Binding | Stage::CriLaunch => {
                panic!("{stage} has its own expectation type")
            }
        };
        *slot = Some(x);
        self
    }

    /// Skips any stage, with the right expectation type.
    pub(super) fn skip(self, stage: Stage, why: &str) -> Self {
        match stage {
            Stage::Auth => self.auth(Some(AuthExpectation::Skip(why.into()))),
            Stage::Binding => self.binding(BindingExpectation::Skip(why.into())),
            Stage::CriLaunch => self.cri_launch(CriLaunchExpectation::Skip(why.into())),
            _ => self.expect(stage, Expectation::Skip(why.into())),
        }
    }

    pub(super) fn deadline(mut self, stage: Stage, d: &str) -> Self {
        self.0
            .deadlines
            .insert(stage, Duration::parse(d).expect("a duration"));
        self
    }

    pub(super) fn timeout(mut self, d: &str) -> Self {
        self.0.timeout = Duration::parse(d).expect("a duration");
        self
    }

    pub(super) fn stays_ready_for(mut self, d: &str) -> Self {
        self.0.stays_ready_for = Some(Duration::parse(d).expect("a duration"));
        self
    }

    pub(super) fn build(self) -> CaseSpec {
        self.0
    }
}

pub(super) fn provider(component: &str, name: &str, version: &str) -> Provider {
    Provider {
        component: component.into(),
        name: name.into(),
        real: true,
        version: version.into(),
    }
}

pub(super) fn pod(v: Value) -> Pod {
    serde_json::from_value(v).expect("a valid Pod")
}

pub(super) fn node(v: Value) -> Node {
    serde_json::from_value(v).expect("a valid Node")
}

pub(super) fn condition_json(kind: &str, status: &str) -> Value {
    json!({"type": kind, "status": status})
}

/// The case's pod as the watch showed it: fresh (`Pending`, no node), bound, or running.
pub(super) fn web(step: u8) -> Pod {
    let mut v = json!({
        "metadata": {"name": "web", "namespace": NS, "uid": UID, "resourceVersion": "42"},
        "spec": {
            "containers": [{"name": "app", "image": "busybox"}],
            "schedulerName": "default-scheduler",
            "dnsPolicy": "ClusterFirst",
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if step >= 1 {
        v["spec"]["nodeName"] = json!("node-1");
        v["status"]["conditions"] = json!([condition_json("PodScheduled", "True")]);
    }
    if step >= 2 {
        v["status"] = json!({
            "phase": "Running",
            "conditions": [
                condition_json("PodScheduled", "True"),
                condition_json("Initialized", "True"),
                condition_json("ContainersReady", "True"),
                condition_json("Ready", "True"),
            ],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "hostIP": "172.18.0.2",
            "startTime": "2025-01-01T00:00:00Z",
            "containerStatuses": [{
                "name": "app",
                "image": "busybox",
                "imageID": "docker.io/library/busybox@sha256:00",
                "containerID": format!("containerd://{CONTAINER_ID}"),
                "ready": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2025-01-01T00:00:01Z"}},
            }],
        });
    }
    pod(v)
}

/// web(2) after its container `app` exited with code 1 at 00:00:03, as the kubelet reports
/// it: `restarts` 0 — terminated, Ready False; more — waiting in CrashLoopBackOff with the
/// exit as its last state (`running`: running again instead).
pub(super) fn web_exited(restarts: i32, running: bool) -> Pod {
    let mut p = web(2);
    let exit = json!({"exitCode": 1, "reason": "Error", "startedAt": "2025-01-01T00:00:01Z", "finishedAt": "2025-01-01T00:00:03Z"});
    let status = p.status.as_mut().expect("a status");
    let c = &mut status.container_statuses.as_mut().expect("statuses")[0];
    c.restart_count = restarts;
    let (state, last) = match (restarts, running) {
        (0, _) => (json!({"terminated": exit}), json!({})),
        (_, true) => (
            json!({"running": {"startedAt": "2025-01-01T00:00:04Z"}}),
            json!({"terminated": exit}),
        ),
        (_, false) => (
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container=app pod=web_team(uid-web)"}}),
            json!({"terminated": exit}),
        ),
    };
    c.state = Some(serde_json::from_value(state).expect("a state"));
    c.last_state = Some(serde_json::from_value(last).expect("a state"));
    c.ready = running;
    if !running {
        for cond in status.conditions.iter_mut().flatten() {
            if cond.type_ == "Ready" || cond.type_ == "ContainersReady" {
                cond.status = "False".into();
                cond.reason = Some("ContainersNotReady".into());
                cond.last_transition_time =
                    Some(serde_json::from_value(json!("2025-01-01T00:00:03Z")).expect("a time"));
                cond.message = Some("containers with unready status: [app]".into());
            }
        }
    }
    p
}

pub(super) fn a_node(name: &str, cidr: &str) -> Node {
    node(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        },
    }))
}

/// Another pod on node-1, with its own IP.
pub(super) fn other_pod(name: &str, ip: &str) -> Pod {
    pod(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": ip},
    }))
}

pub(super) fn sighting(at_ms: f64, kind: &str, pod: Pod) -> PodSighting {
    PodSighting {
        at_ms,
        kind: kind.into(),
        pod,
    }
}

pub(super) fn event(at_ms: f64, reason: &str, component: &str, message: &str) -> EventSighting {
    EventSighting {
        at_ms,
        reason: reason.into(),
        message: message.into(),
        warning: false,
        component: component.into(),
        field_path: None,
    }
}

pub(super) fn store_read(
    create_revision: Option<i64>,
    value: Option<Value>,
    at_ms: f64,
) -> StoreRead {
    StoreRead {
        key: KEY.into(),
        create_revision,
        mod_revision: create_revision,
        value,
        provider: provider("store", "etcd", "3.5.21"),
        at_ms,
    }
}

pub(super) fn lookup(name: &str, answer: Result<&str, &str>, expected: Option<&str>) -> LookupRead {
    LookupRead {
        name: name.into(),
        attempts: vec![
            LookupAttempt {
                candidate: format!("{name}.{NS}.svc.cluster.local."),
                answer: Err("NXDOMAIN".into()),
            },
            LookupAttempt {
                candidate: format!("{name}."),
                answer: answer
                    .map(|ip| vec![ip.parse().expect("an IP")])
                    .map_err(str::to_string),
            },
        ],
        expected: match expected {
            Some(ip) => ExpectedAnswer::OneOf {
                addresses: vec![ip.parse().expect("an IP")],
                source: "the case's address".into(),
            },
            None => ExpectedAnswer::Nothing,
        },
    }
}

/// A pod that went all the way to Running on node-1 (podCIDR 10.244.0.0/24, IP
/// 10.244.0.5), with every probe available and agreeing. Stage times: auth 10, etcdWrite
/// 15, pending 20, binding 40, criLaunch/cniAttach/statusUpdate 120, dns 140.
pub(super) fn running() -> Observation {
    Observation {
        identity: "admin".into(),
        grant: None,
        namespace: NS.into(),
        pod_name: "web".into(),
        create: CreateOutcome {
            code: 201,
            reason: None,
            message: None,
            causes: Vec::new(),
            resource_version: Some("42".into()),
            uid: Some(UID.into()),
            at_ms: 10.0,
        },
        sightings: vec![
            sighting(20.0, "ADDED", web(0)),
            sighting(40.0, "MODIFIED", web(1)),
            sighting(120.0, "MODIFIED", web(2)),
        ],
        events: vec![
            event(
                35.0,
                "Scheduled",
                "default-scheduler",
                "Successfully assigned team/web to node-1",
            ),
            event(
                60.0,
                "Pulled",
                "kubelet",
                "Container image \"busybox\" already present",
            ),
            event(70.0, "Created", "kubelet", "Created container: app"),
            event(80.0, "Started", "kubelet", "Started container app"),
        ],
        watch_gaps: Vec::new(),
        nodes: vec![
            a_node("node-1", "10.244.0.0/24"),
            a_node("node-2", "10.244.1.0/24"),
        ],
        pods: vec![web(2), other_pod("other", "10.244.0.6")],
        batch: Vec::new(),
        store_after_create: Probe::Seen(store_read(Some(42), None, 15.0)),
        store_after_running: Probe::Seen(store_read(
            Some(42),
            Some(json!({"status": {"phase": "Running"}})),
            130.0,
        )),
        api_after_create: None,
        api_after_running: None,
        runtime: Probe::Seen(RuntimeRead {
            provider: provider("runtime", "containerd", "2.0.4"),
            containers: vec![("app".into(), CONTAINER_ID.into(), "running".into())],
            at_ms: 125.0,
        }),
        registry: Probe::Seen(RegistryRead {
            provider: provider("registry", "podcheck-registry", "0.1.0"),
            served: Vec::new(),
            at_ms: 126.0,
        }),
        netns: Probe::Seen(NetnsRead {
            provider: provider("network", "ptp", "1.6"),
            addresses: vec![
                ("lo".into(), "127.0.0.1/8".into()),
                ("eth0".into(), format!("{POD_IP}/24")),
            ],
            reach: Some(Ok("TCP connect refused by the pod (RST) in 0.1 ms".into())),
            at_ms: 126.0,
        }),
        in_pod_net: Probe::Seen(InPodNetRead {
            addresses: vec![
                ("lo".into(), "127.0.0.1/8".into()),
                ("eth0".into(), format!("{POD_IP}/24")),
            ],
            at_ms: 126.0,
        }),
        peer: Probe::Seen(PeerRead {
            pod: "podcheck-peers/peer-node-2".into(),
            node: "node-2".into(),
            same_node: None,
            reached: Ok("an ICMP echo was answered".into()),
            at_ms: 127.0,
        }),
        dns: Probe::Seen(DnsRead {
            resolv_source: "pods/exec cat /etc/resolv.conf".into(),
            resolv_conf: Ok(RESOLV_CONF.into()),
            server: DNS_IP.into(),
            provider: provider("dns", "coredns", "1.12.0"),
            lookups: vec![
                lookup("kubernetes.default", Ok(KUBERNETES_IP), Some(KUBERNETES_IP)),
                lookup("nothing-here", Err("NXDOMAIN"), None),
            ],
            at_ms: 140.0,
        }),
        pod_networks: Vec::new(),
        node_aliases: Default::default(),
        kubernetes_service_ip: Some(KUBERNETES_IP.into()),
        cluster_dns_ip: Some(DNS_IP.into()),
        apiserver: provider("apiserver", "kube-apiserver", "v1.33.1"),
        observed_ms: 150.0,
        timed_out: false,
        scheduler_under_test: None,
        faults: Vec::new(),
    }
}

/// A pod the scheduler could not place: seen Pending, then PodScheduled=False
/// (Unschedulable), with a FailedScheduling event; nothing after.
pub(super) fn unscheduled() -> Observation {
    const WHY: &str = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available.";
    let mut o = running();
    let mut p = web(0);
    p.status.as_mut().expect("status").conditions = Some(vec![PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(WHY.into()),
        ..PodCondition::default()
    }]);
    o.sightings = vec![
        sighting(20.0, "ADDED", web(0)),
        sighting(50.0, "MODIFIED", p),
    ];
    let mut failed = event(45.0, "FailedScheduling", "default-scheduler", WHY);
    failed.warning = true;
    o.events = vec![failed];
    o.pods = vec![other_pod("other", "10.244.0.6")];
    o.store_after_running = Probe::Unavailable("the pod never ran".into());
    o.runtime = Probe::Unavailable("the pod never ran".into());
    o.netns = Probe::Unavailable("the pod never ran".into());
    o.dns = Probe::Unavailable("the pod never ran".into());
    o
}

/// Applies `f` to the case's pod in every sighting and in the pod listing.
pub(super) fn each_web(o: &mut Observation, f: impl Fn(&mut Pod)) {
    for s in &mut o.sightings {
        f(&mut s.pod);
    }
    for p in &mut o.pods {
        if p.metadata.uid.as_deref() == Some(UID) {
            f(p);
        }
    }
}

/// The pod's IP, in its status and inside the pod (the host-side netns is left as is).
pub(super) fn set_pod_ip(o: &mut Observation, ip: &str) {
    each_web(o, |p| {
        if let Some(st) = p.status.as_mut().filter(|st| st.pod_ip.is_some()) {
            st.pod_ip = Some(ip.into());
        }
    });
    if let Probe::Seen(n) = &mut o.in_pod_net {
        n.addresses[1].1 = format!("{ip}/24");
    }
}

pub(super) fn dns_read(o: &mut Observation) -> &mut DnsRead {
    match &mut o.dns {
        Probe::Seen(d) => d,
        Probe::Unavailable(_) => panic!("the DNS probe is unavailable"),
    }
}

pub(super) fn runtime_read(o: &mut Observation) -> &mut RuntimeRead {
    match &mut o.runtime {
        Probe::Seen(r) => r,
        Probe::Unavailable(_) => panic!("the runtime probe is unavailable"),
    }
}

pub(super) fn rejected(code: u16, reason: &str, message: &str) -> CreateOutcome {
    CreateOutcome {
        code,
        reason: Some(reason.into()),
        message: Some(message.into()),
        causes: Vec::new(),
        resource_version: None,
        uid: None,
        at_ms: 8.0,
    }
}

pub(super) fn invalid(field: &str) -> CreateOutcome {
    CreateOutcome {
        causes: vec![(field.into(), "Required value".into())],
        ..rejected(
            422,
            "Invalid",
            &format!("Pod \"web\" is invalid: {field}: Required value"),
        )
    }
}

// --- variations more than one stage uses -----------------------------------------------

/// What the store and the admin API showed after the create.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stored {
    /// The store probe read the key: present or absent.
    Present,
    Absent,
    /// No store probe; an admin API read answered this code.
    ApiRead(u16),
    /// No store probe and no API read.
    Nothing,
}

pub(super) fn with_stored(o: &mut Observation, stored: Stored) {
    match stored {
        Stored::Present => o.store_after_create = Probe::Seen(store_read(Some(42), None, 12.0)),
        Stored::Absent => o.store_after_create = Probe::Seen(store_read(None, None, 12.0)),
        Stored::ApiRead(code) => {
            o.store_after_create = Probe::Unavailable("no store access on this target".into());
            o.api_after_create = Some(ApiRead {
                code,
                pod: (code == 200).then(|| web(0)),
                at_ms: 12.0,
            });
        }
        Stored::Nothing => {
            o.store_after_create = Probe::Unavailable("no store access on this target".into())
        }
    }
}

pub(super) fn with_node_selector(o: &mut Observation) {
    each_web(o, |p| {
        if let Some(spec) = p.spec.as_mut() {
            spec.node_selector = Some(BTreeMap::from([("disk".into(), "ssd".into())]));
        }
    });
}

pub(super) fn never_bound(o: &mut Observation) {
    o.sightings.truncate(1);
    o.events.clear();
    o.pods.retain(|p| p.metadata.uid.as_deref() != Some(UID));
}

// --- what the tests assert -------------------------------------------------------------

/// The one result of `stage`.
pub(super) fn of(results: &[StageResult], stage: Stage) -> &StageResult {
    results
        .iter()
        .find(|r| r.stage == stage)
        .unwrap_or_else(|| panic!("no result for {stage}"))
}

/// Evaluates and returns the result of `stage`.
pub(super) fn verdict(case: &CaseSpec, obs: &Observation, stage: Stage) -> StageResult {
    of(&evaluate(case, obs), stage).clone()
}

/// Asserts the status, and that the message (and hint) contain the fragments given.
#[track_caller]
pub(super) fn assert_verdict(
    r: &StageResult,
    status: StageStatus,
    message: Option<&str>,
    hint: Option<&str>,
) {
    assert_eq!(r.status, status, "{r:#?}");
    if let Some(m) = message {
        let got = r.message.as_deref().unwrap_or_default();
        assert!(got.contains(m), "message {got:?} lacks {m:?}\n{r:#?}");
    }
    if let Some(h) = hint {
        let got = r.hint.as_deref().unwrap_or_default();
        assert!(got.contains(h), "hint {got:?} lacks {h:?}\n{r:#?}");
    }
    if status == StageStatus::Passed {
        assert_eq!(r.message, None, "{r:#?}");
        assert_eq!(r.hint, None, "{r:#?}");
    }
    if status == StageStatus::Failed {
        assert!(r.message.is_some(), "a failure needs a message: {r:#?}");
    }
}

/// The evidence of `source` whose detail contains `fragment`.
#[track_caller]
pub(super) fn evidence<'a>(r: &'a StageResult, source: Source, fragment: &str) -> &'a Evidence {
    r.evidence
        .iter()
        .find(|e| e.source == source && e.detail.contains(fragment))
        .unwrap_or_else(|| panic!("no {source:?} evidence with {fragment:?}: {r:#?}"))
}

#[track_caller]
pub(super) fn assert_later_skipped(results: &[StageResult], after: Stage, why: &str) {
    for r in results.iter().filter(|r| r.stage > after) {
        assert_eq!(r.status, StageStatus::Skipped, "{r:#?}");
        assert_eq!(r.message.as_deref(), Some(why), "{r:#?}");
        assert_eq!(r.observed, "not evaluated");
        assert!(r.at_ms.is_none() && r.duration_ms.is_none() && r.evidence.is_empty());
    }
}

/// Evaluates [`running`], changed by `vary`, against `case`, and asserts `stage`'s verdict.
#[track_caller]
pub(super) fn assert_varied(
    case: &CaseSpec,
    stage: Stage,
    vary: fn(&mut Observation),
    status: StageStatus,
    message: Option<&str>,
    hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(case, &obs, stage);
    assert_verdict(&r, status, message, hint);
}
