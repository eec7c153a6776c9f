//! ClusterLoader2's PerfData: the JSON its measurements write and perfdash reads,
//! `{"version":"v1","dataItems":[{"data":{"Perc50":…,"Perc90":…,"Perc99":…},"unit":"ms",
//! "labels":{"Metric":"pod_startup"}}, …]}` (CL2's `measurementutil.PerfData`, and its
//! `LatencyMetric.ToPerfData`: the three percentiles, in milliseconds).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::MetricStats;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfData {
    pub version: String,
    pub data_items: Vec<DataItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataItem {
    /// `Perc50`, `Perc90`, `Perc99`.
    pub data: BTreeMap<String, f64>,
    pub unit: String,
    /// `Metric`: the metric's name.
    pub labels: BTreeMap<String, String>,
}

impl PerfData {
    /// One item per metric that some pod reached (CL2 has no way to say "no samples", and
    /// a zero would be a number made up).
    pub fn of(metrics: &[MetricStats]) -> PerfData {
        let items = metrics.iter().filter_map(|m| {
            let data = [("Perc50", m.p50?), ("Perc90", m.p90?), ("Perc99", m.p99?)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            Some(DataItem {
                data,
                unit: "ms".into(),
                labels: BTreeMap::from([("Metric".to_string(), m.metric.name().to_string())]),
            })
        });
        PerfData {
            version: "v1".into(),
            data_items: items.collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scale::stats::Metric;

    #[test]
    fn perfdata_is_clusterloader2s_shape() {
        let metrics = [
            MetricStats {
                metric: Metric::PodStartup,
                p50: Some(1.5),
                p90: Some(2.0),
                p99: Some(3.25),
                max: Some(4.0),
                n: 10,
            },
            MetricStats {
                metric: Metric::Binding,
                p50: None,
                p90: None,
                p99: None,
                max: None,
                n: 0,
            },
        ];
        let value = serde_json::to_value(PerfData::of(&metrics)).unwrap();
        assert_eq!(
            value,
            json!({"version": "v1", "dataItems": [{
                "data": {"Perc50": 1.5, "Perc90": 2.0, "Perc99": 3.25},
                "unit": "ms",
                "labels": {"Metric": "pod_startup"}
            }]})
        );
        let back: PerfData = serde_json::from_value(value).unwrap();
        assert_eq!(back.data_items.len(), 1);
    }
}
