//! The observer: runs one case against a target through the Kubernetes API and records
//! what happened. The same code serves every target; probes add what a target allows.
//!
//! I/O only: what was seen goes into a [`Recording`] (podcheck-core), which decides when
//! the pod's path ended and what the [`Observation`] holds. `run` reads top to bottom:
//! watches ([`watch`]), the create, the wait for the path's end, the probes ([`probes`]).

mod exec;
mod faults;
mod lookups;
mod peer;
mod probes;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::discovery::{ApiResource, pinned_kind};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::{CreateOutcome, GrantWait, Observation};
use podcheck_core::path::{Course, ReadyWindow, Wait, WaitStep};
use podcheck_core::progress::CaseAt;
use podcheck_core::recording::{CaseFacts, Observed, Recording};
use podcheck_core::result::Provider;
use podcheck_core::stage::Stage;
use serde_json::json;

use crate::target::Target;
pub use faults::Switchboard;
pub use peer::Peers;
pub(crate) use peer::short as short_run_id;
use probes::PodAt;

/// How long cleanup may take per case.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long to wait for events that trail the state they report.
const EVENT_GRACE: Duration = Duration::from_secs(2);
/// How long the probes after the pod's path may take together (each has its own deadline
/// too): DNS lookups outside the cluster zone may each wait on a slow upstream.
const PROBES_BUDGET: Duration = Duration::from_secs(120);

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// Runs a command that must succeed in a container of any pod, with the probes' deadline.
pub(crate) async fn exec_in(
    admin: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[&str],
) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), namespace);
    exec::InPod {
        pods: &pods,
        pod,
        container,
    }
    .output(command, Duration::from_secs(15))
    .await
}

/// Why a case could not be run at all.
#[derive(Debug)]
pub struct SetupError(pub String);

/// Where a case stands, for the live view (see [`CaseAt`]).
pub type ShowAt<'a> = &'a (dyn Fn(CaseAt) + Sync);

/// Runs one case in namespace `ns` and returns what was observed; `show` hears where it
/// stands as it goes.
pub async fn observe(
    target: &Target,
    case: &CaseSpec,
    ns: &str,
    show: ShowAt<'_>,
) -> Result<Observation, SetupError> {
    show(CaseAt::Setup);
    let admin = target.admin.clone();
    let setup_deadline = case.timeout.0;
    tokio::time::timeout(
        setup_deadline,
        prepare_namespace(&admin, ns, case, &target.run_id),
    )
    .await
    .map_err(|_| {
        SetupError(format!(
            "preparing namespace {ns} took longer than {}",
            case.timeout
        ))
    })??;
    let window = case.stays_ready_for.map_or(Duration::ZERO, |d| d.0);
    let result = tokio::time::timeout(
        case.timeout.0 + PROBES_BUDGET + window,
        run(target, case, ns, show),
    )
    .await;
    match result {
        Ok(r) => r,
        Err(_) => Err(SetupError(format!(
            "the case did not finish within {} (plus probe time)",
            case.timeout
        ))),
    }
}

/// How long the case's pods get to stop when podcheck cleans up: as `kubectl delete --now`.
/// Their own grace period (30 s by default) would make every case wait it out where PID 1
/// ignores SIGTERM, as `sleep` does.
const CLEANUP_GRACE_SECONDS: i64 = 1;

/// Starts deleting what the case made: its pods, with a short grace period, then its
/// namespace. Returns at once; [`gone`] waits for the namespace to disappear.
pub async fn start_cleanup(target: &Target, ns: &str) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(target.admin.clone(), ns);
    let short = DeleteParams {
        grace_period_seconds: Some(CLEANUP_GRACE_SECONDS as u32),
        ..DeleteParams::background()
    };
    let names = pods
        .list_metadata(&kube::api::ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for p in names {
        if let Some(name) = p.metadata.name
            && p.metadata.deletion_timestamp.is_none()
            && let Err(e) = pods.delete(&name, &short).await
            && !matches!(&e, kube::Error::Api(s) if s.code == 404)
        {
            tracing::debug!(pod = %name, error = %e, "could not delete the case's pod");
        }
    }
    let namespaces: Api<Namespace> = Api::all(target.admin.clone());
    match namespaces.delete(ns, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(format!("deleting namespace {ns}: {e}")),
    }
}

