//! Table tests of every stage's verdicts.
//!
//! Each test starts from [`running`] (an observation of a pod that went all the way to
//! Running on node-1) and [`Case::new`] (a case that expects every stage to pass), and
//! varies one thing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PodCondition};
use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::duration::Duration;
use crate::load::Identity;
use crate::observation::{
    ApiRead, BatchPod, CreateOutcome, DnsRead, EventSighting, LookupRead, NetnsRead, RuntimeRead,
    SchedulerState, StoreRead,
};
use crate::suite::Expectation;
use crate::suite::Expectations;

// --- builders --------------------------------------------------------------------------

const NS: &str = "team";
const UID: &str = "uid-web";
const KEY: &str = "/registry/pods/team/web";
const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef";
const POD_IP: &str = "10.244.0.5";
const DNS_IP: &str = "10.96.0.10";
const KUBERNETES_IP: &str = "10.96.0.1";
const RESOLV_CONF: &str = "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

/// A case that expects every stage to pass, with a 30s timeout and no per-stage deadline.
struct Case(CaseSpec);

impl Case {
    fn new() -> Self {
        Case(CaseSpec {
            name: "web".into(),
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
        })
    }

    fn auth(mut self, a: Option<AuthExpectation>) -> Self {
        self.0.expect.auth = a;
        self
    }

    fn binding(mut self, b: BindingExpectation) -> Self {
        self.0.expect.binding = Some(b);
        self
    }

    /// Sets a generic stage's expectation (not auth or binding, which have their own).
    fn expect(mut self, stage: Stage, x: Expectation) -> Self {
        let e = &mut self.0.expect;
        let slot = match stage {
            Stage::EtcdWrite => &mut e.etcd_write,
            Stage::Pending => &mut e.pending,
            Stage::CriLaunch => &mut e.cri_launch,
            Stage::CniAttach => &mut e.cni_attach,
            Stage::Dns => &mut e.dns,
            Stage::StatusUpdate => &mut e.status_update,
            Stage::Auth | Stage::Binding => panic!("{stage} has its own expectation type"),
        };
        *slot = Some(x);
        self
    }

    /// Skips any stage, with the right expectation type.
    fn skip(self, stage: Stage, why: &str) -> Self {
        match stage {
            Stage::Auth => self.auth(Some(AuthExpectation::Skip(why.into()))),
            Stage::Binding => self.binding(BindingExpectation::Skip(why.into())),
            _ => self.expect(stage, Expectation::Skip(why.into())),
        }
    }

    fn deadline(mut self, stage: Stage, d: &str) -> Self {
        self.0
            .deadlines
            .insert(stage, Duration::parse(d).expect("a duration"));
        self
    }

    fn timeout(mut self, d: &str) -> Self {
        self.0.timeout = Duration::parse(d).expect("a duration");
        self
    }

    fn build(self) -> CaseSpec {
        self.0
    }
}

fn provider(component: &str, name: &str, version: &str) -> Provider {
    Provider {
        component: component.into(),
        name: name.into(),
        real: true,
        version: version.into(),
    }
}

fn pod(v: Value) -> Pod {
    serde_json::from_value(v).expect("a valid Pod")
}

fn node(v: Value) -> Node {
    serde_json::from_value(v).expect("a valid Node")
}

fn condition_json(kind: &str, status: &str) -> Value {
    json!({"type": kind, "status": status})
}

/// The case's pod as the watch showed it: fresh (`Pending`, no node), bound, or running.
fn web(step: u8) -> Pod {
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

fn a_node(name: &str, cidr: &str) -> Node {
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
fn other_pod(name: &str, ip: &str) -> Pod {
    pod(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": ip},
    }))
}

fn sighting(at_ms: f64, kind: &str, pod: Pod) -> PodSighting {
    PodSighting {
        at_ms,
        kind: kind.into(),
        pod,
    }
}

fn event(at_ms: f64, reason: &str, component: &str, message: &str) -> EventSighting {
    EventSighting {
        at_ms,
        reason: reason.into(),
        message: message.into(),
        warning: false,
        component: component.into(),
        field_path: None,
    }
}

fn store_read(create_revision: Option<i64>, value: Option<Value>, at_ms: f64) -> StoreRead {
    StoreRead {
        key: KEY.into(),
        create_revision,
        mod_revision: create_revision,
        value,
        provider: provider("store", "etcd", "3.5.21"),
        at_ms,
    }
}

fn lookup(name: &str, answer: Result<&str, &str>, expected: Option<&str>) -> LookupRead {
    LookupRead {
        name: name.into(),
        tried: vec![
            format!("{name}.{NS}.svc.cluster.local."),
            format!("{name}."),
        ],
        answer: answer
            .map(|ip| vec![ip.parse().expect("an IP")])
            .map_err(str::to_string),
        expected: expected.map(|ip| ip.parse().expect("an IP")),
    }
}

