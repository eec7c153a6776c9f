//! From per-pod timestamps to what a load run reports: each metric's percentiles, the
//! throughput, the memory, the SLO outcomes, and the terminal summary.
//!
//! A metric is the time between two milestones of [`PodTimes`], over the pods that reached
//! both. Two families:
//!
//! - the stages, named as everywhere in podcheck (camelCase). `auth` and `etcdWrite` are
//!   one create round trip seen from outside, reported as `etcdWrite`; `dns` is not
//!   measured by a load run (no pod is asked to resolve anything).
//! - ClusterLoader2's pod startup phases (`pod_startup_latency.go`: create, schedule, run,
//!   watch), with our clock at each. CL2 takes `create` from `creationTimestamp`, `schedule`
//!   from the scheduler's event and `run` from the latest container `startedAt`; those are
//!   whole seconds, so here `create` is when the create request went out, `schedule` when
//!   the watch first showed the pod bound, and `run` when it first showed every container
//!   running. `watch` is CL2's exactly: when the watch first showed phase Running.
//!   `run_to_watch` is therefore often 0 (one status update carries both), where CL2's
//!   shows the sub-second part `startedAt` drops.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::slo::SloOutcome;
use super::timeline::{PodTimes, Progress};
use crate::result::percentile;

/// What a load run measures per pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// Create sent → answered: authentication, authorization, admission, the store write.
    #[serde(rename = "etcdWrite")]
    EtcdWrite,
    /// Create sent → first seen in the watch.
    #[serde(rename = "pending")]
    Pending,
    /// First seen → bound (`spec.nodeName` or `PodScheduled=True`).
    #[serde(rename = "binding")]
    Binding,
    /// Bound → every container running.
    #[serde(rename = "criLaunch")]
    CriLaunch,
    /// Bound → `status.podIP` (the sandbox attached to the pod network).
    #[serde(rename = "cniAttach")]
    CniAttach,
    /// Containers running → the watch showed phase Running and Ready.
    #[serde(rename = "statusUpdate")]
    StatusUpdate,
    /// CL2: create → schedule.
    #[serde(rename = "create_to_schedule")]
    CreateToSchedule,
    /// CL2: schedule → run.
    #[serde(rename = "schedule_to_run")]
    ScheduleToRun,
    /// CL2: run → watch.
    #[serde(rename = "run_to_watch")]
    RunToWatch,
    /// CL2: create → watch (the pod startup latency of the SLO).
    #[serde(rename = "pod_startup")]
    PodStartup,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::EtcdWrite,
        Metric::Pending,
        Metric::Binding,
        Metric::CriLaunch,
        Metric::CniAttach,
        Metric::StatusUpdate,
        Metric::CreateToSchedule,
        Metric::ScheduleToRun,
        Metric::RunToWatch,
        Metric::PodStartup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::EtcdWrite => "etcdWrite",
            Metric::Pending => "pending",
            Metric::Binding => "binding",
            Metric::CriLaunch => "criLaunch",
            Metric::CniAttach => "cniAttach",
            Metric::StatusUpdate => "statusUpdate",
            Metric::CreateToSchedule => "create_to_schedule",
            Metric::ScheduleToRun => "schedule_to_run",
            Metric::RunToWatch => "run_to_watch",
            Metric::PodStartup => "pod_startup",
        }
    }

    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The pod's time for this metric, when it reached both ends.
    pub fn of(self, p: &PodTimes) -> Option<Millis> {
        let (from, to) = match self {
            Metric::EtcdWrite => (p.create_sent, p.create_answered),
            Metric::Pending => (p.create_sent, p.pending),
            Metric::Binding => (p.pending, p.scheduled),
            Metric::CriLaunch | Metric::ScheduleToRun => (p.scheduled, p.containers_running),
            Metric::CniAttach => (p.scheduled, p.pod_ip),
            Metric::StatusUpdate => (p.containers_running, p.ready),
            Metric::CreateToSchedule => (p.create_sent, p.scheduled),
            Metric::RunToWatch => (p.containers_running, p.running),
            Metric::PodStartup => (p.create_sent, p.running),
        };
        // A refused create's answer is no write.
        if self == Metric::EtcdWrite && p.refused.is_some() {
            return None;
        }
        Some(to? - from?)
    }
}

