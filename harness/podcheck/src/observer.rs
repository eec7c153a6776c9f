//! The observer: runs one case against a target through the Kubernetes API and records
//! what happened. The same code serves every target; probes add what a target allows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod, Service, ServiceAccount};
use kube::api::{
    Api, AttachParams, DeleteParams, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{ApiResource, pinned_kind};
use podcheck_core::load::CaseSpec;
use podcheck_core::observation::{
    ApiRead, BatchPod, CreateOutcome, DnsRead, EventSighting, LookupRead, Observation, PodSighting,
    Probe,
};
use podcheck_core::resolv::ResolvConf;
use podcheck_core::result::Provider;
use podcheck_core::suite::BindingExpectation;
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::target::Target;

/// How long cleanup may take per case.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long to wait for events that trail the state they report.
const EVENT_GRACE: Duration = Duration::from_secs(2);
/// How long one exec or DNS query may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// Why a case could not be run at all.
#[derive(Debug)]
pub struct SetupError(pub String);

#[derive(Default)]
struct Recorded {
    sightings: Vec<PodSighting>,
    events: Vec<EventSighting>,
    /// For a batch: when each pod of the namespace was first seen with a node, and which.
    bound: std::collections::HashMap<String, (f64, String)>,
}

/// Runs one case in namespace `ns` and returns what was observed.
pub async fn observe(
    target: &Target,
    case: &CaseSpec,
    ns: &str,
) -> Result<Observation, SetupError> {
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
    let result =
        tokio::time::timeout(case.timeout.0 + PROBE_DEADLINE * 3, run(target, case, ns)).await;
    match result {
        Ok(r) => r,
        Err(_) => Err(SetupError(format!(
            "the case did not finish within {} (plus probe time)",
            case.timeout
        ))),
    }
}

/// Deletes the case's namespace and waits (bounded) until it is gone.
pub async fn cleanup(target: &Target, ns: &str) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(target.admin.clone());
    match namespaces.delete(ns, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(format!("deleting namespace {ns}: {e}")),
    }
    let gone = tokio::time::timeout(CLEANUP_DEADLINE, async {
        loop {
            if let Err(kube::Error::Api(s)) = namespaces.get(ns).await
                && s.code == 404
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    gone.map_err(|_| format!("namespace {ns} was still terminating after {CLEANUP_DEADLINE:?}"))
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

async fn run(target: &Target, case: &CaseSpec, ns: &str) -> Result<Observation, SetupError> {
    let admin = target.admin.clone();
    let pod_name = case
        .pod
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let t0 = Instant::now();
    let t0_cell = Arc::new(Mutex::new(t0));

    // The watches open before the create, so the first state is seen.
    let pod_rv = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| SetupError(format!("listing pods: {e}")))?
        .metadata
        .resource_version
        .unwrap_or_default();
    let event_rv = events
        .list(&ListParams::default())
        .await
        .map_err(|e| SetupError(format!("listing events: {e}")))?
        .metadata
        .resource_version
        .unwrap_or_default();
    let watch_secs = case.timeout.0.as_secs().max(1) as u32 + 5;
    let mut pod_stream = pods
        .watch(
            &WatchParams::default()
                .fields(&format!("metadata.name={pod_name}"))
                .timeout(watch_secs),
            &pod_rv,
        )
        .await
        .map_err(|e| SetupError(format!("watching pods: {e}")))?
        .boxed();
    let mut event_stream = events
        .watch(
            &WatchParams::default()
                .fields(&format!("involvedObject.name={pod_name}"))
                .timeout(watch_secs),
            &event_rv,
        )
        .await
        .map_err(|e| SetupError(format!("watching events: {e}")))?
        .boxed();
    let pod_task = {
        let recorded = recorded.clone();
        let t0 = t0_cell.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = pod_stream.next().await {
                let (kind, pod) = match event {
                    WatchEvent::Added(p) => ("ADDED", p),
                    WatchEvent::Modified(p) => ("MODIFIED", p),
                    WatchEvent::Deleted(p) => ("DELETED", p),
                    _ => continue,
                };
                let at_ms = ms(*t0.lock().unwrap_or_else(|e| e.into_inner()));
                recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sightings
                    .push(PodSighting {
                        at_ms,
                        kind: kind.into(),
                        pod,
                    });
            }
        })
    };
    let event_task = {
        let recorded = recorded.clone();
        let t0 = t0_cell.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = event_stream.next().await {
                let WatchEvent::Added(e) = event else {
                    continue;
                };
                let at_ms = ms(*t0.lock().unwrap_or_else(|e| e.into_inner()));
                let component = e
                    .source
                    .as_ref()
                    .and_then(|s| s.component.clone())
                    .filter(|c| !c.is_empty())
                    .or_else(|| e.reporting_component.clone())
                    .unwrap_or_default();
                recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .events
                    .push(EventSighting {
                        at_ms,
                        reason: e.reason.unwrap_or_default(),
                        message: e.message.unwrap_or_default(),
                        warning: e.type_.as_deref() == Some("Warning"),
                        component,
                        field_path: e.involved_object.field_path,
                    });
            }
        })
    };
    let mut guard = AbortOnDrop(vec![pod_task.abort_handle(), event_task.abort_handle()]);
    // A batch: one more watch, on every pod of the namespace, for when each is bound.
    if case.replicas > 1 {
        let mut batch_stream = pods
            .watch(&WatchParams::default().timeout(watch_secs), &pod_rv)
            .await
            .map_err(|e| SetupError(format!("watching pods: {e}")))?
            .boxed();
        let recorded = recorded.clone();
        let t0 = t0_cell.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(event)) = batch_stream.next().await {
                let (WatchEvent::Added(p) | WatchEvent::Modified(p)) = event else {
                    continue;
                };
                let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                    continue;
                };
                let at_ms = ms(*t0.lock().unwrap_or_else(|e| e.into_inner()));
                let name = p.metadata.name.clone().unwrap_or_default();
                recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .bound
                    .entry(name)
                    .or_insert((at_ms, node));
            }
        });
        guard.0.push(task.abort_handle());
    }

    // The create, as the case's identity.
    let as_identity = target
        .client_as(&case.identity, ns)
        .await
        .map_err(|e| SetupError(e.to_string()))?;
    let pod: Pod = serde_json::from_value(case.pod.clone())
        .map_err(|e| SetupError(format!("the pod does not decode as a Pod: {e}")))?;
    let t0 = Instant::now();
    *t0_cell.lock().unwrap_or_else(|e| e.into_inner()) = t0;
    let created = Api::<Pod>::namespaced(as_identity.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await;
    let create = match created {
        Ok(p) => CreateOutcome {
            code: 201,
            resource_version: p.metadata.resource_version.clone(),
            uid: p.metadata.uid.clone(),
            at_ms: ms(t0),
            ..CreateOutcome::default()
        },
        Err(kube::Error::Api(s)) => CreateOutcome {
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
        },
        Err(e) => {
            return Err(SetupError(format!(
                "the create request failed without an answer: {e}"
            )));
        }
    };
    let key = format!("/registry/pods/{ns}/{pod_name}");
    let store_after_create = target.probes.store(&key, t0).await;
    let api_after_create = Some(api_read(&pods, &pod_name, t0).await);
    // The rest of a batch, all at once, once the first is read back.
    let mut copies: Vec<(String, f64, u16)> = Vec::new();
    if case.replicas > 1 && create.code == 201 {
        let api = Api::<Pod>::namespaced(as_identity.clone(), ns);
        let creates = (1..case.replicas).map(|i| {
            let mut copy = pod.clone();
            let name = format!("{pod_name}-{i}");
            copy.metadata.name = Some(name.clone());
            let api = api.clone();
            async move {
                let sent = ms(t0);
                let code = match api.create(&PostParams::default(), &copy).await {
                    Ok(_) => 201,
                    Err(kube::Error::Api(s)) => s.code,
                    Err(_) => 0,
                };
                (name, sent, code)
            }
        });
        copies = futures::stream::iter(creates)
            .buffer_unordered(32)
            .collect()
            .await;
    }

    // Wait for the pod's path to end: denied, unschedulable as expected, or Running.
    let deadline = t0 + case.timeout.0;
    let expect_unschedulable = matches!(
        case.expect.binding,
        Some(BindingExpectation::Unschedulable(_))
    );
    let left_alone_for = match &case.expect.binding {
        Some(BindingExpectation::LeftAlone(d)) => Some(d.0),
        _ => None,
    };
    let mut timed_out = false;
    if create.code == 201 {
        let mut grace_until: Option<Instant> = None;
        loop {
            let (done, events_done) = {
                let r = recorded.lock().unwrap_or_else(|e| e.into_inner());
                let reasons: Vec<&str> = r.events.iter().map(|e| e.reason.as_str()).collect();
                if let Some(window) = left_alone_for {
                    // Until the window passes, unless a scheduler touches the pod first.
                    let touched = r.sightings.iter().any(|s| {
                        s.pod
                            .spec
                            .as_ref()
                            .and_then(|sp| sp.node_name.as_ref())
                            .is_some()
                            || s.pod
                                .status
                                .as_ref()
                                .and_then(|st| st.conditions.as_ref())
                                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "PodScheduled"))
                    }) || reasons
                        .iter()
                        .any(|r| matches!(*r, "Scheduled" | "FailedScheduling"));
                    (touched || t0.elapsed() >= window, true)
                } else if expect_unschedulable {
                    let condition = r.sightings.iter().any(|s| unschedulable(&s.pod));
                    (condition && reasons.contains(&"FailedScheduling"), true)
                } else {
                    let running = r.sightings.iter().any(|s| ready(&s.pod));
                    let failed = r.sightings.iter().any(|s| {
                        matches!(
                            s.pod.status.as_ref().and_then(|st| st.phase.as_deref()),
                            Some("Failed" | "Succeeded")
                        )
                    });
                    let all = ["Scheduled", "Pulled", "Created", "Started"]
                        .iter()
                        .all(|x| reasons.contains(x));
                    // A container that cannot start (no image, a bad config) or a sandbox the
                    // runtime refused: the evidence is in, waiting longer shows nothing new.
                    let stuck = r.sightings.iter().any(|s| stuck(&s.pod))
                        || reasons.contains(&"FailedCreatePodSandBox");
                    (running || failed || stuck, all)
                }
            };
            let now = Instant::now();
            if done && events_done {
                break;
            }
            if done {
                let until = *grace_until.get_or_insert(now + EVENT_GRACE);
                if now >= until {
                    break;
                }
            }
            if now >= deadline {
                timed_out = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let observed_ms = ms(t0);
    // A batch: every copy that was created must be bound, within the same deadline.
    if !copies.is_empty() {
        let wanted: Vec<String> = std::iter::once(pod_name.clone())
            .chain(copies.iter().filter(|c| c.2 == 201).map(|c| c.0.clone()))
            .collect();
        while Instant::now() < deadline {
            let all = {
                let r = recorded.lock().unwrap_or_else(|e| e.into_inner());
                wanted.iter().all(|n| r.bound.contains_key(n))
            };
            if all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // Probes once the pod runs.
    let last = recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .sightings
        .last()
        .map(|s| s.pod.clone());
    let running = last.as_ref().is_some_and(ready);
    let store_after_running = if running {
        target.probes.store(&key, t0).await
    } else {
        Probe::Unavailable("the pod never ran".into())
    };
    let api_after_running = if running {
        Some(api_read(&pods, &pod_name, t0).await)
    } else {
        None
    };
    let node = last
        .as_ref()
        .and_then(|p| p.spec.as_ref()?.node_name.clone())
        .unwrap_or_default();
    let containers: Vec<(String, String)> = last
        .as_ref()
        .and_then(|p| p.status.as_ref()?.container_statuses.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            let id = c.container_id?;
            Some((
                c.name,
                id.split_once("://")
                    .map_or(id.clone(), |(_, i)| i.to_string()),
            ))
        })
        .collect();
    let runtime = if containers.is_empty() {
        Probe::Unavailable("no container was reported".into())
    } else {
        target.probes.runtime(&node, &containers, t0).await
    };
    let netns = match &last {
        Some(p) if running => {
            let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
            let uid = p.metadata.uid.clone().unwrap_or_default();
            target.probes.netns(&node, &uid, ip.as_deref(), t0).await
        }
        _ => Probe::Unavailable("the pod never ran".into()),
    };
    let services: Api<Service> = Api::all(admin.clone());
    let service_list = services
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let find_service = |ns: &str, name: &str| {
        service_list
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    };
    let kubernetes_service_ip =
        find_service("default", "kubernetes").and_then(|s| s.spec?.cluster_ip);
    let kube_dns = find_service("kube-system", "kube-dns");
    let cluster_dns_ip = kube_dns
        .as_ref()
        .and_then(|s| s.spec.as_ref()?.cluster_ip.clone());
    let dns = if running {
        dns_probe(
            target,
            &pods,
            &pod_name,
            case,
            kubernetes_service_ip.as_deref(),
            kube_dns.as_ref(),
            t0,
        )
        .await
    } else {
        Probe::Unavailable("the pod never ran".into())
    };
    let nodes = Api::<Node>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let all_pods = Api::<Pod>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();

    let recorded = std::mem::take(&mut *recorded.lock().unwrap_or_else(|e| e.into_inner()));
    let batch: Vec<BatchPod> = if copies.is_empty() {
        Vec::new()
    } else {
        std::iter::once((pod_name.clone(), 0.0, create.code))
            .chain(copies)
            .map(|(name, created_ms, code)| {
                let bound = recorded.bound.get(&name);
                BatchPod {
                    created_ms,
                    code,
                    bound_ms: bound.map(|b| b.0),
                    node: bound.map(|b| b.1.clone()),
                    name,
                }
            })
            .collect()
    };
    Ok(Observation {
        identity: case.identity.label(),
        namespace: ns.to_string(),
        pod_name,
        create,
        sightings: recorded.sightings,
        events: recorded.events,
        nodes,
        pods: all_pods,
        batch,
        store_after_create,
        store_after_running,
        api_after_create,
        api_after_running,
        runtime,
        netns,
        dns,
        kubernetes_service_ip,
        cluster_dns_ip,
        cluster_domain: target.cluster_domain.clone(),
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
        observed_ms,
        timed_out,
        scheduler_under_test: target.scheduler_under_test(),
    })
}

struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

fn condition_true(p: &Pod, kind: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

fn ready(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && condition_true(p, "Ready")
        && condition_true(p, "ContainersReady")
}

/// Whether a container waits for a reason that retrying does not cure within a case.
fn stuck(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                let reason = c
                    .state
                    .as_ref()
                    .and_then(|st| st.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref());
                matches!(
                    reason,
                    Some(
                        "ErrImagePull"
                            | "ImagePullBackOff"
                            | "ErrImageNeverPull"
                            | "InvalidImageName"
                            | "CreateContainerConfigError"
                            | "CreateContainerError"
                            | "RunContainerError"
                    )
                )
            })
        })
}