/// A pod that went all the way to Running on node-1 (podCIDR 10.244.0.0/24, IP
/// 10.244.0.5), with every probe available and agreeing. Stage times: auth 10, etcdWrite
/// 15, pending 20, binding 40, criLaunch/cniAttach/statusUpdate 120, dns 140.
fn running() -> Observation {
    Observation {
        identity: "admin".into(),
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
        netns: Probe::Seen(NetnsRead {
            provider: provider("network", "ptp", "1.6"),
            addresses: vec![
                ("lo".into(), "127.0.0.1/8".into()),
                ("eth0".into(), format!("{POD_IP}/24")),
            ],
            reach: Some(Ok("TCP connect refused by the pod (RST) in 0.1 ms".into())),
            at_ms: 126.0,
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
        kubernetes_service_ip: Some(KUBERNETES_IP.into()),
        cluster_dns_ip: Some(DNS_IP.into()),
        cluster_domain: "cluster.local".into(),
        apiserver: provider("apiserver", "kube-apiserver", "v1.33.1"),
        observed_ms: 150.0,
        timed_out: false,
        scheduler_under_test: None,
    }
}

/// A pod the scheduler could not place: seen Pending, then PodScheduled=False
/// (Unschedulable), with a FailedScheduling event; nothing after.
fn unscheduled() -> Observation {
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
fn each_web(o: &mut Observation, f: impl Fn(&mut Pod)) {
    for s in &mut o.sightings {
        f(&mut s.pod);
    }
    for p in &mut o.pods {
        if p.metadata.uid.as_deref() == Some(UID) {
            f(p);
        }
    }
}

fn set_pod_ip(o: &mut Observation, ip: &str) {
    each_web(o, |p| {
        if let Some(st) = p.status.as_mut().filter(|st| st.pod_ip.is_some()) {
            st.pod_ip = Some(ip.into());
        }
    });
}

fn dns_read(o: &mut Observation) -> &mut DnsRead {
    match &mut o.dns {
        Probe::Seen(d) => d,
        Probe::Unavailable(_) => panic!("the DNS probe is unavailable"),
    }
}

fn runtime_read(o: &mut Observation) -> &mut RuntimeRead {
    match &mut o.runtime {
        Probe::Seen(r) => r,
        Probe::Unavailable(_) => panic!("the runtime probe is unavailable"),
    }
}

fn rejected(code: u16, reason: &str, message: &str) -> CreateOutcome {
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

fn invalid(field: &str) -> CreateOutcome {
    CreateOutcome {
        causes: vec![(field.into(), "Required value".into())],
        ..rejected(
            422,
            "Invalid",
            &format!("Pod \"web\" is invalid: {field}: Required value"),
        )
    }
}

/// The one result of `stage`.
fn of(results: &[StageResult], stage: Stage) -> &StageResult {
    results
        .iter()
        .find(|r| r.stage == stage)
        .unwrap_or_else(|| panic!("no result for {stage}"))
}

/// Evaluates and returns the result of `stage`.
fn verdict(case: &CaseSpec, obs: &Observation, stage: Stage) -> StageResult {
    of(&evaluate(case, obs), stage).clone()
}

/// Asserts the status, and that the message (and hint) contain the fragments given.
#[track_caller]
fn assert_verdict(r: &StageResult, status: StageStatus, message: Option<&str>, hint: Option<&str>) {
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
fn evidence<'a>(r: &'a StageResult, source: Source, fragment: &str) -> &'a Evidence {
    r.evidence
        .iter()
        .find(|e| e.source == source && e.detail.contains(fragment))
        .unwrap_or_else(|| panic!("no {source:?} evidence with {fragment:?}: {r:#?}"))
}

#[track_caller]
fn assert_later_skipped(results: &[StageResult], after: Stage, why: &str) {
    for r in results.iter().filter(|r| r.stage > after) {
        assert_eq!(r.status, StageStatus::Skipped, "{r:#?}");
        assert_eq!(r.message.as_deref(), Some(why), "{r:#?}");
        assert_eq!(r.observed, "not evaluated");
        assert!(r.at_ms.is_none() && r.duration_ms.is_none() && r.evidence.is_empty());
    }
}

// --- the whole path --------------------------------------------------------------------

#[test]
fn a_pod_that_went_all_the_way_passes_every_stage() {
    let results = evaluate(&Case::new().build(), &running());
    let stages: Vec<Stage> = results.iter().map(|r| r.stage).collect();
    assert_eq!(stages, Stage::ALL);
    for r in &results {
        assert_verdict(r, StageStatus::Passed, None, None);
        assert!(!r.evidence.is_empty(), "{r:#?}");
    }
    let at: Vec<Option<f64>> = results.iter().map(|r| r.at_ms).collect();
    assert_eq!(
        at,
        [10.0, 15.0, 20.0, 40.0, 120.0, 120.0, 140.0, 120.0].map(Some)
    );
    // Each from the latest stage that completed no later than it (dns at 140 comes before
    // statusUpdate in the list, but statusUpdate completed at 120).
    let durations: Vec<Option<f64>> = results.iter().map(|r| r.duration_ms).collect();
    assert_eq!(
        durations,
        [10.0, 5.0, 5.0, 20.0, 80.0, 0.0, 20.0, 0.0].map(Some)
    );
}

#[test]
fn expected_words_are_filled_in_for_evaluated_and_skipped_stages() {
    let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
    let mut obs = running();
    obs.create = rejected(401, "Unauthorized", "Unauthorized");
    obs.store_after_create = Probe::Seen(store_read(None, None, 12.0));
    let results = evaluate(&case, &obs);
    assert_eq!(of(&results, Stage::Auth).expected, "denied (401)");
    assert_eq!(
        of(&results, Stage::Binding).expected,
        "bound to a feasible node"
    );
    assert_eq!(of(&results, Stage::Dns).expected, "pass");
}

// --- auth ------------------------------------------------------------------------------

/// What the store and the admin API showed after the create.
#[derive(Debug, Clone, Copy)]
enum Stored {
    /// The store probe read the key: present or absent.
    Present,
    Absent,
    /// No store probe; an admin API read answered this code.
    ApiRead(u16),
    /// No store probe and no API read.
    Nothing,
}

fn with_stored(o: &mut Observation, stored: Stored) {
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

fn created() -> CreateOutcome {
    running().create
}

#[rstest]
#[case::allowed_201(None, created(), Stored::Present, StageStatus::Passed, None, None)]
#[case::explicitly_allowed_201(
    Some(AuthExpectation::Allowed),
    created(),
    Stored::Present,
    StageStatus::Passed,
    None,
    None
)]
#[case::allowed_but_401(
    None,
    rejected(401, "Unauthorized", "Unauthorized"),
    Stored::Absent,
    StageStatus::Failed,
    Some("the create was rejected: 401 Unauthorized: Unauthorized"),
    Some("did not recognise the credentials")
)]
#[case::allowed_but_403(
    None,
    rejected(
        403,
        "Forbidden",
        "pods is forbidden: User \"alice\" cannot create resource \"pods\""
    ),
    Stored::Absent,
    StageStatus::Failed,
    Some("the create was rejected: 403 Forbidden: pods is forbidden"),
    Some("check its RBAC Roles and bindings for `create pods`")
)]
#[case::allowed_but_422(
    None,
    invalid("spec.containers[0].image"),
    Stored::Absent,
    StageStatus::Failed,
    Some("the create was rejected: 422 Invalid: Pod \"web\" is invalid"),
    Some("fix the fields named in the causes")
)]
#[case::allowed_but_500(
    None,
    rejected(500, "InternalError", "etcdserver: request timed out"),
    Stored::Absent,
    StageStatus::Failed,
    Some("500 InternalError"),
    Some("look at the Status message")
)]
#[case::denied_and_key_absent(
    Some(AuthExpectation::Denied(401)),
    rejected(401, "Unauthorized", "Unauthorized"),
    Stored::Absent,
    StageStatus::Passed,
    None,
    None
)]
#[case::denied_but_key_present(
    Some(AuthExpectation::Denied(401)),
    rejected(401, "Unauthorized", "Unauthorized"),
    Stored::Present,
    StageStatus::Failed,
    Some("the request was denied, yet the pod is in the store"),
    Some("the apiserver wrote before it checked")
)]
#[case::denied_and_admin_read_404(
    Some(AuthExpectation::Denied(403)),
    rejected(403, "Forbidden", "pods is forbidden"),
    Stored::ApiRead(404),
    StageStatus::Passed,
    None,
    None
)]
#[case::denied_but_admin_read_200(
    Some(AuthExpectation::Denied(403)),
    rejected(403, "Forbidden", "pods is forbidden"),
    Stored::ApiRead(200),
    StageStatus::Failed,
    Some("yet the pod is in the store"),
    None
)]
#[case::denied_without_evidence(
    Some(AuthExpectation::Denied(401)),
    rejected(401, "Unauthorized", "Unauthorized"),
    Stored::Nothing,
    StageStatus::Failed,
    Some("nothing could confirm that the store is untouched"),
    Some("needs a store probe or an admin API read")
)]
#[case::denied_but_created(
    Some(AuthExpectation::Denied(401)),
    created(),
    Stored::Present,
    StageStatus::Failed,
    Some("expected the create to be denied with 401, but the apiserver answered 201 Created"),
    Some("check authentication (401) or authorization (403)")
)]
#[case::denied_with_another_code(
    Some(AuthExpectation::Denied(403)),
    rejected(401, "Unauthorized", "Unauthorized"),
    Stored::Absent,
    StageStatus::Failed,
    Some("denied with 403, but the apiserver answered 401 Unauthorized"),
    None
)]
#[case::invalid_at_the_named_field(
    Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
    invalid("spec.containers[0].image"),
    Stored::Absent,
    StageStatus::Passed,
    None,
    None
)]
#[case::invalid_below_the_named_field(
    Some(AuthExpectation::Invalid("spec.containers[0]".into())),
    invalid("spec.containers[0].image"),
    Stored::Absent,
    StageStatus::Passed,
    None,
    None
)]
#[case::invalid_at_an_index_of_the_named_field(
    Some(AuthExpectation::Invalid("spec.containers".into())),
    invalid("spec.containers[0].image"),
    Stored::Absent,
    StageStatus::Passed,
    None,
    None
)]
#[case::invalid_at_another_field(
    Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
    invalid("spec.containers[0].name"),
    Stored::Absent,
    StageStatus::Failed,
    Some(r#"the causes name ["spec.containers[0].name"], not spec.containers[0].image"#),
    Some("the expected field is not what the apiserver objects to")
)]
#[case::invalid_at_a_field_sharing_a_prefix(
    Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
    invalid("spec.containers[0].imagePullPolicy"),
    Stored::Absent,
    StageStatus::Failed,
    Some("not spec.containers[0].image"),
    None
)]
#[case::invalid_but_created(
    Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
    created(),
    Stored::Present,
    StageStatus::Failed,
    Some("expected 422 Invalid at spec.containers[0].image, observed 201 Created"),
    Some("validation accepted what the case expects it to reject")
)]
#[case::invalid_but_forbidden(
    Some(AuthExpectation::Invalid("spec.containers[0].image".into())),
    rejected(403, "Forbidden", "pods is forbidden"),
    Stored::Absent,
    StageStatus::Failed,
    Some("expected 422 Invalid at spec.containers[0].image, observed 403 Forbidden"),
    None
)]
fn auth_verdicts(
    #[case] expect: Option<AuthExpectation>,
    #[case] create: CreateOutcome,
    #[case] stored: Stored,
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let case = Case::new().auth(expect).build();
    let mut obs = running();
    obs.create = create;
    with_stored(&mut obs, stored);
    let r = verdict(&case, &obs, Stage::Auth);
    assert_verdict(&r, status, message, hint);
    let post = evidence(&r, Source::Api, "POST pods as admin → ");
    assert_eq!(post.provider, "kube-apiserver");
    assert_eq!(post.at_ms, Some(obs.create.at_ms));
    assert_eq!(r.at_ms, Some(obs.create.at_ms));
}

