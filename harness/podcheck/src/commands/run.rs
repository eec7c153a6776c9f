//! `podcheck run`: suites × cases on a target, then reports, the summary and snapshots.

use std::path::PathBuf;
use std::time::Duration;

use podcheck_core::conformance::AnySuite;
use podcheck_core::report::terminal;

use crate::TargetChoice;
use crate::conformance::ConformanceOptions;
use crate::error::{Cleanup, UserError};
use crate::output::{self, SnapshotMode, SnapshotOutcome};
use crate::progress::ProgressDisplay;
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

/// How to run the selection.
pub struct RunRequest {
    pub target: TargetChoice,
    pub jobs: usize,
    pub fail_fast: bool,
    /// Default: `reports/RUN-ID`.
    pub report_dir: Option<PathBuf>,
    pub snapshot: SnapshotMode,
    pub conformance: ConformanceOptions,
}

/// Runs the selection; a case or snapshot that does not pass is
/// [`UserError::ExpectationsFailed`], after everything is written and printed.
pub async fn run(selected: SelectedSuites, request: RunRequest) -> Result<(), UserError> {
    let SelectedSuites { suites, filtered } = selected;
    let ci = std::env::var_os("CI").is_some();
    let id = run_id();
    let opts = RunOptions {
        target: request.target,
        jobs: request.jobs,
        fail_fast: request.fail_fast,
        run_id: id.clone(),
    };
    let progress = ProgressDisplay::new(suites.iter().map(|s| s.cases().len()).sum(), ci);
    let show = |p| progress.show(p);
    let results = tokio::select! {
        r = runner::run_all(&suites, &opts, &request.conformance, &show) => r?,
        _ = super::signalled() => {
            progress.clear();
            eprintln!("podcheck: interrupted; cleaning up");
            return Err(UserError::Interrupted(clean_up(&opts).await));
        }
    };
    drop(progress);
    let dir = request
        .report_dir
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));
    let written = output::write_reports(&results, &dir)?;
    print!("{}", terminal::render(&results));
    let nodes = output::declared_nodes(&suites);
    let outcomes = output::snapshots(&results, &nodes, request.snapshot, filtered, ci)?;
    for o in &outcomes {
        println!("{}", terminal::snapshot_line(o));
    }
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
async fn clean_up(opts: &RunOptions) -> Cleanup {
    let cleanup = runner::clean_interrupted(&opts.target, &opts.run_id);
    match tokio::time::timeout(Duration::from_secs(60), cleanup).await {
        Ok(Ok(n)) => Cleanup::Deleted(n),
        Ok(Err(e)) => Cleanup::Failed(e),
        Err(_) => Cleanup::TimedOut,
    }
}

/// `YYYYMMDDTHHMMSSZ-PID`: sorts by time, differs between runs started in the same second.
fn run_id() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        std::process::id() & 0xffff
    )
}