fn unschedulable(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
        })
}

async fn api_read(pods: &Api<Pod>, name: &str, t0: Instant) -> ApiRead {
    match pods.get(name).await {
        Ok(p) => ApiRead {
            code: 200,
            pod: Some(p),
            at_ms: ms(t0),
        },
        Err(kube::Error::Api(s)) => ApiRead {
            code: s.code,
            pod: None,
            at_ms: ms(t0),
        },
        Err(_) => ApiRead {
            code: 0,
            pod: None,
            at_ms: ms(t0),
        },
    }
}

/// How a command run through `pods/exec` ended.
#[derive(Debug)]
enum Exec {
    /// It ran: its stdout and exit code.
    Ran { stdout: String, exit_code: i32 },
    /// It could not be run (no exec on the target, the runtime cannot, a timeout…).
    CouldNot(String),
}

/// Runs a command in the pod's first container through `pods/exec`.
async fn exec_command(pods: &Api<Pod>, name: &str, command: &[&str]) -> Exec {
    let run = async {
        let mut attached = match pods
            .exec(
                name,
                command.iter().copied(),
                &AttachParams::default()
                    .stdout(true)
                    .stderr(false)
                    .stdin(false),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return Exec::CouldNot(format!("pods/exec failed: {e}")),
        };
        let mut out = String::new();
        if let Some(mut stdout) = attached.stdout()
            && let Err(e) = stdout.read_to_string(&mut out).await
        {
            return Exec::CouldNot(e.to_string());
        }
        let status = match attached.take_status() {
            Some(s) => s.await,
            None => None,
        };
        let _ = attached.join().await;
        match status {
            Some(s) if s.status.as_deref() == Some("Failure") => {
                let exit_code = (s.reason.as_deref() == Some("NonZeroExitCode"))
                    .then(|| {
                        s.details
                            .as_ref()?
                            .causes
                            .as_ref()?
                            .iter()
                            .find(|c| c.reason.as_deref() == Some("ExitCode"))?
                            .message
                            .as_deref()?
                            .parse::<i32>()
                            .ok()
                    })
                    .flatten();
                match exit_code {
                    Some(exit_code) => Exec::Ran {
                        stdout: out,
                        exit_code,
                    },
                    None => Exec::CouldNot(format!(
                        "{} ({})",
                        s.message.unwrap_or_default(),
                        s.reason.unwrap_or_default()
                    )),
                }
            }
            _ => Exec::Ran {
                stdout: out,
                exit_code: 0,
            },
        }
    };
    tokio::time::timeout(PROBE_DEADLINE, run)
        .await
        .unwrap_or_else(|_| {
            Exec::CouldNot(format!("exec did not finish within {PROBE_DEADLINE:?}"))
        })
}