#[test]
fn a_denial_confirmed_by_a_store_read_cites_the_store() {
    let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
    let mut obs = running();
    obs.create = rejected(401, "Unauthorized", "Unauthorized");
    with_stored(&mut obs, Stored::Absent);
    let r = verdict(&case, &obs, Stage::Auth);
    let store = evidence(&r, Source::Store, &format!("{KEY} is absent"));
    assert_eq!(store.provider, "etcd 3.5.21");
    assert!(store.real);
    assert_eq!(r.observed, "401 Unauthorized: Unauthorized");
}

#[test]
fn a_denial_confirmed_by_an_admin_read_says_the_evidence_is_weaker() {
    let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
    let mut obs = running();
    obs.create = rejected(401, "Unauthorized", "Unauthorized");
    with_stored(&mut obs, Stored::ApiRead(404));
    let r = verdict(&case, &obs, Stage::Auth);
    assert_verdict(&r, StageStatus::Passed, None, None);
    let read = evidence(&r, Source::Api, "GET pod as admin → 404");
    assert!(read.detail.contains("weaker than a store read"), "{read:?}");
    assert!(!r.evidence.iter().any(|e| e.source == Source::Store));
}

#[rstest]
#[case::unauthorized(
    AuthExpectation::Denied(401),
    rejected(401, "Unauthorized", "Unauthorized")
)]
#[case::forbidden(
    AuthExpectation::Denied(403),
    rejected(403, "Forbidden", "pods is forbidden")
)]
#[case::invalid(
    AuthExpectation::Invalid("spec.containers[0].image".into()),
    invalid("spec.containers[0].image")
)]
#[case::unexpectedly_rejected(AuthExpectation::Allowed, rejected(403, "Forbidden", "no"))]
fn later_stages_are_skipped_when_the_create_was_not_201(
    #[case] expect: AuthExpectation,
    #[case] create: CreateOutcome,
) {
    let case = Case::new().auth(Some(expect)).build();
    let mut obs = unscheduled();
    let code = create.code;
    obs.create = create;
    obs.sightings.clear();
    obs.events.clear();
    with_stored(&mut obs, Stored::Absent);
    let results = evaluate(&case, &obs);
    assert_eq!(results.len(), 8);
    assert_later_skipped(
        &results,
        Stage::Auth,
        &format!("the pod was not created: the apiserver answered {code}"),
    );
    assert_eq!(of(&results, Stage::EtcdWrite).expected, "pass");
}

#[test]
fn a_created_pod_that_was_expected_denied_is_still_followed() {
    let case = Case::new().auth(Some(AuthExpectation::Denied(401))).build();
    let results = evaluate(&case, &running());
    assert_eq!(of(&results, Stage::Auth).status, StageStatus::Failed);
    for r in results.iter().filter(|r| r.stage != Stage::Auth) {
        assert_eq!(r.status, StageStatus::Passed, "{r:#?}");
    }
}

// --- etcdWrite -------------------------------------------------------------------------

#[rstest]
#[case::revision_matches(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
#[case::revision_differs(
    |o: &mut Observation| o.store_after_create = Probe::Seen(store_read(Some(41), None, 15.0)),
    StageStatus::Failed,
    Some("the key was created at revision Some(41), but the API answered resourceVersion 42"),
    Some("resourceVersion must be the store revision of the write")
)]
#[case::no_resource_version(
    |o: &mut Observation| o.create.resource_version = None,
    StageStatus::Failed,
    Some("but the API answered resourceVersion "),
    None
)]
#[case::key_absent(
    |o: &mut Observation| o.store_after_create = Probe::Seen(store_read(None, None, 15.0)),
    StageStatus::Failed,
    Some("/registry/pods/team/web is not in the store"),
    Some("answered 201 but did not persist the pod")
)]
#[case::store_unavailable_api_read_same_uid(
    |o: &mut Observation| with_stored(o, Stored::ApiRead(200)),
    StageStatus::Passed,
    None,
    None
)]
#[case::store_unavailable_api_read_other_uid(
    |o: &mut Observation| {
        with_stored(o, Stored::ApiRead(200));
        if let Some(a) = o.api_after_create.as_mut() {
            a.pod = Some(pod(json!({"metadata": {"name": "web", "uid": "uid-someone-else"}})));
        }
    },
    StageStatus::Failed,
    Some("the created pod could not be read back"),
    Some("the write did not persist")
)]
#[case::store_unavailable_api_read_404(
    |o: &mut Observation| with_stored(o, Stored::ApiRead(404)),
    StageStatus::Failed,
    Some("the created pod could not be read back"),
    None
)]
#[case::store_unavailable_no_api_read(
    |o: &mut Observation| with_stored(o, Stored::Nothing),
    StageStatus::Failed,
    Some("no store probe and no API read"),
    Some("run against a target with a store probe")
)]
fn etcd_write_verdicts(
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::EtcdWrite);
    assert_verdict(&r, status, message, hint);
}

