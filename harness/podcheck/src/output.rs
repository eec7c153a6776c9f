//! What a run writes: the reports in the report directory, and the snapshots beside the
//! suites.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use podcheck_core::conformance::AnySuite;
use podcheck_core::report;
use podcheck_core::result::RunResults;
pub use podcheck_core::snapshot::SnapshotOutcome;
use podcheck_core::snapshot::{self, Comparison};

use crate::Error;

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes results.json, junit.xml, summary.md and report.html into `dir` (created if
/// needed); report.html last, as the terminal names it last.
pub fn write_reports(results: &RunResults, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let path = dir.join("results.json");
    write(&path, &report::json::render(results))?;
    let mut written = vec![path];
    written.extend(write_derived_reports(results, dir)?);
    Ok(written)
}

/// Writes the reports drawn from the results — junit.xml, summary.md, report.html — into
/// `dir`, leaving its results.json as it is (`podcheck report` reads it, and must not
/// rewrite what a run recorded).
pub fn write_derived_reports(results: &RunResults, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let junit = report::junit::render(results).map_err(|e| Error::Write {
        path: dir.join("junit.xml").display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let files = [
        ("junit.xml", junit),
        ("summary.md", report::markdown::render(results)),
        ("report.html", report::html::render(results)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        write(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `invocation.json` beside the reports: the target options a rerun applies again.
pub fn write_invocation(invocation: &crate::rerun::Invocation, dir: &Path) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(invocation)
        .expect("an Invocation is strings only, always serializable");
    text.push('\n');
    write(&dir.join(crate::rerun::INVOCATION_FILE), &text)
}

/// What to do with snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Compare with the stored snapshot; record a missing one (in CI: as a pending file,
    /// and fail).
    Check,
    /// Rewrite the stored snapshots.
    Update,
    /// Leave snapshots alone.
    Ignore,
}

/// The snapshot file of a suite: beside it, `NAME.snap`.
pub fn snapshot_path(suite_path: &Path) -> PathBuf {
    suite_path.with_extension("snap")
}

/// The node names each pod suite declared, by suite path (as its results name it): the
/// embedded target starts nodes of those names, and on any other cluster they are mapped
/// onto its nodes (`crate::node_map`) and the verdicts call them by the suite's names, so
/// they are the same in every run.
pub fn declared_nodes(suites: &[AnySuite]) -> BTreeMap<String, Vec<String>> {
    suites
        .iter()
        .filter_map(|s| match s {
            AnySuite::Pods(s) => Some((
                s.path.display().to_string(),
                s.nodes.iter().map(|n| n.name.clone()).collect(),
            )),
            AnySuite::Cni(_) | AnySuite::Cri(_) | AnySuite::Dns(_) => None,
        })
        .collect()
}

/// Compares or writes each suite's snapshot, keeping the node names in `declared_nodes` (see
/// [`declared_nodes`]). `filtered` runs, and suites skipped here, are not compared.
pub fn snapshots(
    results: &RunResults,
    declared_nodes: &BTreeMap<String, Vec<String>>,
    mode: SnapshotMode,
    filtered: bool,
    ci: bool,
) -> Result<Vec<SnapshotOutcome>, Error> {
    let mut outcomes = Vec::new();
    for suite in &results.suites {
        let path = snapshot_path(Path::new(&suite.path));
        if mode == SnapshotMode::Ignore {
            continue;
        }
        // A suite that did not run here has nothing to compare, and its snapshot stays as
        // the machines that can run it wrote it.
        if suite.skipped.is_some() {
            outcomes.push(SnapshotOutcome::Skipped(format!(
                "{}: not compared, the suite did not run here",
                path.display()
            )));
            continue;
        }
        if filtered {
            outcomes.push(SnapshotOutcome::Skipped(format!(
                "{}: not compared, the run was filtered",
                path.display()
            )));
            continue;
        }
        let nodes = declared_nodes
            .get(&suite.path)
            .map_or(&[][..], Vec::as_slice);
        let current = snapshot::render(suite, nodes);
        let pending = path.with_extension("snap.pending");
        if mode == SnapshotMode::Update {
            write(&path, &current)?;
            let _ = std::fs::remove_file(&pending);
            outcomes.push(SnapshotOutcome::Written(path));
            continue;
        }
        let stored = std::fs::read_to_string(&path).ok();
        match snapshot::compare(stored.as_deref(), &current) {
            Comparison::Matches => {
                let _ = std::fs::remove_file(&pending);
                outcomes.push(SnapshotOutcome::Matches(path));
            }
            Comparison::New if !ci => {
                write(&path, &current)?;
                outcomes.push(SnapshotOutcome::Written(path));
            }
            Comparison::New => {
                write(&pending, &current)?;
                outcomes.push(SnapshotOutcome::Pending {
                    path,
                    pending,
                    diff: None,
                });
            }
            Comparison::Differs(diff) => {
                write(&pending, &current)?;
                outcomes.push(SnapshotOutcome::Pending {
                    path,
                    pending,
                    diff: Some(diff),
                });
            }
        }
    }
    Ok(outcomes)
}
