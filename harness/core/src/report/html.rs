//! `report.html`: the run for a person to read — the target and what was real, then per suite
//! and case the eight stages on one time axis from the create, each stage's evidence one click
//! away (`<details>`, so no JavaScript is needed), failures with their message and hint in
//! view, a batch's latency distribution, and conformance suites as check tables.
//!
//! One self-contained file: styles and the one small script are inline, and a Content
//! Security Policy forbids any fetch, so the page shows the same offline, attached to a review
//! or printed. Every string from the results (pod output, user text) goes through [`Esc`].

use std::fmt::{self, Write as _};

use super::model::{
    BatchView, CheckCase, Failure, PodCase, Report, StageRow, SuiteCases, SuiteView,
};
use super::{provider_label, source_name};
use crate::result::{
    CaseResult, CheckResult, Evidence, RunResults, StageStatus, SuiteResult, Verdict,
};

/// Renders the run as one HTML document.
pub fn render(results: &RunResults) -> String {
    let report = Report::new(results);
    // About 3 KB per case with its evidence; reserving avoids most regrowth.
    let mut out = String::with_capacity(8 * 1024 + 3 * 1024 * results.summary.cases);
    // `fmt::Write` for `String` never fails, so the results of `write!` are ignored below.
    head(&mut out, results);
    out.push_str("<body>\n");
    header(&mut out, &report);
    out.push_str("<main>\n");
    for (i, suite) in report.suites.iter().enumerate() {
        suite_section(&mut out, suite, i);
    }
    out.push_str("</main>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// Text from the results, escaped for HTML content and for double- or single-quoted
/// attribute values alike.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A time for people: tenths below 10 ms, where they matter, whole milliseconds above.
fn ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn status_class(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Passed => "passed",
        StageStatus::Failed => "failed",
        StageStatus::Skipped => "skipped",
    }
}

/// The status in words with a mark, so it reads without colour (printed in black and white).
fn status_label(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Passed => "✓ passed",
        StageStatus::Failed => "✗ failed",
        StageStatus::Skipped => "– skipped",
    }
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "✓ passed",
        Verdict::Failed => "✗ failed",
        Verdict::Error => "⚠ error",
        Verdict::Skipped => "– skipped",
    }
}

/// The id of a case's article: by position, since names need not be unique across suites or
/// valid in an id.
fn case_id(suite: usize, case: usize) -> String {
    format!("case-{suite}-{case}")
}

fn head(out: &mut String, results: &RunResults) {
    let s = &results.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>podcheck {}: {} passed, {} failed, {} errors, {} skipped</title>\n<style>",
        Esc(&results.run_id),
        s.passed,
        s.failed,
        s.errors,
        s.skipped
    );
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n");
}

fn header(out: &mut String, report: &Report) {
    let r = report.results;
    let s = &r.summary;
    out.push_str("<header>\n<h1>podcheck report</h1>\n<p class=\"totals\">");
    let errors = if s.errors == 1 { "error" } else { "errors" };
    for (class, n, word) in [
        ("passed", s.passed, "passed"),
        ("failed", s.failed, "failed"),
        ("error", s.errors, errors),
        ("skipped", s.skipped, "skipped"),
    ] {
        let _ = write!(out, "<span class=\"total {class}\">{n} {word}</span> ");
    }
    let _ = writeln!(
        out,
        "<span class=\"total cases\">of {} cases</span></p>",
        s.cases
    );
    let t = &r.target;
    let _ = writeln!(
        out,
        "<dl class=\"target\">\n<dt>Target</dt><dd><span class=\"target-kind\">{}</span> \
         <code class=\"server\">{}</code> <span class=\"version\">{}</span></dd>\n\
         <dt>Run</dt><dd><code>{}</code>, started {}, took {:.1} s</dd>",
        Esc(&t.kind),
        Esc(&t.server),
        Esc(&t.version),
        Esc(&r.run_id),
        Esc(&r.started_at),
        r.duration_ms / 1000.0
    );
    if !t.providers.is_empty() {
        out.push_str("<dt>Providers</dt><dd><ul class=\"providers\">");
        for p in &t.providers {
            let realness = if p.real { "real" } else { "simulated" };
            let _ = write!(
                out,
                "<li class=\"provider {realness}\">{}</li>",
                Esc(&provider_label(p))
            );
        }
        out.push_str("</ul></dd>\n");
    }
    components(out, &r.suites);
    out.push_str("</dl>\n");
    failure_index(out, report);
    out.push_str("</header>\n");
}