/// Runs a command that must succeed; its stdout, or why not.
async fn exec(pods: &Api<Pod>, name: &str, command: &[&str]) -> Result<String, String> {
    match exec_command(pods, name, command).await {
        Exec::Ran {
            stdout,
            exit_code: 0,
        } => Ok(stdout),
        Exec::Ran { exit_code, .. } => Err(format!(
            "command terminated with non-zero exit code {exit_code}"
        )),
        Exec::CouldNot(why) => Err(why),
    }
}

/// Resolves each name from inside the pod with busybox `nslookup`, one fully qualified
/// candidate at a time in the resolv.conf search order (busybox applies neither `ndots`
/// nor the search list faithfully), all in one exec. None when the pod cannot run it.
async fn lookup_in_pod(
    pods: &Api<Pod>,
    pod: &str,
    names: &[Vec<String>],
) -> Option<Vec<(Result<Vec<std::net::IpAddr>, String>, Vec<String>)>> {
    let script = podcheck_core::resolv::nslookup_script(names);
    let stdout = match exec_command(pods, pod, &["sh", "-c", &script]).await {
        Exec::CouldNot(why) => {
            tracing::debug!(%why, "no in-pod lookup");
            return None;
        }
        Exec::Ran { stdout, .. } => stdout,
    };
    let attempts = podcheck_core::resolv::parse_nslookup_script(&stdout);
    let answers = (0..names.len())
        .map(|i| {
            let mut tried = Vec::new();
            let mut answer = Err("nslookup did not run".to_string());
            for a in attempts.iter().filter(|a| a.name_index == i) {
                tried.push(a.candidate.clone());
                answer = podcheck_core::resolv::parse_nslookup(&a.output, a.exit_code);
                if answer.is_ok() {
                    break;
                }
            }
            (answer, tried)
        })
        .collect();
    Some(answers)
}

