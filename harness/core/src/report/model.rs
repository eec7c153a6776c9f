//! The render model: what a person reads in a report, computed once from the results, so that
//! `summary.md` ([`super::markdown`]) and `report.html` ([`super::html`]) show the same rows,
//! the same failures and the same numbers, and differ only in how they draw them.
//!
//! It borrows from the [`RunResults`]; building it copies no evidence.

use crate::result::{
    BatchResult, CaseKind, CaseResult, CheckResult, RunResults, StageResult, StageStatus,
    SuiteResult, Verdict, percentile,
};
use crate::stage::Stage;

/// A run as reports show it.
pub struct Report<'a> {
    pub results: &'a RunResults,
    pub suites: Vec<SuiteView<'a>>,
    /// Every failure, in the order of the suites, cases and stages (see [`failures`]).
    pub failures: Vec<Failure<'a>>,
}

pub struct SuiteView<'a> {
    pub suite: &'a SuiteResult,
    pub cases: SuiteCases<'a>,
    /// A pod suite's load cases (`load:`): checks, as a conformance suite's cases, shown
    /// after its pod cases.
    pub loads: Vec<CheckCase<'a>>,
}

/// A pod suite's cases walk the stages; a conformance suite's run checks.
pub enum SuiteCases<'a> {
    Pods(Vec<PodCase<'a>>),
    Checks(Vec<CheckCase<'a>>),
}

/// A pod case: one row per stage, on one time axis from the create.
pub struct PodCase<'a> {
    pub case: &'a CaseResult,
    /// The eight stages in [`Stage::ALL`]'s order, whether or not the case has a result for
    /// each (a case that could not be set up has none).
    pub rows: Vec<StageRow<'a>>,
    /// The end of the time axis: the latest stage's end, in ms from the create (0 when no
    /// stage has a time).
    pub axis_ms: f64,
    pub batch: Option<BatchView>,
}

pub struct StageRow<'a> {
    pub stage: Stage,
    pub result: Option<&'a StageResult>,
    /// Where the stage sits on the case's time axis; none for a stage without a time.
    pub bar: Option<Bar>,
}

/// A stage on the time axis: from when the previous stage completed to when it did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub start_ms: f64,
    pub end_ms: f64,
    /// The start and the length as percentages of the axis.
    pub left_pct: f64,
    pub width_pct: f64,
}

/// A conformance case: its checks counted, the failed ones apart.
pub struct CheckCase<'a> {
    pub case: &'a CaseResult,
    pub passed: usize,
    pub failed: Vec<&'a CheckResult>,
}

/// A batch's binding latencies: percentiles and a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub copies: usize,
    pub bound: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub bins: Vec<Bin>,
}

/// Copies whose latency falls in `from_ms..to_ms` (the last bin includes its end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub from_ms: f64,
    pub to_ms: f64,
    pub count: usize,
}

/// Something that went wrong in a case, with where it belongs.
pub struct Failure<'a> {
    pub suite: &'a SuiteResult,
    pub case: &'a CaseResult,
    pub what: FailureKind<'a>,
}

pub enum FailureKind<'a> {
    Stage(&'a StageResult),
    Check(&'a CheckResult),
    /// The case could not be run (`setup`), or it failed without a stage or check saying
    /// so (`verdict`): its error, or why there is none.
    Case {
        what: &'static str,
        error: &'a str,
    },
}

impl Failure<'_> {
    /// What failed, as a heading names it: the stage, the check, `setup` or `verdict`.
    pub fn name(&self) -> &str {
        match &self.what {
            FailureKind::Stage(s) => s.stage.name(),
            FailureKind::Check(c) => &c.name,
            FailureKind::Case { what, .. } => what,
        }
    }
}

/// How many bins a batch's histogram has at most: enough to see a second mode, few enough
/// to read each bar.
const MAX_BINS: usize = 20;

