//! A suite's load case (`load:` in a suite): the load the loader checked, and what the run
//! found turned into the case's checks — every pod ran, and one per SLO.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::slo::{Slo, SloOutcome};
use super::stats::{LoadReport, MetricStats, Throughput};
use super::timeline::Progress;
use crate::result::{CheckResult, Evidence, Provider, Source};

/// The seed's busybox pod (`sleep 3600`: it stays Running), the template of a load case
/// without `pod:`, as of `podcheck load` without `--pod`.
pub const SEED_POD: &str = include_str!("../../../../suites/pod-lifecycle/pods/busybox.yaml");

/// The default of `inFlight` and `--in-flight`.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// What a load case creates, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub pods: usize,
    /// At most this many creates waiting for their answer.
    pub in_flight: usize,
    /// At most this many creates a second.
    pub qps: Option<f64>,
    /// Default: [`super::default_timeout`].
    pub timeout: Option<std::time::Duration>,
    pub slos: Vec<Slo>,
}

/// What `results.json` keeps of a load run: no per-pod times (a thousand pods would bury
/// the case), the rest as `load.json` has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadSummary {
    pub pods: usize,
    pub in_flight: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps: Option<f64>,
    pub wall_ms: Millis,
    pub timed_out: bool,
    pub progress: Progress,
    pub metrics: Vec<MetricStats>,
    pub throughput: Throughput,
    pub slos: Vec<SloOutcome>,
}

impl LoadSummary {
    pub fn of(report: &LoadReport) -> LoadSummary {
        LoadSummary {
            pods: report.pods,
            in_flight: report.in_flight,
            qps: report.qps,
            wall_ms: report.wall_ms,
            timed_out: report.timed_out,
            progress: report.progress,
            metrics: report.metrics.clone(),
            throughput: report.throughput.clone(),
            slos: report.slos.clone(),
        }
    }
}

/// The case's checks: every pod ran (Running and Ready), then each SLO in the suite's order;
/// their evidence is the pod watch on `apiserver` (the target's, where it says which).
pub fn checks(report: &LoadReport, apiserver: Option<&Provider>) -> Vec<CheckResult> {
    let watch = |detail: String| Evidence {
        source: Source::Api,
        provider: apiserver.map_or("apiserver".into(), |p| p.name.clone()),
        // Another cluster's apiserver, unnamed, is real too.
        real: apiserver.is_none_or(|p| p.real),
        detail,
        at_ms: None,
    };
    let mut checks = vec![all_ran(report, &watch)];
    checks.extend(report.slos.iter().map(|s| slo_check(s, &watch)));
    checks
}

/// The name of the check that every pod ran.
pub fn all_ran_name(pods: usize) -> String {
    format!("all {pods} pods ran")
}

fn all_ran(report: &LoadReport, watch: &dyn Fn(String) -> Evidence) -> CheckResult {
    let p = &report.progress;
    let name = all_ran_name(report.pods);
    let expected = format!("{} pods Running and Ready", report.pods);
    let observed = format!(
        "{} Ready, {} Running, {} created, {} refused",
        p.ready, p.running, p.created, p.refused
    );
    let evidence = vec![watch(format!(
        "one pod watch on namespace {}",
        report.namespace
    ))];
    if report.all_ready() {
        return CheckResult::passed(&name, &expected, observed, evidence);
    }
    let why = if report.timed_out {
        "the wait ran out"
    } else {
        "some pods ended or were refused"
    };
    CheckResult::failed(
        &name,
        &expected,
        observed,
        evidence,
        format!("{} of {} pods did not run: {why}", p.pods - p.ready, p.pods),
        Some("a longer `timeout`, fewer `pods`, or a lower `qps` tell a slow cluster from a broken one".into()),
    )
}

