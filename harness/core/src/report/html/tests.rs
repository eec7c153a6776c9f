use super::*;
use crate::report::tests::{conformance_fixture, fixture};
use crate::result::{BatchResult, CaseKind, TimelineEntry};

/// The document's structure, one element a line, indented by depth: its tag, `#id`,
/// `.classes` and `[data-*]` values, then its text. Styles, bar geometry and the contents of
/// `<style>`/`<script>` are left out and times are redacted, so the snapshot changes when
/// the structure does, not when a colour or a rounding does.
fn outline(html: &str) -> String {
    const VOID: [&str; 3] = ["meta", "br", "input"];
    let mut out = String::new();
    let mut depth = 0usize;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text_line(&mut out, depth, &rest[..lt]);
        let gt = rest[lt..].find('>').expect("a tag ends") + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            depth = depth.saturating_sub(1);
            let _ = name;
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        let mut line = format!("{}{name}", "  ".repeat(depth));
        for (attr, value) in attributes(tag) {
            match attr {
                "id" => line.push_str(&format!(" #{value}")),
                "class" => {
                    for class in value.split_whitespace() {
                        line.push_str(&format!(" .{class}"));
                    }
                }
                "open" => line.push_str(" [open]"),
                a if a.starts_with("data-") && !a.ends_with("-ms") => {
                    line.push_str(&format!(" [{a}={value}]"));
                }
                _ => {}
            }
        }
        out.push_str(&line);
        out.push('\n');
        if name == "style" || name == "script" {
            let end = rest.find("</").expect("closed");
            rest = &rest[end..];
        }
        if !VOID.contains(&name) {
            depth += 1;
        }
    }
    out
}

/// `name="value"` pairs of a tag, and bare names (`open`).
fn attributes(tag: &str) -> Vec<(&str, &str)> {
    let mut attrs = Vec::new();
    let mut rest = tag.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    while !rest.trim().is_empty() {
        rest = rest.trim_start();
        let end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let name = &rest[..end];
        if rest[end..].starts_with("=\"") {
            let value_end = rest[end + 2..].find('"').unwrap() + end + 2;
            attrs.push((name, &rest[end + 2..value_end]));
            rest = &rest[value_end + 1..];
        } else {
            attrs.push((name, ""));
            rest = &rest[end..];
        }
    }
    attrs
}

fn text_line(out: &mut String, depth: usize, text: &str) {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        out.push_str(&format!(
            "{}\"{}\"\n",
            "  ".repeat(depth),
            redact_times(&text)
        ));
    }
}

/// `12.5 ms` and `took 32.1 s` become `‹ms›` and `‹s›`.
fn redact_times(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let number = words[i].parse::<f64>().is_ok();
        match words.get(i + 1) {
            Some(&unit) if number && (unit.starts_with("ms") || unit.starts_with('s')) => {
                out.push(if unit.starts_with("ms") {
                    "‹ms›"
                } else {
                    "‹s›"
                });
                i += 2;
            }
            _ => {
                out.push(words[i]);
                i += 1;
            }
        }
    }
    out.join(" ")
}

#[test]
fn structure_snapshot() {
    insta::assert_snapshot!(outline(&render(&fixture())));
}

#[test]
fn conformance_structure_snapshot() {
    insta::assert_snapshot!(outline(&render(&conformance_fixture())));
}

#[test]
fn escape_covers_text_and_both_quotes() {
    assert_eq!(
        Esc(r#"<a href="x" title='y'>&amp;</a>"#).to_string(),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
    );
    assert_eq!(Esc("plain → text").to_string(), "plain → text");
    assert_eq!(Esc("").to_string(), "");
}

/// Pod output and user text that try to close the element, open a script or break out of an
/// attribute stay text.
#[test]
fn hostile_results_stay_text() {
    let hostile = r#"</code></script><script>alert(1)</script>"><img src=x onerror=alert(2)>'"#;
    let mut results = fixture();
    results.run_id = hostile.into();
    results.target.server = hostile.into();
    let suite = &mut results.suites[1];
    suite.name = hostile.into();
    suite.path = hostile.into();
    let case = &mut suite.cases[0];
    case.name = hostile.into();
    case.description = hostile.into();
    case.namespace = hostile.into();
    let CaseKind::Pod { stages } = &mut case.kind else {
        unreachable!()
    };
    let binding = &mut stages[3];
    binding.message = Some(hostile.into());
    binding.hint = Some(hostile.into());
    binding.evidence[0].detail = hostile.into();
    binding.evidence[0].provider = hostile.into();
    results.suites[0].cases[0].timeline = vec![TimelineEntry {
        at_ms: 1.0,
        what: hostile.into(),
    }];
    let html = render(&results);
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
        "{html}"
    );
    // No quote from the input closes an attribute: every element of the page is one the
    // renderer wrote, and the hostile text is only ever text.
    let outline = outline(&html);
    let elements: Vec<&str> = outline
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('"'))
        .collect();
    assert!(
        elements
            .iter()
            .all(|l| !l.starts_with("img") && !l.contains("onerror")),
        "{outline}"
    );
}