/// Stages a load run does not measure, and why (said in the output, never a number).
pub const NOT_MEASURED: [(&str, &str); 2] = [
    (
        "auth",
        "not measured alone: it is inside etcdWrite, one create round trip that cannot be split from outside",
    ),
    (
        "dns",
        "not measured by a load run: no pod resolves a name (`podcheck run` checks dns)",
    ),
];

/// One metric's percentiles (nearest rank) over the pods that reached both its ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStats {
    pub metric: Metric,
    pub p50: Option<Millis>,
    pub p90: Option<Millis>,
    pub p99: Option<Millis>,
    pub max: Option<Millis>,
    pub n: usize,
}

impl MetricStats {
    pub fn of(metric: Metric, pods: &[PodTimes]) -> Self {
        let mut v: Vec<Millis> = pods.iter().filter_map(|p| metric.of(p)).collect();
        v.sort_by(f64::total_cmp);
        MetricStats {
            metric,
            p50: percentile(&v, 50.0),
            p90: percentile(&v, 90.0),
            p99: percentile(&v, 99.0),
            max: v.last().copied(),
            n: v.len(),
        }
    }
}

/// Every metric, in [`Metric::ALL`]'s order.
pub fn metrics(pods: &[PodTimes]) -> Vec<MetricStats> {
    Metric::ALL
        .into_iter()
        .map(|m| MetricStats::of(m, pods))
        .collect()
}

/// Pods reaching phase Running per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    /// `bins[i]`: pods first seen Running in second `i` of the run (from its start).
    pub bins: Vec<u32>,
    /// Pods Running over the time from the first create sent to the last pod Running.
    pub average_per_second: Option<f64>,
    pub peak_per_second: u32,
}

impl Throughput {
    pub fn of(pods: &[PodTimes]) -> Self {
        let running: Vec<Millis> = pods.iter().filter_map(|p| p.running).collect();
        let mut bins = Vec::new();
        for at in &running {
            let bin = (at.max(0.0) / 1000.0) as usize;
            if bins.len() <= bin {
                bins.resize(bin + 1, 0);
            }
            bins[bin] += 1;
        }
        let start = pods
            .iter()
            .filter_map(|p| p.create_sent)
            .min_by(f64::total_cmp);
        let end = running.iter().copied().max_by(f64::total_cmp);
        let average_per_second = match (start, end) {
            (Some(s), Some(e)) if e > s => Some(running.len() as f64 / ((e - s) / 1000.0)),
            _ => None,
        };
        Throughput {
            peak_per_second: bins.iter().copied().max().unwrap_or(0),
            bins,
            average_per_second,
        }
    }
}

/// The resident memory of a process, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub vm_rss_kib: u64,
    /// `VmHWM`: the most it was ever resident.
    pub vm_hwm_kib: u64,
}

impl Rss {
    /// Reads `VmRSS` and `VmHWM` from the text of `/proc/PID/status`.
    pub fn parse(status: &str) -> Option<Rss> {
        let field = |name: &str| {
            status.lines().find_map(|l| {
                let value = l.strip_prefix(name)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
        };
        Some(Rss {
            vm_rss_kib: field("VmRSS")?,
            vm_hwm_kib: field("VmHWM")?,
        })
    }
}

/// The control plane's memory, where podcheck runs it (its own process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Memory {
    /// The embedded control plane: podcheck's own RSS before the creates and at the end.
    Embedded { before: Rss, after: Rss },
    /// Another cluster's control plane, which podcheck cannot see.
    NotMeasured { why: String },
}

/// Everything a load run found; `load.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub run_id: String,
    pub namespace: String,
    /// `embedded (N nodes, store …, runtime …)` or `kubeconfig PATH`.
    pub target: String,
    pub pods: usize,
    pub in_flight: usize,
    pub qps: Option<f64>,
    /// From the first create sent to the end of the wait.
    pub wall_ms: Millis,
    /// Whether the wait ran out before every pod settled.
    pub timed_out: bool,
    pub progress: Progress,
    pub metrics: Vec<MetricStats>,
    pub not_measured: Vec<NotMeasured>,
    pub throughput: Throughput,
    pub memory: Memory,
    pub slos: Vec<SloOutcome>,
    pub pod_times: Vec<PodTimes>,
}

/// A stage the run does not measure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotMeasured {
    pub metric: String,
    pub why: String,
}