/// Waits, until `deadline`, for the namespace to be gone.
pub async fn gone(target: &Target, ns: &str, deadline: Instant) -> Result<(), String> {
    // A case that never ran made no namespace.
    if ns.is_empty() {
        return Ok(());
    }
    let namespaces: Api<Namespace> = Api::all(target.admin.clone());
    let wait = tokio::time::timeout_at(deadline.into(), async {
        let mut pause = Duration::from_millis(10);
        loop {
            if let Err(kube::Error::Api(s)) = namespaces.get(ns).await
                && s.code == 404
            {
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    });
    wait.await
        .map_err(|_| format!("namespace {ns} was still terminating when the suite ended"))
}

/// Deletes the case's namespace and waits (bounded) until it is gone.
pub async fn cleanup(target: &Target, ns: &str) -> Result<(), String> {
    start_cleanup(target, ns).await?;
    gone(target, ns, Instant::now() + CLEANUP_DEADLINE).await
}

/// The label that marks a case namespace with its run, so an interrupted run can clean up.
pub const RUN_LABEL: &str = "podcheck.dev/run";

async fn prepare_namespace(
    admin: &kube::Client,
    ns: &str,
    case: &CaseSpec,
    run_id: &str,
) -> Result<(), SetupError> {
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let object: Namespace = serde_json::from_value(
        json!({"metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "podcheck", RUN_LABEL: run_id}}}),
    )
    .map_err(|e| SetupError(e.to_string()))?;
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| SetupError(format!("creating namespace {ns}: {e}")))?;
    // Real clusters reject pods until the namespace's default ServiceAccount exists.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    loop {
        if accounts
            .get_opt("default")
            .await
            .map_err(|e| SetupError(e.to_string()))?
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for obj in &case.setup {
        create_object(admin, ns, obj).await?;
    }
    Ok(())
}

async fn create_object(
    admin: &kube::Client,
    ns: &str,
    obj: &serde_json::Value,
) -> Result<(), SetupError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (resource, caps): (ApiResource, _) = pinned_kind(admin, &gvk).await.map_err(|e| {
        SetupError(format!(
            "the target does not serve {api_version} {kind}: {e}"
        ))
    })?;
    let api: Api<DynamicObject> = match caps.scope {
        kube::discovery::Scope::Namespaced => Api::namespaced_with(admin.clone(), ns, &resource),
        kube::discovery::Scope::Cluster => Api::all_with(admin.clone(), &resource),
    };
    let object: DynamicObject = serde_json::from_value(obj.clone())
        .map_err(|e| SetupError(format!("setup object: {e}")))?;
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|e| SetupError(format!("creating setup {kind}: {e}")))?;
    Ok(())
}

/// The recording shared by the watch tasks, the waiter and the probes, and the clock the
/// watch events are timed by (restarted when the create is sent).
#[derive(Clone)]
struct Recorder {
    recording: Arc<Mutex<Option<Recording>>>,
    t0: Arc<Mutex<Instant>>,
}

impl Recorder {
    fn new(facts: CaseFacts) -> Self {
        Recorder {
            recording: Arc::new(Mutex::new(Some(Recording::new(facts)))),
            t0: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Milliseconds since the clock started.
    fn now_ms(&self) -> f64 {
        ms(*self.t0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Restarts the clock: times are from the create from now on.
    fn restart_clock(&self) -> Instant {
        let t0 = Instant::now();
        *self.t0.lock().unwrap_or_else(|e| e.into_inner()) = t0;
        t0
    }

    /// Folds one observation in (nothing once the recording is finished).
    fn apply(&self, observed: Observed) {
        if let Some(r) = self
            .recording
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            r.apply(observed);
        }
    }

    /// Reads the recording while it is not finished (None after).
    fn read_live<R>(&self, f: impl FnOnce(&Recording) -> R) -> Option<R> {
        let guard = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(f)
    }

    fn read<R>(&self, f: impl FnOnce(&Recording) -> R) -> R {
        let guard = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        f(guard
            .as_ref()
            .expect("the recording is read before it is finished"))
    }

    /// The Observation; what the watches report after this is dropped.
    fn finish(&self) -> Observation {
        self.recording
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the recording is finished once")
            .finish()
    }
}

async fn run(
    target: &Target,
    case: &CaseSpec,
    ns: &str,
    show: ShowAt<'_>,
) -> Result<Observation, SetupError> {
    let pod_name = case
        .pod
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let recorder = Recorder::new(facts(target, case, ns, &pod_name));
    let _watches = watch::open(&target.admin, ns, &pod_name, case, &recorder).await?;
    let as_identity = target
        .client_as(&case.identity, ns)
        .await
        .map_err(|e| SetupError(e.to_string()))?;
    let pod: Pod = serde_json::from_value(case.pod.clone())
        .map_err(|e| SetupError(format!("the pod does not decode as a Pod: {e}")))?;
    if awaits_grant(case) {
        let grant = wait_for_grant(&as_identity, ns, GRANT_DEADLINE.min(case.timeout.0)).await;
        recorder.apply(Observed::Grant(grant));
    }
    let as_identity = Api::<Pod>::namespaced(as_identity, ns);

    let mut faults = match (case.faults.is_empty(), target.faults()) {
        (true, _) => None,
        (false, Some(switches)) => Some(faults::Driver::start(switches, case).await),
        (false, None) => {
            return Err(SetupError(
                "the case injects faults, which only the embedded control plane can".into(),
            ));
        }
    };
    show(CaseAt::Stage(Stage::Auth));
    let t0 = recorder.restart_clock();
    let create = create(&as_identity, &pod, t0).await?;
    if let Some(driver) = faults.as_mut() {
        driver.follow(&recorder);
    }
    let admitted = create.code == 201;
    recorder.apply(Observed::Created(create));
    let admin_pods: Api<Pod> = Api::namespaced(target.admin.clone(), ns);
    let key = format!("/registry/pods/{ns}/{pod_name}");
    let at = PodAt {
        pods: &admin_pods,
        namespace: ns,
        name: &pod_name,
        key: &key,
    };
    probes::after_create(target, &at, t0, &recorder).await;
    if case.replicas > 1 && admitted {
        for copy in create_copies(&as_identity, &pod, &pod_name, case.replicas, t0).await {
            recorder.apply(copy);
        }
    }

    let deadline = t0 + case.timeout.0;
    let timed_out = wait_for_path_end(case, &recorder, show).await;
    recorder.apply(Observed::WaitEnded {
        observed_ms: ms(t0),
        timed_out,
    });
    wait_for_batch(&recorder, deadline).await;
    show(CaseAt::Probes);

    probes::after_path(target, case, &at, t0, &recorder).await;
    if recorder.read(Recording::in_pod_exec_failed) {
        // Nothing ran in the pod: if its container exited, the kubelet's next report (its
        // relist, a second later) says so, and statusUpdate judges the exit.
        next_report(&recorder).await;
    }
    if let Some(window) = case.stays_ready_for
        && !timed_out
    {
        show(CaseAt::Stage(Stage::StatusUpdate));
        if watch_ready_window(&recorder, window.0).await {
            recorder.apply(Observed::WaitEnded {
                observed_ms: ms(t0),
                timed_out,
            });
        }
    }
    if let Some(state) = target.scheduler_under_test() {
        recorder.apply(Observed::Scheduler(state));
    }
    // Recording stops before the faults end: a scheduler started again must not be seen
    // binding a pod the case watched it leave alone.
    let mut observation = recorder.finish();
    if let Some(driver) = faults {
        observation.faults = driver.finish(t0).await;
    }
    Ok(observation)
}

/// How long an identity's RBAC grant may take to become live.
const GRANT_DEADLINE: Duration = Duration::from_secs(10);

/// Whether the case creates its pod as a user or ServiceAccount that should be allowed: then
/// the observer waits for the grant first, as upstream's e2e tests do
/// (`WaitForNamedAuthorizationUpdate`), so that the authorizer's cache is not mistaken for
/// the apiserver's answer.
fn awaits_grant(case: &CaseSpec) -> bool {
    use podcheck_core::load::Identity;
    use podcheck_core::suite::AuthExpectation;
    matches!(
        case.identity,
        Identity::User { .. } | Identity::ServiceAccount { .. }
    ) && matches!(case.expect.auth, None | Some(AuthExpectation::Allowed))
}

/// Asks, as the identity, whether it may create pods in `ns` until the answer is yes or the
/// deadline passes.
async fn wait_for_grant(client: &kube::Client, ns: &str, deadline: Duration) -> GrantWait {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.to_string()),
                verb: Some("create".into()),
                resource: Some("pods".into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let started = Instant::now();
    let mut grant = GrantWait {
        asked: format!("create pods in {ns}"),
        allowed: false,
        waited_ms: 0.0,
        reviews: 0,
    };
    let mut pause = Duration::from_millis(20);
    loop {
        grant.reviews += 1;
        grant.allowed = reviews
            .create(&PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.allowed);
        grant.waited_ms = ms(started);
        if grant.allowed || started.elapsed() + pause > deadline {
            return grant;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// What the Observation says of the case whatever happens.
fn facts(target: &Target, case: &CaseSpec, ns: &str, pod_name: &str) -> CaseFacts {
    CaseFacts {
        identity: case.identity.label(),
        namespace: ns.to_string(),
        pod_name: pod_name.to_string(),
        pod_networks: target.pod_networks.clone(),
        node_aliases: target.node_aliases.clone(),
        apiserver: target
            .info
            .providers
            .iter()
            .find(|p| p.component == "apiserver")
            .cloned()
            .unwrap_or(Provider {
                component: "apiserver".into(),
                name: "kube-apiserver".into(),
                real: true,
                version: target.info.version.clone(),
            }),
    }
}

/// The create, as the case's identity; an answer that is not a Status is a setup failure.
async fn create(api: &Api<Pod>, pod: &Pod, t0: Instant) -> Result<CreateOutcome, SetupError> {
    match api.create(&PostParams::default(), pod).await {
        Ok(p) => Ok(CreateOutcome {
            code: 201,
            resource_version: p.metadata.resource_version.clone(),
            uid: p.metadata.uid.clone(),
            at_ms: ms(t0),
            ..CreateOutcome::default()
        }),
        Err(kube::Error::Api(s)) => Ok(CreateOutcome {
            code: s.code,
            reason: Some(s.reason.clone()),
            message: Some(s.message.clone()),
            causes: s
                .details
                .as_ref()
                .map(|d| d.causes.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.field, c.message))
                .collect(),
            at_ms: ms(t0),
            ..CreateOutcome::default()
        }),
        Err(e) => Err(SetupError(format!(
            "the create request failed without an answer: {e}"
        ))),
    }
}

/// The rest of a batch, all at once, once the first is read back.
async fn create_copies(
    api: &Api<Pod>,
    pod: &Pod,
    pod_name: &str,
    replicas: u32,
    t0: Instant,
) -> Vec<Observed> {
    let creates = (1..replicas).map(|i| {
        let mut copy = pod.clone();
        let name = format!("{pod_name}-{i}");
        copy.metadata.name = Some(name.clone());
        async move {
            let created_ms = ms(t0);
            let code = match api.create(&PostParams::default(), &copy).await {
                Ok(_) => 201,
                Err(kube::Error::Api(s)) => s.code,
                Err(_) => 0,
            };
            Observed::CopyCreated {
                name,
                created_ms,
                code,
            }
        }
    });
    futures::stream::iter(creates)
        .buffer_unordered(32)
        .collect()
        .await
}

/// Waits, with the case's deadline, until the pod's path ends; whether the deadline
/// stopped it.
async fn wait_for_path_end(case: &CaseSpec, recorder: &Recorder, show: ShowAt<'_>) -> bool {
    let course = Course::of(case);
    let mut wait = Wait::new(
        case.timeout.0.as_secs_f64() * 1e3,
        EVENT_GRACE.as_secs_f64() * 1e3,
    );
    let mut shown = None;
    loop {
        let now_ms = recorder.now_ms();
        let (path, at) = recorder.read(|r| (r.path(course, now_ms), r.stage_at()));
        if shown != Some(at) {
            show(CaseAt::Stage(at));
            shown = Some(at);
        }
        if let WaitStep::Stop { timed_out } = wait.step(&path, now_ms) {
            if let Some(end) = &path.end {
                tracing::debug!(%end, "the pod's path ended");
            }
            return timed_out;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Watches a Ready pod for its `staysReadyFor` window (measured from the sighting that
/// first showed it Ready, so the probes' time counts): until the window ends, or the pod
/// leaves Ready or a container terminates or restarts. The watches feed the recording;
/// nothing here asks the API. Whether there was a window (the pod was Ready).
async fn watch_ready_window(recorder: &Recorder, window: Duration) -> bool {
    let window_ms = window.as_secs_f64() * 1e3;
    loop {
        let now_ms = recorder.now_ms();
        let state = recorder.read(|r| r.ready_window(window_ms, now_ms));
        match state {
            ReadyWindow::Open { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
            ReadyWindow::Broke { .. } => {
                tracing::debug!("the pod did not stay Ready");
                // The kubelet's next report (the restart, or CrashLoopBackOff) completes
                // the evidence.
                next_report(recorder).await;
                return true;
            }
            ReadyWindow::Held { .. } => return true,
            ReadyWindow::NeverReady => return false,
        }
    }
}

/// Waits for the pod's next change as its watch reports it, an event grace at most.
async fn next_report(recorder: &Recorder) {
    let last_version = |r: &Recording| r.last_pod()?.metadata.resource_version.clone();
    let seen = recorder.read(last_version);
    let until = Instant::now() + EVENT_GRACE;
    while Instant::now() < until && recorder.read(last_version) == seen {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A batch: every copy that was created must be bound, within the same deadline.
async fn wait_for_batch(recorder: &Recorder, deadline: Instant) {
    if !recorder.read(Recording::has_copies) {
        return;
    }
    while Instant::now() < deadline && !recorder.read(Recording::batch_bound) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
