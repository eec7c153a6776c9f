//! Snapshots: a suite's results with the volatile parts normalised (times, addresses,
//! revisions, node names), so that a later run differs only where a verdict changed.

use crate::result::{StageStatus, SuiteResult, Verdict};

/// The first line of every snapshot file.
pub const HEADER: &str =
    "# podcheck snapshot v1: verdicts with times, addresses, revisions and node names normalised";

/// The snapshot text of a suite's results.
pub fn render(suite: &SuiteResult) -> String {
    let mut out = format!("{HEADER}\nsuite: {}\n", suite.name);
    let mut cases: Vec<_> = suite.cases.iter().collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    for case in cases {
        let verdict = match case.verdict {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
        };
        out.push_str(&format!("\ncase {}: {verdict}\n", case.name));
        if let Some(e) = &case.error {
            out.push_str(&format!("  error: {}\n", normalise(e)));
        }
        for s in &case.stages {
            let status = match s.status {
                StageStatus::Passed => "passed",
                StageStatus::Failed => "FAILED",
                StageStatus::Skipped => "skipped",
            };
            out.push_str(&format!(
                "  {:<13} {status:<8} expected {} | observed {}\n",
                s.stage.name(),
                normalise(&s.expected),
                normalise(&s.observed)
            ));
            if s.status == StageStatus::Failed
                && let Some(m) = &s.message
            {
                out.push_str(&format!("  {:<13} why: {}\n", "", normalise(m)));
            }
        }
        // A check's observation names versions and identifiers of the component under
        // test; what it requires and whether it held are what a snapshot should pin.
        for c in &case.checks {
            let status = match c.status {
                StageStatus::Passed => "passed",
                StageStatus::Failed => "FAILED",
                StageStatus::Skipped => "skipped",
            };
            out.push_str(&format!(
                "  {status:<8} {} | expected {}\n",
                c.name,
                normalise(&c.expected)
            ));
        }
    }
    out
}

/// Replaces what changes from run to run: IPv4 addresses, `node-N` names, numbers with units
/// of time, and long hex or numeric identifiers.
pub fn normalise(text: &str) -> String {
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
                    normalise_word(w)
                };
            previous = w;
            out
        })
        .collect();
    words.join(" ")
}

fn normalise_word(word: &str) -> String {
    let core = word.trim_matches(|c: char| {
        matches!(
            c,
            ',' | ';' | ':' | '(' | ')' | '"' | '\'' | '[' | ']' | '{' | '}'
        )
    });
    let (start, _) = word.split_at(word.find(core).unwrap_or(0));
    let end = &word[start.len() + core.len()..];
    let replaced = if is_ipv4(core) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_words_are_normalised() {
        assert_eq!(
            normalise("IP 10.244.0.5 on node-2, at 12.5ms (revision 1234)"),
            "IP <ip> on <node>, at <ms> (revision <n>)"
        );
        assert_eq!(normalise("bound to gpu-node"), "bound to gpu-node");
        assert_eq!(
            normalise("in the namespace \"pc-auth-user-is-forbidden-3-c3fdd\""),
            "in the namespace \"<namespace>\""
        );
        assert_eq!(
            normalise("PTR web-0.headless.pc-dns-records-0-740b9.svc.cluster.local."),
            "PTR web-0.headless.<namespace>.svc.cluster.local."
        );
        assert_eq!(normalise("pc-web-1"), "pc-web-1");
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