/// DNS from the pod's point of view: its resolv.conf read from inside, then each name
/// resolved with the resolv.conf search rules against the cluster DNS.
async fn dns_probe(
    target: &Target,
    pods: &Api<Pod>,
    pod: &str,
    case: &CaseSpec,
    kubernetes_ip: Option<&str>,
    kube_dns: Option<&Service>,
    t0: Instant,
) -> Probe<DnsRead> {
    let resolv_conf = exec(pods, pod, &["cat", "/etc/resolv.conf"]).await;
    let mut wanted: Vec<(String, Option<std::net::IpAddr>)> = Vec::new();
    if let Some(ip) = kubernetes_ip.and_then(|ip| ip.parse().ok()) {
        wanted.push(("kubernetes.default".into(), Some(ip)));
    }
    wanted.extend(case.dns_lookups.iter().map(|l| (l.name.clone(), l.address)));
    let Ok(text) = &resolv_conf else {
        return Probe::Seen(DnsRead {
            resolv_source: "pods/exec cat /etc/resolv.conf".into(),
            resolv_conf: resolv_conf.clone(),
            server: String::new(),
            provider: dns_provider(target),
            lookups: Vec::new(),
            at_ms: ms(t0),
        });
    };
    let conf = ResolvConf::parse(text);
    // From inside the pod first: the pod's own resolver path, through the pod's network.
    let candidates: Vec<Vec<String>> = wanted.iter().map(|(n, _)| conf.candidates(n)).collect();
    let in_pod: Option<Vec<LookupRead>> =
        lookup_in_pod(pods, pod, &candidates).await.map(|answers| {
            wanted
                .iter()
                .zip(answers)
                .map(|((name, expected), (answer, tried))| LookupRead {
                    name: name.clone(),
                    tried,
                    answer,
                    expected: *expected,
                })
                .collect()
        });
    if let Some(in_pod) = in_pod {
        return Probe::Seen(DnsRead {
            resolv_source: "pods/exec cat /etc/resolv.conf".into(),
            resolv_conf,
            server: format!(
                "{} from inside the pod (busybox nslookup via pods/exec)",
                conf.nameservers.first().cloned().unwrap_or_default()
            ),
            provider: {
                let server = dns_provider(target);
                Provider {
                    component: "dns".into(),
                    name: format!("in-pod lookup (busybox nslookup) → {}", server.name),
                    real: true,
                    version: server.version,
                }
            },
            lookups: in_pod,
            at_ms: ms(t0),
        });
    }
    // The embedded control plane says where the server behind the DNS ClusterIP answers on
    // this machine; only a loopback address is ever queried from here.
    let endpoint = kube_dns
        .and_then(|s| {
            s.metadata
                .annotations
                .as_ref()?
                .get(podcheck_controlplane::DNS_ENDPOINT_ANNOTATION)
                .cloned()
        })
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .filter(|a| a.ip().is_loopback());
    let Some(endpoint) = endpoint else {
        return Probe::Unavailable("the cluster DNS is not reachable from the observer, and in-pod lookups need a real runtime".into());
    };
    let mut lookups = Vec::new();
    for (name, expected) in wanted {
        let tried = conf.candidates(&name);
        let answer = resolve(endpoint, &tried).await;
        lookups.push(LookupRead {
            name,
            tried: answer.1,
            answer: answer.0,
            expected,
        });
    }
    Probe::Seen(DnsRead {
        resolv_source: "pods/exec cat /etc/resolv.conf".into(),
        resolv_conf,
        server: format!(
            "{endpoint} (behind {})",
            conf.nameservers.first().cloned().unwrap_or_default()
        ),
        provider: dns_provider(target),
        lookups,
        at_ms: ms(t0),
    })
}

