//! Runs suites against a target: pod suites' cases in parallel up to `--jobs`, each
//! observed, evaluated, and cleaned up, then conformance suites; the results of all of them.

use std::time::Instant;

use futures::StreamExt;
use podcheck_core::conformance::AnySuite;
use podcheck_core::evaluate::evaluate;
use podcheck_core::load::{CaseSpec, Suite};
use podcheck_core::progress::CaseAt;
use podcheck_core::result::{
    CaseKind, CaseResult, RESULTS_SCHEMA, RunResults, StageStatus, SuiteResult, SuiteSkip,
    TargetInfo, Verdict,
};

use podcheck_core::scale::case::{LoadPlan, LoadSummary};

use crate::conformance::{self, ConformanceOptions};
use crate::error::Cleanup;
use crate::target::{ProviderOptions, Target};
use crate::{Error, TargetChoice};
use crate::{node_map, observer};
use podcheck_controlplane::providers::{self, Component, RuntimeChoice};

/// How long a suite's end waits for its cases' namespaces to be gone.
const CLEANUP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// What the runner reports as it goes (the CLI turns these into progress output).
#[derive(Debug, Clone)]
pub enum Progress {
    SuiteStarted {
        suite: String,
        cases: usize,
    },
    /// A pod case in flight moved on (set up, a stage's wait, probes, cleanup).
    CaseAt {
        suite: String,
        case: String,
        at: CaseAt,
    },
    CaseFinished {
        suite: String,
        case: String,
        verdict: Verdict,
        failed_stages: Vec<String>,
    },
}

/// How to run.
pub struct RunOptions {
    pub target: TargetChoice,
    pub jobs: usize,
    pub fail_fast: bool,
    pub run_id: String,
}