/// The user's own components, each with the suite that tested it.
fn components(out: &mut String, suites: &[SuiteResult]) {
    let mut any = false;
    for suite in suites {
        for c in &suite.components {
            if !any {
                out.push_str("<dt>Components under test</dt><dd><ul class=\"components\">");
                any = true;
            }
            let _ = write!(
                out,
                "<li class=\"component\">{} <strong>{}</strong> {} <span class=\"muted\">({})</span></li>",
                Esc(&c.component),
                Esc(&c.name),
                Esc(&c.version),
                Esc(&suite.name)
            );
        }
    }
    if any {
        out.push_str("</ul></dd>\n");
    }
}

/// Links from the top of the page to each failure's case.
fn failure_index(out: &mut String, report: &Report) {
    if report.failures.is_empty() {
        return;
    }
    out.push_str("<nav class=\"failures\"><h2>Failures</h2><ul>\n");
    for f in &report.failures {
        let id = failure_case_id(report.results, f);
        let _ = writeln!(
            out,
            "<li><a href=\"#{id}\">{} / {} / {}</a></li>",
            Esc(&f.suite.name),
            Esc(&f.case.name),
            Esc(f.name())
        );
    }
    out.push_str("</ul></nav>\n");
}

fn failure_case_id(results: &RunResults, f: &Failure) -> String {
    let suite = results
        .suites
        .iter()
        .position(|s| std::ptr::eq(s, f.suite))
        .unwrap_or(0);
    case_id(suite, position(f.suite, f.case))
}

/// Where a case is in its suite: its id's number, whichever table shows it.
fn position(suite: &SuiteResult, case: &CaseResult) -> usize {
    suite
        .cases
        .iter()
        .position(|c| std::ptr::eq(c, case))
        .unwrap_or(0)
}

fn suite_section(out: &mut String, view: &SuiteView, index: usize) {
    let suite = view.suite;
    let _ = writeln!(
        out,
        "<section class=\"suite kind-{}\" id=\"suite-{index}\">\n<h2>{} <small><code>{}</code></small></h2>",
        Esc(&suite.kind),
        Esc(&suite.name),
        Esc(&suite.path)
    );
    if let Some(skip) = &suite.skipped {
        let _ = write!(
            out,
            "<p class=\"skip\">Skipped on this machine: {}.",
            Esc(&skip.reason)
        );
        if let Some(install) = &skip.install {
            let _ = write!(
                out,
                " Install: <code class=\"install\">{}</code>",
                Esc(install)
            );
        }
        out.push_str("</p>\n");
    }
    match &view.cases {
        SuiteCases::Pods(cases) => {
            overview(out, suite, cases, index);
            for case in cases {
                pod_case(out, case, &case_id(index, position(suite, case.case)));
            }
        }
        SuiteCases::Checks(cases) => check_table(out, suite, cases, index),
    }
    if !view.loads.is_empty() {
        out.push_str("<h3>Load cases</h3>\n");
        check_table(out, suite, &view.loads, index);
    }
    out.push_str("</section>\n");
}

/// A pod suite at a glance: a row per case, a column per stage (its mark and when it
/// completed), each case's name a link to its timeline.
fn overview(out: &mut String, result: &SuiteResult, cases: &[PodCase], suite: usize) {
    if cases.len() < 2 {
        return;
    }
    out.push_str("<table class=\"overview\"><thead><tr><th>Case</th>");
    for stage in crate::stage::Stage::ALL {
        let _ = write!(out, "<th>{stage}</th>");
    }
    out.push_str("<th>Verdict</th></tr></thead><tbody>\n");
    for case in cases {
        let verdict = verdict_class(case.case.verdict);
        let _ = write!(
            out,
            "<tr class=\"verdict-{verdict}\"><th scope=\"row\"><a href=\"#{}\">{}</a></th>",
            case_id(suite, position(result, case.case)),
            Esc(&case.case.name)
        );
        for row in &case.rows {
            overview_cell(out, row);
        }
        let _ = writeln!(
            out,
            "<td class=\"verdict {verdict}\">{}</td></tr>",
            verdict_label(case.case.verdict)
        );
    }
    out.push_str("</tbody></table>\n");
}

fn overview_cell(out: &mut String, row: &StageRow) {
    let Some(r) = row.result else {
        out.push_str("<td></td>");
        return;
    };
    let status = status_class(r.status);
    let mark = match r.status {
        StageStatus::Passed => "✓",
        StageStatus::Failed => "✗",
        StageStatus::Skipped => "–",
    };
    let _ = write!(out, "<td class=\"status {status}\">{mark}");
    if let Some(at) = r.at_ms {
        let _ = write!(out, " <span class=\"muted\">{}</span>", ms(at));
    }
    out.push_str("</td>");
}

