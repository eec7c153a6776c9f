//! `podcheck run`: suites × cases on a target, then reports, the summary and snapshots.

use std::path::PathBuf;
use std::time::Duration;

use podcheck_core::conformance::AnySuite;
use podcheck_core::report::terminal;
use podcheck_core::result::RunResults;

use crate::TargetChoice;
use crate::conformance::ConformanceOptions;
use crate::error::{Cleanup, UserError};
use crate::github::{self, GithubEnv};
use crate::kind::{self, KindRequest};
use crate::output::{self, SnapshotMode, SnapshotOutcome};
use crate::progress::ProgressDisplay;
use crate::rerun::Invocation;
use crate::runner::{self, RunOptions};

/// The suites a run runs: loaded, with only the cases the filters name.
pub struct SelectedSuites {
    pub suites: Vec<AnySuite>,
    /// Whether `--case` or `--tag` filtered (such runs compare no snapshots).
    pub filtered: bool,
}

/// Loads the suites in `paths` and keeps the cases named in `cases` or tagged with `tags`
/// (all when both are empty).
pub fn select(
    paths: &[PathBuf],
    cases: &[String],
    tags: &[String],
) -> Result<SelectedSuites, UserError> {
    let mut suites = crate::suites::load(paths)?;
    for s in &mut suites {
        s.retain_cases(cases, tags);
    }
    suites.retain(|s| !s.cases().is_empty());
    if suites.is_empty() {
        return Err(UserError::NoCaseMatches);
    }
    Ok(SelectedSuites {
        suites,
        filtered: !cases.is_empty() || !tags.is_empty(),
    })
}

/// Where a run's cases go.
#[derive(Debug, Clone)]
pub enum RunTarget {
    /// The embedded control plane, or a kubeconfig's cluster, as they are.
    Ready(TargetChoice),
    /// A kind cluster, created (or reused) for the run first.
    Kind(KindRequest),
}

/// How to run the selection.
pub struct RunRequest {
    pub target: RunTarget,
    pub jobs: usize,
    pub fail_fast: bool,
    /// Default: `reports/RUN-ID`.
    pub report_dir: Option<PathBuf>,
    pub snapshot: SnapshotMode,
    pub conformance: ConformanceOptions,
    /// The target options, recorded in the report dir for `--rerun-failed`.
    pub invocation: Invocation,
}

/// How a run of the suites ended.
enum Ended {
    /// With its results written and printed: `Ok`, or the error to exit with.
    Done(Result<(), UserError>),
    /// Ctrl-C or SIGTERM; nothing cleaned up yet.
    Interrupted,
}

/// Runs the selection; a case or snapshot that does not pass is
/// [`UserError::ExpectationsFailed`], after everything is written and printed.
pub async fn run(selected: SelectedSuites, request: RunRequest) -> Result<(), UserError> {
    let id = run_id();
    let dir = request
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));
    match &request.target {
        RunTarget::Ready(target) => {
            match run_suites(&selected, target.clone(), &request, &id, &dir).await {
                Ended::Done(result) => result,
                Ended::Interrupted => Err(UserError::Interrupted(clean_up(target, &id).await)),
            }
        }
        RunTarget::Kind(kind) => run_on_kind(&selected, kind.clone(), &request, &id, &dir).await,
    }
}

