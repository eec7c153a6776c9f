//! Stage verdicts: pure functions from what was observed (and what the case expects) to a
//! result per stage. Nothing here waits or reads; every verdict can be tested on a table.

use k8s_openapi::api::core::v1::Pod;

use crate::load::{CaseSpec, expected_words};
use crate::observation::{Observation, PodSighting, Probe};
use crate::oracle;
use crate::result::{Evidence, Provider, Source, StageResult, StageStatus};
use crate::stage::Stage;
use crate::suite::{AuthExpectation, BindingExpectation};

/// Evaluates all eight stages, in the seed's order.
pub fn evaluate(case: &CaseSpec, obs: &Observation) -> Vec<StageResult> {
    let mut results: Vec<StageResult> = Vec::new();
    // Once the pod's path ends (not admitted, or left unscheduled as expected), later
    // stages have nothing to check.
    let mut ended: Option<String> = None;
    for stage in Stage::ALL {
        let expected = expected_words(case, stage);
        let skip_reason = skip_requested(case, stage);
        let mut r = if let Some(why) = skip_reason {
            skipped(stage, &expected, format!("skipped by the case: {why}"))
        } else if let Some(why) = &ended {
            skipped(stage, &expected, why.clone())
        } else {
            let mut r = match stage {
                Stage::Auth => auth(case, obs),
                Stage::EtcdWrite => etcd_write(obs),
                Stage::Pending => pending(obs),
                Stage::Binding => binding(case, obs),
                Stage::CriLaunch => cri_launch(obs),
                Stage::CniAttach => cni_attach(obs),
                Stage::Dns => dns(obs),
                Stage::StatusUpdate => status_update(obs),
            };
            r.expected = expected;
            apply_deadline(&mut r, case, obs);
            r
        };
        if ended.is_none() {
            ended = ends_path(case, stage, obs, &r);
        }
        r.duration_ms = r.at_ms.map(|at| {
            let before = results
                .iter()
                .filter_map(|p| p.at_ms)
                .filter(|p| *p <= at)
                .fold(0.0, f64::max);
            round(at - before)
        });
        results.push(r);
    }
    results
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn skip_requested(case: &CaseSpec, stage: Stage) -> Option<String> {
    case.expect.skip_reason(stage).map(str::to_string)
}

/// Whether the pod's path ends after `stage`, and why (the reason later stages show).
fn ends_path(case: &CaseSpec, stage: Stage, obs: &Observation, r: &StageResult) -> Option<String> {
    match stage {
        Stage::Auth => crate::path::denied(&obs.create).map(|end| end.to_string()),
        Stage::Binding
            if matches!(
                case.expect.binding,
                Some(BindingExpectation::Unschedulable(_))
            ) && r.status == StageStatus::Passed =>
        {
            Some("the pod stays unscheduled, as the case expects".into())
        }
        Stage::Binding
            if matches!(case.expect.binding, Some(BindingExpectation::LeftAlone(_)))
                && r.status == StageStatus::Passed =>
        {
            Some("the pod is left to its own scheduler, as the case expects".into())
        }
        Stage::Binding if bound(obs).is_none() => Some("the pod was never bound to a node".into()),
        _ => None,
    }
}

fn skipped(stage: Stage, expected: &str, why: String) -> StageResult {
    StageResult {
        stage,
        status: StageStatus::Skipped,
        expected: expected.to_string(),
        observed: "not evaluated".into(),
        at_ms: None,
        duration_ms: None,
        evidence: Vec::new(),
        message: Some(why),
        hint: None,
    }
}

fn result(
    stage: Stage,
    ok: bool,
    observed: String,
    at_ms: Option<f64>,
    evidence: Vec<Evidence>,
) -> StageResult {
    StageResult {
        stage,
        status: if ok {
            StageStatus::Passed
        } else {
            StageStatus::Failed
        },
        expected: String::new(),
        observed,
        at_ms: at_ms.map(round),
        duration_ms: None,
        evidence,
        message: None,
        hint: None,
    }
}

fn failed(mut r: StageResult, message: impl Into<String>, hint: impl Into<String>) -> StageResult {
    r.status = StageStatus::Failed;
    r.message = Some(message.into());
    r.hint = Some(hint.into());
    r
}

fn api(obs: &Observation, detail: impl Into<String>, at_ms: Option<f64>) -> Evidence {
    Evidence {
        source: Source::Api,
        provider: obs.apiserver.name.clone(),
        real: obs.apiserver.real,
        detail: detail.into(),
        at_ms: at_ms.map(round),
    }
}

fn from(source: Source, p: &Provider, detail: impl Into<String>, at_ms: f64) -> Evidence {
    Evidence {
        source,
        provider: format!("{} {}", p.name, p.version).trim().to_string(),
        real: p.real,
        detail: detail.into(),
        at_ms: Some(round(at_ms)),
    }
}

fn unavailable(source: Source, why: &str) -> Evidence {
    Evidence {
        source,
        provider: "none".into(),
        real: false,
        detail: format!("probe unavailable: {why}"),
        at_ms: None,
    }
}

fn apply_deadline(r: &mut StageResult, case: &CaseSpec, obs: &Observation) {
    let deadline = case.deadline(r.stage);
    let limit = deadline.0.as_secs_f64() * 1000.0;
    if r.status == StageStatus::Passed && r.at_ms.is_some_and(|at| at > limit) {
        let at = r.at_ms.unwrap_or_default();
        r.status = StageStatus::Failed;
        r.message = Some(format!(
            "{} took {at:.0} ms, past its deadline of {deadline}",
            r.stage
        ));
        let knob = if case.deadlines.contains_key(&r.stage) {
            format!("`deadlines.{}`", r.stage)
        } else {
            "the case's `timeout` (or set `deadlines.STAGE`)".to_string()
        };
        r.hint = Some(format!(
            "{} did its part, but late; raise {knob} if that is expected",
            r.stage.component()
        ));
    }
    if r.status == StageStatus::Failed && r.message.is_none() {
        r.message = Some(format!("expected {}, observed {}", r.expected, r.observed));
    }
    // Evidence that never came: say that the observer waited the whole deadline for it.
    if r.status == StageStatus::Failed
        && r.at_ms.is_none()
        && obs.timed_out
        && let Some(m) = r.message.as_mut()
    {
        m.push_str(&format!(
            " (still not seen when the case's {} deadline passed)",
            case.timeout
        ));
    }
}

// --- auth ----------------------------------------------------------------------------

fn auth(case: &CaseSpec, obs: &Observation) -> StageResult {
    let c = &obs.create;
    let status_words = match (&c.reason, &c.message) {
        (Some(reason), Some(message)) => format!("{} {reason}: {message}", c.code),
        _ => format!("{} {}", c.code, if c.code == 201 { "Created" } else { "" })
            .trim()
            .to_string(),
    };
    let mut evidence = vec![api(
        obs,
        format!("POST pods as {} → {status_words}", obs.identity),
        Some(c.at_ms),
    )];
    let stored = stored_after_create(obs);
    match (&stored, c.code) {
        (Some((true, ev)), _) | (Some((false, ev)), _) => evidence.push(ev.clone()),
        _ => {}
    }
    let expectation = case.expect.auth.clone().unwrap_or(AuthExpectation::Allowed);
    let r = result(
        Stage::Auth,
        false,
        status_words.clone(),
        Some(c.at_ms),
        evidence,
    );
    match expectation {
        AuthExpectation::Allowed | AuthExpectation::Skip(_) => {
            if c.code == 201 {
                StageResult {
                    status: StageStatus::Passed,
                    ..r
                }
            } else {
                let hint = match c.code {
                    401 => {
                        "the apiserver did not recognise the credentials: check the token or certificate of this identity"
                    }
                    403 => {
                        "the identity is authenticated but not authorized: check its RBAC Roles and bindings for `create pods`"
                    }
                    422 => "the pod is invalid: fix the fields named in the causes",
                    _ => "look at the Status message for the apiserver's reason",
                };
                failed(r, format!("the create was rejected: {status_words}"), hint)
            }
        }
        AuthExpectation::Denied(code) => {
            if c.code != code {
                return failed(
                    r,
                    format!(
                        "expected the create to be denied with {code}, but the apiserver answered {status_words}"
                    ),
                    "check authentication (401) or authorization (403) for this identity",
                );
            }
            match stored {
                Some((true, _)) => failed(
                    r,
                    "the request was denied, yet the pod is in the store",
                    "a rejected request must not reach the store: the apiserver wrote before it checked",
                ),
                Some((false, _)) => StageResult {
                    status: StageStatus::Passed,
                    ..r
                },
                None => failed(
                    r,
                    "denied as expected, but nothing could confirm that the store is untouched",
                    "the observer needs a store probe or an admin API read",
                ),
            }
        }
        AuthExpectation::Invalid(field) => {
            let named = c.causes.iter().any(|(f, _)| {
                f == &field
                    || f.starts_with(&format!("{field}."))
                    || f.starts_with(&format!("{field}["))
            });
            if c.code == 422 && named {
                StageResult {
                    status: StageStatus::Passed,
                    ..r
                }
            } else if c.code == 422 {
                let fields: Vec<&str> = c.causes.iter().map(|(f, _)| f.as_str()).collect();
                failed(
                    r,
                    format!("rejected as invalid, but the causes name {fields:?}, not {field}"),
                    "the expected field is not what the apiserver objects to",
                )
            } else {
                failed(
                    r,
                    format!("expected 422 Invalid at {field}, observed {status_words}"),
                    "the apiserver's validation accepted what the case expects it to reject",
                )
            }
        }
    }
}

/// Whether the pod reached the store after the create, and the evidence that says so.
fn stored_after_create(obs: &Observation) -> Option<(bool, Evidence)> {
    match &obs.store_after_create {
        Probe::Seen(read) => {
            let present = read.create_revision.is_some();
            let detail = if present {
                format!("{} is present", read.key)
            } else {
                format!("{} is absent", read.key)
            };
            Some((
                present,
                from(Source::Store, &read.provider, detail, read.at_ms),
            ))
        }
        Probe::Unavailable(_) => obs.api_after_create.as_ref().map(|a| {
            let present = a.code == 200;
            (
                present,
                api(
                    obs,
                    format!(
                        "GET pod as admin → {} (consistent read; weaker than a store read)",
                        a.code
                    ),
                    Some(a.at_ms),
                ),
            )
        }),
    }
}

// --- etcdWrite -------------------------------------------------------------------------

fn etcd_write(obs: &Observation) -> StageResult {
    let rv = obs.create.resource_version.clone().unwrap_or_default();
    match &obs.store_after_create {
        Probe::Seen(read) => {
            let ev = from(
                Source::Store,
                &read.provider,
                format!(
                    "{} create revision {:?}, mod revision {:?}; API resourceVersion {rv}",
                    read.key, read.create_revision, read.mod_revision
                ),
                read.at_ms,
            );
            let ok = read.create_revision.map(|r| r.to_string()) == Some(rv.clone());
            let r = result(
                Stage::EtcdWrite,
                ok,
                format!(
                    "key written at revision {}",
                    read.create_revision.map_or("-".into(), |r| r.to_string())
                ),
                Some(read.at_ms),
                vec![ev],
            );
            if ok {
                r
            } else if read.create_revision.is_none() {
                failed(
                    r,
                    format!("{} is not in the store", read.key),
                    "the apiserver answered 201 but did not persist the pod",
                )
            } else {
                failed(
                    r,
                    format!(
                        "the key was created at revision {:?}, but the API answered resourceVersion {rv}",
                        read.create_revision
                    ),
                    "resourceVersion must be the store revision of the write",
                )
            }
        }
        Probe::Unavailable(why) => {
            let mut evidence = vec![unavailable(Source::Store, why)];
            match &obs.api_after_create {
                Some(a) => {
                    let uid_ok = a
                        .pod
                        .as_ref()
                        .is_some_and(|p| p.metadata.uid == obs.create.uid);
                    evidence.push(api(
                        obs,
                        format!(
                            "GET pod → {} (consistent read, weaker evidence than a store read)",
                            a.code
                        ),
                        Some(a.at_ms),
                    ));
                    let ok = a.code == 200 && uid_ok;
                    let r = result(
                        Stage::EtcdWrite,
                        ok,
                        "readable through the API (store not inspected)".into(),
                        Some(a.at_ms),
                        evidence,
                    );
                    if ok {
                        r
                    } else {
                        failed(
                            r,
                            "the created pod could not be read back",
                            "the write did not persist",
                        )
                    }
                }
                None => failed(
                    result(
                        Stage::EtcdWrite,
                        false,
                        "no evidence".into(),
                        None,
                        evidence,
                    ),
                    "no store probe and no API read",
                    "run against a target with a store probe, or allow the admin to read pods",
                ),
            }
        }
    }
}

// --- pending ---------------------------------------------------------------------------

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn phase_of(p: &Pod) -> Option<&str> {
    p.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn pending(obs: &Observation) -> StageResult {
    let Some(first) = obs.sightings.first() else {
        return failed(
            result(Stage::Pending, false, "no watch event".into(), None, vec![]),
            "the watch opened before the create saw nothing",
            "the apiserver did not deliver the ADDED event",
        );
    };
    let detail = format!(
        "first watch event {}: phase {}, nodeName {}",
        first.kind,
        phase_of(&first.pod).unwrap_or("<none>"),
        node_of(&first.pod).unwrap_or("<none>")
    );
    let ok = first.kind == "ADDED"
        && phase_of(&first.pod) == Some("Pending")
        && node_of(&first.pod).is_none();
    let r = result(
        Stage::Pending,
        ok,
        format!(
            "{} {}, {}",
            first.kind,
            phase_of(&first.pod).unwrap_or("no phase"),
            node_of(&first.pod).map_or("unassigned".to_string(), |n| format!("on {n}"))
        ),
        Some(first.at_ms),
        vec![api(obs, detail, Some(first.at_ms))],
    );
    if ok {
        r
    } else if node_of(&first.pod).is_some() {
        failed(
            r,
            "the pod already had a node when first seen",
            "a pod created with spec.nodeName bypasses the scheduler; leave nodeName empty to test scheduling",
        )
    } else {
        failed(
            r,
            "the first state seen was not ADDED/Pending",
            "the apiserver must store new pods as Pending",
        )
    }
}

// --- binding ---------------------------------------------------------------------------

fn bound(obs: &Observation) -> Option<&PodSighting> {
    obs.sightings.iter().find(|s| node_of(&s.pod).is_some())
}

fn condition<'a>(p: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn binding(case: &CaseSpec, obs: &Observation) -> StageResult {
    let expectation = case
        .expect
        .binding
        .clone()
        .unwrap_or(BindingExpectation::Pass);
    if let BindingExpectation::Unschedulable(reason) = &expectation {
        return unschedulable(obs, reason);
    }
    if let BindingExpectation::LeftAlone(window) = &expectation {
        return left_alone(obs, *window);
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
    let mut evidence = vec![api(
        obs,
        format!("spec.nodeName = {node} (watch {})", s.kind),
        Some(s.at_ms),
    )];
    let scheduled = obs.sightings.iter().find_map(|x| {
        condition(&x.pod, "PodScheduled")
            .filter(|c| c.status == "True")
            .map(|_| x.at_ms)
    });
    match scheduled {
        Some(at) => evidence.push(api(obs, "condition PodScheduled=True", Some(at))),
        None => evidence.push(api(obs, "condition PodScheduled=True never seen", None)),
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
    let batch = batch_binding(obs);
    let mut observed = format!("bound to {node}");
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
        && want != &node
    {
        return failed(
            r,
            format!("bound to {node}, not {want}"),
            "the scheduler chose another feasible node; check scoring, or the case's expectation",
        );
    }
    if scheduled.is_none() {
        return failed(
            r,
            "the pod has a node but PodScheduled=True was never set",
            "bind through the pods/binding subresource, which sets the condition",
        );
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

/// The binding of every copy of a batch: latency percentiles, and what went wrong.
struct BatchBinding {
    /// For `observed`: `20/20 copies bound, p50 12.3ms, p99 40.1ms`.
    summary: String,
    /// For the evidence: the same with the slowest copy.
    detail: String,
    problem: Option<String>,
    hint: &'static str,
}

fn batch_binding(obs: &Observation) -> Option<BatchBinding> {
    if obs.batch.len() < 2 {
        return None;
    }
    let total = obs.batch.len();
    let mut latencies: Vec<f64> = obs
        .batch
        .iter()
        .filter_map(|b| Some(b.bound_ms? - b.created_ms))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let bound = latencies.len();
    let pct = |p: f64| percentile(&latencies, p).map_or("-".to_string(), |v| format!("{v:.1}ms"));
    let summary = format!(
        "{bound}/{total} copies bound, binding latency p50 {}, p99 {}",
        pct(50.0),
        pct(99.0)
    );
    let detail = format!(
        "batch of {total}: {bound} bound; binding latency (create sent → nodeName seen) p50 {}, p99 {}, max {}",
        pct(50.0),
        pct(99.0),
        pct(100.0)
    );
    let refused: Vec<String> = obs
        .batch
        .iter()
        .filter(|b| b.code != 201)
        .map(|b| format!("{} ({})", b.name, b.code))
        .collect();
    if !refused.is_empty() {
        let names: Vec<&str> = refused.iter().map(String::as_str).collect();
        return Some(BatchBinding {
            summary,
            detail,
            problem: Some(format!(
                "{} of {total} copies were not created: {}",
                refused.len(),
                shorten(&names)
            )),
            hint: "the apiserver refused some creates of the burst; see their codes",
        });
    }
    let unbound: Vec<&str> = obs
        .batch
        .iter()
        .filter(|b| b.bound_ms.is_none())
        .map(|b| b.name.as_str())
        .collect();
    if !unbound.is_empty() {
        return Some(BatchBinding {
            summary,
            detail,
            problem: Some(format!(
                "{} of {total} copies were never bound: {}",
                unbound.len(),
                shorten(&unbound)
            )),
            hint: "the scheduler falls behind or drops pods under a burst of creates; see its log",
        });
    }
    let mut infeasible = Vec::new();
    // Each copy is judged against the node as it was when it was bound (see oracle_verdict).
    for b in &obs.batch {
        let Some(node) = b.node.as_deref() else {
            continue;
        };
        let Some(pod) = obs.pods.iter().find(|p| {
            p.metadata.name.as_deref() == Some(b.name.as_str())
                && p.metadata.namespace.as_deref() == Some(obs.namespace.as_str())
        }) else {
            continue;
        };
        if let Err(v) = oracle_verdict(obs, pod, node) {
            let reasons: Vec<String> = v.iter().map(ToString::to_string).collect();
            infeasible.push(format!("{} on {node}: {}", b.name, reasons.join("; ")));
        }
    }
    let problem = (!infeasible.is_empty()).then(|| {
        format!(
            "{} of {total} copies were bound to a node that cannot take them: {}",
            infeasible.len(),
            infeasible.join(" | ")
        )
    });
    Some(BatchBinding {
        summary,
        detail,
        problem,
        hint: "the scheduler overcommits nodes when pods arrive together: count the pods it has just bound (its assumed pods) against each node's allocatable",
    })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn shorten(names: &[&str]) -> String {
    let mut s = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

/// The pod names a scheduler that is not running: nobody may touch it for `window`.
fn left_alone(obs: &Observation, window: crate::duration::Duration) -> StageResult {
    let want = scheduler_name(obs);
    if let Some(s) = bound(obs) {
        let node = node_of(&s.pod).unwrap_or_default().to_string();
        let by = obs
            .events
            .iter()
            .find(|e| e.reason == "Scheduled")
            .map(|e| format!(" (the Scheduled event names {:?})", e.component))
            .unwrap_or_default();
        let evidence = vec![api(obs, format!("spec.nodeName = {node}"), Some(s.at_ms))];
        let r = result(
            Stage::Binding,
            false,
            format!("bound to {node}"),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!("the pod asks for schedulerName {want:?}, yet it was bound to {node}{by}"),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    let touched = obs
        .events
        .iter()
        .find(|e| matches!(e.reason.as_str(), "Scheduled" | "FailedScheduling"));
    let marked = obs
        .sightings
        .iter()
        .find(|s| condition(&s.pod, "PodScheduled").is_some());
    let mut evidence = vec![api(
        obs,
        format!(
            "no watch event shows spec.nodeName in {:.0} ms",
            obs.observed_ms
        ),
        None,
    )];
    if let Some(e) = touched {
        evidence.push(api(
            obs,
            format!("event {} from {}: {}", e.reason, e.component, e.message),
            Some(e.at_ms),
        ));
        let r = result(
            Stage::Binding,
            false,
            format!("{} event", e.reason),
            Some(e.at_ms),
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod asks for schedulerName {want:?}, yet {:?} reported {} on it",
                e.component, e.reason
            ),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    if let Some(s) = marked {
        evidence.push(api(obs, "condition PodScheduled set", Some(s.at_ms)));
        let r = result(
            Stage::Binding,
            false,
            "PodScheduled set".into(),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod asks for schedulerName {want:?}, yet its PodScheduled condition was set"
            ),
            "a scheduler must leave pods of other schedulerNames alone: filter on spec.schedulerName",
        );
    }
    let window_ms = window.0.as_secs_f64() * 1e3;
    if obs.observed_ms + 1.0 < window_ms {
        let r = result(
            Stage::Binding,
            false,
            "watched too briefly".into(),
            None,
            evidence,
        );
        return failed(
            r,
            format!(
                "the pod was watched for {:.0} ms, less than {window}",
                obs.observed_ms
            ),
            "raise the case's timeout above the leftAlone window",
        );
    }
    // Nothing happened: that shows the scheduler under test left the pod alone only if it
    // was there to act.
    if let Some(sched) = &obs.scheduler_under_test {
        let detail = format!(
            "scheduler under test {} {} at the end of the window",
            sched.command,
            if sched.running {
                "still running"
            } else {
                "not running"
            }
        );
        evidence.push(Evidence {
            source: Source::Process,
            provider: sched.command.clone(),
            real: true,
            detail,
            at_ms: Some(obs.observed_ms),
        });
        if !sched.running {
            let r = result(
                Stage::Binding,
                false,
                "inconclusive: the scheduler under test was not running".into(),
                None,
                evidence,
            );
            return failed(
                r,
                format!(
                    "the pod was left alone, but the scheduler under test ({}) had stopped, so that proves nothing",
                    sched.command
                ),
                "see the scheduler's log: it must keep running for the whole suite",
            );
        }
    }
    result(
        Stage::Binding,
        true,
        format!("left alone for {window}: pending, no scheduler events"),
        None,
        evidence,
    )
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

fn unschedulable(obs: &Observation, reason: &str) -> StageResult {
    let mut evidence = Vec::new();
    if let Some(s) = bound(obs) {
        let node = node_of(&s.pod).unwrap_or_default().to_string();
        evidence.push(api(obs, format!("spec.nodeName = {node}"), Some(s.at_ms)));
        let why = match oracle_verdict(obs, &s.pod, &node) {
            Ok(()) => format!(", and the oracle finds {node} feasible: check the case"),
            Err(v) => format!(
                ", which cannot take it: {}",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let r = result(
            Stage::Binding,
            false,
            format!("bound to {node}"),
            Some(s.at_ms),
            evidence,
        );
        return failed(
            r,
            format!("expected the pod to stay unscheduled, but it was bound to {node}{why}"),
            "the scheduler placed a pod that no node should take: check its filters",
        );
    }
    let condition_seen = obs.sightings.iter().find_map(|s| {
        let c = condition(&s.pod, "PodScheduled")?;
        (c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
            .then(|| (s.at_ms, c.message.clone().unwrap_or_default()))
    });
    if let Some((at, m)) = &condition_seen {
        evidence.push(api(
            obs,
            format!("condition PodScheduled=False, reason Unschedulable: {m}"),
            Some(*at),
        ));
    }
    let event = obs.events.iter().find(|e| e.reason == "FailedScheduling");
    if let Some(e) = event {
        evidence.push(api(
            obs,
            format!("event FailedScheduling from {}: {}", e.component, e.message),
            Some(e.at_ms),
        ));
    }
    let at = [condition_seen.as_ref().map(|c| c.0), event.map(|e| e.at_ms)]
        .into_iter()
        .flatten()
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let observed = event
        .map(|e| format!("unschedulable: {}", e.message))
        .unwrap_or_else(|| "pending, no FailedScheduling".into());
    let r = result(Stage::Binding, false, observed, at, evidence);
    match (condition_seen, event) {
        (Some(_), Some(e)) if e.message.contains(reason) => StageResult {
            status: StageStatus::Passed,
            ..r
        },
        (Some(_), Some(e)) => failed(
            r.clone(),
            format!(
                "unschedulable, but the reason {:?} does not contain {reason:?}",
                e.message
            ),
            "the scheduler rejected the pod for another reason than the case expects",
        ),
        (None, _) => failed(
            r,
            "PodScheduled=False with reason Unschedulable was never set",
            "the scheduler must report why a pod fits nowhere in the PodScheduled condition",
        ),
        (Some(_), None) => failed(
            r,
            "no FailedScheduling event was recorded",
            "the scheduler must record a FailedScheduling event",
        ),
    }
}

// --- criLaunch -------------------------------------------------------------------------

fn cri_launch(obs: &Observation) -> StageResult {
    let running = obs.sightings.iter().find(|s| {
        let st = s
            .pod
            .status
            .as_ref()
            .and_then(|st| st.container_statuses.as_ref());
        let want = s.pod.spec.as_ref().map_or(0, |sp| sp.containers.len());
        st.is_some_and(|cs| {
            cs.len() == want
                && want > 0
                && cs.iter().all(|c| {
                    c.container_id.is_some()
                        && c.state.as_ref().and_then(|x| x.running.as_ref()).is_some()
                })
        })
    });
    let Some(s) = running else {
        let waiting: Vec<String> = obs
            .sightings
            .last()
            .and_then(|s| s.pod.status.as_ref()?.container_statuses.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                let w = c.state.as_ref()?.waiting.as_ref()?;
                Some(format!(
                    "{}: {} {}",
                    c.name,
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                ))
            })
            .collect();
        let r = result(
            Stage::CriLaunch,
            false,
            "containers not running".into(),
            None,
            vec![api(
                obs,
                format!("containerStatuses never all running; waiting: {waiting:?}"),
                None,
            )],
        );
        let failed_event = obs.events.iter().find(|e| {
            e.warning
                && matches!(
                    e.reason.as_str(),
                    "Failed" | "FailedCreatePodSandBox" | "BackOff"
                )
        });
        let hint = failed_event.map_or("the kubelet or the runtime did not start the containers: look at the kubelet's events and the runtime's logs".to_string(), |e| format!("{}: {}", e.reason, e.message));
        return failed(r, "the containers never all ran", hint);
    };
    let statuses = s
        .pod
        .status
        .as_ref()
        .and_then(|st| st.container_statuses.clone())
        .unwrap_or_default();
    let ids: Vec<String> = statuses
        .iter()
        .map(|c| format!("{}={}", c.name, c.container_id.clone().unwrap_or_default()))
        .collect();
    let mut evidence = vec![api(
        obs,
        format!("containerStatuses running: {}", ids.join(", ")),
        Some(s.at_ms),
    )];
    let mut missing_events = Vec::new();
    for reason in ["Pulled", "Created", "Started"] {
        match obs.events.iter().find(|e| e.reason == reason) {
            Some(e) => evidence.push(api(
                obs,
                format!("event {reason} from {}: {}", e.component, e.message),
                Some(e.at_ms),
            )),
            None => missing_events.push(reason),
        }
    }
    let mut mismatches: Vec<String> = Vec::new();
    match &obs.runtime {
        Probe::Seen(rt) => {
            for c in &statuses {
                let id = c.container_id.clone().unwrap_or_default();
                let bare = id
                    .split_once("://")
                    .map_or(id.as_str(), |(_, b)| b)
                    .to_string();
                match rt.containers.iter().find(|(_, rid, _)| *rid == bare) {
                    Some((_, _, state)) if state == "running" => evidence.push(from(
                        Source::Cri,
                        &rt.provider,
                        format!("ContainerStatus {}: RUNNING", short(&bare)),
                        rt.at_ms,
                    )),
                    Some((_, _, state)) => mismatches.push(format!(
                        "the runtime reports container {} as {state}",
                        c.name
                    )),
                    None => mismatches.push(format!(
                        "the runtime does not know container {} ({})",
                        c.name,
                        short(&bare)
                    )),
                }
            }
        }
        Probe::Unavailable(why) => evidence.push(unavailable(Source::Cri, why)),
    }
    let r = result(
        Stage::CriLaunch,
        true,
        format!("{} container(s) running", statuses.len()),
        Some(s.at_ms),
        evidence,
    );
    if !mismatches.is_empty() {
        return failed(
            r,
            mismatches.join("; "),
            "the kubelet reports a container the runtime does not run: the status is not backed by the runtime",
        );
    }
    if !missing_events.is_empty() {
        return failed(
            r,
            format!("no {} event(s)", missing_events.join("/")),
            "the kubelet records Pulled, Created and Started for each container",
        );
    }
    r
}

fn short(id: &str) -> &str {
    &id[..id.len().min(13)]
}

// --- cniAttach -------------------------------------------------------------------------

fn pod_ip(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

fn in_cidr(ip: &str, cidr: &str) -> Option<bool> {
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let net: ipnet::IpNet = cidr.parse().ok()?;
    Some(net.contains(&ip))
}

fn finished(p: &Pod) -> bool {
    crate::path::finished(p)
}

fn host_network(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|sp| sp.host_network)
        .unwrap_or(false)
}

fn cni_attach(obs: &Observation) -> StageResult {
    let Some(s) = obs.sightings.iter().find(|s| pod_ip(&s.pod).is_some()) else {
        let r = result(
            Stage::CniAttach,
            false,
            "no pod IP".into(),
            None,
            vec![api(obs, "status.podIP never set", None)],
        );
        return failed(
            r,
            "the pod never got an IP",
            "the runtime calls the CNI plugins while it creates the sandbox: check the CNI configuration and the sandbox events",
        );
    };
    let ip = pod_ip(&s.pod).unwrap_or_default().to_string();
    let node = node_of(&s.pod).unwrap_or_default().to_string();
    let mut evidence = vec![api(
        obs,
        format!("status.podIP = {ip} on {node}"),
        Some(s.at_ms),
    )];
    let mut problems: Vec<(String, &str)> = Vec::new();
    if host_network(&s.pod) {
        // A hostNetwork pod has the node's address: no plugin ran, no range applies.
        evidence.push(api(obs, "hostNetwork pod: it uses the node's network, so the podCIDR and uniqueness do not apply", None));
    } else {
        let cidr = obs
            .nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node.as_str()))
            .and_then(|n| n.spec.as_ref()?.pod_cidr.clone());
        match cidr.as_deref().map(|c| (c, in_cidr(&ip, c))) {
            Some((c, Some(true))) => {
                evidence.push(api(obs, format!("{ip} lies in {node}'s podCIDR {c}"), None))
            }
            Some((c, _)) => problems.push((
                format!("{ip} is outside {node}'s podCIDR {c}"),
                "the IPAM plugin hands out addresses from another range than the node's podCIDR",
            )),
            None => evidence.push(api(
                obs,
                format!("{node} has no podCIDR; the range was not checked"),
                None,
            )),
        }
        // Finished pods keep their last podIP while the address is reused: not a clash.
        let twins: Vec<String> = obs
            .pods
            .iter()
            .filter(|p| {
                p.metadata.uid != s.pod.metadata.uid
                    && pod_ip(p) == Some(ip.as_str())
                    && !host_network(p)
                    && !finished(p)
            })
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if twins.is_empty() {
            evidence.push(api(obs, format!("no other running pod has {ip}"), None));
        } else {
            problems.push((
                format!("{ip} is also the IP of {}", twins.join(", ")),
                "IPAM handed out the same address twice",
            ));
        }
    }
    match &obs.netns {
        _ if host_network(&s.pod) => {}
        Probe::Seen(n) => {
            let has = n
                .addresses
                .iter()
                .any(|(_, a)| a.split('/').next() == Some(ip.as_str()));
            let ifs: Vec<String> = n
                .addresses
                .iter()
                .map(|(i, a)| format!("{i} {a}"))
                .collect();
            evidence.push(from(
                Source::Netns,
                &n.provider,
                format!("the sandbox's netns holds {}", ifs.join(", ")),
                n.at_ms,
            ));
            if !has {
                problems.push((format!("the sandbox's network namespace does not hold {ip}"), "the reported IP is not configured in the pod: the plugin's result and the namespace disagree"));
            }
            match &n.reach {
                Some(Ok(how)) => evidence.push(from(
                    Source::Netns,
                    &n.provider,
                    format!("the node reaches {ip}: {how}"),
                    n.at_ms,
                )),
                Some(Err(why)) => problems.push((
                    format!("the node cannot reach {ip}: {why}"),
                    "the plugin must connect the pod to the node (bridge, veth, routes)",
                )),
                None => {}
            }
        }
        Probe::Unavailable(why) => evidence.push(unavailable(Source::Netns, why)),
    }
    let r = result(
        Stage::CniAttach,
        true,
        format!("IP {ip}"),
        Some(s.at_ms),
        evidence,
    );
    with_problems(r, problems)
}

/// Fails `r` with every problem found, first one's hint.
fn with_problems(r: StageResult, problems: Vec<(String, &str)>) -> StageResult {
    match problems.first() {
        None => r,
        Some((_, hint)) => {
            let hint = hint.to_string();
            let messages: Vec<String> = problems.into_iter().map(|(m, _)| m).collect();
            failed(r, messages.join("; "), hint)
        }
    }
}

/// Whether the kubelet gives the pod the cluster DNS: ClusterFirst (unless on the host
/// network, where it means Default) and ClusterFirstWithHostNet.
fn uses_cluster_dns(obs: &Observation) -> bool {
    let spec = obs.sightings.first().and_then(|s| s.pod.spec.as_ref());
    let host = spec.and_then(|s| s.host_network).unwrap_or(false);
    match spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst")
    {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host,
        _ => false,
    }
}

// --- dns -------------------------------------------------------------------------------

fn dns(obs: &Observation) -> StageResult {
    let d = match &obs.dns {
        Probe::Seen(d) => d,
        Probe::Unavailable(why) => {
            let r = result(
                Stage::Dns,
                false,
                "not checked".into(),
                None,
                vec![unavailable(Source::Dns, why)],
            );
            return failed(
                r,
                format!("DNS could not be checked from inside the pod: {why}"),
                "the dns stage needs pods/exec on the target (and a running container)",
            );
        }
    };
    let mut evidence = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    match &d.resolv_conf {
        Ok(text) => {
            evidence.push(api(
                obs,
                format!("{}: {}", d.resolv_source, text.trim().replace('\n', "; ")),
                Some(d.at_ms),
            ));
            if uses_cluster_dns(obs) {
                let conf = crate::resolv::ResolvConf::parse(text);
                let zone = &obs.cluster_domain;
                let want_search = [
                    format!("{}.svc.{zone}", obs.namespace),
                    format!("svc.{zone}"),
                    zone.clone(),
                ];
                if let Some(dns_ip) = &obs.cluster_dns_ip
                    && !conf.nameservers.contains(dns_ip)
                {
                    problems.push((
                        format!(
                            "resolv.conf names {:?}, not the cluster DNS {dns_ip}",
                            conf.nameservers
                        ),
                        "the kubelet's --cluster-dns does not match the cluster DNS Service".into(),
                    ));
                }
                if conf.search.len() < 3 || conf.search[..3] != want_search {
                    problems.push((format!("search path {:?}, expected it to start with {:?}", conf.search, want_search), "the kubelet builds the search path from the namespace and --cluster-domain".into()));
                }
                if conf.ndots != 5 {
                    problems.push((
                        format!("ndots is {}, expected 5", conf.ndots),
                        "ClusterFirst pods get options ndots:5".into(),
                    ));
                }
            }
        }
        Err(e) => problems.push((
            format!("could not read /etc/resolv.conf in the pod: {e}"),
            "exec into the container failed".into(),
        )),
    }
    for l in &d.lookups {
        let tried = l.tried.join(", ");
        match (&l.answer, &l.expected) {
            (Ok(ips), Some(want)) if ips.contains(want) => evidence.push(from(
                Source::Dns,
                &d.provider,
                format!(
                    "{} → {} (tried {tried}) via {}",
                    l.name,
                    fmt_ips(ips),
                    d.server
                ),
                d.at_ms,
            )),
            (Ok(ips), Some(want)) => {
                evidence.push(from(
                    Source::Dns,
                    &d.provider,
                    format!("{} → {} (tried {tried})", l.name, fmt_ips(ips)),
                    d.at_ms,
                ));
                problems.push((
                    format!("{} resolved to {}, expected {want}", l.name, fmt_ips(ips)),
                    "the DNS server's record disagrees with the Service".into(),
                ));
            }
            (Err(e), Some(want)) => {
                evidence.push(from(
                    Source::Dns,
                    &d.provider,
                    format!("{} → {e} (tried {tried})", l.name),
                    d.at_ms,
                ));
                problems.push((
                    format!("{} did not resolve (expected {want}): {e}", l.name),
                    "is the cluster DNS serving the Service's namespace and zone?".into(),
                ));
            }
            (Err(e), None) => evidence.push(from(
                Source::Dns,
                &d.provider,
                format!("{} → {e}, as expected (tried {tried})", l.name),
                d.at_ms,
            )),
            (Ok(ips), None) => {
                evidence.push(from(
                    Source::Dns,
                    &d.provider,
                    format!("{} → {} (tried {tried})", l.name, fmt_ips(ips)),
                    d.at_ms,
                ));
                problems.push((
                    format!(
                        "{} resolved to {}, but the case expects it not to resolve",
                        l.name,
                        fmt_ips(ips)
                    ),
                    "the DNS server answers for a name that should not exist".into(),
                ));
            }
        }
    }
    let observed = if problems.is_empty() {
        format!("{} lookup(s) answered as expected", d.lookups.len())
    } else {
        format!("{} problem(s)", problems.len())
    };
    let r = result(
        Stage::Dns,
        problems.is_empty(),
        observed,
        Some(d.at_ms),
        evidence,
    );
    match problems.into_iter().next() {
        Some((m, h)) => failed(r, m, h),
        None => r,
    }
}

fn fmt_ips(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

// --- statusUpdate ----------------------------------------------------------------------

fn status_update(obs: &Observation) -> StageResult {
    let complete = |p: &Pod| {
        let st = p.status.as_ref();
        let cond = |k: &str| condition(p, k).is_some_and(|c| c.status == "True");
        phase_of(p) == Some("Running")
            && cond("Initialized")
            && cond("ContainersReady")
            && cond("Ready")
            && st.and_then(|s| s.pod_ip.as_ref()).is_some()
            && st.and_then(|s| s.host_ip.as_ref()).is_some()
            && st.and_then(|s| s.start_time.as_ref()).is_some()
    };
    let Some(s) = obs.sightings.iter().find(|s| complete(&s.pod)) else {
        let last = obs.sightings.last().map(|s| &s.pod);
        let phase = last.and_then(phase_of).unwrap_or("<none>").to_string();
        let not_true: Vec<String> = ["Initialized", "ContainersReady", "Ready"]
            .iter()
            .filter(|k| {
                last.and_then(|p| condition(p, k))
                    .is_none_or(|c| c.status != "True")
            })
            .map(|k| k.to_string())
            .collect();
        let r = result(
            Stage::StatusUpdate,
            false,
            format!("phase {phase}"),
            None,
            vec![api(
                obs,
                format!("last phase {phase}; conditions not True: {not_true:?}"),
                None,
            )],
        );
        return failed(
            r,
            "the pod never reported Running with all conditions True",
            "the kubelet reports status through the apiserver; check that it can patch pods/status",
        );
    };
    let mut evidence = vec![api(
        obs,
        "phase Running; Initialized, ContainersReady, Ready True; podIP, hostIP, startTime set",
        Some(s.at_ms),
    )];
    let persisted = match &obs.store_after_running {
        Probe::Seen(read) => {
            let phase = read
                .value
                .as_ref()
                .and_then(|v| v.pointer("/status/phase"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            evidence.push(from(
                Source::Store,
                &read.provider,
                format!(
                    "{} holds phase {}",
                    read.key,
                    phase.clone().unwrap_or_else(|| "<none>".into())
                ),
                read.at_ms,
            ));
            phase.as_deref() == Some("Running")
        }
        Probe::Unavailable(why) => {
            evidence.push(unavailable(Source::Store, why));
            match &obs.api_after_running {
                Some(a) => {
                    let phase = a
                        .pod
                        .as_ref()
                        .and_then(phase_of)
                        .unwrap_or("<none>")
                        .to_string();
                    evidence.push(api(obs, format!("GET pod → phase {phase} (consistent read, weaker evidence than a store read)"), Some(a.at_ms)));
                    phase == "Running"
                }
                None => false,
            }
        }
    };
    let r = result(
        Stage::StatusUpdate,
        true,
        "Running".into(),
        Some(s.at_ms),
        evidence,
    );
    if persisted {
        r
    } else {
        failed(
            r,
            "the Running status was not found persisted",
            "the apiserver answered the status update but the store does not hold it",
        )
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