#[test]
fn etcd_write_from_the_store_cites_both_revisions() {
    let r = verdict(&Case::new().build(), &running(), Stage::EtcdWrite);
    assert_eq!(r.observed, "key written at revision 42");
    assert_eq!(r.at_ms, Some(15.0));
    let e = evidence(&r, Source::Store, "create revision Some(42)");
    assert!(e.detail.contains("API resourceVersion 42"), "{e:?}");
    assert_eq!(e.provider, "etcd 3.5.21");
}

#[test]
fn etcd_write_from_an_api_read_says_the_evidence_is_weaker() {
    let mut obs = running();
    with_stored(&mut obs, Stored::ApiRead(200));
    let r = verdict(&Case::new().build(), &obs, Stage::EtcdWrite);
    assert_verdict(&r, StageStatus::Passed, None, None);
    assert_eq!(r.observed, "readable through the API (store not inspected)");
    let unavailable = evidence(
        &r,
        Source::Store,
        "probe unavailable: no store access on this target",
    );
    assert!(!unavailable.real);
    let read = evidence(&r, Source::Api, "GET pod → 200");
    assert!(read.detail.contains("weaker evidence"), "{read:?}");
    assert_eq!(read.at_ms, Some(12.0));
}

// --- pending ---------------------------------------------------------------------------

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
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::Pending);
    assert_verdict(&r, status, message, hint);
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

// --- binding ---------------------------------------------------------------------------

fn with_node_selector(o: &mut Observation) {
    each_web(o, |p| {
        if let Some(spec) = p.spec.as_mut() {
            spec.node_selector = Some(BTreeMap::from([("disk".into(), "ssd".into())]));
        }
    });
}

fn never_bound(o: &mut Observation) {
    o.sightings.truncate(1);
    o.events.clear();
    o.pods.retain(|p| p.metadata.uid.as_deref() != Some(UID));
}

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
fn binding_verdicts(
    #[case] expect: BindingExpectation,
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let case = Case::new().binding(expect).build();
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&case, &obs, Stage::Binding);
    assert_verdict(&r, status, message, hint);
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

/// A batch of `n` (web and copies web-1…), created 1 ms apart, bound after 10, 11, … ms.
fn batch(o: &mut Observation, n: usize) {
    o.batch = (0..n)
        .map(|i| {
            let name = if i == 0 {
                "web".to_string()
            } else {
                format!("web-{i}")
            };
            BatchPod {
                name,
                created_ms: i as f64,
                code: 201,
                bound_ms: Some(i as f64 + 10.0 + i as f64),
                node: Some("node-1".into()),
            }
        })
        .collect();
    for i in 1..n {
        let mut copy = web(2);
        copy.metadata.name = Some(format!("web-{i}"));
        copy.metadata.uid = Some(format!("uid-web-{i}"));
        o.pods.push(copy);
    }
}

#[test]
fn a_batch_reports_its_binding_latency_percentiles() {
    let mut obs = running();
    batch(&mut obs, 20);
    let r = verdict(&Case::new().build(), &obs, Stage::Binding);
    assert_verdict(&r, StageStatus::Passed, None, None);
    // Latencies 10, 11, …, 29 ms: p50 is the 10th (19), p99 the 20th (29).
    assert_eq!(
        r.observed,
        "bound to node-1; 20/20 copies bound, binding latency p50 19.0ms, p99 29.0ms"
    );
    evidence(
        &r,
        Source::Api,
        "batch of 20: 20 bound; binding latency (create sent → nodeName seen) p50 19.0ms, p99 29.0ms, max 29.0ms",
    );
}

#[test]
fn a_batch_with_unbound_copies_fails_and_names_them() {
    let mut obs = running();
    batch(&mut obs, 8);
    for b in obs.batch.iter_mut().skip(5) {
        b.bound_ms = None;
        b.node = None;
    }
    let r = verdict(&Case::new().build(), &obs, Stage::Binding);
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some("3 of 8 copies were never bound: web-5, web-6, web-7"),
        Some("falls behind"),
    );
    assert!(r.observed.contains("5/8 copies bound"), "{r:#?}");
}

#[test]
fn a_batch_with_refused_creates_says_so() {
    let mut obs = running();
    batch(&mut obs, 4);
    obs.batch[3].code = 429;
    obs.batch[3].bound_ms = None;
    let r = verdict(&Case::new().build(), &obs, Stage::Binding);
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some("1 of 4 copies were not created: web-3 (429)"),
        None,
    );
}

#[test]
fn a_batch_copy_on_an_infeasible_node_fails_with_the_oracle_reason() {
    let mut obs = running();
    batch(&mut obs, 3);
    let copy = obs
        .pods
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some("web-2"))
        .expect("copy");
    copy.spec.as_mut().expect("spec").node_selector =
        Some(BTreeMap::from([("disk".into(), "ssd".into())]));
    let r = verdict(&Case::new().build(), &obs, Stage::Binding);
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some(
            "1 of 3 copies were bound to a node that cannot take them: web-2 on node-1: node(s) didn't match Pod's node affinity/selector",
        ),
        None,
    );
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(super::percentile(&v, 50.0), Some(50.0));
    assert_eq!(super::percentile(&v, 99.0), Some(99.0));
    assert_eq!(super::percentile(&[7.0], 99.0), Some(7.0));
    assert_eq!(super::percentile(&[], 50.0), None);
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

// --- criLaunch -------------------------------------------------------------------------

fn never_running(o: &mut Observation) {
    let mut p = web(1);
    let st = p.status.as_mut().expect("status");
    st.container_statuses = Some(vec![
        serde_json::from_value(json!({
            "name": "app",
            "image": "busybox:nope",
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"busybox:nope\""}},
        }))
        .expect("a ContainerStatus"),
    ]);
    o.sightings[2].pod = p;
    o.events.retain(|e| e.reason == "Scheduled");
    let mut backoff = event(
        90.0,
        "BackOff",
        "kubelet",
        "Back-off pulling image \"busybox:nope\"",
    );
    backoff.warning = true;
    o.events.push(backoff);
    o.runtime = Probe::Seen(RuntimeRead {
        containers: Vec::new(),
        ..runtime_read(o).clone()
    });
}

