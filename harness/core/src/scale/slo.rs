//! `--slo` expressions: `METRIC.PERCENTILE<DURATION` (or `<=`), e.g. `pod_startup.p99<5s`,
//! `binding.p50<=200ms`, and whether a run held them.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::stats::{Metric, MetricStats, NOT_MEASURED};

/// What is wrong with an `--slo` expression; each names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SloError {
    /// No `<` or `<=` between the metric and the duration.
    #[error(
        "{text:?} has no `<` or `<=`: write METRIC.PERCENTILE<DURATION, e.g. pod_startup.p99<5s"
    )]
    NoComparison { text: String },
    /// Nothing or no `.PERCENTILE` before the comparison.
    #[error("{text:?}: {part:?} is not METRIC.PERCENTILE (e.g. pod_startup.p99, binding.p50)")]
    NoPercentile { text: String, part: String },
    #[error("{text:?}: unknown metric {metric:?}; the metrics are: {known}")]
    UnknownMetric {
        text: String,
        metric: String,
        known: String,
    },
    /// A stage the load run does not measure.
    #[error("{text:?}: {metric} is {why}")]
    NotMeasured {
        text: String,
        metric: String,
        why: String,
    },
    #[error("{text:?}: unknown percentile {percentile:?}; write p50, p90, p99 or max")]
    UnknownPercentile { text: String, percentile: String },
    #[error(
        "{text:?}: {duration:?} is not a duration: write it as 1.5s, 200ms, 1m30s (units ns, us, ms, s, m, h)"
    )]
    BadDuration { text: String, duration: String },
}

/// Which of a metric's statistics an SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Percentile {
    P50,
    P90,
    P99,
    Max,
}

impl Percentile {
    fn parse(text: &str) -> Option<Percentile> {
        Some(match text {
            "p50" => Percentile::P50,
            "p90" => Percentile::P90,
            "p99" => Percentile::P99,
            "max" => Percentile::Max,
            _ => return None,
        })
    }

    fn of(self, stats: &MetricStats) -> Option<Millis> {
        match self {
            Percentile::P50 => stats.p50,
            Percentile::P90 => stats.p90,
            Percentile::P99 => stats.p99,
            Percentile::Max => stats.max,
        }
    }
}

/// One SLO: the metric's percentile must stay below (or at) the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// As the user wrote it.
    pub text: String,
    pub metric: Metric,
    pub percentile: Percentile,
    /// `<=` rather than `<`.
    pub inclusive: bool,
    pub limit: std::time::Duration,
}

impl Slo {
    pub fn parse(text: &str) -> Result<Slo, SloError> {
        let (left, right) = text
            .split_once('<')
            .ok_or_else(|| SloError::NoComparison { text: text.into() })?;
        let (inclusive, duration) = match right.strip_prefix('=') {
            Some(d) => (true, d),
            None => (false, right),
        };
        let (metric, percentile) =
            left.trim()
                .rsplit_once('.')
                .ok_or_else(|| SloError::NoPercentile {
                    text: text.into(),
                    part: left.trim().into(),
                })?;
        let metric = match Metric::parse(metric) {
            Some(m) => m,
            None => {
                return Err(match NOT_MEASURED.iter().find(|(m, _)| *m == metric) {
                    Some((_, why)) => SloError::NotMeasured {
                        text: text.into(),
                        metric: metric.into(),
                        why: why.to_string(),
                    },
                    None => SloError::UnknownMetric {
                        text: text.into(),
                        metric: metric.into(),
                        known: Metric::ALL.map(Metric::name).join(", "),
                    },
                });
            }
        };
        let percentile =
            Percentile::parse(percentile).ok_or_else(|| SloError::UnknownPercentile {
                text: text.into(),
                percentile: percentile.into(),
            })?;
        let limit = parse_duration(duration.trim()).ok_or_else(|| SloError::BadDuration {
            text: text.into(),
            duration: duration.trim().into(),
        })?;
        Ok(Slo {
            text: text.into(),
            metric,
            percentile,
            inclusive,
            limit,
        })
    }

    /// Whether the run held it; a metric no pod reached breaches it (there is nothing to
    /// hold the limit with).
    pub fn evaluate(&self, metrics: &[MetricStats]) -> SloOutcome {
        let value = metrics
            .iter()
            .find(|m| m.metric == self.metric)
            .and_then(|m| self.percentile.of(m));
        let limit = self.limit.as_secs_f64() * 1e3;
        let holds = value.is_some_and(|v| {
            if self.inclusive {
                v <= limit
            } else {
                v < limit
            }
        });
        SloOutcome {
            slo: self.text.clone(),
            value_ms: value,
            limit_ms: limit,
            holds,
        }
    }
}

