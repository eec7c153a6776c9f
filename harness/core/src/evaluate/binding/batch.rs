//! A batch (`replicas` > 1): every copy created and bound, each to a node that could take it
//! when it was bound; the binding latency's percentiles.

use super::oracle_verdict;
use crate::observation::Observation;
use crate::result::{BatchResult, percentile};

/// The binding of every copy of a batch: latency percentiles, and what went wrong.
pub(super) struct BatchBinding {
    /// For `observed`: `20/20 copies bound, p50 12.3ms, p99 40.1ms`.
    pub(super) summary: String,
    /// For the evidence: the same with the slowest copy.
    pub(super) detail: String,
    pub(super) problem: Option<String>,
    pub(super) hint: &'static str,
}

pub(super) fn batch_binding(obs: &Observation) -> Option<BatchBinding> {
    if obs.batch.len() < 2 {
        return None;
    }
    let total = obs.batch.len();
    let latencies = batch_result(obs)?.sorted_latencies();
    let bound = latencies.len();
    let pct = |p: f64| percentile(&latencies, p).map_or("-".to_string(), |v| format!("{v:.1}ms"));
    let summary = format!(
        "{bound}/{total} copies bound, binding latency p50 {}, p99 {}",
        pct(50.0),
        pct(99.0)
    );
    let detail = format!(
        "batch of {total}: {bound} bound; binding latency (create sent → nodeName seen) p50 {}, p99 {}, max {}",
        pct(50.0),
        pct(99.0),
        pct(100.0)
    );
    let refused: Vec<String> = obs
        .batch
        .iter()
        .filter(|b| b.code != 201)
        .map(|b| format!("{} ({})", b.name, b.code))
        .collect();
    if !refused.is_empty() {
        let names: Vec<&str> = refused.iter().map(String::as_str).collect();
        return Some(BatchBinding {
            summary,
            detail,
            problem: Some(format!(
                "{} of {total} copies were not created: {}",
                refused.len(),
                shorten(&names)
            )),
            hint: "the apiserver refused some creates of the burst; see their codes",
        });
    }
    let unbound: Vec<&str> = obs
        .batch
        .iter()
        .filter(|b| b.bound_ms.is_none())
        .map(|b| b.name.as_str())
        .collect();
    if !unbound.is_empty() {
        return Some(BatchBinding {
            summary,
            detail,
            problem: Some(format!(
                "{} of {total} copies were never bound: {}",
                unbound.len(),
                shorten(&unbound)
            )),
            hint: "the scheduler falls behind or drops pods under a burst of creates; see its log",
        });
    }
    let mut infeasible = Vec::new();
    // Each copy is judged against the node as it was when it was bound (see oracle_verdict).
    for b in &obs.batch {
        let Some(node) = b.node.as_deref() else {
            continue;
        };
        let Some(pod) = obs.pods.iter().find(|p| {
            p.metadata.name.as_deref() == Some(b.name.as_str())
                && p.metadata.namespace.as_deref() == Some(obs.namespace.as_str())
        }) else {
            continue;
        };
        if let Err(v) = oracle_verdict(obs, pod, node) {
            let reasons: Vec<String> = v.iter().map(ToString::to_string).collect();
            infeasible.push(format!("{} on {node}: {}", b.name, reasons.join("; ")));
        }
    }
    let problem = (!infeasible.is_empty()).then(|| {
        format!(
            "{} of {total} copies were bound to a node that cannot take them: {}",
            infeasible.len(),
            infeasible.join(" | ")
        )
    });
    Some(BatchBinding {
        summary,
        detail,
        problem,
        hint: "the scheduler overcommits nodes when pods arrive together: count the pods it has just bound (its assumed pods) against each node's allocatable",
    })
}

/// Each copy's binding latency (create sent → nodeName seen), for `results.json`; none
/// for a single pod. Tenths of a millisecond, as every time in the results (a batch of 500
/// would otherwise spell each to the nanosecond).
pub(crate) fn batch_result(obs: &Observation) -> Option<BatchResult> {
    (obs.batch.len() >= 2).then(|| BatchResult {
        binding_ms: obs
            .batch
            .iter()
            .map(|b| Some(crate::evaluate::round(b.bound_ms? - b.created_ms)))
            .collect(),
    })
}

