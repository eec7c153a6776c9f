//! GitHub Actions' workflow commands for a run: an `::error` annotation for each failed
//! stage or check and each case in error, pointing at the case's `name:` in its suite file,
//! so the pull request shows the failure on the line that declares the case; a `::notice`
//! for a suite that could not run here. Lines of text only: printing them is the caller's.

use std::collections::BTreeMap;

use crate::conformance::AnySuite;
use crate::result::{CaseResult, RunResults, StageStatus, SuiteResult, Verdict};

/// Where each case is written: (suite path as the results name it, case name) → the line
/// of the case's `name:`. Keyed by path, not suite name: two suites may share case names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseLines(BTreeMap<(String, String), usize>);

impl CaseLines {
    /// The lines of every case of the loaded suites.
    pub fn of(suites: &[AnySuite]) -> CaseLines {
        let mut lines = CaseLines::default();
        for suite in suites {
            let path = suite.path().display().to_string();
            for (case, line) in suite.case_lines() {
                lines.insert(&path, case, line);
            }
        }
        lines
    }

    pub fn insert(&mut self, suite_path: &str, case: &str, line: usize) {
        self.0
            .insert((suite_path.to_string(), case.to_string()), line);
    }

    fn line(&self, suite_path: &str, case: &str) -> Option<usize> {
        self.0
            .get(&(suite_path.to_string(), case.to_string()))
            .copied()
    }
}

/// The workflow commands for `results`, one line each (without the newline).
pub fn annotations(results: &RunResults, lines: &CaseLines) -> Vec<String> {
    let mut out = Vec::new();
    for suite in &results.suites {
        if let Some(skip) = &suite.skipped {
            out.push(skipped_suite(suite, &skip.reason, skip.install.as_deref()));
            continue;
        }
        for case in &suite.cases {
            let at = Place {
                file: &suite.path,
                line: lines.line(&suite.path, &case.name),
            };
            out.extend(case_annotations(&suite.name, case, &at));
        }
    }
    out
}

/// Where an annotation points.
struct Place<'a> {
    file: &'a str,
    line: Option<usize>,
}

impl Place<'_> {
    fn properties(&self, title: String) -> Vec<(&'static str, String)> {
        vec![
            ("file", self.file.to_string()),
            ("line", self.line.map(|l| l.to_string()).unwrap_or_default()),
            ("title", title),
        ]
    }
}

/// A case that did not pass: its error, then each failed stage and check; a failed case
/// with neither still gets one annotation, so no failure goes unmarked.
fn case_annotations(suite: &str, case: &CaseResult, at: &Place<'_>) -> Vec<String> {
    if matches!(case.verdict, Verdict::Passed | Verdict::Skipped) {
        return Vec::new();
    }
    let subject = format!("podcheck {suite} / {}", case.name);
    let mut out = Vec::new();
    if case.verdict == Verdict::Error {
        let error = case.error.as_deref().unwrap_or("the case could not run");
        out.push(error_at(at, format!("{subject}: error"), error));
    }
    let stages = case
        .stages()
        .iter()
        .filter(|s| s.status == StageStatus::Failed)
        .map(|s| {
            let m = Failure::new(&s.expected, &s.observed, &s.message, &s.hint);
            (format!("stage {}", s.stage), m)
        });
    let checks = case
        .checks()
        .iter()
        .filter(|c| c.status == StageStatus::Failed)
        .map(|c| {
            let m = Failure::new(&c.expected, &c.observed, &c.message, &c.hint);
            (format!("check {}", c.name), m)
        });
    for (what, failure) in stages.chain(checks) {
        out.push(error_at(
            at,
            format!("{subject}: {what} failed"),
            &failure.text(),
        ));
    }
    if out.is_empty() {
        out.push(error_at(
            at,
            format!("{subject}: failed"),
            "the case failed",
        ));
    }
    out
}

/// What a failed stage or check says, as the annotation's lines.
struct Failure<'a> {
    expected: &'a str,
    observed: &'a str,
    message: Option<&'a str>,
    hint: Option<&'a str>,
}

impl<'a> Failure<'a> {
    fn new(
        expected: &'a str,
        observed: &'a str,
        message: &'a Option<String>,
        hint: &'a Option<String>,
    ) -> Self {
        Failure {
            expected,
            observed,
            message: message.as_deref(),
            hint: hint.as_deref(),
        }
    }

    fn text(&self) -> String {
        let mut lines = vec![
            self.message
                .unwrap_or("not what the case expects")
                .to_string(),
            format!("expected: {}", self.expected),
            format!("observed: {}", self.observed),
        ];
        if let Some(hint) = self.hint {
            lines.push(format!("hint: {hint}"));
        }
        lines.join("\n")
    }
}

fn error_at(at: &Place<'_>, title: String, message: &str) -> String {
    workflow_command("error", &at.properties(title), message)
}

/// A suite that could not run on this machine is no failure, but worth a note.
fn skipped_suite(suite: &SuiteResult, reason: &str, install: Option<&str>) -> String {
    let mut message = format!("not run here: {reason}");
    if let Some(install) = install {
        message.push_str(&format!("\ninstall: {install}"));
    }
    let properties = [
        ("file", suite.path.clone()),
        ("title", format!("podcheck {}: skipped", suite.name)),
    ];
    workflow_command("notice", &properties, &message)
}