/// Pod suites through [`run`] (a target each), then conformance suites, in one result.
pub async fn run_all(
    suites: &[AnySuite],
    opts: &RunOptions,
    conformance_options: &ConformanceOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunResults, Error> {
    let pods: Vec<Suite> = suites
        .iter()
        .filter_map(|s| match s {
            AnySuite::Pods(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    let mut results = run(&pods, opts, progress).await?;
    for suite in suites.iter().filter(|s| !matches!(s, AnySuite::Pods(_))) {
        if opts.fail_fast && results.summary.failed + results.summary.errors > 0 {
            break;
        }
        progress(Progress::SuiteStarted {
            suite: suite.name().to_string(),
            cases: suite.cases().len(),
        });
        let result =
            conformance::run_suite(suite, &opts.target, conformance_options, &opts.run_id).await?;
        for case in &result.cases {
            progress(Progress::CaseFinished {
                suite: result.name.clone(),
                case: case.name.clone(),
                verdict: case.verdict,
                failed_stages: case
                    .checks()
                    .iter()
                    .filter(|c| c.status == StageStatus::Failed)
                    .map(|c| c.name.clone())
                    .collect(),
            });
        }
        if results.target.kind.is_empty() {
            results.target.kind = match opts.target {
                TargetChoice::Local(_) => "local".into(),
                TargetChoice::Kubeconfig(_) => "kubeconfig".into(),
                TargetChoice::Kind(_) => "kind".into(),
            };
        }
        results.suites.push(result);
        results.summarize();
    }
    results.duration_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(results)
}

/// Why a suite with a CNI conflist of its own (`spec.components.cniConflist`) cannot run on
/// the embedded target here: it needs the real pod network, and without it the conflist
/// would be ignored. Skipped with the reason (and the packages that would fix it), as a
/// conformance suite of podcheck's own is; unless the suite or `--require-real` insists
/// on the real network, in which case the target's setup stops the run.
fn network_skip(suite: &Suite, providers: &ProviderOptions) -> Option<SuiteSkip> {
    let conflist = suite.cni_conflist.as_ref()?;
    if providers.require_real.contains(&Component::Network)
        || suite
            .require_real
            .iter()
            .any(|c| c == Component::Network.name())
    {
        return None;
    }
    let choices = providers::choose(&providers.selection);
    let network = choices.iter().find(|c| c.component == Component::Network)?;
    if network.real {
        return None;
    }
    let file = conflist
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (why, missing) = match &providers.selection.runtime {
        RuntimeChoice::Sim => ("--runtime sim simulates it".to_string(), Vec::new()),
        RuntimeChoice::CriSocket(_) => (network.why.clone(), Vec::new()),
        RuntimeChoice::Auto | RuntimeChoice::Containerd => (
            podcheck_node::real_runtime_usable()
                .err()
                .unwrap_or_else(|| network.why.clone()),
            podcheck_node::real_runtime_missing(),
        ),
    };
    Some(SuiteSkip {
        reason: format!(
            "its CNI conflist ({file}) needs the real pod network (containerd, runc and the CNI plugins, as root): {}",
            why.trim_end_matches('.')
        ),
        install: podcheck_host::prerequisite::install_command(&missing),
    })
}

/// Runs every suite; a target that cannot be set up is an error, a failed case is data.
pub async fn run(
    suites: &[Suite],
    opts: &RunOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunResults, Error> {
    let started = Instant::now();
    let started_at = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut results = RunResults {
        schema: RESULTS_SCHEMA.into(),
        run_id: opts.run_id.clone(),
        started_at,
        duration_ms: 0.0,
        target: TargetInfo {
            kind: String::new(),
            server: String::new(),
            version: String::new(),
            providers: Vec::new(),
        },
        suites: Vec::new(),
        summary: Default::default(),
    };
    let mut stop = false;
    for suite in suites {
        if stop {
            break;
        }
        progress(Progress::SuiteStarted {
            suite: suite.name.clone(),
            cases: suite.cases.len(),
        });
        if let TargetChoice::Local(providers) = &opts.target
            && let Some(skip) = network_skip(suite, providers)
        {
            let cases: Vec<(&str, &str)> = suite
                .cases
                .iter()
                .map(|c| (c.name.as_str(), c.description.as_str()))
                .collect();
            let skipped = SuiteResult::skipped(
                &suite.name,
                &suite.path.display().to_string(),
                "pods",
                &cases,
                skip,
            );
            for case in &skipped.cases {
                progress(Progress::CaseFinished {
                    suite: suite.name.clone(),
                    case: case.name.clone(),
                    verdict: case.verdict,
                    failed_stages: Vec::new(),
                });
            }
            if results.target.kind.is_empty() {
                results.target.kind = "local".into();
            }
            results.suites.push(skipped);
            continue;
        }
        let mut target = match &opts.target {
            TargetChoice::Local(providers) => Target::local(suite, providers).await?,
            TargetChoice::Kubeconfig(path) => {
                if suite.scheduler.is_some() {
                    tracing::warn!(suite = %suite.name, "the suite's scheduler runs on the embedded target only; the cluster's own schedulers are observed");
                }
                if !suite.images.is_empty() {
                    tracing::warn!(suite = %suite.name, "the suite's image archives are served to the embedded target's nodes only; the cluster pulls from its own registries");
                }
                if suite.cni_conflist.is_some() {
                    tracing::warn!(suite = %suite.name, "the suite's CNI conflist is the embedded target's pod network only; the cluster's own network is observed");
                }
                Target::kubeconfig(path).await?
            }
            TargetChoice::Kind(kind) => {
                if suite.cni_conflist.is_some() {
                    tracing::warn!(suite = %suite.name, "the suite's CNI conflist is the embedded target's pod network only; the kind cluster's own network (--cni-manifest) is observed");
                }
                kind.connect_for(suite).await?
            }
        };
        target.run_id = opts.run_id.clone();
        results.target = target.info.clone();
        // On a cluster podcheck did not make, the suite's nodes are mapped onto its own.
        let mapped = match (&opts.target, suite.nodes.is_empty()) {
            (TargetChoice::Kubeconfig(_) | TargetChoice::Kind(_), false) => {
                match node_map::apply(&target.admin, &suite.nodes, &opts.run_id).await {
                    Ok(applied) => {
                        target.node_aliases = applied.map.aliases();
                        Some(applied)
                    }
                    Err(problems) => {
                        let why = format!(
                            "the suite's nodes cannot be mapped onto the cluster's: {}",
                            problems.join("; ")
                        );
                        for case in &suite.cases {
                            progress(Progress::CaseFinished {
                                suite: suite.name.clone(),
                                case: case.name.clone(),
                                verdict: Verdict::Error,
                                failed_stages: Vec::new(),
                            });
                        }
                        results.suites.push(SuiteResult {
                            name: suite.name.clone(),
                            path: suite.path.display().to_string(),
                            kind: "pods".into(),
                            components: target.components.clone(),
                            skipped: None,
                            cases: suite.cases.iter().map(|c| not_run(c, &why)).collect(),
                        });
                        target.shutdown().await;
                        continue;
                    }
                }
            }
            _ => None,
        };
        let mut done: Vec<(usize, CaseResult)> = Vec::new();
        // Faults break the control plane every case shares: such cases run alone, after the
        // others, and only where podcheck owns the control plane.
        let faulted = |case: &CaseSpec| !case.faults.is_empty();
        let can_break = target.faults().is_some();
        for (i, case) in suite.cases.iter().enumerate() {
            if faulted(case) && !can_break {
                let r = not_run(case, FAULTS_ELSEWHERE);
                progress(Progress::CaseFinished {
                    suite: suite.name.clone(),
                    case: r.name.clone(),
                    verdict: Verdict::Skipped,
                    failed_stages: Vec::new(),
                });
                done.push((
                    i,
                    CaseResult {
                        verdict: Verdict::Skipped,
                        ..r
                    },
                ));
            }
        }
        // A load case loads the control plane every case shares: alone too, and last, so
        // that no other case's times carry its load.
        let loaded = |case: &CaseSpec| case.load.is_some();
        let calm = suite
            .cases
            .iter()
            .enumerate()
            .filter(|(_, c)| !faulted(c) && !loaded(c));
        let breaking = suite
            .cases
            .iter()
            .enumerate()
            .filter(|(_, c)| faulted(c) && can_break);
        let loads = suite.cases.iter().enumerate().filter(|(_, c)| loaded(c));
        let phases = [
            (calm.collect::<Vec<_>>(), opts.jobs.max(1)),
            (breaking.collect(), 1),
            (loads.collect(), 1),
        ];
        for (cases, jobs) in phases {
            if stop {
                break;
            }
            let cases = futures::stream::iter(cases)
                .map(|(i, case)| {
                    let target = &target;
                    async move {
                        let show = |at| {
                            progress(Progress::CaseAt {
                                suite: suite.name.clone(),
                                case: case.name.clone(),
                                at,
                            })
                        };
                        let mut r = match &case.load {
                            Some(plan) => run_load_case(target, suite, case, plan, i, &show).await,
                            None => run_case(target, suite, case, i, &show).await,
                        };
                        if faulted(case) {
                            left_in_force(target, &mut r);
                        }
                        let failed_stages = r
                            .stages()
                            .iter()
                            .filter(|s| s.status == StageStatus::Failed)
                            .map(|s| s.stage.name().to_string());
                        let failed_checks = r
                            .checks()
                            .iter()
                            .filter(|c| c.status == StageStatus::Failed)
                            .map(|c| c.name.clone());
                        progress(Progress::CaseFinished {
                            suite: suite.name.clone(),
                            case: r.name.clone(),
                            verdict: r.verdict,
                            failed_stages: failed_stages.chain(failed_checks).collect(),
                        });
                        (i, r)
                    }
                })
                .buffer_unordered(jobs);
            tokio::pin!(cases);
            while let Some((i, r)) = cases.next().await {
                let failed = r.verdict != Verdict::Passed;
                done.push((i, r));
                if failed && opts.fail_fast {
                    stop = true;
                    break;
                }
            }
        }
        done.sort_by_key(|(i, _)| *i);
        // The cases' namespaces were deleted as each case ended; wait for them once, here,
        // so that no case waits for another's cleanup.
        let deadline = Instant::now() + CLEANUP_DEADLINE;
        let namespaces: Vec<String> = done.iter().map(|(_, r)| r.namespace.clone()).collect();
        let waits = namespaces
            .iter()
            .map(|ns| observer::gone(&target, ns, deadline));
        for ((_, r), gone) in done.iter_mut().zip(futures::future::join_all(waits).await) {
            if let Err(e) = gone
                && r.error.is_none()
            {
                r.error = Some(format!("cleanup: {e}"));
            }
        }
        if let Some(applied) = mapped {
            applied.undo(&target.admin).await;
        }
        results.suites.push(SuiteResult {
            name: suite.name.clone(),
            path: suite.path.display().to_string(),
            kind: "pods".into(),
            components: target.components.clone(),
            skipped: None,
            cases: done.into_iter().map(|(_, r)| r).collect(),
        });
        target.shutdown().await;
    }
    results.duration_ms = started.elapsed().as_secs_f64() * 1e3;
    results.summarize();
    Ok(results)
}

/// Deletes what an interrupted run left on a cluster: its labelled namespaces (bounded).
/// The embedded target needs nothing: it lives and dies with the process.
pub async fn clean_interrupted(target: &TargetChoice, run_id: &str) -> Result<usize, Error> {
    let TargetChoice::Kubeconfig(path) = target else {
        return Ok(0);
    };
    let target = Target::kubeconfig(path).await?;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(target.admin.clone());
    let selector = format!("{}={run_id}", observer::RUN_LABEL);
    let list = namespaces
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    node_map::undo_run(&target.admin, run_id).await;
    let mut deleted = 0;
    for ns in list.items {
        if let Some(name) = ns.metadata.name
            && observer::cleanup(&target, &name).await.is_ok()
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// A faulted case that left a switch thrown is an error (and the switch is thrown back):
/// the cases after it would otherwise meet a broken control plane.
fn left_in_force(target: &Target, r: &mut CaseResult) {
    let Some(faults) = target.faults() else {
        return;
    };
    let thrown = faults.thrown();
    if !thrown.is_empty() {
        faults.end_all();
        r.verdict = Verdict::Error;
        r.error = Some(format!(
            "faults left in force after the case: {}",
            thrown.join(", ")
        ));
    }
}

/// Why a case with faults is skipped on a cluster podcheck did not make.
const FAULTS_ELSEWHERE: &str = "the case injects faults (`faults:`), which podcheck can do only to the embedded control plane it runs itself: skipped on this target";

/// A case that could not run: an error, with why.
fn not_run(case: &CaseSpec, why: &str) -> CaseResult {
    CaseResult {
        name: case.name.clone(),
        description: case.description.clone(),
        tags: case.tags.clone(),
        namespace: String::new(),
        pod: case.pod_source.clone(),
        identity: case.identity.label(),
        verdict: Verdict::Error,
        duration_ms: 0.0,
        error: Some(why.to_string()),
        kind: CaseKind::Pod { stages: Vec::new() },
        timeline: Vec::new(),
        batch: None,
    }
}

/// The namespace of a case: unique per run, recognisable, a DNS label.
fn namespace_for(suite: &Suite, case: &CaseSpec, index: usize) -> String {
    let suffix: String = uuid_suffix();
    let mut base = format!("pc-{}-{}", suite.name, case.name);
    base.truncate(63 - suffix.len() - 1 - 3);
    let base = base.trim_end_matches('-');
    format!("{base}-{index}-{suffix}")
}

fn uuid_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:05x}",
        (nanos ^ std::process::id().rotate_left(7)) & 0xfffff
    )
}

/// A load case: its pods created at once in its own namespace, as `podcheck load` creates
/// them, the checks the core makes of what the watch saw, and the cleanup (the namespace
/// is waited for with the others' at the suite's end).
async fn run_load_case(
    target: &Target,
    suite: &Suite,
    case: &CaseSpec,
    plan: &LoadPlan,
    index: usize,
    show: observer::ShowAt<'_>,
) -> CaseResult {
    let started = Instant::now();
    let ns = namespace_for(suite, case, index);
    show(CaseAt::Setup);
    // An error until the load's report says otherwise.
    let mut result = CaseResult {
        namespace: ns.clone(),
        pod: case.pod_source.clone(),
        error: None,
        ..not_run(case, "")
    };
    let measured = match serde_json::from_value(case.pod.clone()) {
        Ok(template) => {
            show(CaseAt::Load { pods: plan.pods });
            let load = crate::scale::Load {
                plan,
                template: &template,
                id: &ns,
                namespace: &ns,
                namespace_labels: &[(observer::RUN_LABEL, &target.run_id)],
            };
            let cluster = crate::scale::Cluster {
                client: &target.admin,
                description: format!("{} {}", target.info.kind, target.info.server),
                scheduler_name: target.pods_scheduler.clone(),
                embedded: target.faults().is_some(),
            };
            crate::scale::measure(&load, &cluster)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("the pod template is not a Pod: {e}")),
    };
    show(CaseAt::Cleanup);
    let cleanup = crate::scale::delete_namespace(&target.admin, &ns, plan.in_flight, false).await;
    match measured {
        Ok(report) => {
            let apiserver = target
                .info
                .providers
                .iter()
                .find(|p| p.component == "apiserver");
            let checks = podcheck_core::scale::case::checks(&report, apiserver);
            let failed = checks.iter().any(|c| c.status == StageStatus::Failed);
            result.verdict = if failed {
                Verdict::Failed
            } else {
                Verdict::Passed
            };
            result.kind = CaseKind::Load {
                load: Box::new(LoadSummary::of(&report)),
                checks,
            };
        }
        Err(e) => result.error = Some(e),
    }
    match cleanup {
        Cleanup::Deleted(_) | Cleanup::ClusterDeleted(_) => {}
        Cleanup::Failed(e) if result.error.is_none() => {
            result.error = Some(format!("cleanup: {e}"));
        }
        Cleanup::TimedOut if result.error.is_none() => {
            result.error = Some(format!(
                "cleanup: namespace {ns} was not deleted within 60 s"
            ));
        }
        Cleanup::Failed(_) | Cleanup::TimedOut => {}
    }
    result.duration_ms = (started.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    result
}

async fn run_case(
    target: &Target,
    suite: &Suite,
    case: &CaseSpec,
    index: usize,
    show: observer::ShowAt<'_>,
) -> CaseResult {
    let started = Instant::now();
    let ns = namespace_for(suite, case, index);
    let adjusted;
    let case = match &target.pods_scheduler {
        Some(name) if case.pod.pointer("/spec/schedulerName").is_none() => {
            let mut c = case.clone();
            c.pod["spec"]["schedulerName"] = serde_json::json!(name);
            adjusted = c;
            &adjusted
        }
        _ => case,
    };
    let observed = observer::observe(target, case, &ns, show).await;
    show(CaseAt::Cleanup);
    let cleanup = observer::start_cleanup(target, &ns).await;
    let mut result = CaseResult {
        name: case.name.clone(),
        description: case.description.clone(),
        tags: case.tags.clone(),
        namespace: ns,
        pod: case.pod_source.clone(),
        identity: case.identity.label(),
        verdict: Verdict::Passed,
        duration_ms: 0.0,
        error: None,
        kind: CaseKind::Pod { stages: Vec::new() },
        timeline: Vec::new(),
        batch: None,
    };
    match observed {
        Ok(obs) => {
            let stages = evaluate(case, &obs);
            let failed = stages.iter().any(|s| s.status == StageStatus::Failed);
            result.kind = CaseKind::Pod { stages };
            result.timeline = obs.timeline();
            result.batch = podcheck_core::evaluate::batch(&obs);
            result.verdict = if failed {
                Verdict::Failed
            } else {
                Verdict::Passed
            };
        }
        Err(e) => {
            result.verdict = Verdict::Error;
            result.error = Some(e.0);
        }
    }
    if let Err(e) = cleanup
        && result.error.is_none()
    {
        result.error = Some(format!("cleanup: {e}"));
    }
    result.duration_ms = (started.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    result
}