impl<'a> Report<'a> {
    pub fn new(results: &'a RunResults) -> Report<'a> {
        Report {
            results,
            suites: results.suites.iter().map(SuiteView::new).collect(),
            failures: failures(&results.suites),
        }
    }
}

impl<'a> SuiteView<'a> {
    fn new(suite: &'a SuiteResult) -> SuiteView<'a> {
        let (loads, others): (Vec<&CaseResult>, Vec<&CaseResult>) =
            suite.cases.iter().partition(|c| c.load().is_some());
        let cases = if suite.kind == "pods" {
            SuiteCases::Pods(others.into_iter().map(PodCase::new).collect())
        } else {
            SuiteCases::Checks(others.into_iter().map(CheckCase::new).collect())
        };
        let loads = loads.into_iter().map(CheckCase::new).collect();
        SuiteView {
            suite,
            cases,
            loads,
        }
    }
}

impl<'a> PodCase<'a> {
    fn new(case: &'a CaseResult) -> PodCase<'a> {
        let axis_ms = case
            .stages()
            .iter()
            .filter_map(|s| s.at_ms)
            .fold(0.0, f64::max);
        let rows = Stage::ALL
            .into_iter()
            .map(|stage| {
                let result = case.stage(stage);
                StageRow {
                    stage,
                    result,
                    bar: result.and_then(|r| bar(r, axis_ms)),
                }
            })
            .collect();
        PodCase {
            case,
            rows,
            axis_ms,
            batch: case.batch.as_ref().map(BatchView::new),
        }
    }
}

/// A stage's bar: it ends at `at_ms` and lasts `duration_ms` (the time since the previous
/// stage completed), both measured from the create.
fn bar(stage: &StageResult, axis_ms: f64) -> Option<Bar> {
    let end_ms = stage.at_ms?;
    if axis_ms <= 0.0 {
        return None;
    }
    let start_ms = (end_ms - stage.duration_ms.unwrap_or(0.0)).clamp(0.0, end_ms);
    Some(Bar {
        start_ms,
        end_ms,
        left_pct: start_ms / axis_ms * 100.0,
        width_pct: (end_ms - start_ms) / axis_ms * 100.0,
    })
}

impl<'a> CheckCase<'a> {
    fn new(case: &'a CaseResult) -> CheckCase<'a> {
        let checks = case.checks();
        CheckCase {
            case,
            passed: checks
                .iter()
                .filter(|c| c.status == StageStatus::Passed)
                .count(),
            failed: checks
                .iter()
                .filter(|c| c.status == StageStatus::Failed)
                .collect(),
        }
    }
}

impl BatchView {
    pub fn new(batch: &BatchResult) -> BatchView {
        let sorted = batch.sorted_latencies();
        BatchView {
            copies: batch.binding_ms.len(),
            bound: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied(),
            bins: histogram(&sorted),
        }
    }
}

/// Equal-width bins from the fastest to the slowest latency.
fn histogram(sorted: &[f64]) -> Vec<Bin> {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return vec![];
    };
    let n = sorted.len().clamp(1, MAX_BINS);
    let width = (max - min) / n as f64;
    if width <= 0.0 {
        return vec![Bin {
            from_ms: min,
            to_ms: max,
            count: sorted.len(),
        }];
    }
    let mut bins: Vec<Bin> = (0..n)
        .map(|i| Bin {
            from_ms: min + width * i as f64,
            to_ms: min + width * (i + 1) as f64,
            count: 0,
        })
        .collect();
    for v in sorted {
        let i = (((v - min) / width) as usize).min(n - 1);
        bins[i].count += 1;
    }
    bins
}

/// Every failed stage or check, every case that could not run, and every failed case whose
/// failure no stage or check carries (so a report never looks clean while the totals say
/// otherwise). Per case: its failed stages in the seed's order, or its failed checks in the
/// order they ran, then its error.
fn failures(suites: &[SuiteResult]) -> Vec<Failure<'_>> {
    let mut out = Vec::new();
    for suite in suites {
        for case in &suite.cases {
            let at = |what| Failure { suite, case, what };
            let before = out.len();
            match &case.kind {
                CaseKind::Pod { stages } => {
                    let mut failed: Vec<&StageResult> = stages
                        .iter()
                        .filter(|s| s.status == StageStatus::Failed)
                        .collect();
                    failed.sort_by_key(|s| s.stage);
                    out.extend(failed.into_iter().map(|s| at(FailureKind::Stage(s))));
                }
                CaseKind::Conformance { checks } | CaseKind::Load { checks, .. } => out.extend(
                    checks
                        .iter()
                        .filter(|c| c.status == StageStatus::Failed)
                        .map(|c| at(FailureKind::Check(c))),
                ),
            }
            let recorded = out.len() > before;
            let (what, fallback) = match case.verdict {
                Verdict::Error => ("setup", "the case could not be run"),
                Verdict::Failed if !recorded => (
                    "verdict",
                    "the case failed, but no stage recorded a failure",
                ),
                Verdict::Passed | Verdict::Failed | Verdict::Skipped => continue,
            };
            let error = case.error.as_deref().unwrap_or(fallback);
            out.push(at(FailureKind::Case { what, error }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{conformance_fixture, fixture};

    fn pod_case<'a>(report: &'a Report<'a>, suite: usize, case: usize) -> &'a PodCase<'a> {
        match &report.suites[suite].cases {
            SuiteCases::Pods(cases) => &cases[case],
            SuiteCases::Checks(_) => panic!("a pod suite"),
        }
    }

    #[test]
    fn bars_span_from_the_previous_stage_to_their_own() {
        let results = fixture();
        let report = Report::new(&results);
        let busybox = pod_case(&report, 0, 0);
        assert_eq!(busybox.axis_ms, 36.8);
        assert_eq!(busybox.rows.len(), 8);
        let binding = busybox.rows[3].bar.unwrap();
        assert_eq!((binding.start_ms, binding.end_ms), (4.1, 11.7));
        assert!((binding.width_pct - 7.6 / 36.8 * 100.0).abs() < 1e-9);
        let last = busybox.rows[7].bar.unwrap();
        assert!((last.left_pct + last.width_pct - 100.0).abs() < 1e-9);
    }

    #[test]
    fn stages_without_a_time_have_a_row_and_no_bar() {
        let results = fixture();
        let report = Report::new(&results);
        let gpu = pod_case(&report, 1, 0);
        let bars: Vec<bool> = gpu.rows.iter().map(|r| r.bar.is_some()).collect();
        assert_eq!(bars, [true, true, true, true, false, false, false, false]);
        let registry = pod_case(&report, 1, 1);
        assert!(registry.rows.iter().all(|r| r.result.is_none()));
        assert_eq!(registry.axis_ms, 0.0);
    }

    #[test]
    fn failures_follow_suites_cases_and_stages() {
        let results = fixture();
        let report = Report::new(&results);
        let names: Vec<(&str, &str)> = report
            .failures
            .iter()
            .map(|f| (f.case.name.as_str(), f.name()))
            .collect();
        assert_eq!(
            names,
            [("gpu-pod-binds", "binding"), ("registry-down", "setup")]
        );
        let results = conformance_fixture();
        let report = Report::new(&results);
        let names: Vec<&str> = report.failures.iter().map(Failure::name).collect();
        assert_eq!(
            names,
            ["badConfig.error-code"],
            "a skipped suite is no failure"
        );
        let SuiteCases::Checks(cases) = &report.suites[0].cases else {
            panic!("a conformance suite");
        };
        assert_eq!((cases[0].passed, cases[1].failed.len()), (2, 1));
    }

    #[test]
    fn a_batch_has_percentiles_and_a_histogram_of_every_bound_copy() {
        let mut binding_ms: Vec<Option<f64>> = (1..=100).map(|i| Some(f64::from(i))).collect();
        binding_ms.push(None);
        let view = BatchView::new(&BatchResult { binding_ms });
        assert_eq!((view.copies, view.bound), (101, 100));
        assert_eq!(
            (view.p50, view.p90, view.p99, view.max),
            (Some(50.0), Some(90.0), Some(99.0), Some(100.0))
        );
        assert_eq!(view.bins.len(), MAX_BINS);
        assert_eq!(view.bins.iter().map(|b| b.count).sum::<usize>(), 100);
        assert_eq!(view.bins[0].from_ms, 1.0);
        assert_eq!(view.bins[MAX_BINS - 1].to_ms, 100.0);
    }

    #[test]
    fn equal_latencies_make_one_bin_and_none_make_none() {
        let same = BatchView::new(&BatchResult {
            binding_ms: vec![Some(5.0); 3],
        });
        assert_eq!(
            same.bins,
            [Bin {
                from_ms: 5.0,
                to_ms: 5.0,
                count: 3
            }]
        );
        let none = BatchView::new(&BatchResult {
            binding_ms: vec![None, None],
        });
        assert!(none.bins.is_empty());
        assert_eq!(none.p50, None);
    }
}