fn dns_provider(target: &Target) -> Provider {
    target
        .info
        .providers
        .iter()
        .find(|p| p.component == "dns")
        .cloned()
        .unwrap_or(Provider {
            component: "dns".into(),
            name: "cluster DNS".into(),
            real: true,
            version: String::new(),
        })
}

/// Tries the candidates in order until one answers; NXDOMAIN moves on to the next.
async fn resolve(
    server: std::net::SocketAddr,
    candidates: &[String],
) -> (Result<Vec<std::net::IpAddr>, String>, Vec<String>) {
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut ns = NameServerConfig::udp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 2;
    opts.timeout = Duration::from_secs(2);
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let resolver = match hickory_resolver::TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    {
        Ok(r) => r,
        Err(e) => return (Err(format!("resolver: {e}")), Vec::new()),
    };
    let mut tried = Vec::new();
    let mut last = "no candidates".to_string();
    for name in candidates {
        tried.push(name.clone());
        let lookup = tokio::time::timeout(PROBE_DEADLINE, resolver.lookup_ip(name.as_str())).await;
        match lookup {
            Ok(Ok(ips)) => return (Ok(ips.iter().collect()), tried),
            Ok(Err(e)) => {
                last = if e.is_nx_domain() {
                    "NXDOMAIN".into()
                } else if e.to_string().contains("Refused") {
                    "REFUSED".into()
                } else {
                    e.to_string()
                }
            }
            Err(_) => last = "timed out".into(),
        }
    }
    (Err(last), tried)
}
