//! `summary.md`: a run at a glance, written for `$GITHUB_STEP_SUMMARY`.
//!
//! The totals come first, then one case × stage matrix per suite so a reader sees where in the
//! pod's path each case stopped, then the details of every failure so they need not open
//! `junit.xml` or `results.json`.

use std::fmt::Write as _;

use super::model::{CheckCase, Failure, FailureKind, PodCase, Report, SuiteCases, SuiteView};
use super::{evidence_line, format_ms, provider_label};
use crate::result::{
    CheckResult, Evidence, RunResults, StageResult, StageStatus, Summary, Verdict,
};
use crate::stage::Stage;

/// Renders the run as GitHub-flavoured Markdown.
pub fn render(results: &RunResults) -> String {
    let report = Report::new(results);
    let mut out = String::new();
    // `fmt::Write` for `String` never fails, so the results of `write!` are ignored below.
    let _ = writeln!(out, "## podcheck: {}\n", totals(&results.summary));
    target(&mut out, results);
    for suite in &report.suites {
        suite_table(&mut out, suite);
    }
    failures(&mut out, &report.failures);
    out
}

fn totals(s: &Summary) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} passed, {} failed, {} — {}",
        s.passed,
        s.failed,
        plural(s.errors, "error", "errors"),
        plural(s.cases, "case", "cases"),
    )
}

fn target(out: &mut String, results: &RunResults) {
    let t = &results.target;
    let providers: Vec<String> = t.providers.iter().map(provider_label).collect();
    let _ = write!(
        out,
        "**Target:** {} · `{}` · {}",
        inline(&t.kind),
        t.server,
        inline(&t.version)
    );
    if !providers.is_empty() {
        let _ = write!(out, " · providers: {}", inline(&providers.join(", ")));
    }
    let _ = writeln!(
        out,
        "\n\nRun `{}` started {}, took {:.1} s.\n",
        results.run_id,
        inline(&results.started_at),
        results.duration_ms / 1000.0
    );
}

fn suite_table(out: &mut String, view: &SuiteView) {
    let suite = view.suite;
    let _ = writeln!(out, "### {}\n", inline(&suite.name));
    if !suite.path.is_empty() {
        let _ = writeln!(out, "`{}`\n", suite.path);
    }
    for c in &suite.components {
        let _ = writeln!(
            out,
            "Component under test: {} {}\n",
            c.component,
            inline(format!("{} {}", c.name, c.version).trim_end())
        );
    }
    match &view.cases {
        // A suite of load cases alone has no stage to show.
        SuiteCases::Pods(cases) if cases.is_empty() && !view.loads.is_empty() => {}
        SuiteCases::Pods(cases) => stage_table(out, cases),
        SuiteCases::Checks(cases) => check_table(out, cases),
    }
    if !view.loads.is_empty() {
        out.push_str("Load cases:\n\n");
        check_table(out, &view.loads);
    }
}

/// A pod suite: one row per case, one column per stage.
fn stage_table(out: &mut String, cases: &[PodCase]) {
    out.push_str("| Case |");
    for stage in Stage::ALL {
        let _ = write!(out, " {stage} |");
    }
    out.push_str(" Verdict |\n|---|");
    out.push_str(&"---|".repeat(Stage::ALL.len()));
    out.push_str("---|\n");

    for case in cases {
        let _ = write!(out, "| {} |", cell(&case.case.name));
        for row in &case.rows {
            let _ = write!(out, " {} |", row.result.map(stage_cell).unwrap_or_default());
        }
        let _ = writeln!(out, " {} |", verdict_cell(case.case.verdict));
    }
    out.push('\n');
}

/// A conformance suite: one row per case, its checks counted and the failed ones named.
fn check_table(out: &mut String, cases: &[CheckCase]) {
    out.push_str("| Case | Checks | Failed checks | Verdict |\n|---|---|---|---|\n");
    for case in cases {
        let failed: Vec<String> = case.failed.iter().map(|c| inline(&c.name)).collect();
        let _ = writeln!(
            out,
            "| {} | {}/{} | {} | {} |",
            cell(&case.case.name),
            case.passed,
            case.case.checks().len(),
            failed.join(", "),
            verdict_cell(case.case.verdict),
        );
    }
    out.push('\n');
}

fn verdict_cell(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "✓ passed",
        Verdict::Failed => "✗ **failed**",
        Verdict::Error => "⚠ **error**",
        Verdict::Skipped => "– skipped",
    }
}