fn pod_case(out: &mut String, view: &PodCase, id: &str) {
    let case = view.case;
    let verdict = verdict_class(case.verdict);
    let _ = writeln!(
        out,
        "<article class=\"case verdict-{verdict}\" id=\"{id}\" data-verdict=\"{verdict}\">\n\
         <h3>{} <span class=\"verdict {verdict}\">{}</span></h3>",
        Esc(&case.name),
        verdict_label(case.verdict)
    );
    case_meta(out, case);
    if case.stages().is_empty() {
        no_stages(out, case);
    } else {
        timeline(out, view);
    }
    if let Some(batch) = &view.batch {
        batch_section(out, batch);
    }
    observations(out, case);
    out.push_str("</article>\n");
}

fn case_meta(out: &mut String, case: &CaseResult) {
    if !case.description.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            Esc(&case.description)
        );
    }
    out.push_str("<p class=\"case-meta\">");
    for (label, value) in [
        ("pod", &case.pod),
        ("namespace", &case.namespace),
        ("identity", &case.identity),
    ] {
        if !value.is_empty() {
            let _ = write!(out, "{label} <code>{}</code> · ", Esc(value));
        }
    }
    let _ = writeln!(out, "took {}</p>", ms(case.duration_ms));
}

/// A case without stages: it could not be set up, or its suite could not run here.
fn no_stages(out: &mut String, case: &CaseResult) {
    let (class, text) = match (case.verdict, &case.error) {
        (Verdict::Skipped, Some(why)) => ("skip", why.as_str()),
        (_, Some(error)) => ("error", error.as_str()),
        (_, None) => ("muted", "no stage was evaluated"),
    };
    let _ = writeln!(out, "<p class=\"{class}\">{}</p>", Esc(text));
}

/// The eight stages, each a row with its bar on the case's axis; a row opens on its evidence.
fn timeline(out: &mut String, view: &PodCase) {
    if let Some(error) = &view.case.error {
        let _ = writeln!(out, "<p class=\"error\">{}</p>", Esc(error));
    }
    let _ = writeln!(
        out,
        "<div class=\"timeline\" data-axis-ms=\"{}\">\n<div class=\"axis\"><span></span>\
         <span class=\"ticks\"><span>0</span><span>{}</span></span><span></span></div>",
        view.axis_ms,
        ms(view.axis_ms)
    );
    for row in &view.rows {
        stage_row(out, row);
    }
    out.push_str("</div>\n");
}

fn stage_row(out: &mut String, row: &StageRow) {
    let Some(r) = row.result else {
        let _ = writeln!(
            out,
            "<div class=\"stage missing\" data-stage=\"{}\"><span class=\"stage-name\">{}</span> \
             <span class=\"muted\">not evaluated</span></div>",
            row.stage, row.stage
        );
        return;
    };
    let status = status_class(r.status);
    let open = if r.status == StageStatus::Failed {
        " open"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<div class=\"stage {status}\" data-stage=\"{}\" data-status=\"{status}\">\
         <details{open}><summary><span class=\"stage-name\">{}</span><span class=\"track\">",
        row.stage, row.stage
    );
    if let Some(bar) = row.bar {
        let _ = write!(
            out,
            "<span class=\"bar {status}\" style=\"left:{:.3}%;width:{:.3}%\" \
             data-start-ms=\"{}\" data-end-ms=\"{}\" title=\"{} → {}\"></span>",
            bar.left_pct,
            bar.width_pct,
            bar.start_ms,
            bar.end_ms,
            ms(bar.start_ms),
            ms(bar.end_ms)
        );
    }
    out.push_str("</span><span class=\"stage-time\">");
    match (r.duration_ms, r.at_ms) {
        (Some(d), Some(at)) => {
            let _ = write!(out, "{} <span class=\"muted\">at {}</span>", ms(d), ms(at));
        }
        _ => out.push_str(status_label(r.status)),
    }
    let _ = write!(
        out,
        "</span></summary>\n<div class=\"stage-body\"><p><span class=\"status {status}\">{}</span> \
         · {}</p>",
        status_label(r.status),
        Esc(r.stage.component())
    );
    expected_observed(out, &r.expected, &r.observed);
    if r.status == StageStatus::Skipped
        && let Some(why) = &r.message
    {
        let _ = write!(out, "<p class=\"muted\">{}</p>", Esc(why));
    }
    evidence_list(out, &r.evidence);
    out.push_str("</div></details>");
    if r.status == StageStatus::Failed {
        failure_text(out, r.message.as_deref(), r.hint.as_deref());
    }
    out.push_str("</div>\n");
}

