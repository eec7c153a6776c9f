//! report.html in a real browser: a run with a failing case, its report loaded in headless
//! Chromium, and the DOM read back after layout — the failing stage marked, its hint in view,
//! eight bars whose rendered widths are in the ratio of the stage times — and a screenshot
//! (and the printed PDF) kept in target/report-browser/.
//!
//! Chromium is driven by its command line only (`--dump-dom`, `--screenshot`): a copy of the
//! page gets a test-only script that measures the layout and writes it into the DOM, which
//! `--dump-dom` prints once the page has loaded. No CDP client, no extra dependency.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::text;

/// Per call: chromium starts in about a second; a loaded shared machine gets room.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// What the test adds to its copy of the page: for each case, each stage's status, its bar's
/// rendered width and its track's, and whether its hint is laid out (visible), as JSON in
/// `<pre id="measured">`.
const MEASURE: &str = r#"<script>
(function(){
var cases=[];
document.querySelectorAll("article.case").forEach(function(a){
  var tl=a.querySelector(".timeline");
  var stages=[];
  a.querySelectorAll(".stage").forEach(function(s){
    var bar=s.querySelector(".bar"), track=s.querySelector(".track"), hint=s.querySelector(".failure .hint");
    stages.push({stage:s.dataset.stage,status:s.dataset.status,
      width:bar?bar.getBoundingClientRect().width:null,
      track:track?track.getBoundingClientRect().width:null,
      ms:bar?Number(bar.dataset.endMs)-Number(bar.dataset.startMs):null,
      hint:hint?hint.textContent:null,
      hintShown:hint?hint.getBoundingClientRect().height>0:false});
  });
  cases.push({id:a.id,verdict:a.dataset.verdict,axisMs:tl?Number(tl.dataset.axisMs):null,stages:stages});
});
var pre=document.createElement("pre");pre.id="measured";pre.textContent=JSON.stringify(cases);
document.body.appendChild(pre);
})();
</script>"#;

/// Whether Debian's chromium is here; fails the test otherwise, unless
/// `PODCHECK_SKIP_REAL=1` (the project's rule for real components).
fn chromium_or_skip() -> Option<PathBuf> {
    if let Some(path) = podcheck_host::command::find_tool("chromium") {
        return Some(path);
    }
    assert_eq!(
        std::env::var("PODCHECK_SKIP_REAL").as_deref(),
        Ok("1"),
        "chromium is missing (apt-get install --no-install-recommends chromium, as .ci/run \
         does, or set PODCHECK_SKIP_REAL=1)"
    );
    None
}

/// Where the test leaves what a person may want to look at: target/report-browser/ (beside
/// cargo's tmp dir for tests, so a CARGO_TARGET_DIR elsewhere is followed).
fn output_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"));
    let dir = target.join("report-browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `podcheck run` of the wrong-expectation fixture (bound to node-1, expected node-2: the
/// binding stage fails, and every stage has a time) into `dir`.
fn failing_run(dir: &Path) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = support::podcheck()
        .current_dir(&fixtures)
        .args(["run", "wrong-expectation.yaml", "--snapshot", "ignore"])
        .arg("--report-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("reports: ") && last.ends_with("report.html"),
        "the last line names report.html last: {last}"
    );
}

/// Chromium with the flags that keep it off the network and out of the user's profile, in a
/// process group of its own, killed with its children at the deadline.
fn chromium(program: &Path, profile: &Path, args: &[String]) -> podcheck_host::command::Exec {
    let mut command = tokio::process::Command::new(program);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exec = runtime
        .block_on(podcheck_host::command::run(
            command,
            None,
            CHROMIUM_DEADLINE,
        ))
        .unwrap();
    assert!(
        !exec.timed_out,
        "chromium did not finish within {CHROMIUM_DEADLINE:?}: {}",
        exec.stderr
    );
    assert!(
        exec.success(),
        "chromium: {}\n{}",
        exec.status(),
        exec.stderr
    );
    exec
}