fn stage_cell(stage: &StageResult) -> String {
    let mark = match stage.status {
        StageStatus::Passed => "✓",
        StageStatus::Failed => "✗",
        StageStatus::Skipped => return "– skipped".to_owned(),
    };
    match stage.at_ms {
        Some(at) => format!("{mark} {}", format_ms(at)),
        None => mark.to_owned(),
    }
}

/// The model's failures, each under a heading of its case and what failed.
fn failures(out: &mut String, failures: &[Failure]) {
    if !failures.is_empty() {
        out.push_str("## Failures\n\n");
    }
    for f in failures {
        let _ = writeln!(out, "### {} / {}\n", inline(&f.case.name), f.name());
        let _ = write!(out, "Suite `{}`", f.suite.name);
        if !f.suite.path.is_empty() {
            let _ = write!(out, " (`{}`)", f.suite.path);
        }
        out.push_str("\n\n");
        match &f.what {
            FailureKind::Stage(stage) => stage_failure(out, stage),
            FailureKind::Check(check) => check_failure(out, check),
            FailureKind::Case { error, .. } => {
                let _ = writeln!(out, "- **Error:** {}\n", inline(error));
            }
        }
    }
}

fn stage_failure(out: &mut String, stage: &StageResult) {
    let _ = writeln!(out, "- **Component:** {}", inline(stage.stage.component()));
    failure_details(
        out,
        &stage.expected,
        &stage.observed,
        stage.message.as_deref(),
        stage.hint.as_deref(),
        &stage.evidence,
    );
}

fn check_failure(out: &mut String, check: &CheckResult) {
    failure_details(
        out,
        &check.expected,
        &check.observed,
        check.message.as_deref(),
        check.hint.as_deref(),
        &check.evidence,
    );
}

/// What was expected and seen, why it failed, and the evidence: the same for stages and
/// checks.
fn failure_details(
    out: &mut String,
    expected: &str,
    observed: &str,
    message: Option<&str>,
    hint: Option<&str>,
    evidence: &[Evidence],
) {
    let _ = writeln!(out, "- **Expected:** {}", inline(expected));
    let _ = writeln!(out, "- **Observed:** {}", inline(observed));
    if let Some(message) = message {
        let _ = writeln!(out, "- **Message:** {}", inline(message));
    }
    if let Some(hint) = hint {
        let _ = writeln!(out, "- **Hint:** {}", inline(hint));
    }
    out.push('\n');
    if !evidence.is_empty() {
        out.push_str("Evidence:\n\n");
        for e in evidence {
            let _ = writeln!(out, "- {}", inline(&evidence_line(e)));
        }
        out.push('\n');
    }
}

/// Text that must stay on one line and must not turn into HTML: GitHub renders raw tags, so
/// `nodeName=<none>` would otherwise vanish.
fn inline(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// Text inside a table cell, where a bare `|` would start a new column.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture()));
    }

    #[test]
    fn title_has_the_totals() {
        let md = render(&fixture());
        assert_eq!(
            md.lines().next(),
            Some("## podcheck: 2 passed, 1 failed, 1 error — 4 cases")
        );
    }

    #[test]
    fn failing_row_marks_only_the_broken_stage() {
        let md = render(&fixture());
        let row = md
            .lines()
            .find(|l| l.starts_with("| gpu-pod-binds |"))
            .unwrap();
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "gpu-pod-binds",
                "✓ 3 ms",
                "✓ 3 ms",
                "✓ 4 ms",
                "✗ 2003 ms",
                "– skipped",
                "– skipped",
                "– skipped",
                "– skipped",
                "✗ **failed**",
            ]
        );
    }

    #[test]
    fn conformance_suites_list_checks_and_the_component() {
        let md = render(&crate::report::tests::conformance_fixture());
        assert!(
            md.contains("Component under test: network bridge+host-local 1.1.1"),
            "{md}"
        );
        assert!(md.contains("| add-bridge | 2/2 |  | ✓ passed |"), "{md}");
        assert!(
            md.contains("| missing-ipam-bridge | 0/1 | badConfig.error-code | ✗ **failed** |"),
            "{md}"
        );
        assert!(
            md.contains("### missing-ipam-bridge / badConfig.error-code"),
            "{md}"
        );
        assert!(
            md.contains("- **Message:** the plugin accepted a config without ipam"),
            "{md}"
        );
    }

    #[test]
    fn cells_escape_pipes_and_html() {
        assert_eq!(cell("a|b <none>\nc"), "a\\|b &lt;none&gt;<br>c");
        let mut results = fixture();
        results.suites[0].cases[0].name = "pipe|case".into();
        let md = render(&results);
        assert!(md.contains("| pipe\\|case | ✓ 3 ms |"), "{md}");
    }
}