/// `::NAME key=value,key=value::MESSAGE`; properties with an empty value are left out, as
/// the toolkit leaves out falsy ones.
pub fn workflow_command(name: &str, properties: &[(&str, String)], message: &str) -> String {
    let properties: Vec<String> = properties
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect();
    let mut line = format!("::{name}");
    if !properties.is_empty() {
        line.push(' ');
        line.push_str(&properties.join(","));
    }
    line.push_str("::");
    line.push_str(&escape_data(message));
    line
}

// GitHub's escaping of workflow commands, as actions/toolkit's packages/core/src/command.ts
// does it: `escapeData` turns % into %25, \r into %0D and \n into %0A; `escapeProperty` does
// the same and also turns : into %3A and , into %2C (they separate a command's properties).
// `%` goes first so that the escapes themselves are not escaped again.

/// A workflow command's message (after the second `::`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`file=`, `title=`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{conformance_fixture, fixture};

    #[test]
    fn data_escapes_percent_first_then_line_breaks() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_data("a: b, c"), "a: b, c");
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn properties_also_escape_colons_and_commas() {
        assert_eq!(
            escape_property("podcheck a / b: stage binding, failed\n%"),
            "podcheck a / b%3A stage binding%2C failed%0A%25"
        );
    }

    #[test]
    fn a_command_leaves_out_empty_properties() {
        let props = [
            ("file", "suites/a.yaml".to_string()),
            ("line", String::new()),
            ("title", "t".to_string()),
        ];
        assert_eq!(
            workflow_command("error", &props, "m"),
            "::error file=suites/a.yaml,title=t::m"
        );
        assert_eq!(workflow_command("notice", &[], "m"), "::notice::m");
    }

    fn lines() -> CaseLines {
        let mut lines = CaseLines::default();
        lines.insert("suites/scheduling.yaml", "gpu-pod-binds", 12);
        lines.insert("suites/scheduling.yaml", "registry-down", 30);
        lines.insert("suites/basics.yaml", "busybox-runs", 8);
        lines.insert("suites/cni/suite.yaml", "missing-ipam-bridge", 17);
        lines
    }

    #[test]
    fn a_failed_stage_and_a_case_in_error_point_at_their_cases() {
        let got = annotations(&fixture(), &lines());
        assert_eq!(
            got,
            [
                "::error file=suites/scheduling.yaml,line=12,title=podcheck scheduling / \
                 gpu-pod-binds%3A stage binding failed::no binding within the 2000 ms \
                 deadline%0Aexpected: bound to a node%0Aobserved: unschedulable%0Ahint: the \
                 pod selects accelerator=nvidia; label a node or drop the nodeSelector",
                "::error file=suites/scheduling.yaml,line=30,title=podcheck scheduling / \
                 registry-down%3A error::setup failed: create namespace \
                 podcheck-registry-down: deadline of 30 s exceeded",
            ]
        );
    }

    #[test]
    fn a_failed_check_is_an_error_and_a_skipped_suite_a_notice() {
        let got = annotations(&conformance_fixture(), &lines());
        assert_eq!(
            got,
            [
                "::error file=suites/cni/suite.yaml,line=17,title=podcheck cni / \
                 missing-ipam-bridge%3A check badConfig.error-code failed::the plugin \
                 accepted a config without ipam%0Aexpected: exit 1 with error JSON code 7 \
                 (invalid network config)%0Aobserved: exit 0%0Ahint: validate the config \
                 before creating anything",
                "::notice file=suites/cri/suite.yaml,title=podcheck cri%3A skipped::not run \
                 here: containerd is not installed%0Ainstall: apt-get install containerd runc",
            ]
        );
    }

    #[test]
    fn a_case_of_unknown_place_is_annotated_without_a_line() {
        let got = annotations(&fixture(), &CaseLines::default());
        assert!(
            got[0].starts_with("::error file=suites/scheduling.yaml,title="),
            "{}",
            got[0]
        );
    }

    #[test]
    fn case_lines_are_those_of_each_cases_name_per_suite_path() {
        let text = "apiVersion: podcheck.dev/v1alpha1\nkind: Suite\nmetadata: {name: s}\nspec:\n  cases:\n    - name: first\n      pod: {spec: {containers: [{name: c, image: busybox}]}}\n    - pod: {spec: {containers: [{name: c, image: busybox}]}}\n      name: second\n";
        let read = |_: &std::path::Path| Ok(text.to_string());
        let suite =
            crate::conformance::load_any(std::path::Path::new("dir/s.yaml"), &read).unwrap();
        let lines = CaseLines::of(&[suite]);
        assert_eq!(lines.line("dir/s.yaml", "first"), Some(6));
        assert_eq!(lines.line("dir/s.yaml", "second"), Some(9));
        assert_eq!(lines.line("other/s.yaml", "first"), None);
    }

    #[test]
    fn passing_runs_have_no_annotations() {
        let mut results = fixture();
        results.suites.truncate(1);
        assert!(annotations(&results, &lines()).is_empty());
    }
}
