//! Snapshots: a suite's results with the volatile parts normalised (times, addresses,
//! revisions, generated names, and node names the suite did not declare), so that a later
//! run differs only where a verdict changed.

use crate::result::{CaseKind, CheckResult, StageResult, StageStatus, SuiteResult, Verdict};

/// The first line of every snapshot file.
pub const HEADER: &str =
    "# podcheck snapshot v1: verdicts with times, addresses, revisions and node names normalised";

/// The snapshot text of a suite's results.
///
/// `declared_nodes` are the node names the suite declared for the target it ran on: the same
/// in every run, so they are kept and a pod bound to the wrong one shows. Any other `node-N`
/// is the target's own and becomes `<node>`.
pub fn render(suite: &SuiteResult, declared_nodes: &[String]) -> String {
    let mut out = format!("{HEADER}\nsuite: {}\n", suite.name);
    let mut cases: Vec<_> = suite.cases.iter().collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    for case in cases {
        let verdict = match case.verdict {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        };
        out.push_str(&format!("\ncase {}: {verdict}\n", case.name));
        if let Some(e) = &case.error {
            out.push_str(&format!("  error: {}\n", normalise(e, declared_nodes)));
        }
        match &case.kind {
            CaseKind::Pod { stages } => stage_lines(&mut out, stages, declared_nodes),
            CaseKind::Conformance { checks } | CaseKind::Load { checks, .. } => {
                check_lines(&mut out, checks, declared_nodes)
            }
        }
    }
    out
}

fn status_word(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Passed => "passed",
        StageStatus::Failed => "FAILED",
        StageStatus::Skipped => "skipped",
    }
}

fn stage_lines(out: &mut String, stages: &[StageResult], declared_nodes: &[String]) {
    for s in stages {
        out.push_str(&format!(
            "  {:<13} {:<8} expected {} | observed {}\n",
            s.stage.name(),
            status_word(s.status),
            normalise(&s.expected, declared_nodes),
            normalise(&s.observed, declared_nodes)
        ));
        if s.status == StageStatus::Failed
            && let Some(m) = &s.message
        {
            out.push_str(&format!(
                "  {:<13} why: {}\n",
                "",
                normalise(m, declared_nodes)
            ));
        }
    }
}

/// A check's observation names versions and identifiers of the component under test; what
/// it requires and whether it held are what a snapshot should pin.
fn check_lines(out: &mut String, checks: &[CheckResult], declared_nodes: &[String]) {
    for c in checks {
        out.push_str(&format!(
            "  {:<8} {} | expected {}\n",
            status_word(c.status),
            c.name,
            normalise(&c.expected, declared_nodes)
        ));
    }
}

/// Replaces what changes from run to run: IPv4 addresses, `node-N` names other than
/// `declared_nodes`, numbers with units of time, store revisions, long numeric identifiers
/// and the namespaces a run makes.
pub fn normalise(text: &str, declared_nodes: &[String]) -> String {
    let mut previous = "";
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            // Store revisions count every write of the run, so they differ between runs.
            let out =
                if previous == "revision" && w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty()
                {
                    "<rev>".to_string()
                } else {
                    normalise_word(w, declared_nodes)
                };
            previous = w;
            out
        })
        .collect();
    words.join(" ")
}