fn expected_observed(out: &mut String, expected: &str, observed: &str) {
    let _ = write!(
        out,
        "<dl class=\"expectation\"><dt>Expected</dt><dd>{}</dd><dt>Observed</dt><dd>{}</dd></dl>",
        Esc(expected),
        Esc(observed)
    );
}

/// A failure's message and hint, outside any `<details>` so they are in view.
fn failure_text(out: &mut String, message: Option<&str>, hint: Option<&str>) {
    out.push_str("<div class=\"failure\">");
    if let Some(message) = message {
        let _ = write!(out, "<p class=\"message\">{}</p>", Esc(message));
    }
    if let Some(hint) = hint {
        let _ = write!(
            out,
            "<p class=\"hint\"><strong>Hint:</strong> {}</p>",
            Esc(hint)
        );
    }
    out.push_str("</div>");
}

fn evidence_list(out: &mut String, evidence: &[Evidence]) {
    if evidence.is_empty() {
        out.push_str("<p class=\"muted\">no evidence</p>");
        return;
    }
    out.push_str("<ul class=\"evidence\">");
    for e in evidence {
        let realness = if e.real { "real" } else { "simulated" };
        let _ = write!(
            out,
            "<li><span class=\"source\">{}</span> <span class=\"provider {realness}\">{} {realness}</span> \
             <code class=\"detail\">{}</code>",
            source_name(e.source),
            Esc(&e.provider),
            Esc(&e.detail)
        );
        if let Some(at) = e.at_ms {
            let _ = write!(out, " <span class=\"muted\">at {}</span>", ms(at));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// Everything the observer saw of the case, in order; closed, since it is long.
fn observations(out: &mut String, case: &CaseResult) {
    if case.timeline.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<details class=\"observations\"><summary>{} observations</summary><ol>",
        case.timeline.len()
    );
    for entry in &case.timeline {
        let _ = write!(
            out,
            "<li><span class=\"at\">{}</span> {}</li>",
            ms(entry.at_ms),
            Esc(&entry.what)
        );
    }
    out.push_str("</ol></details>\n");
}

/// Width and height of a batch's histogram, in SVG units (it scales to the page's width).
const HISTOGRAM_W: f64 = 600.0;
const HISTOGRAM_H: f64 = 140.0;
/// Room under the bars for the axis labels.
const HISTOGRAM_LABELS: f64 = 18.0;

fn batch_section(out: &mut String, batch: &BatchView) {
    let _ = write!(
        out,
        "<section class=\"batch\"><h4>Batch: {} of {} copies bound — binding latency \
         (create sent → node seen)</h4>\n<table class=\"percentiles\"><tr>",
        batch.bound, batch.copies
    );
    let cells = [
        ("p50", batch.p50),
        ("p90", batch.p90),
        ("p99", batch.p99),
        ("max", batch.max),
    ];
    for (name, _) in cells {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("</tr><tr>");
    for (name, value) in cells {
        let text = value.map_or_else(|| "–".to_string(), ms);
        let _ = write!(out, "<td class=\"{name}\">{text}</td>");
    }
    out.push_str("</tr></table>\n");
    histogram(out, batch);
    out.push_str("</section>\n");
}

/// The distribution as an inline SVG: one bar per bin, each with its range and count as a
/// tooltip (`<title>`).
fn histogram(out: &mut String, batch: &BatchView) {
    let (Some(first), Some(last)) = (batch.bins.first(), batch.bins.last()) else {
        return;
    };
    let tallest = batch.bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let slot = HISTOGRAM_W / batch.bins.len() as f64;
    let room = HISTOGRAM_H - HISTOGRAM_LABELS;
    let _ = write!(
        out,
        "<svg class=\"histogram\" viewBox=\"0 0 {HISTOGRAM_W} {HISTOGRAM_H}\" role=\"img\" \
         aria-label=\"binding latency of {} copies, {} to {}\">",
        batch.bound,
        ms(first.from_ms),
        ms(last.to_ms)
    );
    for (i, bin) in batch.bins.iter().enumerate() {
        let h = bin.count as f64 / tallest * room;
        let _ = write!(
            out,
            "<rect class=\"bin\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{}–{}: {} copies</title></rect>",
            i as f64 * slot,
            room - h,
            (slot - 1.0).max(0.5),
            ms(bin.from_ms),
            ms(bin.to_ms),
            bin.count
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"0\" y=\"{HISTOGRAM_H}\">{}</text>\
         <text x=\"{HISTOGRAM_W}\" y=\"{HISTOGRAM_H}\" text-anchor=\"end\">{}</text></svg>",
        ms(first.from_ms),
        ms(last.to_ms)
    );
}

/// A conformance suite: one row per check, a case's failed checks with their message and hint.
fn check_table(out: &mut String, result: &SuiteResult, cases: &[CheckCase], suite: usize) {
    out.push_str(
        "<table class=\"checks\">\n<thead><tr><th>Case</th><th>Check</th><th>Status</th>\
         <th>Expected</th><th>Observed</th></tr></thead>\n",
    );
    for case in cases {
        let c = case.case;
        let verdict = verdict_class(c.verdict);
        let _ = writeln!(
            out,
            "<tbody class=\"case verdict-{verdict}\" id=\"{}\" data-verdict=\"{verdict}\">",
            case_id(suite, position(result, c))
        );
        let checks = c.checks();
        let head = format!(
            "<th scope=\"row\" rowspan=\"{}\">{} <span class=\"verdict {verdict}\">{}</span> \
             <span class=\"muted\">{}/{}</span></th>",
            checks.len().max(1),
            Esc(&c.name),
            verdict_label(c.verdict),
            case.passed,
            checks.len()
        );
        if checks.is_empty() {
            let text = c.error.as_deref().unwrap_or("no check ran");
            let _ = writeln!(
                out,
                "<tr>{head}<td colspan=\"4\" class=\"{}\">{}</td></tr>",
                if c.verdict == Verdict::Skipped {
                    "skip"
                } else {
                    "error"
                },
                Esc(text)
            );
        }
        for (j, check) in checks.iter().enumerate() {
            check_row(out, check, if j == 0 { head.as_str() } else { "" });
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table>\n");
}

fn check_row(out: &mut String, check: &CheckResult, head: &str) {
    let status = status_class(check.status);
    let _ = write!(
        out,
        "<tr class=\"check {status}\" data-check=\"{}\" data-status=\"{status}\">{head}\
         <td><details><summary><code>{}</code></summary>",
        Esc(&check.name),
        Esc(&check.name)
    );
    evidence_list(out, &check.evidence);
    let _ = write!(
        out,
        "</details></td><td class=\"status {status}\">{}</td><td>{}</td><td>{}",
        status_label(check.status),
        Esc(&check.expected),
        Esc(&check.observed)
    );
    if check.status == StageStatus::Failed {
        failure_text(out, check.message.as_deref(), check.hint.as_deref());
    }
    out.push_str("</td></tr>\n");
}

/// Layout and colours; the print rules drop the button and keep cases whole on a page.
const STYLE: &str = r#"
:root{--pass:#2e7d32;--fail:#c62828;--err:#e65100;--skip:#9e9e9e;--fg:#1d1d1f;--muted:#6b6b6b;--line:#d9d9d9;--track:#f1f1f1}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0 auto;max-width:1200px;padding:1rem 1.5rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.2rem 0 .4rem}h3{font-size:1rem;margin:0 0 .2rem}h4{font-size:.95rem;margin:.6rem 0 .3rem}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.muted{color:var(--muted)}
.total{display:inline-block;padding:.1rem .5rem;border-radius:3px;margin-right:.3rem;font-weight:600}
.total.passed{background:#e8f5e9;color:var(--pass)}.total.failed{background:#ffebee;color:var(--fail)}.total.error{background:#fff3e0;color:var(--err)}.total.skipped{background:#f5f5f5;color:var(--muted)}.total.cases{font-weight:400}
dl.target{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}dl.target dt{font-weight:600}dl.target dd{margin:0}
ul.providers,ul.components{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.3rem}
.provider{border:1px solid var(--line);border-radius:3px;padding:0 .4rem}.provider.real{border-color:var(--pass)}.provider.simulated{border-style:dashed}
nav.failures{border-left:4px solid var(--fail);padding:.2rem .8rem;background:#fff8f8}nav.failures h2{margin:.2rem 0;font-size:1rem}nav.failures ul{margin:.2rem 0;padding-left:1.2rem}
.suite>h2 small{font-weight:400}
.skip{color:var(--muted);font-style:italic}.error{color:var(--err);font-weight:600}
.case{border:1px solid var(--line);border-left:5px solid var(--skip);border-radius:4px;padding:.5rem .8rem;margin:.8rem 0;break-inside:avoid}
article.verdict-passed{border-left-color:var(--pass)}article.verdict-failed{border-left-color:var(--fail)}article.verdict-error{border-left-color:var(--err)}
.verdict{font-size:.85rem;font-weight:600;margin-left:.4rem}.verdict.passed,.status.passed{color:var(--pass)}.verdict.failed,.status.failed{color:var(--fail)}.verdict.error{color:var(--err)}.verdict.skipped,.status.skipped{color:var(--muted)}
.case-meta,.description{margin:.1rem 0;color:var(--muted)}
.timeline{margin:.5rem 0}
.axis,.timeline summary{display:grid;grid-template-columns:8rem 1fr 10rem;gap:.6rem;align-items:center}
.axis{font-size:.75rem;color:var(--muted)}.ticks{display:flex;justify-content:space-between;border-bottom:1px solid var(--line)}
.timeline summary{cursor:pointer;list-style:none;padding:.1rem 0}.timeline summary::-webkit-details-marker{display:none}
.stage-name::before{content:"▸ ";color:var(--muted)}details[open]>summary .stage-name::before{content:"▾ "}
.stage.failed .stage-name{color:var(--fail);font-weight:600}.stage.skipped .stage-name{color:var(--muted)}
.track{position:relative;height:14px;background:var(--track);border-radius:2px}
.bar{position:absolute;top:0;bottom:0;min-width:1px;border-radius:2px}.bar.passed{background:var(--pass)}.bar.failed{background:var(--fail)}.bar.skipped{background:var(--skip)}
.stage-time{font-variant-numeric:tabular-nums;text-align:right}
.stage-body{margin:.2rem 0 .5rem 8.6rem;padding:.3rem .6rem;border-left:2px solid var(--line)}
.stage-body p{margin:.1rem 0}
dl.expectation{display:grid;grid-template-columns:max-content 1fr;gap:0 .8rem;margin:.2rem 0}dl.expectation dt{color:var(--muted)}dl.expectation dd{margin:0}
ul.evidence{margin:.2rem 0;padding-left:1.1rem}ul.evidence .source{font-weight:600}ul.evidence .provider{font-size:.8rem}
.failure{margin:.1rem 0 .4rem 8.6rem;padding:.2rem .6rem;background:#fff5f5;border-left:3px solid var(--fail)}.failure p{margin:.1rem 0}.failure .message{color:var(--fail);font-weight:600}
table{border-collapse:collapse;margin:.4rem 0;width:100%}th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
table.percentiles{width:auto}table.overview{font-size:.85rem}table.overview td{white-space:nowrap;font-variant-numeric:tabular-nums}table.percentiles td{font-variant-numeric:tabular-nums}
tbody.case{border-left:5px solid var(--skip)}tbody.verdict-passed{border-left-color:var(--pass)}tbody.verdict-failed{border-left-color:var(--fail)}tbody.verdict-error{border-left-color:var(--err)}
table.checks .failure{margin:.3rem 0 0}
svg.histogram{width:100%;max-width:600px;height:auto;display:block}svg.histogram .bin{fill:#3f51b5}svg.histogram text{font-size:11px;fill:var(--muted)}
details.observations{margin-top:.3rem}details.observations ol{font-size:.85rem;margin:.2rem 0}details.observations .at{display:inline-block;min-width:5rem;color:var(--muted)}
#expand-all{float:right}
@media print{#expand-all{display:none}body{max-width:none;padding:0;font-size:11px}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}a{color:inherit;text-decoration:none}.case,.batch,tbody{break-inside:avoid}}
"#;

/// Only an enhancement: a button that opens or closes every `<details>`, and every one opened
/// before printing (a printed page cannot be clicked).
const SCRIPT: &str = r#"
(function(){
var all=function(open){document.querySelectorAll("details").forEach(function(d){d.open=open;});};
var b=document.createElement("button");b.type="button";b.id="expand-all";b.textContent="Expand all";
var open=false;b.addEventListener("click",function(){open=!open;all(open);b.textContent=open?"Collapse all":"Expand all";});
var h=document.querySelector("header");if(h){h.insertBefore(b,h.firstChild);}
window.addEventListener("beforeprint",function(){all(true);});
})();
"#;

#[cfg(test)]
mod tests;