/// A conformance check's name, words and evidence are text too.
#[test]
fn hostile_checks_stay_text() {
    let hostile = r#"x" onmouseover="alert(1)"><b>bold</b>"#;
    let mut results = conformance_fixture();
    let CaseKind::Conformance { checks } = &mut results.suites[0].cases[1].kind else {
        unreachable!()
    };
    let check = &mut checks[0];
    check.name = hostile.into();
    check.expected = hostile.into();
    check.observed = hostile.into();
    check.evidence[0].detail = hostile.into();
    results.suites[0].components[0].name = hostile.into();
    let html = render(&results);
    assert!(!html.contains("<b>bold"), "{html}");
    assert!(!html.contains("\" onmouseover"), "{html}");
    assert!(html.contains("data-check=\"x&quot; onmouseover=&quot;alert(1)&quot;&gt;"));
}

#[test]
fn the_page_fetches_nothing() {
    for results in [fixture(), conformance_fixture()] {
        let html = render(&results);
        for fetch in [
            " src=",
            " href=\"http",
            "url(",
            "@import",
            "<link",
            "<iframe",
        ] {
            assert!(!html.contains(fetch), "{fetch} in the page");
        }
        assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    }
}

#[test]
fn a_failed_stage_is_marked_open_with_its_message_and_hint_in_view() {
    let html = render(&fixture());
    let gpu = html.split("id=\"case-1-0\"").nth(1).unwrap();
    let gpu = &gpu[..gpu.find("</article>").unwrap()];
    let binding = gpu
        .split("<div class=\"stage ")
        .find(|s| s.contains("data-stage=\"binding\""))
        .unwrap();
    assert!(binding.starts_with("failed\""), "{binding}");
    assert!(binding.contains("<details open>"), "{binding}");
    let after_details = &binding[binding.find("</details>").unwrap()..];
    assert!(
        after_details.contains("no binding within the 2000 ms deadline"),
        "{binding}"
    );
    assert!(
        after_details.contains("label a node or drop the nodeSelector"),
        "{binding}"
    );
    assert_eq!(
        gpu.matches("class=\"bar ").count(),
        4,
        "four stages have a time"
    );
}

#[test]
fn skipped_suites_show_the_reason_and_the_install_command() {
    let html = render(&conformance_fixture());
    assert!(html.contains("Skipped on this machine: containerd is not installed."));
    assert!(html.contains("<code class=\"install\">apt-get install containerd runc</code>"));
    assert!(html.contains("<span class=\"total skipped\">1 skipped</span>"));
}

#[test]
fn a_batch_shows_percentiles_and_its_distribution() {
    let mut results = fixture();
    results.suites[0].cases[0].batch = Some(BatchResult {
        binding_ms: (1..=1000).map(|i| Some(f64::from(i) / 10.0)).collect(),
    });
    let html = render(&results);
    assert!(html.contains("Batch: 1000 of 1000 copies bound"), "{html}");
    assert!(html.contains("<td class=\"p50\">50 ms</td>"), "{html}");
    assert!(html.contains("<td class=\"p99\">99 ms</td>"), "{html}");
    assert!(html.contains("<td class=\"max\">100 ms</td>"), "{html}");
    assert_eq!(html.matches("<rect class=\"bin\"").count(), 20);
}

/// A pod suite's load case is a table of checks after its pod cases, and every case keeps
/// the id of its place in the suite, so the failure index links to the right one.
#[test]
fn a_load_case_is_a_check_table_after_the_pod_cases() {
    let mut results = fixture();
    let mut load = conformance_fixture().suites[0].cases[1].clone();
    let CaseKind::Conformance { checks } = load.kind else {
        unreachable!()
    };
    let summary = crate::scale::case::LoadSummary {
        pods: 5,
        in_flight: 64,
        qps: None,
        wall_ms: 10.0,
        timed_out: false,
        progress: Default::default(),
        metrics: vec![],
        throughput: crate::scale::stats::Throughput {
            bins: vec![],
            average_per_second: None,
            peak_per_second: 0,
        },
        slos: vec![],
    };
    load.name = "many".into();
    load.kind = CaseKind::Load {
        load: Box::new(summary),
        checks,
    };
    results.suites[0].cases.insert(0, load);
    let html = render(&results);
    let table = html.find("<h3>Load cases</h3>").expect("a load section");
    let load_row = html.find("id=\"case-0-0\"").expect("the load case's id");
    let pod_case = html
        .find("id=\"case-0-1\"")
        .expect("the first pod case's id");
    assert!(pod_case < table && table < load_row, "{html}");
    assert!(
        html.contains("href=\"#case-0-0\""),
        "the failed check links to it"
    );
}