#[rstest]
#[case::running_and_backed_by_the_runtime(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
#[case::runtime_says_exited(
    |o: &mut Observation| runtime_read(o).containers[0].2 = "exited".into(),
    StageStatus::Failed,
    Some("the runtime reports container app as exited"),
    Some("the status is not backed by the runtime")
)]
#[case::runtime_does_not_know_the_id(
    |o: &mut Observation| runtime_read(o).containers[0].1 = "fedcba9876543210".into(),
    StageStatus::Failed,
    Some("the runtime does not know container app (0123456789abc)"),
    Some("the status is not backed by the runtime")
)]
#[case::runtime_probe_unavailable(
    |o: &mut Observation| o.runtime = Probe::Unavailable("no CRI socket".into()),
    StageStatus::Passed,
    None,
    None
)]
#[case::no_started_event(
    |o: &mut Observation| o.events.retain(|e| e.reason != "Started"),
    StageStatus::Failed,
    Some("no Started event(s)"),
    Some("the kubelet records Pulled, Created and Started for each container")
)]
#[case::no_kubelet_events(
    |o: &mut Observation| o.events.retain(|e| e.reason == "Scheduled"),
    StageStatus::Failed,
    Some("no Pulled/Created/Started event(s)"),
    None
)]
#[case::never_running(
    never_running,
    StageStatus::Failed,
    Some("the containers never all ran"),
    Some("BackOff: Back-off pulling image \"busybox:nope\"")
)]
#[case::never_running_without_a_warning(
    |o: &mut Observation| {
        never_running(o);
        o.events.retain(|e| !e.warning);
    },
    StageStatus::Failed,
    Some("the containers never all ran"),
    Some("look at the kubelet's events and the runtime's logs")
)]
#[case::running_without_a_container_id(
    |o: &mut Observation| {
        let st = o.sightings[2].pod.status.as_mut().and_then(|s| s.container_statuses.as_mut());
        if let Some(cs) = st {
            cs[0].container_id = None;
        }
    },
    StageStatus::Failed,
    Some("the containers never all ran"),
    None
)]
#[case::one_of_two_containers_running(
    |o: &mut Observation| each_web(o, |p| {
        if let Some(spec) = p.spec.as_mut() {
            let mut second = spec.containers[0].clone();
            second.name = "sidecar".into();
            spec.containers.push(second);
        }
    }),
    StageStatus::Failed,
    Some("the containers never all ran"),
    None
)]
fn cri_launch_verdicts(
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
    assert_verdict(&r, status, message, hint);
}

#[test]
fn cri_launch_cites_the_runtime() {
    let r = verdict(&Case::new().build(), &running(), Stage::CriLaunch);
    assert_eq!(r.observed, "1 container(s) running");
    assert_eq!(r.at_ms, Some(120.0));
    evidence(
        &r,
        Source::Api,
        &format!("containerStatuses running: app=containerd://{CONTAINER_ID}"),
    );
    for reason in ["Pulled", "Created", "Started"] {
        evidence(&r, Source::Api, &format!("event {reason} from kubelet"));
    }
    let cri = evidence(&r, Source::Cri, "ContainerStatus 0123456789abc: RUNNING");
    assert_eq!(cri.provider, "containerd 2.0.4");
    assert!(cri.real);
    assert_eq!(cri.at_ms, Some(125.0));
}

#[test]
fn cri_launch_without_a_runtime_probe_says_so() {
    let mut obs = running();
    obs.runtime = Probe::Unavailable("no CRI socket".into());
    let r = verdict(&Case::new().build(), &obs, Stage::CriLaunch);
    let e = evidence(&r, Source::Cri, "probe unavailable: no CRI socket");
    assert_eq!(e.provider, "none");
    assert!(!e.real);
}

// --- cniAttach -------------------------------------------------------------------------

#[rstest]
#[case::in_pod_cidr_and_unique(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
#[case::outside_pod_cidr(
    |o: &mut Observation| {
        set_pod_ip(o, "10.244.1.5");
        if let Probe::Seen(n) = &mut o.netns {
            n.addresses[1].1 = "10.244.1.5/24".into();
        }
    },
    StageStatus::Failed,
    Some("10.244.1.5 is outside node-1's podCIDR 10.244.0.0/24"),
    Some("the IPAM plugin hands out addresses from another range")
)]
#[case::duplicate_ip(
    |o: &mut Observation| o.pods.push(other_pod("twin", POD_IP)),
    StageStatus::Failed,
    Some("10.244.0.5 is also the IP of twin"),
    Some("IPAM handed out the same address twice")
)]
#[case::same_ip_as_a_host_network_pod(
    |o: &mut Observation| {
        let mut host = other_pod("node-exporter", POD_IP);
        if let Some(spec) = host.spec.as_mut() {
            spec.host_network = Some(true);
        }
        o.pods.push(host);
    },
    StageStatus::Passed,
    None,
    None
)]
#[case::no_ip(
    |o: &mut Observation| each_web(o, |p| {
        if let Some(st) = p.status.as_mut() {
            st.pod_ip = None;
        }
    }),
    StageStatus::Failed,
    Some("the pod never got an IP"),
    Some("check the CNI configuration and the sandbox events")
)]
#[case::empty_ip(
    |o: &mut Observation| set_pod_ip(o, ""),
    StageStatus::Failed,
    Some("the pod never got an IP"),
    None
)]
#[case::netns_without_the_ip(
    |o: &mut Observation| {
        if let Probe::Seen(n) = &mut o.netns {
            n.addresses.retain(|(i, _)| i == "lo");
        }
    },
    StageStatus::Failed,
    Some("the sandbox's network namespace does not hold 10.244.0.5"),
    Some("the plugin's result and the namespace disagree")
)]
#[case::node_cannot_reach_the_pod(
    |o: &mut Observation| {
        if let Probe::Seen(n) = &mut o.netns {
            n.reach = Some(Err("no answer within 1 s".into()));
        }
    },
    StageStatus::Failed,
    Some("the node cannot reach 10.244.0.5: no answer within 1 s"),
    Some("the plugin must connect the pod to the node")
)]
#[case::reach_not_probed(
    |o: &mut Observation| {
        if let Probe::Seen(n) = &mut o.netns {
            n.reach = None;
        }
    },
    StageStatus::Passed,
    None,
    None
)]
#[case::netns_probe_unavailable(
    |o: &mut Observation| o.netns = Probe::Unavailable("no access to the node".into()),
    StageStatus::Passed,
    None,
    None
)]
#[case::node_without_pod_cidr(
    |o: &mut Observation| {
        if let Some(spec) = o.nodes[0].spec.as_mut() {
            spec.pod_cidr = None;
        }
    },
    StageStatus::Passed,
    None,
    None
)]
fn cni_attach_verdicts(
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::CniAttach);
    assert_verdict(&r, status, message, hint);
}

#[test]
fn cni_attach_cites_the_range_the_uniqueness_and_the_netns() {
    let r = verdict(&Case::new().build(), &running(), Stage::CniAttach);
    assert_eq!(r.observed, "IP 10.244.0.5");
    assert_eq!(r.at_ms, Some(120.0));
    evidence(&r, Source::Api, "status.podIP = 10.244.0.5 on node-1");
    evidence(
        &r,
        Source::Api,
        "10.244.0.5 lies in node-1's podCIDR 10.244.0.0/24",
    );
    evidence(&r, Source::Api, "no other running pod has 10.244.0.5");
    let netns = evidence(
        &r,
        Source::Netns,
        "the sandbox's netns holds lo 127.0.0.1/8, eth0 10.244.0.5/24",
    );
    assert_eq!(netns.provider, "ptp 1.6");
}

#[test]
fn cni_attach_says_when_the_range_was_not_checked() {
    let mut obs = running();
    if let Some(spec) = obs.nodes[0].spec.as_mut() {
        spec.pod_cidr = None;
    }
    let r = verdict(&Case::new().build(), &obs, Stage::CniAttach);
    evidence(
        &r,
        Source::Api,
        "node-1 has no podCIDR; the range was not checked",
    );
}