impl LoadReport {
    /// Whether the run met its expectations: every pod Running and Ready, every SLO held.
    pub fn passed(&self) -> bool {
        self.all_ready() && self.slos.iter().all(|s| s.holds)
    }

    pub fn all_ready(&self) -> bool {
        self.progress.ready == self.pods
    }
}

/// The not-measured stages, as the report lists them.
pub fn not_measured() -> Vec<NotMeasured> {
    NOT_MEASURED
        .iter()
        .map(|(metric, why)| NotMeasured {
            metric: metric.to_string(),
            why: why.to_string(),
        })
        .collect()
}

fn ms(v: Option<Millis>) -> String {
    match v {
        Some(v) if v >= 10_000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{v:.1}ms"),
        None => "-".into(),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The terminal summary: the table, the pods' progress, throughput, memory, SLO lines.
pub fn render(report: &LoadReport) -> String {
    let mut out = format!(
        "podcheck load: {} pods on {} in {} (at most {} in flight{})\n\n",
        report.pods,
        report.target,
        match report.wall_ms {
            w if w >= 1000.0 => format!("{:.2}s", w / 1000.0),
            w => format!("{w:.1}ms"),
        },
        report.in_flight,
        report
            .qps
            .map(|q| format!(", {q} creates/s"))
            .unwrap_or_default()
    );
    out += &format!(
        "{:<20} {:>10} {:>10} {:>10} {:>10} {:>6}\n",
        "metric", "p50", "p90", "p99", "max", "n"
    );
    for m in &report.metrics {
        out += &format!(
            "{:<20} {:>10} {:>10} {:>10} {:>10} {:>6}\n",
            m.metric.name(),
            ms(m.p50),
            ms(m.p90),
            ms(m.p99),
            ms(m.max),
            m.n
        );
    }
    for n in &report.not_measured {
        out += &format!("{:<20} {}\n", n.metric, n.why);
    }
    let p = &report.progress;
    out += &format!(
        "\npods: {} sent, {} created, {} refused, {} seen, {} scheduled, {} containers running, {} with an IP, {} Running, {} Ready, {} ended otherwise\n",
        p.sent,
        p.created,
        p.refused,
        p.pending,
        p.scheduled,
        p.containers_running,
        p.pod_ip,
        p.running,
        p.ready,
        p.ended
    );
    if report.timed_out {
        out += &format!(
            "timed out (--timeout): {} of {} pods not Ready when the wait ended\n",
            p.pods - p.ready,
            p.pods
        );
    }
    let t = &report.throughput;
    out += &format!(
        "throughput: {} pods/s on average, {} pods/s at peak (1 s bins)\n",
        t.average_per_second
            .map(|a| format!("{a:.1}"))
            .unwrap_or_else(|| "-".into()),
        t.peak_per_second
    );
    out += &match &report.memory {
        Memory::Embedded { before, after } => format!(
            "memory (podcheck's process: the apiserver, scheduler and kubelets; a real etcd or containerd runs apart): VmRSS {} before, {} after; VmHWM {}\n",
            mib(before.vm_rss_kib),
            mib(after.vm_rss_kib),
            mib(after.vm_hwm_kib)
        ),
        Memory::NotMeasured { why } => format!("memory: not measured ({why})\n"),
    };
    for s in &report.slos {
        out += &format!("{}\n", s.line());
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// A pod that went through every milestone, each `step` ms after the last, from `t0`.
    fn walked(t0: Millis, step: Millis) -> PodTimes {
        PodTimes {
            name: "p".into(),
            create_sent: Some(t0),
            create_answered: Some(t0 + step),
            pending: Some(t0 + 2.0 * step),
            scheduled: Some(t0 + 3.0 * step),
            pod_ip: Some(t0 + 4.0 * step),
            containers_running: Some(t0 + 4.0 * step),
            running: Some(t0 + 5.0 * step),
            ready: Some(t0 + 5.0 * step),
            ..PodTimes::default()
        }
    }

    #[rstest]
    #[case(Metric::EtcdWrite, 10.0)]
    #[case(Metric::Pending, 20.0)]
    #[case(Metric::Binding, 10.0)]
    #[case(Metric::CriLaunch, 10.0)]
    #[case(Metric::CniAttach, 10.0)]
    #[case(Metric::StatusUpdate, 10.0)]
    #[case(Metric::CreateToSchedule, 30.0)]
    #[case(Metric::ScheduleToRun, 10.0)]
    #[case(Metric::RunToWatch, 10.0)]
    #[case(Metric::PodStartup, 50.0)]
    fn each_metric_spans_its_two_milestones(#[case] metric: Metric, #[case] ms: Millis) {
        assert_eq!(metric.of(&walked(100.0, 10.0)), Some(ms));
        assert_eq!(Metric::parse(metric.name()), Some(metric));
    }

    #[test]
    fn a_pod_that_missed_a_milestone_counts_only_where_it_got() {
        let stuck = PodTimes {
            scheduled: None,
            containers_running: None,
            pod_ip: None,
            running: None,
            ready: None,
            ..walked(0.0, 1.0)
        };
        assert_eq!(Metric::Pending.of(&stuck), Some(2.0));
        assert_eq!(Metric::Binding.of(&stuck), None);
        assert_eq!(Metric::PodStartup.of(&stuck), None);
        let refused = PodTimes {
            refused: Some("403".into()),
            ..PodTimes::default()
        };
        assert_eq!(Metric::EtcdWrite.of(&refused), None);
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_pods_that_reached_both_ends() {
        // pod_startup of 5 × i ms for i in 1..=100.
        let pods: Vec<PodTimes> = (1..=100).map(|i| walked(0.0, i as f64)).collect();
        let s = MetricStats::of(Metric::PodStartup, &pods);
        assert_eq!(
            (s.p50, s.p90, s.p99, s.max, s.n),
            (Some(250.0), Some(450.0), Some(495.0), Some(500.0), 100)
        );
        let none = MetricStats::of(Metric::PodStartup, &[]);
        assert_eq!((none.p50, none.max, none.n), (None, None, 0));
        assert_eq!(metrics(&pods).len(), Metric::ALL.len());
    }

    #[test]
    fn throughput_bins_pods_by_the_second_they_ran() {
        let at = |sent: Millis, running: Option<Millis>| PodTimes {
            create_sent: Some(sent),
            running,
            ..PodTimes::default()
        };
        let pods = [
            at(0.0, Some(100.0)),
            at(0.0, Some(999.9)),
            at(0.0, Some(1000.0)),
            at(0.0, Some(3500.0)),
            at(0.0, None),
        ];
        let t = Throughput::of(&pods);
        assert_eq!(t.bins, [2, 1, 0, 1]);
        assert_eq!(t.peak_per_second, 2);
        assert_eq!(t.average_per_second, Some(4.0 / 3.5));
        assert_eq!(Throughput::of(&[]).average_per_second, None);
    }

    #[test]
    fn rss_comes_from_proc_status() {
        let status =
            "Name:\tpodcheck\nVmPeak:\t  900 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n";
        assert_eq!(
            Rss::parse(status),
            Some(Rss {
                vm_rss_kib: 70000,
                vm_hwm_kib: 81234
            })
        );
        assert_eq!(Rss::parse("Name:\tx\n"), None);
    }

    #[test]
    fn the_summary_names_every_metric_what_is_not_measured_and_the_memory() {
        let pods: Vec<PodTimes> = (1..=4).map(|i| walked(0.0, i as f64)).collect();
        let report = LoadReport {
            run_id: "r".into(),
            namespace: "podcheck-load-r".into(),
            target: "embedded (4 nodes)".into(),
            pods: 4,
            in_flight: 64,
            qps: None,
            wall_ms: 1234.0,
            timed_out: false,
            progress: crate::scale::timeline::Progress {
                pods: 4,
                ready: 4,
                ..Default::default()
            },
            metrics: metrics(&pods),
            not_measured: not_measured(),
            throughput: Throughput::of(&pods),
            memory: Memory::NotMeasured {
                why: "a --kubeconfig cluster".into(),
            },
            slos: Vec::new(),
            pod_times: pods,
        };
        let text = render(&report);
        for m in Metric::ALL {
            assert!(text.contains(&format!("\n{:<20} ", m.name())), "{text}");
        }
        assert!(text.contains("dns                  not measured"), "{text}");
        assert!(
            text.contains("memory: not measured (a --kubeconfig cluster)"),
            "{text}"
        );
        assert!(text.contains("pod_startup              10.0ms"), "{text}");
        assert!(report.passed());
    }
}