fn shorten(names: &[&str]) -> String {
    let mut s = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::evaluate::test_support::*;
    use crate::observation::BatchPod;
    use crate::result::{Source, StageStatus};
    use crate::stage::Stage;

    /// A batch of `n` (web and copies web-1…), created 1 ms apart, bound after 10, 11, … ms.
    fn batch(o: &mut Observation, n: usize) {
        o.batch = (0..n)
            .map(|i| {
                let name = if i == 0 {
                    "web".to_string()
                } else {
                    format!("web-{i}")
                };
                BatchPod {
                    name,
                    created_ms: i as f64,
                    code: 201,
                    bound_ms: Some(i as f64 + 10.0 + i as f64),
                    node: Some("node-1".into()),
                }
            })
            .collect();
        for i in 1..n {
            let mut copy = web(2);
            copy.metadata.name = Some(format!("web-{i}"));
            copy.metadata.uid = Some(format!("uid-web-{i}"));
            o.pods.push(copy);
        }
    }

    #[test]
    fn a_batch_reports_its_binding_latency_percentiles() {
        let mut obs = running();
        batch(&mut obs, 20);
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(&r, StageStatus::Passed, None, None);
        // Latencies 10, 11, …, 29 ms: p50 is the 10th (19), p99 the 20th (29).
        assert_eq!(
            r.observed,
            "bound to node-1; 20/20 copies bound, binding latency p50 19.0ms, p99 29.0ms"
        );
        evidence(
            &r,
            Source::Api,
            "batch of 20: 20 bound; binding latency (create sent → nodeName seen) p50 19.0ms, p99 29.0ms, max 29.0ms",
        );
    }

    #[test]
    fn a_batch_with_unbound_copies_fails_and_names_them() {
        let mut obs = running();
        batch(&mut obs, 8);
        for b in obs.batch.iter_mut().skip(5) {
            b.bound_ms = None;
            b.node = None;
        }
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("3 of 8 copies were never bound: web-5, web-6, web-7"),
            Some("falls behind"),
        );
        assert!(r.observed.contains("5/8 copies bound"), "{r:#?}");
    }

    #[test]
    fn a_batch_with_refused_creates_says_so() {
        let mut obs = running();
        batch(&mut obs, 4);
        obs.batch[3].code = 429;
        obs.batch[3].bound_ms = None;
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some("1 of 4 copies were not created: web-3 (429)"),
            None,
        );
    }

    #[test]
    fn a_batch_copy_on_an_infeasible_node_fails_with_the_oracle_reason() {
        let mut obs = running();
        batch(&mut obs, 3);
        let copy = obs
            .pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some("web-2"))
            .expect("copy");
        copy.spec.as_mut().expect("spec").node_selector =
            Some(BTreeMap::from([("disk".into(), "ssd".into())]));
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some(
                "1 of 3 copies were bound to a node that cannot take them: web-2 on node-1: node(s) didn't match Pod's node affinity/selector",
            ),
            None,
        );
    }

    #[test]
    fn a_batch_keeps_each_copys_latency_in_creation_order() {
        let mut obs = running();
        assert_eq!(batch_result(&obs), None, "a single pod is no batch");
        batch(&mut obs, 3);
        obs.batch[2].bound_ms = None;
        assert_eq!(
            batch_result(&obs).unwrap().binding_ms,
            [Some(10.0), Some(11.0), None]
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    /// A node over capacity after a burst: only the copy bound last took the place it did not
    /// have; the copies bound before it were feasible when they were placed.
    #[test]
    fn an_overfull_batch_blames_only_the_copies_bound_too_late() {
        let mut obs = running();
        batch(&mut obs, 3);
        for n in &mut obs.nodes {
            if let Some(a) = n.status.as_mut().and_then(|s| s.allocatable.as_mut()) {
                a.insert(
                    "pods".into(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity("3".into()),
                );
            }
        }
        // node-1 holds "other", web, web-1 and web-2 (bound in that order): 4 of 3 allowed.
        let r = verdict(&Case::new().build(), &obs, Stage::Binding);
        assert_verdict(
            &r,
            StageStatus::Failed,
            Some(
                "1 of 3 copies were bound to a node that cannot take them: web-2 on node-1: Too many pods (allowed 3)",
            ),
            None,
        );
    }
}
