//! What `podcheck run` prints: a block per suite (components under test, a line per case, the
//! failures with their hints), the summary and provider lines, a line per snapshot, where the
//! reports went, and the progress lines on stderr. Pure: the CLI decides where text goes.

use std::path::PathBuf;

use crate::result::{CaseResult, RunResults, StageStatus, SuiteResult, Verdict};
use crate::snapshot::SnapshotOutcome;

/// The results block printed after a run: every suite and case, then the totals and the
/// providers the target used.
pub fn render(results: &RunResults) -> String {
    let mut out = String::new();
    for suite in &results.suites {
        out.push_str(&suite_block(suite));
    }
    out.push_str(&summary_line(results));
    out.push('\n');
    if let Some(line) = skipped_line(results) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(line) = providers_line(results) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn suite_block(suite: &SuiteResult) -> String {
    if let Some(skip) = &suite.skipped {
        let n = suite.cases.len();
        let mut out = format!(
            "{}  skipped ({n} case{}): {}\n",
            suite.name,
            if n == 1 { "" } else { "s" },
            skip.reason
        );
        if let Some(install) = &skip.install {
            out.push_str(&format!("  to run it: {install}\n"));
        }
        return out;
    }
    let mut out = format!("{}\n", suite.name);
    for c in &suite.components {
        out.push_str(&format!(
            "  component under test: {} {} {}\n",
            c.component, c.name, c.version
        ));
    }
    for case in &suite.cases {
        out.push_str(&case_line(case));
        if let Some(load) = case.load() {
            out.push_str(&load_line(load));
        }
        out.push_str(&case_failures(case));
    }
    out
}

/// `  NAME  VERDICT  DURATION ms  ✓stage ✗stage -stage  N/M checks`.
fn case_line(case: &CaseResult) -> String {
    let mut cells: Vec<String> = case
        .stages()
        .iter()
        .map(|s| format!("{}{}", status_mark(s.status), s.stage.name()))
        .collect();
    let checks = case.checks();
    if !checks.is_empty() {
        let passed = checks
            .iter()
            .filter(|c| c.status == StageStatus::Passed)
            .count();
        cells.push(format!("{passed}/{} checks", checks.len()));
    }
    let verdict = match case.verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "FAILED",
        Verdict::Error => "ERROR",
        Verdict::Skipped => "skipped",
    };
    format!(
        "  {:<28} {verdict:<7} {:>7.1} ms  {}\n",
        case.name,
        case.duration_ms,
        cells.join(" ")
    )
}

/// `      load: N pods, R Ready in Ts; pod_startup p50 …, p99 …`.
fn load_line(load: &crate::scale::case::LoadSummary) -> String {
    use crate::scale::stats::Metric;
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}ms"));
    let startup = load
        .metrics
        .iter()
        .find(|m| m.metric == Metric::PodStartup)
        .map(|m| format!("; pod_startup p50 {}, p99 {}", ms(m.p50), ms(m.p99)))
        .unwrap_or_default();
    format!(
        "      load: {} pods, {} Ready in {:.2}s{}{startup}\n",
        load.pods,
        load.progress.ready,
        load.wall_ms / 1000.0,
        if load.timed_out { " (timed out)" } else { "" },
    )
}

fn status_mark(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Passed => "✓",
        StageStatus::Failed => "✗",
        StageStatus::Skipped => "-",
    }
}

/// The case's error, then each failed stage and check with its message and hint.
fn case_failures(case: &CaseResult) -> String {
    let mut out = String::new();
    if let Some(e) = &case.error {
        out.push_str(&format!("      error: {e}\n"));
    }
    let stages = case
        .stages()
        .iter()
        .filter(|s| s.status == StageStatus::Failed)
        .map(|s| (s.stage.to_string(), &s.message, &s.hint));
    let checks = case
        .checks()
        .iter()
        .filter(|c| c.status == StageStatus::Failed)
        .map(|c| (c.name.clone(), &c.message, &c.hint));
    for (name, message, hint) in stages.chain(checks) {
        out.push_str(&format!(
            "      {name}: {}\n",
            message.as_deref().unwrap_or_default()
        ));
        if let Some(h) = hint {
            out.push_str(&format!("      hint: {h}\n"));
        }
    }
    out
}

/// `N passed, N failed, N errors — N cases on TARGET (VERSION) in N ms`.
pub fn summary_line(results: &RunResults) -> String {
    let s = results.summary;
    let on = if results.target.version.is_empty() {
        results.target.kind.clone()
    } else {
        format!("{} ({})", results.target.kind, results.target.version)
    };
    let skipped = if s.skipped > 0 {
        format!(", {} skipped", s.skipped)
    } else {
        String::new()
    };
    format!(
        "{} passed, {} failed, {} errors{skipped} — {} cases on {on} in {:.0} ms",
        s.passed, s.failed, s.errors, s.cases, results.duration_ms
    )
}

/// `skipped: cni, cri — …`: the suites that could not run here (each suite's block says why
/// and what to install); none when every suite ran.
pub fn skipped_line(results: &RunResults) -> Option<String> {
    let skipped: Vec<&str> = results
        .suites
        .iter()
        .filter(|s| s.skipped.is_some())
        .map(|s| s.name.as_str())
        .collect();
    (!skipped.is_empty()).then(|| {
        format!(
            "skipped: {} — not run, their components cannot run on this machine (why and what to install: above)",
            skipped.join(", ")
        )
    })
}

/// `providers: store etcd 3.5 (real), …`; the apiserver is always podcheck's own, so left out.
pub fn providers_line(results: &RunResults) -> Option<String> {
    let providers: Vec<String> = results
        .target
        .providers
        .iter()
        .filter(|p| p.component != "apiserver")
        .map(|p| {
            let kind = if p.real { "real" } else { "simulated" };
            format!("{} {} {} ({kind})", p.component, p.name, p.version)
        })
        .collect();
    (!providers.is_empty()).then(|| format!("providers: {}", providers.join(", ")))
}