/// The kind target: the cluster is made ready (Ctrl-C there deletes what podcheck began),
/// the suites run on it, its logs are exported into the report dir when anything failed,
/// and it is deleted unless it was reused or `--keep` says so.
async fn run_on_kind(
    selected: &SelectedSuites,
    request: KindRequest,
    run: &RunRequest,
    id: &str,
    dir: &std::path::Path,
) -> Result<(), UserError> {
    let suite_images = selected
        .suites
        .iter()
        .filter_map(|s| match s {
            AnySuite::Pods(s) => Some(s.images.iter().map(|i| i.path.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let session = kind::Session::prepare(request, suite_images)?;
    let started = tokio::select! {
        r = session.start() => r,
        _ = super::signalled() => {
            eprintln!("podcheck: interrupted; cleaning up");
            return Err(UserError::Interrupted(abandon(&session).await));
        }
    };
    let target = match started {
        Ok(target) => target,
        Err(e) => {
            session.export_logs(dir).await;
            session.finish().await;
            return Err(e);
        }
    };
    let kubeconfig = target.kubeconfig.clone();
    let result = match run_suites(selected, TargetChoice::Kind(target), run, id, dir).await {
        Ended::Done(result) => result,
        Ended::Interrupted => {
            let cleanup = match abandon(&session).await {
                // A cluster that stays (reused) keeps nothing of the run.
                Cleanup::Deleted(_) => clean_up(&TargetChoice::Kubeconfig(kubeconfig), id).await,
                other => other,
            };
            return Err(UserError::Interrupted(cleanup));
        }
    };
    if result.is_err() {
        session.export_logs(dir).await;
    }
    session.finish().await;
    result
}

/// Deletes the cluster podcheck created after an interruption, within its deadline.
async fn abandon(session: &kind::Session) -> Cleanup {
    match session.abandon().await {
        None => Cleanup::Deleted(0),
        Some(Ok(())) => Cleanup::ClusterDeleted(session.name().to_string()),
        Some(Err(e)) => Cleanup::Failed(crate::Error::Connect(e)),
    }
}

/// Runs the suites on a target that is ready, and writes and prints what they gave.
async fn run_suites(
    selected: &SelectedSuites,
    target: TargetChoice,
    request: &RunRequest,
    id: &str,
    dir: &std::path::Path,
) -> Ended {
    let SelectedSuites { suites, filtered } = selected;
    let ci = std::env::var_os("CI").is_some();
    let opts = RunOptions {
        target,
        jobs: request.jobs,
        fail_fast: request.fail_fast,
        run_id: id.to_string(),
    };
    let progress = ProgressDisplay::new(ci);
    let show = |p| progress.show(p);
    let results = tokio::select! {
        r = runner::run_all(suites, &opts, &request.conformance, &show) => r,
        _ = super::signalled() => {
            progress.clear();
            eprintln!("podcheck: interrupted; cleaning up");
            return Ended::Interrupted;
        }
    };
    drop(progress);
    Ended::Done(report(results, suites, request, *filtered, ci, dir))
}

/// Writes the reports, prints the results and compares the snapshots.
fn report(
    results: Result<RunResults, crate::Error>,
    suites: &[AnySuite],
    request: &RunRequest,
    filtered: bool,
    ci: bool,
    dir: &std::path::Path,
) -> Result<(), UserError> {
    let results = results?;
    let written = output::write_reports(&results, dir)?;
    output::write_invocation(&request.invocation, dir)?;
    print!("{}", terminal::render(&results));
    let nodes = output::declared_nodes(suites);
    let outcomes = output::snapshots(&results, &nodes, request.snapshot, filtered, ci)?;
    for o in &outcomes {
        println!("{}", terminal::snapshot_line(o));
    }
    github::publish(&GithubEnv::from_env(), &results, suites);
    println!("{}", terminal::reports_line(&written));
    if results.summary.failed + results.summary.errors > 0
        || outcomes.iter().any(SnapshotOutcome::fails)
    {
        Err(UserError::ExpectationsFailed)
    } else {
        Ok(())
    }
}

/// Deletes what the interrupted run left on a cluster, within a minute.
async fn clean_up(target: &TargetChoice, run_id: &str) -> Cleanup {
    let cleanup = runner::clean_interrupted(target, run_id);
    match tokio::time::timeout(Duration::from_secs(60), cleanup).await {
        Ok(Ok(n)) => Cleanup::Deleted(n),
        Ok(Err(e)) => Cleanup::Failed(e),
        Err(_) => Cleanup::TimedOut,
    }
}

/// `YYYYMMDDTHHMMSSZ-PID`: sorts by time (`--rerun-failed` takes the greatest as the last
/// run), differs between runs started in the same second.
pub(crate) fn run_id() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        std::process::id() & 0xffff
    )
}