#[rstest]
#[case("10.244.0.5", "10.244.0.0/24", Some(true))]
#[case("10.244.0.255", "10.244.0.0/24", Some(true))]
#[case("10.244.1.0", "10.244.0.0/24", Some(false))]
#[case("10.244.3.7", "10.244.0.0/16", Some(true))]
#[case("192.168.0.1", "0.0.0.0/0", Some(true))]
#[case("10.244.0.5", "10.244.0.5/32", Some(true))]
#[case("10.244.0.6", "10.244.0.5/32", Some(false))]
#[case("10.244.0.5", "10.244.0.0/33", None)]
#[case("10.244.0.5", "10.244.0.0", None)]
#[case("not-an-ip", "10.244.0.0/24", None)]
fn in_cidr_table(#[case] ip: &str, #[case] cidr: &str, #[case] want: Option<bool>) {
    assert_eq!(in_cidr(ip, cidr), want);
}

// --- dns -------------------------------------------------------------------------------

#[rstest]
#[case::cluster_first_and_lookups_as_expected(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
#[case::search_line_after_nameserver(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(
        "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:5 timeout:2\n".into()
    ),
    StageStatus::Passed,
    None,
    None
)]
#[case::wrong_nameserver(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("10.96.0.10", "8.8.8.8")),
    StageStatus::Failed,
    Some(r#"resolv.conf names ["8.8.8.8"], not the cluster DNS 10.96.0.10"#),
    Some("--cluster-dns")
)]
#[case::wrong_search(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("team.svc", "default.svc")),
    StageStatus::Failed,
    Some(r#"search path ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"], expected it to start with ["team.svc.cluster.local", "svc.cluster.local", "cluster.local"]"#),
    Some("--cluster-domain")
)]
#[case::short_search(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace(" cluster.local\n", "\n")),
    StageStatus::Failed,
    Some("search path"),
    None
)]
#[case::ndots_1(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("ndots:5", "ndots:1")),
    StageStatus::Failed,
    Some("ndots is 1, expected 5"),
    Some("ClusterFirst pods get options ndots:5")
)]
#[case::no_options(
    |o: &mut Observation| dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("options ndots:5\n", "")),
    StageStatus::Failed,
    Some("ndots is 1, expected 5"),
    None
)]
#[case::resolv_conf_unreadable(
    |o: &mut Observation| dns_read(o).resolv_conf = Err("exec: container not running".into()),
    StageStatus::Failed,
    Some("could not read /etc/resolv.conf in the pod: exec: container not running"),
    Some("exec into the container failed")
)]
#[case::lookup_answers_another_ip(
    |o: &mut Observation| dns_read(o).lookups[0] = lookup("kubernetes.default", Ok("10.96.0.99"), Some(KUBERNETES_IP)),
    StageStatus::Failed,
    Some("kubernetes.default resolved to 10.96.0.99, expected 10.96.0.1"),
    Some("the DNS server's record disagrees with the Service")
)]
#[case::lookup_does_not_resolve(
    |o: &mut Observation| dns_read(o).lookups[0] = lookup("kubernetes.default", Err("NXDOMAIN"), Some(KUBERNETES_IP)),
    StageStatus::Failed,
    Some("kubernetes.default did not resolve (expected 10.96.0.1): NXDOMAIN"),
    Some("is the cluster DNS serving")
)]
#[case::name_expected_not_to_resolve_resolves(
    |o: &mut Observation| dns_read(o).lookups[1] = lookup("nothing-here", Ok("10.0.0.1"), None),
    StageStatus::Failed,
    Some("nothing-here resolved to 10.0.0.1, but the case expects it not to resolve"),
    Some("answers for a name that should not exist")
)]
#[case::probe_unavailable(
    |o: &mut Observation| o.dns = Probe::Unavailable("pods/exec is forbidden".into()),
    StageStatus::Failed,
    Some("DNS could not be checked from inside the pod: pods/exec is forbidden"),
    Some("needs pods/exec")
)]
#[case::no_cluster_dns_service(
    |o: &mut Observation| {
        o.cluster_dns_ip = None;
        dns_read(o).resolv_conf = Ok(RESOLV_CONF.replace("10.96.0.10", "10.0.0.53"));
    },
    StageStatus::Passed,
    None,
    None
)]
#[case::dns_policy_default_is_not_held_to_cluster_first(
    |o: &mut Observation| {
        each_web(o, |p| {
            if let Some(spec) = p.spec.as_mut() {
                spec.dns_policy = Some("Default".into());
            }
        });
        dns_read(o).resolv_conf = Ok("nameserver 1.1.1.1\n".into());
    },
    StageStatus::Passed,
    None,
    None
)]
fn dns_verdicts(
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::Dns);
    assert_verdict(&r, status, message, hint);
}

#[test]
fn dns_cites_resolv_conf_and_every_lookup() {
    let r = verdict(&Case::new().build(), &running(), Stage::Dns);
    assert_eq!(r.observed, "2 lookup(s) answered as expected");
    assert_eq!(r.at_ms, Some(140.0));
    evidence(
        &r,
        Source::Api,
        "pods/exec cat /etc/resolv.conf: search team.svc.cluster.local svc.cluster.local cluster.local; nameserver 10.96.0.10; options ndots:5",
    );
    let found = evidence(
        &r,
        Source::Dns,
        "kubernetes.default → 10.96.0.1 (tried kubernetes.default.team.svc.cluster.local., kubernetes.default.) via 10.96.0.10",
    );
    assert_eq!(found.provider, "coredns 1.12.0");
    evidence(&r, Source::Dns, "nothing-here → NXDOMAIN, as expected");
}

#[test]
fn dns_counts_every_problem_and_reports_the_first() {
    let mut obs = running();
    dns_read(&mut obs).resolv_conf = Ok("nameserver 8.8.8.8\nsearch example.org\n".into());
    let r = verdict(&Case::new().build(), &obs, Stage::Dns);
    assert_eq!(r.observed, "3 problem(s)");
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some("not the cluster DNS 10.96.0.10"),
        None,
    );
}

// --- statusUpdate ----------------------------------------------------------------------