/// One line (a diff follows a changed snapshot) per snapshot outcome.
pub fn snapshot_line(outcome: &SnapshotOutcome) -> String {
    match outcome {
        SnapshotOutcome::Matches(p) => format!("snapshot {}: unchanged", p.display()),
        SnapshotOutcome::Written(p) => format!("snapshot {}: written", p.display()),
        SnapshotOutcome::Skipped(why) => format!("snapshot {why}"),
        SnapshotOutcome::Pending {
            path,
            pending,
            diff: None,
        } => format!(
            "snapshot {}: new; written to {} for review (accept with --snapshot update)",
            path.display(),
            pending.display()
        ),
        SnapshotOutcome::Pending {
            path,
            pending,
            diff: Some(d),
        } => format!(
            "snapshot {}: CHANGED (this run's in {}):\n{d}",
            path.display(),
            pending.display()
        ),
    }
}

/// `reports: DIR/results.json, …, DIR/report.html`: the HTML report last, where the eye
/// lands at the end of a run, since it is the one to open.
pub fn reports_line(written: &[PathBuf]) -> String {
    let is_html = |p: &&PathBuf| p.extension().is_some_and(|e| e == "html");
    let shown: Vec<String> = written
        .iter()
        .filter(|p| !is_html(p))
        .chain(written.iter().filter(is_html))
        .map(|p| p.display().to_string())
        .collect();
    format!("reports: {}", shown.join(", "))
}

/// The progress line of a suite that starts (stderr, without a progress bar).
pub fn suite_started_line(suite: &str, cases: usize) -> String {
    format!("suite {suite}: {cases} case(s)")
}

/// The progress line of a finished case: its mark, `SUITE/CASE`, and what failed. With a
/// progress bar only cases that did not pass are printed, always with `✗`.
pub fn case_finished_line(
    suite: &str,
    case: &str,
    verdict: Verdict,
    failed: &[String],
    bar: bool,
) -> String {
    let mark = match verdict {
        _ if bar => "✗",
        Verdict::Passed => "✓",
        Verdict::Failed => "✗",
        Verdict::Error => "!",
        Verdict::Skipped => "-",
    };
    let line = format!("{mark} {suite}/{case} {}", failed.join(", "));
    line.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{conformance_fixture, fixture};

    /// Replaces every `NUMBER ms` (with the padding before it) by `[ms] ms`: the snapshot
    /// shows the layout, not timings.
    fn redacted(text: &str) -> String {
        let words: Vec<&str> = text.split(' ').collect();
        let mut out: Vec<&str> = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            let before_ms = words.get(i + 1).is_some_and(|n| n.starts_with("ms"));
            if before_ms && w.parse::<f64>().is_ok() {
                while out.last() == Some(&"") {
                    out.pop();
                }
                out.push("[ms]");
            } else {
                out.push(w);
            }
        }
        out.join(" ")
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(redacted(&render(&fixture())));
    }

    #[test]
    fn conformance_snapshot() {
        insta::assert_snapshot!(redacted(&render(&conformance_fixture())));
    }

    /// The columns the redacted snapshot does not show: name 28 wide, verdict 7, duration 7.
    #[test]
    fn case_line_pads_its_columns() {
        let results = fixture();
        let case = &results.suites[1].cases[1];
        assert_eq!(
            case_line(case),
            format!(
                "  {:<28} ERROR   {:>7.1} ms  \n",
                "registry-down", case.duration_ms
            )
        );
        assert_eq!(
            summary_line(&results),
            "2 passed, 1 failed, 1 errors — 4 cases on local (v1.33.1-podcheck) in 32118 ms"
        );
    }

    #[test]
    fn summary_line_names_the_target_and_its_version() {
        let results = fixture();
        let line = summary_line(&results);
        assert!(
            line.starts_with("2 passed, 1 failed, 1 errors — 4 cases on "),
            "{line}"
        );
    }

    #[test]
    fn snapshot_lines() {
        let lines = [
            SnapshotOutcome::Matches("s/a.snap".into()),
            SnapshotOutcome::Written("s/b.snap".into()),
            SnapshotOutcome::Skipped("s/c.snap: not compared, the run was filtered".into()),
            SnapshotOutcome::Pending {
                path: "s/d.snap".into(),
                pending: "s/d.snap.pending".into(),
                diff: None,
            },
            SnapshotOutcome::Pending {
                path: "s/e.snap".into(),
                pending: "s/e.snap.pending".into(),
                diff: Some("-old\n+new".into()),
            },
        ]
        .iter()
        .map(snapshot_line)
        .collect::<Vec<_>>()
        .join("\n");
        insta::assert_snapshot!(lines);
    }

    #[test]
    fn progress_lines() {
        let failed = ["binding".to_string()];
        assert_eq!(suite_started_line("basic", 3), "suite basic: 3 case(s)");
        assert_eq!(
            case_finished_line("basic", "a", Verdict::Passed, &[], false),
            "✓ basic/a"
        );
        assert_eq!(
            case_finished_line("basic", "b", Verdict::Error, &failed, false),
            "! basic/b binding"
        );
        assert_eq!(
            case_finished_line("basic", "b", Verdict::Error, &failed, true),
            "✗ basic/b binding"
        );
    }

    #[test]
    fn reports_line_joins_the_paths() {
        let written = [
            PathBuf::from("r/results.json"),
            PathBuf::from("r/junit.xml"),
        ];
        assert_eq!(
            reports_line(&written),
            "reports: r/results.json, r/junit.xml"
        );
    }
}
