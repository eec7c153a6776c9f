//! How long report.html (and summary.md, for comparison) takes to render, and how big it is:
//! for a 75-case run (5 pod suites of 15 cases, each with its eight stages, evidence and
//! observations, two of them failing) and for one case whose batch has 1,000 copies. Median
//! of the runs.
//!
//! `cargo bench -p podcheck-core --bench report` (PODCHECK_BENCH_RUNS overrides 50;
//! PODCHECK_BENCH_RESULTS=PATH/results.json also times a real run's results).

use std::time::Instant;

use podcheck_core::report::{html, markdown};
use podcheck_core::result::{
    BatchResult, CaseKind, CaseResult, Evidence, Provider, RESULTS_SCHEMA, RunResults, Source,
    StageResult, StageStatus, SuiteResult, Summary, TargetInfo, TimelineEntry, Verdict,
};
use podcheck_core::stage::Stage;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A stage as a run records it: two pieces of evidence, a failure's message and hint.
fn stage(stage: Stage, at_ms: f64, duration_ms: f64, failed: bool) -> StageResult {
    let evidence = |detail: String| Evidence {
        source: Source::Api,
        provider: "builtin".into(),
        real: true,
        detail,
        at_ms: Some(at_ms),
    };
    StageResult {
        stage,
        status: if failed {
            StageStatus::Failed
        } else {
            StageStatus::Passed
        },
        expected: "pass".into(),
        observed: format!("{stage} seen after {duration_ms:.1} ms"),
        at_ms: Some(at_ms),
        duration_ms: Some(duration_ms),
        evidence: vec![
            evidence(format!(
                "watch MODIFIED rv {} phase=Pending <none>",
                at_ms as u64
            )),
            evidence(format!(
                "event Scheduled: assigned default/pod to node-{}",
                at_ms as u64 % 5
            )),
        ],
        message: failed.then(|| "bound to node-1, not node-2".into()),
        hint: failed.then(|| "the scheduler chose another feasible node".into()),
    }
}

fn case(name: String, failed_stage: Option<Stage>) -> CaseResult {
    let mut at = 0.0;
    let stages: Vec<StageResult> = Stage::ALL
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let d = 1.5 + (i * 7 % 11) as f64 * 3.1;
            at += d;
            stage(s, at, d, failed_stage == Some(s))
        })
        .collect();
    let timeline = (0..15)
        .map(|i| TimelineEntry {
            at_ms: f64::from(i) * 4.0,
            what: format!("watch MODIFIED: phase Pending, conditions PodScheduled=True ({i})"),
        })
        .collect();
    CaseResult {
        namespace: format!("pc-bench-{name}-1a2b3"),
        pod: format!("{name}.yaml"),
        identity: "system:admin".into(),
        verdict: if failed_stage.is_some() {
            Verdict::Failed
        } else {
            Verdict::Passed
        },
        duration_ms: at + 120.0,
        error: None,
        kind: CaseKind::Pod { stages },
        timeline,
        batch: None,
        name,
        description: "a pod walks the eight stages".into(),
        tags: vec![],
    }
}

fn run(suites: Vec<SuiteResult>) -> RunResults {
    let mut r = RunResults {
        schema: RESULTS_SCHEMA.into(),
        run_id: "20261207T000000Z-bench".into(),
        started_at: "2026-12-07T00:00:00Z".into(),
        duration_ms: 60_000.0,
        target: TargetInfo {
            kind: "local".into(),
            server: "https://127.0.0.1:6443".into(),
            version: "v1.33.1-podcheck".into(),
            providers: vec![Provider {
                component: "runtime".into(),
                name: "containerd".into(),
                real: true,
                version: "1.6.20".into(),
            }],
        },
        suites,
        summary: Summary::default(),
    };
    r.summarize();
    r
}

fn suite(name: String, cases: Vec<CaseResult>) -> SuiteResult {
    SuiteResult {
        path: format!("suites/{name}.yaml"),
        name,
        kind: "pods".into(),
        components: vec![],
        skipped: None,
        cases,
    }
}

/// 5 suites × 15 cases; two fail at binding.
fn seventy_five_cases() -> RunResults {
    run((0..5)
        .map(|s| {
            let cases = (0..15)
                .map(|c| {
                    let failed = (s * 15 + c) % 37 == 5;
                    case(format!("case-{s}-{c}"), failed.then_some(Stage::Binding))
                })
                .collect();
            suite(format!("suite-{s}"), cases)
        })
        .collect())
}

/// One case with a batch of 1,000 copies, a few of them never bound.
fn thousand_pod_batch() -> RunResults {
    let mut c = case("burst".into(), None);
    c.batch = Some(BatchResult {
        binding_ms: (0..1000)
            .map(|i| (i % 250 != 7).then(|| 5.0 + f64::from(i % 97) * 1.3 + f64::from(i) / 40.0))
            .collect(),
    });
    run(vec![suite("batch".into(), vec![c])])
}

fn measure(label: &str, results: &RunResults, runs: usize) {
    let mut html_ms = Vec::new();
    let mut md_ms = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let page = html::render(results);
        html_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        size = page.len();
        let t0 = Instant::now();
        std::hint::black_box(markdown::render(results));
        md_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{label}: report.html {:.1} KiB, render median {:.3} ms (summary.md {:.3} ms), {runs} runs",
        size as f64 / 1024.0,
        median(&mut html_ms),
        median(&mut md_ms)
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("PODCHECK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    println!(
        "({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    measure("75 cases", &seventy_five_cases(), runs);
    measure("a batch of 1,000 copies", &thousand_pod_batch(), runs);
    if let Ok(path) = std::env::var("PODCHECK_BENCH_RESULTS") {
        let text = std::fs::read_to_string(&path).unwrap();
        let results: RunResults = serde_json::from_str(&text).unwrap();
        measure(
            &format!("{path} ({} cases)", results.summary.cases),
            &results,
            runs,
        );
    }
}