#[rstest]
#[case::running_and_persisted(|_: &mut Observation| {}, StageStatus::Passed, None, None)]
#[case::store_shows_pending(
    |o: &mut Observation| o.store_after_running = Probe::Seen(store_read(Some(42), Some(json!({"status": {"phase": "Pending"}})), 130.0)),
    StageStatus::Failed,
    Some("the Running status was not found persisted"),
    Some("the store does not hold it")
)]
#[case::store_value_unreadable(
    |o: &mut Observation| o.store_after_running = Probe::Seen(store_read(Some(42), None, 130.0)),
    StageStatus::Failed,
    Some("the Running status was not found persisted"),
    None
)]
#[case::store_unavailable_api_read_running(
    |o: &mut Observation| {
        o.store_after_running = Probe::Unavailable("no store access".into());
        o.api_after_running = Some(ApiRead { code: 200, pod: Some(web(2)), at_ms: 131.0 });
    },
    StageStatus::Passed,
    None,
    None
)]
#[case::store_unavailable_api_read_pending(
    |o: &mut Observation| {
        o.store_after_running = Probe::Unavailable("no store access".into());
        o.api_after_running = Some(ApiRead { code: 200, pod: Some(web(1)), at_ms: 131.0 });
    },
    StageStatus::Failed,
    Some("the Running status was not found persisted"),
    None
)]
#[case::store_unavailable_no_api_read(
    |o: &mut Observation| o.store_after_running = Probe::Unavailable("no store access".into()),
    StageStatus::Failed,
    Some("the Running status was not found persisted"),
    None
)]
#[case::never_running(
    |o: &mut Observation| o.sightings.truncate(2),
    StageStatus::Failed,
    Some("the pod never reported Running with all conditions True"),
    Some("check that it can patch pods/status")
)]
#[case::running_but_not_ready(
    |o: &mut Observation| {
        let cs = o.sightings[2].pod.status.as_mut().and_then(|s| s.conditions.as_mut());
        if let Some(cs) = cs {
            for c in cs.iter_mut().filter(|c| c.type_ == "Ready") {
                c.status = "False".into();
            }
        }
    },
    StageStatus::Failed,
    Some("the pod never reported Running with all conditions True"),
    None
)]
#[case::running_without_start_time(
    |o: &mut Observation| {
        if let Some(st) = o.sightings[2].pod.status.as_mut() {
            st.start_time = None;
        }
    },
    StageStatus::Failed,
    Some("the pod never reported Running with all conditions True"),
    None
)]
fn status_update_verdicts(
    #[case] vary: fn(&mut Observation),
    #[case] status: StageStatus,
    #[case] message: Option<&str>,
    #[case] hint: Option<&str>,
) {
    let mut obs = running();
    vary(&mut obs);
    let r = verdict(&Case::new().build(), &obs, Stage::StatusUpdate);
    assert_verdict(&r, status, message, hint);
}

#[test]
fn status_update_cites_the_store() {
    let r = verdict(&Case::new().build(), &running(), Stage::StatusUpdate);
    assert_eq!(r.observed, "Running");
    assert_eq!(r.at_ms, Some(120.0));
    evidence(
        &r,
        Source::Api,
        "phase Running; Initialized, ContainersReady, Ready True",
    );
    let store = evidence(&r, Source::Store, &format!("{KEY} holds phase Running"));
    assert_eq!(store.at_ms, Some(130.0));
}

#[test]
fn status_update_from_an_api_read_says_the_evidence_is_weaker() {
    let mut obs = running();
    obs.store_after_running = Probe::Unavailable("no store access".into());
    obs.api_after_running = Some(ApiRead {
        code: 200,
        pod: Some(web(2)),
        at_ms: 131.0,
    });
    let r = verdict(&Case::new().build(), &obs, Stage::StatusUpdate);
    evidence(&r, Source::Store, "probe unavailable: no store access");
    evidence(
        &r,
        Source::Api,
        "GET pod → phase Running (consistent read, weaker evidence than a store read)",
    );
}

#[test]
fn status_update_names_the_conditions_that_were_not_true() {
    let mut obs = running();
    obs.sightings.truncate(2);
    let r = verdict(&Case::new().build(), &obs, Stage::StatusUpdate);
    assert_eq!(r.observed, "phase Pending");
    assert_eq!(r.at_ms, None);
    evidence(
        &r,
        Source::Api,
        r#"last phase Pending; conditions not True: ["Initialized", "ContainersReady", "Ready"]"#,
    );
}

// --- deadlines, skips and durations ----------------------------------------------------

#[rstest]
#[case::auth(Stage::Auth, "5ms", "auth took 10 ms, past its deadline of 5ms")]
#[case::etcd_write(
    Stage::EtcdWrite,
    "12ms",
    "etcdWrite took 15 ms, past its deadline of 12ms"
)]
#[case::binding(
    Stage::Binding,
    "30ms",
    "binding took 40 ms, past its deadline of 30ms"
)]
#[case::cri_launch(
    Stage::CriLaunch,
    "100ms",
    "criLaunch took 120 ms, past its deadline of 100ms"
)]
#[case::dns(Stage::Dns, "139ms", "dns took 140 ms, past its deadline of 139ms")]
fn a_stage_past_its_deadline_fails(#[case] stage: Stage, #[case] d: &str, #[case] message: &str) {
    let case = Case::new().deadline(stage, d).build();
    let results = evaluate(&case, &running());
    let r = of(&results, stage);
    assert_verdict(
        r,
        StageStatus::Failed,
        Some(message),
        Some(&format!("raise `deadlines.{stage}` if that is expected")),
    );
    assert!(
        r.hint
            .as_deref()
            .unwrap_or_default()
            .starts_with(stage.component())
    );
    // The evidence stays: the stage did its part, late.
    assert!(!r.evidence.is_empty());
    for other in results.iter().filter(|r| r.stage != stage) {
        assert_eq!(other.status, StageStatus::Passed, "{other:#?}");
    }
}

#[rstest]
#[case::just_in_time("40ms")]
#[case::well_within("1s")]
fn a_stage_within_its_deadline_passes(#[case] d: &str) {
    let case = Case::new().deadline(Stage::Binding, d).build();
    let r = verdict(&case, &running(), Stage::Binding);
    assert_verdict(&r, StageStatus::Passed, None, None);
}

#[test]
fn without_its_own_deadline_a_stage_has_the_case_timeout() {
    let case = Case::new().timeout("100ms").build();
    let results = evaluate(&case, &running());
    let failed: Vec<Stage> = results
        .iter()
        .filter(|r| r.status == StageStatus::Failed)
        .map(|r| r.stage)
        .collect();
    assert_eq!(
        failed,
        [
            Stage::CriLaunch,
            Stage::CniAttach,
            Stage::Dns,
            Stage::StatusUpdate
        ]
    );
    assert_verdict(
        of(&results, Stage::Dns),
        StageStatus::Failed,
        Some("dns took 140 ms, past its deadline of 100ms"),
        None,
    );
}

#[test]
fn a_failed_stage_keeps_its_own_message_past_its_deadline() {
    let case = Case::new().deadline(Stage::Binding, "1ms").build();
    let mut obs = running();
    obs.events.retain(|e| e.reason != "Scheduled");
    let r = verdict(&case, &obs, Stage::Binding);
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some("no Scheduled event was recorded"),
        None,
    );
}

#[rstest]
fn a_stage_the_case_skips_is_skipped_with_the_reason(
    #[values(
        Stage::Auth,
        Stage::EtcdWrite,
        Stage::Pending,
        Stage::Binding,
        Stage::CriLaunch,
        Stage::CniAttach,
        Stage::Dns,
        Stage::StatusUpdate
    )]
    stage: Stage,
) {
    let case = Case::new().skip(stage, "not on this target").build();
    // Even when the stage would fail: DNS cannot be probed here.
    let mut obs = running();
    obs.dns = Probe::Unavailable("no exec".into());
    let results = evaluate(&case, &obs);
    let r = of(&results, stage);
    assert_eq!(r.status, StageStatus::Skipped, "{r:#?}");
    assert_eq!(
        r.message.as_deref(),
        Some("skipped by the case: not on this target")
    );
    assert_eq!(r.expected, "skip: not on this target");
    assert_eq!(r.observed, "not evaluated");
    assert!(r.evidence.is_empty() && r.at_ms.is_none() && r.duration_ms.is_none());
    assert_eq!(r.hint, None);
    for other in results
        .iter()
        .filter(|r| r.stage != stage && r.stage != Stage::Dns)
    {
        assert_eq!(other.status, StageStatus::Passed, "{other:#?}");
    }
}

