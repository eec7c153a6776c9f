//! `podcheck run --rerun-failed [RUN_DIR]`: an earlier run's report directory, the cases
//! of it that did not pass, and the target options it ran with (`invocation.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use podcheck_core::result::{RunResults, Verdict};
use serde::{Deserialize, Serialize};

use crate::commands::run::SelectedSuites;
use crate::error::UserError;

/// Where runs write their report directories by default (see `commands::run`).
pub const REPORTS: &str = "reports";

/// The file of a report directory that records how the run was invoked.
pub const INVOCATION_FILE: &str = "invocation.json";

/// How a run was invoked: its target options as command-line words, which a rerun parses
/// back with the same CLI (and so the same checks) as a fresh run. Suites and filters are
/// not in it: the results name the suites, and a rerun chooses its cases itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invocation {
    /// The podcheck that wrote it.
    pub podcheck: String,
    /// `--target kind --kind-config F`, `--runtime sim --jobs 4`, …
    pub target_args: Vec<String>,
}

impl Invocation {
    pub fn new(target_args: Vec<String>) -> Invocation {
        Invocation {
            podcheck: env!("CARGO_PKG_VERSION").into(),
            target_args,
        }
    }
}

/// An earlier run, read back from its report directory.
#[derive(Debug)]
pub struct PreviousRun {
    pub dir: PathBuf,
    pub results: RunResults,
    /// None for a run written before podcheck recorded its invocation.
    pub invocation: Option<Invocation>,
}

impl PreviousRun {
    /// `dir`, or the newest run under `reports/` (run ids sort by time).
    pub fn find(dir: Option<&Path>) -> Result<PreviousRun, UserError> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => newest_run(Path::new(REPORTS))?,
        };
        let results_path = dir.join("results.json");
        if !results_path.is_file() {
            return Err(UserError::NoRunResults {
                dir: dir.display().to_string(),
            });
        }
        let results = read_json(&results_path)?;
        let invocation_path = dir.join(INVOCATION_FILE);
        let invocation = invocation_path
            .exists()
            .then(|| read_json(&invocation_path))
            .transpose()?;
        Ok(PreviousRun {
            dir,
            results,
            invocation,
        })
    }

    /// The cases that did not pass, loaded again from their suites; None when every case
    /// passed (or was skipped), as there is nothing to rerun.
    pub fn select(&self) -> Result<Option<SelectedSuites>, UserError> {
        let wanted = not_passed(&self.results);
        if wanted.is_empty() {
            return Ok(None);
        }
        let paths: Vec<PathBuf> = wanted.keys().map(PathBuf::from).collect();
        let mut suites = crate::suites::load(&paths)?;
        for suite in &mut suites {
            let path = suite.path().display().to_string();
            let names = wanted.get(&path).cloned().unwrap_or_default();
            suite.retain_cases(&names, &[]);
            if let Some(gone) = names
                .iter()
                .find(|n| !suite.cases().iter().any(|(c, _)| c == n))
            {
                return Err(UserError::RerunCaseGone {
                    run: self.dir.display().to_string(),
                    suite: path,
                    case: gone.clone(),
                });
            }
        }
        suites.retain(|s| !s.cases().is_empty());
        Ok(Some(SelectedSuites {
            suites,
            filtered: true,
        }))
    }
}

/// Per suite path (two suites may share case names), the cases that failed or were in
/// error; skipped and passed cases are not rerun.
pub fn not_passed(results: &RunResults) -> BTreeMap<String, Vec<String>> {
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for suite in &results.suites {
        for case in &suite.cases {
            if matches!(case.verdict, Verdict::Failed | Verdict::Error) {
                wanted
                    .entry(suite.path.clone())
                    .or_default()
                    .push(case.name.clone());
            }
        }
    }
    wanted
}

/// The report directory under `reports` with the greatest name that holds a results.json.
fn newest_run(reports: &Path) -> Result<PathBuf, UserError> {
    let no_run = || UserError::NoPreviousRun {
        reports: reports.display().to_string(),
    };
    let entries = std::fs::read_dir(reports).map_err(|_| no_run())?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("results.json").is_file())
        .max()
        .ok_or_else(no_run)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, UserError> {
    let unreadable = |message: String| UserError::ReadRun {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(cases: &[(&str, &str, Verdict)]) -> RunResults {
        let mut suites: Vec<podcheck_core::result::SuiteResult> = Vec::new();
        for (path, case, verdict) in cases {
            let mut c = podcheck_core::result::CaseResult::conformance(case, "", vec![], 0.0, None);
            c.verdict = *verdict;
            match suites.iter_mut().find(|s| s.path == *path) {
                Some(s) => s.cases.push(c),
                None => suites.push(podcheck_core::result::SuiteResult {
                    name: "s".into(),
                    path: path.to_string(),
                    kind: "cni".into(),
                    components: vec![],
                    skipped: None,
                    cases: vec![c],
                }),
            }
        }
        let json = serde_json::json!({
            "schema": "x", "runId": "r", "startedAt": "t", "durationMs": 0.0,
            "target": {"kind": "local", "server": "", "version": "", "providers": []},
            "suites": suites,
            "summary": {"cases": 0, "passed": 0, "failed": 0, "errors": 0}
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn failed_and_errored_cases_are_rerun_per_suite_path() {
        let r = results(&[
            ("a.yaml", "same", Verdict::Failed),
            ("a.yaml", "ok", Verdict::Passed),
            ("b.yaml", "same", Verdict::Passed),
            ("b.yaml", "broken", Verdict::Error),
            ("c.yaml", "absent", Verdict::Skipped),
        ]);
        let wanted = not_passed(&r);
        assert_eq!(
            wanted,
            BTreeMap::from([
                ("a.yaml".to_string(), vec!["same".to_string()]),
                ("b.yaml".to_string(), vec!["broken".to_string()]),
            ])
        );
    }

    #[test]
    fn the_newest_run_is_the_greatest_name_with_results() {
        let reports = tempfile::tempdir().unwrap();
        for (name, with_results) in [
            ("20260101T000000Z-0001", true),
            ("20260102T000000Z-0001", true),
            ("20260103T000000Z-0001", false),
        ] {
            let dir = reports.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            if with_results {
                std::fs::write(dir.join("results.json"), "{}").unwrap();
            }
        }
        assert_eq!(
            newest_run(reports.path()).unwrap(),
            reports.path().join("20260102T000000Z-0001")
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            newest_run(empty.path()),
            Err(UserError::NoPreviousRun { .. })
        ));
        assert!(matches!(
            newest_run(&empty.path().join("none")),
            Err(UserError::NoPreviousRun { .. })
        ));
    }

    #[test]
    fn the_invocation_file_reads_back() {
        let invocation = Invocation::new(vec!["--runtime".into(), "sim".into()]);
        let json = serde_json::to_string(&invocation).unwrap();
        assert!(
            json.contains("\"targetArgs\":[\"--runtime\",\"sim\"]"),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<Invocation>(&json).unwrap(),
            invocation
        );
    }
}