fn normalise_word(word: &str, declared_nodes: &[String]) -> String {
    let core = word.trim_matches(|c: char| {
        matches!(
            c,
            ',' | ';' | ':' | '(' | ')' | '"' | '\'' | '[' | ']' | '{' | '}'
        )
    });
    let (start, _) = word.split_at(word.find(core).unwrap_or(0));
    let end = &word[start.len() + core.len()..];
    let replaced = if declared_nodes.iter().any(|n| n == core) {
        core.to_string()
    } else if is_ipv4(core) {
        "<ip>".to_string()
    } else if let Some(n) = core.strip_prefix("node-")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        "<node>".to_string()
    } else if core.len() >= 4 && core.bytes().all(|b| b.is_ascii_digit()) {
        "<n>".to_string()
    } else if is_case_namespace(core) {
        "<namespace>".to_string()
    } else if core.contains('.') && core.split('.').any(is_case_namespace) {
        // A DNS name with the run's namespace in it: `web.pc-dns-records-0-1a2b3.svc.…`.
        core.split('.')
            .map(|label| {
                if is_case_namespace(label) {
                    "<namespace>"
                } else {
                    label
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    } else if core.ends_with("ms") && core[..core.len() - 2].parse::<f64>().is_ok() {
        "<ms>".to_string()
    } else {
        core.to_string()
    };
    format!("{start}{replaced}{end}")
}

/// The namespace a run makes for a case: `pc-SUITE-CASE-INDEX-HEX5`.
fn is_case_namespace(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("pc-") else {
        return false;
    };
    let mut parts = rest.rsplitn(3, '-');
    let hex = parts.next().unwrap_or_default();
    let index = parts.next().unwrap_or_default();
    hex.len() == 5
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && parts.next().is_some()
}

fn is_ipv4(s: &str) -> bool {
    let s = s.split('/').next().unwrap_or(s);
    s.split('.').count() == 4 && s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The outcome of comparing a run with its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Matches,
    /// There is no stored snapshot yet.
    New,
    /// They differ; a unified diff, stored → current.
    Differs(String),
}

pub fn compare(stored: Option<&str>, current: &str) -> Comparison {
    match stored {
        None => Comparison::New,
        Some(s) if s == current => Comparison::Matches,
        Some(s) => {
            let diff = similar::TextDiff::from_lines(s, current)
                .unified_diff()
                .context_radius(2)
                .header("stored snapshot", "this run")
                .to_string();
            Comparison::Differs(diff)
        }
    }
}

/// What happened to one suite's snapshot in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The stored snapshot matches this run.
    Matches(std::path::PathBuf),
    /// The snapshot was (re)written.
    Written(std::path::PathBuf),
    /// New or different, written as a pending file for review; fails the run.
    Pending {
        path: std::path::PathBuf,
        pending: std::path::PathBuf,
        diff: Option<String>,
    },
    /// Not compared (filtered run), and why.
    Skipped(String),
}

impl SnapshotOutcome {
    /// Whether this outcome fails the run (exit 1).
    pub fn fails(&self) -> bool {
        matches!(self, SnapshotOutcome::Pending { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::result::{CaseResult, StageResult};
    use crate::stage::Stage;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn volatile_words_are_normalised() {
        assert_eq!(
            normalise("IP 10.244.0.5 on node-2, at 12.5ms (revision 1234)", &[]),
            "IP <ip> on <node>, at <ms> (revision <n>)"
        );
        assert_eq!(normalise("bound to gpu-node", &[]), "bound to gpu-node");
        assert_eq!(
            normalise(
                "in the namespace \"pc-auth-user-is-forbidden-3-c3fdd\"",
                &[]
            ),
            "in the namespace \"<namespace>\""
        );
        assert_eq!(
            normalise(
                "PTR web-0.headless.pc-dns-records-0-740b9.svc.cluster.local.",
                &[]
            ),
            "PTR web-0.headless.<namespace>.svc.cluster.local."
        );
        assert_eq!(normalise("pc-web-1", &[]), "pc-web-1");
    }

    #[test]
    fn declared_node_names_are_kept_and_others_normalised() {
        let declared = nodes(&["node-1", "node-2"]);
        assert_eq!(
            normalise(
                "bound to node-2; node-7 is not the suite's, nor 10.0.0.1",
                &declared
            ),
            "bound to node-2; <node> is not the suite's, nor <ip>"
        );
        assert_eq!(normalise("(node-1)", &declared), "(node-1)");
    }

    fn bound_to(node: &str) -> SuiteResult {
        let binding = StageResult {
            stage: Stage::Binding,
            status: StageStatus::Passed,
            expected: "bound to node-1".into(),
            observed: format!("bound to {node}"),
            at_ms: Some(3.0),
            duration_ms: Some(1.0),
            evidence: vec![],
            message: None,
            hint: None,
        };
        SuiteResult {
            name: "scheduler".into(),
            path: "suites/scheduler/suite.yaml".into(),
            kind: "pods".into(),
            components: vec![],
            skipped: None,
            cases: vec![CaseResult {
                name: "node-selector".into(),
                description: String::new(),
                tags: vec![],
                namespace: "pc-scheduler-node-selector-0-1a2b3".into(),
                pod: "selector".into(),
                identity: "system:admin".into(),
                verdict: Verdict::Passed,
                duration_ms: 3.0,
                error: None,
                kind: CaseKind::Pod {
                    stages: vec![binding],
                },
                timeline: vec![],
                batch: None,
            }],
        }
    }

    #[test]
    fn a_pod_on_the_wrong_declared_node_changes_the_snapshot() {
        let declared = nodes(&["node-1", "node-2"]);
        let stored = render(&bound_to("node-1"), &declared);
        assert!(
            stored.contains("expected bound to node-1 | observed bound to node-1"),
            "{stored}"
        );
        match compare(Some(&stored), &render(&bound_to("node-2"), &declared)) {
            Comparison::Differs(d) => assert!(d.contains("+  binding"), "{d}"),
            other => panic!("the wrong node went unnoticed: {other:?}"),
        }
    }

    #[test]
    fn without_declared_nodes_node_names_are_the_targets() {
        let stored = render(&bound_to("node-1"), &[]);
        assert!(
            stored.contains("expected bound to <node> | observed bound to <node>"),
            "{stored}"
        );
        assert_eq!(
            compare(Some(&stored), &render(&bound_to("node-2"), &[])),
            Comparison::Matches
        );
    }

    #[test]
    fn differences_are_shown_as_a_diff() {
        assert_eq!(compare(None, "a\n"), Comparison::New);
        assert_eq!(compare(Some("a\n"), "a\n"), Comparison::Matches);
        match compare(Some("a\nb\n"), "a\nc\n") {
            Comparison::Differs(d) => assert!(d.contains("-b") && d.contains("+c"), "{d}"),
            other => panic!("{other:?}"),
        }
    }
}