/// An SLO and how the run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloOutcome {
    pub slo: String,
    /// The metric's percentile; `None` when no pod reached both its ends.
    pub value_ms: Option<Millis>,
    pub limit_ms: Millis,
    pub holds: bool,
}

impl SloOutcome {
    /// `SLO PASS pod_startup.p99<5s: 812.3ms` / `SLO FAIL … (breached)`.
    pub fn line(&self) -> String {
        let value = match self.value_ms {
            Some(v) => format!("{v:.3}ms"),
            None => "no pod reached it".into(),
        };
        if self.holds {
            format!("SLO PASS {}: {value}", self.slo)
        } else {
            format!("SLO FAIL {}: {value} (breached)", self.slo)
        }
    }
}

/// Go's `time.ParseDuration` shapes: decimal numbers, each with a unit (`1.5s`, `1m30s`,
/// `200ms`, `1us`).
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text;
    let mut total = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case(
        "pod_startup.p99<5s",
        Metric::PodStartup,
        Percentile::P99,
        false,
        Duration::from_secs(5)
    )]
    #[case(
        "binding.p50<=200ms",
        Metric::Binding,
        Percentile::P50,
        true,
        Duration::from_millis(200)
    )]
    #[case(
        "pod_startup.p50<1us",
        Metric::PodStartup,
        Percentile::P50,
        false,
        Duration::from_micros(1)
    )]
    #[case(
        "criLaunch.max<1m30s",
        Metric::CriLaunch,
        Percentile::Max,
        false,
        Duration::from_secs(90)
    )]
    #[case(
        " etcdWrite.p90 < 1.5s ",
        Metric::EtcdWrite,
        Percentile::P90,
        false,
        Duration::from_millis(1500)
    )]
    fn slos_parse(
        #[case] text: &str,
        #[case] metric: Metric,
        #[case] percentile: Percentile,
        #[case] inclusive: bool,
        #[case] limit: Duration,
    ) {
        let slo = Slo::parse(text).unwrap();
        assert_eq!(
            (slo.metric, slo.percentile, slo.inclusive, slo.limit),
            (metric, percentile, inclusive, limit)
        );
    }

    #[rstest]
    #[case("pod_startup.p99", "has no `<` or `<=`")]
    #[case("pod_startup<5s", "\"pod_startup\" is not METRIC.PERCENTILE")]
    #[case(
        "podStartup.p99<5s",
        "unknown metric \"podStartup\"; the metrics are: etcdWrite,"
    )]
    #[case("dns.p99<5s", "dns is not measured by a load run")]
    #[case("auth.p50<1s", "auth is not measured alone: it is inside etcdWrite")]
    #[case("pod_startup.p95<5s", "unknown percentile \"p95\"")]
    #[case("pod_startup.p99<5", "\"5\" is not a duration")]
    #[case("pod_startup.p99<5 sec", "\"5 sec\" is not a duration")]
    #[case("pod_startup.p99<", "\"\" is not a duration")]
    fn bad_slos_name_the_part_at_fault(#[case] text: &str, #[case] says: &str) {
        let e = Slo::parse(text).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
        assert!(e.starts_with(&format!("{text:?}")), "{e}");
    }

    fn stats(p50: Option<Millis>) -> Vec<MetricStats> {
        vec![MetricStats {
            metric: Metric::Binding,
            p50,
            p90: p50,
            p99: p50,
            max: p50,
            n: usize::from(p50.is_some()),
        }]
    }

    #[rstest]
    #[case("binding.p50<200ms", Some(199.9), true)]
    #[case("binding.p50<200ms", Some(200.0), false)]
    #[case("binding.p50<=200ms", Some(200.0), true)]
    #[case("binding.p50<=200ms", None, false)]
    #[case("pod_startup.p50<1h", Some(1.0), false)]
    fn slos_hold_below_their_limit(
        #[case] text: &str,
        #[case] p50: Option<Millis>,
        #[case] holds: bool,
    ) {
        let outcome = Slo::parse(text).unwrap().evaluate(&stats(p50));
        assert_eq!(outcome.holds, holds, "{outcome:?}");
    }

    #[test]
    fn an_outcome_is_one_line_naming_the_slo() {
        let breached = Slo::parse("binding.p50<1us")
            .unwrap()
            .evaluate(&stats(Some(2.5)));
        assert_eq!(
            breached.line(),
            "SLO FAIL binding.p50<1us: 2.500ms (breached)"
        );
        let held = Slo::parse("binding.p50<1s")
            .unwrap()
            .evaluate(&stats(Some(2.5)));
        assert_eq!(held.line(), "SLO PASS binding.p50<1s: 2.500ms");
    }
}