fn slo_check(outcome: &SloOutcome, watch: &dyn Fn(String) -> Evidence) -> CheckResult {
    let value = match outcome.value_ms {
        Some(v) => format!("{v:.3}ms"),
        None => "no pod reached it".into(),
    };
    let evidence = vec![watch(outcome.line())];
    // The SLO as written is what the case expects: stable in snapshots, unlike the value.
    if outcome.holds {
        CheckResult::passed(&outcome.slo, &outcome.slo, value, evidence)
    } else {
        CheckResult::failed(
            &outcome.slo,
            &outcome.slo,
            value.clone(),
            evidence,
            format!("breached: {value}"),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{CaseKind, CaseResult, StageStatus, SuiteResult, Verdict};
    use crate::scale::stats::{Memory, Metric};

    /// A run of 3 pods, `ready` of them Ready, whose pod_startup p50 was `p50` ms.
    fn report(ready: usize, p50: f64) -> LoadReport {
        let slo = |text: &str| Slo::parse(text).unwrap();
        let mut metrics = crate::scale::stats::metrics(&[]);
        for m in &mut metrics {
            if m.metric == Metric::PodStartup {
                (m.p50, m.p99, m.n) = (Some(p50), Some(p50 * 2.0), ready);
            }
        }
        LoadReport {
            run_id: "r".into(),
            namespace: "ns".into(),
            target: "local".into(),
            pods: 3,
            in_flight: 64,
            qps: None,
            wall_ms: p50 * 3.0,
            timed_out: ready < 3,
            progress: Progress {
                pods: 3,
                created: 3,
                running: ready,
                ready,
                ..Default::default()
            },
            slos: ["pod_startup.p50<1s", "pod_startup.p99<=2s"]
                .map(|t| slo(t).evaluate(&metrics))
                .to_vec(),
            metrics,
            not_measured: vec![],
            throughput: Throughput::of(&[]),
            memory: Memory::NotMeasured { why: "test".into() },
            pod_times: vec![],
        }
    }

    fn statuses(checks: &[CheckResult]) -> Vec<(&str, StageStatus)> {
        checks.iter().map(|c| (c.name.as_str(), c.status)).collect()
    }

    #[test]
    fn every_pod_ran_then_one_check_per_slo_with_its_value() {
        use StageStatus::{Failed, Passed};
        let held = checks(&report(3, 400.0), None);
        assert_eq!(
            statuses(&held),
            [
                ("all 3 pods ran", Passed),
                ("pod_startup.p50<1s", Passed),
                ("pod_startup.p99<=2s", Passed)
            ]
        );
        assert_eq!(held[1].observed, "400.000ms");
        let slow = checks(&report(2, 1500.0), None);
        assert_eq!(
            statuses(&slow),
            [
                ("all 3 pods ran", Failed),
                ("pod_startup.p50<1s", Failed),
                ("pod_startup.p99<=2s", Failed)
            ]
        );
        assert_eq!(
            slow[0].message.as_deref(),
            Some("1 of 3 pods did not run: the wait ran out")
        );
        assert_eq!(slow[1].message.as_deref(), Some("breached: 1500.000ms"));
    }

    #[test]
    fn a_load_cases_snapshot_holds_its_checks_outcomes_not_its_times() {
        let suite = |r: LoadReport| SuiteResult {
            name: "load".into(),
            path: "suite.yaml".into(),
            kind: "pods".into(),
            components: vec![],
            skipped: None,
            cases: vec![CaseResult {
                kind: CaseKind::Load {
                    load: Box::new(LoadSummary::of(&r)),
                    checks: checks(&r, None),
                },
                verdict: Verdict::Passed,
                ..CaseResult::conformance("many", "", vec![], 1.0, None)
            }],
        };
        let (fast, slower) = (report(3, 100.0), report(3, 700.0));
        let snapshot = crate::snapshot::render(&suite(fast), &[]);
        assert_eq!(snapshot, crate::snapshot::render(&suite(slower), &[]));
        assert!(snapshot.contains("passed   all 3 pods ran |"), "{snapshot}");
        assert!(!snapshot.contains("100"), "{snapshot}");
    }
}