/// The JSON the measuring script left in the dumped DOM.
fn measured(dom: &str) -> Value {
    let start = dom.find("<pre id=\"measured\">").expect("the script ran") + 19;
    let end = dom[start..].find("</pre>").unwrap() + start;
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

/// Each stage's time of the run's only case, from results.json, and the latest stage's end.
fn stage_times(dir: &Path) -> (std::collections::HashMap<String, f64>, f64) {
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let stages = results["suites"][0]["cases"][0]["stages"]
        .as_array()
        .unwrap();
    let times = stages
        .iter()
        .map(|s| {
            let name = s["stage"].as_str().unwrap().to_string();
            (
                name,
                s["durationMs"].as_f64().expect("every stage has a time"),
            )
        })
        .collect();
    let axis = stages
        .iter()
        .filter_map(|s| s["atMs"].as_f64())
        .fold(0.0, f64::max);
    (times, axis)
}

/// No chromium started with this profile is still running.
fn assert_no_chromium_left(profile: &Path) {
    let marker = profile.display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(left.is_empty(), "chromium processes left: {left:?}");
}

#[test]
fn a_failing_run_reads_right_in_chromium() {
    let Some(chromium_path) = chromium_or_skip() else {
        return;
    };
    let reports = tempfile::tempdir().unwrap();
    failing_run(reports.path());
    let html = std::fs::read_to_string(reports.path().join("report.html")).unwrap();

    let out = output_dir();
    let page = out.join("report.html");
    std::fs::copy(reports.path().join("report.html"), &page).unwrap();
    let measuring = out.join("report-measured.html");
    std::fs::write(
        &measuring,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(
        &chromium_path,
        profile.path(),
        &[
            "--window-size=1280,2000".into(),
            "--dump-dom".into(),
            format!("file://{}", measuring.display()),
        ],
    )
    .stdout;
    let cases = measured(&dom);
    let case = &cases[0];
    assert_eq!(case["verdict"], "failed", "{cases}");
    let stages = case["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 8, "{cases}");

    let binding = stages.iter().find(|s| s["stage"] == "binding").unwrap();
    assert_eq!(binding["status"], "failed", "{binding}");
    let hint = binding["hint"].as_str().expect("the failed stage's hint");
    assert!(hint.contains("check scoring"), "{hint}");
    assert_eq!(
        binding["hintShown"], true,
        "the hint is laid out, not folded away"
    );
    for s in stages.iter().filter(|s| s["stage"] != "binding") {
        assert_eq!(s["status"], "passed", "{s}");
    }

    // Eight bars, each as wide as its stage's time (results.json's durationMs) is a share of
    // the axis (the latest atMs); a bar has at least 1 px, and layout rounds to fractions of
    // a pixel.
    let (times, axis) = stage_times(reports.path());
    assert_eq!(case["axisMs"].as_f64(), Some(axis), "{case}");
    for s in stages {
        let (width, track, ms) = (
            s["width"].as_f64().expect("every stage has a bar"),
            s["track"].as_f64().unwrap(),
            times[s["stage"].as_str().unwrap()],
        );
        assert!(
            (s["ms"].as_f64().unwrap() - ms).abs() < 1e-6,
            "the bar spans the stage's time: {s}"
        );
        let expected = (track * ms / axis).max(1.0);
        assert!(
            (width - expected).abs() <= 1.5,
            "{}: {width} px, expected {expected} px ({ms} of {axis} ms on {track} px)",
            s["stage"]
        );
    }

    let screenshot = out.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(
        &chromium_path,
        profile.path(),
        &[
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", screenshot.display()),
            format!("file://{}", page.display()),
        ],
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "report.png is a PNG");

    // Printable: the print stylesheet lays it out as pages.
    let pdf = out.join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    chromium(
        &chromium_path,
        profile.path(),
        &[
            "--no-pdf-header-footer".into(),
            format!("--print-to-pdf={}", pdf.display()),
            format!("file://{}", page.display()),
        ],
    );
    let pdf = std::fs::read(&pdf).expect("chromium printed the page");
    assert!(pdf.starts_with(b"%PDF-"), "report.pdf is a PDF");
    assert_no_chromium_left(profile.path());
}