#[test]
fn a_skipped_stage_does_not_shift_the_next_duration() {
    let case = Case::new().skip(Stage::Binding, "no scheduler").build();
    let results = evaluate(&case, &running());
    // criLaunch is measured from pending (20), the last stage that completed.
    assert_eq!(of(&results, Stage::CriLaunch).duration_ms, Some(100.0));
}

#[test]
fn durations_are_measured_from_the_previous_stage_by_real_time() {
    let mut obs = running();
    // The watch delivered ADDED (12) before the store probe read the key (15), and the
    // create's response (10) before both.
    obs.sightings[0].at_ms = 12.0;
    let results = evaluate(&Case::new().build(), &obs);
    assert_eq!(of(&results, Stage::Pending).duration_ms, Some(2.0));
    assert_eq!(of(&results, Stage::Binding).duration_ms, Some(25.0));
    for r in &results {
        assert!(r.duration_ms.is_some_and(|d| d >= 0.0), "{r:#?}");
    }
}

#[test]
fn a_stage_completed_before_every_earlier_one_is_measured_from_the_create() {
    let mut obs = running();
    obs.create.at_ms = 30.0;
    obs.sightings[0].at_ms = 7.0;
    let results = evaluate(&Case::new().build(), &obs);
    assert_eq!(of(&results, Stage::Pending).duration_ms, Some(7.0));
}

#[test]
fn times_are_rounded_to_a_tenth_of_a_millisecond() {
    let mut obs = running();
    obs.create.at_ms = 10.04;
    if let Probe::Seen(s) = &mut obs.store_after_create {
        s.at_ms = 15.06;
    }
    let results = evaluate(&Case::new().build(), &obs);
    let auth = of(&results, Stage::Auth);
    assert_eq!((auth.at_ms, auth.duration_ms), (Some(10.0), Some(10.0)));
    let etcd = of(&results, Stage::EtcdWrite);
    assert_eq!((etcd.at_ms, etcd.duration_ms), (Some(15.1), Some(5.1)));
}

// --- regressions found in review -------------------------------------------------------

#[test]
fn a_failed_pending_says_what_was_seen() {
    let mut o = running();
    o.sightings[0].pod.spec.as_mut().unwrap().node_name = Some("node-1".into());
    let r = verdict(&Case::new().build(), &o, Stage::Pending);
    assert_eq!(r.status, StageStatus::Failed);
    assert_eq!(r.observed, "ADDED Pending, on node-1");
}

#[test]
fn a_host_network_pod_is_not_held_to_the_pod_cidr() {
    let mut o = running();
    each_web(&mut o, |p| {
        p.spec.as_mut().unwrap().host_network = Some(true)
    });
    set_pod_ip(&mut o, "172.18.0.2");
    let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
    assert_eq!(r.status, StageStatus::Passed, "{r:?}");
    evidence(&r, Source::Api, "hostNetwork pod");
}

#[test]
fn ipv6_pod_ips_are_checked_against_ipv6_ranges() {
    let mut o = running();
    set_pod_ip(&mut o, "fd00:10:244::5");
    o.netns = Probe::Unavailable("not inspected".into());
    for n in &mut o.nodes {
        n.spec.as_mut().unwrap().pod_cidr = Some("fd00:10:244::/64".into());
    }
    let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
    assert_eq!(r.status, StageStatus::Passed, "{r:?}");
}

#[test]
fn a_finished_pod_with_the_same_ip_is_no_clash() {
    let mut o = running();
    let mut done = other_pod("old", "10.244.0.5");
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    o.pods.push(done);
    assert_eq!(
        verdict(&Case::new().build(), &o, Stage::CniAttach).status,
        StageStatus::Passed
    );
}

#[test]
fn every_cni_problem_is_reported() {
    let mut o = running();
    set_pod_ip(&mut o, "10.9.0.5");
    o.pods.push(other_pod("twin", "10.9.0.5"));
    let r = verdict(&Case::new().build(), &o, Stage::CniAttach);
    let m = r.message.unwrap();
    assert!(
        m.contains("outside") && m.contains("also the IP of twin"),
        "{m}"
    );
}

#[rstest]
#[case::host_network_cluster_first_means_default(
    Some("ClusterFirst"),
    true,
    "nameserver 1.1.1.1\n",
    StageStatus::Passed
)]
#[case::cluster_first_with_host_net_gets_cluster_dns(
    Some("ClusterFirstWithHostNet"),
    true,
    "nameserver 1.1.1.1\n",
    StageStatus::Failed
)]
#[case::default_policy_is_not_checked(
    Some("Default"),
    false,
    "nameserver 1.1.1.1\n",
    StageStatus::Passed
)]
fn dns_policy_decides_what_resolv_conf_must_say(
    #[case] policy: Option<&str>,
    #[case] host: bool,
    #[case] resolv: &str,
    #[case] status: StageStatus,
) {
    let mut o = running();
    each_web(&mut o, |p| {
        let spec = p.spec.as_mut().unwrap();
        spec.dns_policy = policy.map(str::to_string);
        spec.host_network = Some(host);
    });
    dns_read(&mut o).resolv_conf = Ok(resolv.to_string());
    assert_eq!(verdict(&Case::new().build(), &o, Stage::Dns).status, status);
}

#[test]
fn a_name_that_should_not_resolve_but_does_leaves_evidence() {
    let mut o = running();
    dns_read(&mut o)
        .lookups
        .push(lookup("ghost", Ok("10.96.0.99"), None));
    let r = verdict(&Case::new().build(), &o, Stage::Dns);
    assert_eq!(r.status, StageStatus::Failed);
    evidence(&r, Source::Dns, "ghost → 10.96.0.99");
}

#[test]
fn missing_evidence_at_the_deadline_says_so() {
    let mut o = running();
    never_bound(&mut o);
    o.timed_out = true;
    let r = verdict(&Case::new().build(), &o, Stage::Binding);
    assert!(r.message.unwrap().contains("deadline passed"));
}

/// A node over capacity after a burst: only the copy bound last took the place it did not
/// have; the copies bound before it were feasible when they were placed.
#[test]
fn an_overfull_batch_blames_only_the_copies_bound_too_late() {
    let mut obs = running();
    batch(&mut obs, 3);
    for n in &mut obs.nodes {
        if let Some(a) = n.status.as_mut().and_then(|s| s.allocatable.as_mut()) {
            a.insert(
                "pods".into(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("3".into()),
            );
        }
    }
    // node-1 holds "other", web, web-1 and web-2 (bound in that order): 4 of 3 allowed.
    let r = verdict(&Case::new().build(), &obs, Stage::Binding);
    assert_verdict(
        &r,
        StageStatus::Failed,
        Some(
            "1 of 3 copies were bound to a node that cannot take them: web-2 on node-1: Too many pods (allowed 3)",
        ),
        None,
    );
}
