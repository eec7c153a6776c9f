//! The scheduling decision, with no I/O: which nodes can take a pod (filter), which of
//! those is best (score), and why a pod fits nowhere (the `FailedScheduling` message).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Toleration,
};
use podcheck_core::quantity::scheduler_units;

/// What a pod asks for, or what a node has left, in kube-scheduler's integer units:
/// millicores, bytes, pod slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i128,
    pub memory: i128,
    pub pods: i128,
}

impl Resources {
    pub fn add(&mut self, other: Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.pods = self.pods.saturating_add(other.pods);
    }
}

/// The pod's requests: the sum over its containers, or the largest init container if
/// that is more (init containers run one at a time, before the others).
pub fn requests(pod: &Pod) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        let get = |name: &str| {
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(name))
                .and_then(|q| scheduler_units(name, q))
                .unwrap_or(0)
        };
        (get("cpu"), get("memory"))
    };
    let (mut milli_cpu, mut memory) = (0i128, 0i128);
    for c in &spec.containers {
        let (c, m) = of(c);
        milli_cpu = milli_cpu.saturating_add(c);
        memory = memory.saturating_add(m);
    }
    for c in spec.init_containers.iter().flatten() {
        let (c, m) = of(c);
        milli_cpu = milli_cpu.max(c);
        memory = memory.max(m);
    }
    Resources {
        milli_cpu,
        memory,
        pods: 1,
    }
}

/// What the node offers to pods (`status.allocatable`, else `status.capacity`).
pub fn allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    let map = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    let get = |name: &str| {
        map.and_then(|m| m.get(name))
            .and_then(|q| scheduler_units(name, q))
            .unwrap_or(0)
    };
    Resources {
        milli_cpu: get("cpu"),
        memory: get("memory"),
        pods: get("pods"),
    }
}

/// Why a node cannot take the pod, in kube-scheduler's words (so that messages compare),
/// checked in its default order: cordon, taints, selector and affinity, resources.
pub fn filter(pod: &Pod, node: &Node, free: Resources) -> Result<(), String> {
    let spec = pod.spec.as_ref();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Err("node(s) were unschedulable".into());
    }
    let tolerations = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone());
    for taint in taints.iter().flatten() {
        if taint.effect == "PreferNoSchedule" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            let value = taint.value.clone().unwrap_or_default();
            return Err(format!(
                "node(s) had untolerated taint {{{}: {value}}}",
                taint.key
            ));
        }
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = required.is_none_or(|r| {
        r.node_selector_terms
            .iter()
            .any(|t| term_matches(t, node, &labels))
    });
    if !selector_ok || !affinity_ok {
        return Err("node(s) didn't match Pod's node affinity/selector".into());
    }
    let want = requests(pod);
    if want.pods > free.pods {
        return Err("Too many pods".into());
    }
    if want.milli_cpu > free.milli_cpu {
        return Err("Insufficient cpu".into());
    }
    if want.memory > free.memory {
        return Err("Insufficient memory".into());
    }
    Ok(())
}

/// A node selector term: all its expressions (on labels) and fields (on the node's name).
fn term_matches(term: &NodeSelectorTerm, node: &Node, labels: &BTreeMap<String, String>) -> bool {
    let name = node.metadata.name.clone().unwrap_or_default();
    let exprs = term.match_expressions.iter().flatten();
    let fields = term.match_fields.iter().flatten();
    let has_any = term
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
        || term.match_fields.as_ref().is_some_and(|f| !f.is_empty());
    has_any
        && exprs
            .clone()
            .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields
            .clone()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&name)))
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.clone().unwrap_or_default();
    let number = |v: &str| v.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

fn tolerates(t: &Toleration, taint: &k8s_openapi::api::core::v1::Taint) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => effect_ok && (key.is_empty() || key == taint.key),
        _ => {
            effect_ok
                && key == taint.key
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// The sum of the weights of the pod's preferred node-affinity terms that the node meets.
pub fn preferred_affinity(pod: &Pod, node: &Node) -> i32 {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|p| term_matches(&p.preference, node, &labels))
        .map(|p| p.weight)
        .sum()
}

/// How much of the node stays free once the pod is on it, 0 to 100 (CPU and memory
/// averaged): kube-scheduler's `LeastAllocated`, which spreads pods out.
pub fn least_allocated(pod: &Pod, node: &Node, free: Resources) -> f64 {
    let total = allocatable(node);
    let want = requests(pod);
    // Floats are fine here: a score only ranks nodes.
    let share = |free: i128, want: i128, total: i128| {
        if total <= 0 {
            0.0
        } else {
            ((free as f64 - want as f64) / total as f64).clamp(0.0, 1.0)
        }
    };
    (share(free.milli_cpu, want.milli_cpu, total.milli_cpu)
        + share(free.memory, want.memory, total.memory))
        * 50.0
}

/// `0/3 nodes are available: 1 node(s) …, 2 node(s) ….`, as kube-scheduler words it.
pub fn unschedulable_message(nodes: usize, reasons: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    // kube-scheduler sorts the whole "COUNT REASON" strings.
    let mut parts: Vec<String> = counts
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    parts.sort();
    if parts.is_empty() {
        return format!("0/{nodes} nodes are available: no nodes registered.");
    }
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        let mut n = json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}});
        merge(&mut n, v);
        serde_json::from_value(n).unwrap()
    }

    fn pod(spec: serde_json::Value) -> Pod {
        let mut s = json!({"containers": [{"name": "c", "image": "busybox"}]});
        merge(&mut s, spec);
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": s})).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), &b) {
            for (k, v) in b {
                merge(
                    a.entry(k.clone()).or_insert(serde_json::Value::Null),
                    v.clone(),
                );
            }
        } else {
            *a = b;
        }
    }

    const FREE: Resources = Resources {
        milli_cpu: 4000,
        memory: 8 * 1024 * 1024 * 1024,
        pods: 110,
    };

    #[test]
    fn quantities() {
        let units = |resource: &str, q: &str| scheduler_units(resource, &Quantity(q.into()));
        assert_eq!(units("cpu", "500m"), Some(500));
        assert_eq!(units("cpu", "2"), Some(2000));
        assert_eq!(units("memory", "1Gi"), Some(1_073_741_824));
        assert_eq!(units("memory", "1e3"), Some(1000));
        assert_eq!(units("memory", "x"), None);
    }

    #[test]
    fn filters_in_kube_scheduler_words() {
        let tainted = node(
            json!({"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}),
        );
        assert_eq!(
            filter(&pod(json!({})), &tainted, FREE).unwrap_err(),
            "node(s) had untolerated taint {dedicated: infra}"
        );
        let tolerating = pod(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        assert_eq!(filter(&tolerating, &tainted, FREE), Ok(()));
        let cordoned = node(json!({"spec": {"unschedulable": true}}));
        assert_eq!(
            filter(&pod(json!({})), &cordoned, FREE).unwrap_err(),
            "node(s) were unschedulable"
        );
        let ssd = node(json!({"metadata": {"labels": {"disk": "ssd"}}}));
        assert_eq!(
            filter(&pod(json!({"nodeSelector": {"disk": "ssd"}})), &ssd, FREE),
            Ok(())
        );
        assert!(filter(&pod(json!({"nodeSelector": {"disk": "nvme"}})), &ssd, FREE).is_err());
        let greedy = pod(
            json!({"containers": [{"name": "c", "image": "b", "resources": {"requests": {"cpu": "64"}}}]}),
        );
        assert_eq!(filter(&greedy, &ssd, FREE).unwrap_err(), "Insufficient cpu");
    }

    #[test]
    fn required_and_preferred_affinity() {
        let a = node(json!({"metadata": {"labels": {"zone": "a"}}}));
        let p = pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 30, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}}));
        assert_eq!(filter(&p, &a, FREE), Ok(()));
        assert_eq!(preferred_affinity(&p, &a), 30);
        let c = node(json!({"metadata": {"labels": {"zone": "c"}}}));
        assert!(filter(&p, &c, FREE).is_err());
    }

    #[test]
    fn message_counts_reasons() {
        let reasons = vec![
            "node(s) were unschedulable".to_string(),
            "Insufficient cpu".into(),
            "Insufficient cpu".into(),
        ];
        assert_eq!(
            unschedulable_message(3, &reasons),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."
        );
    }
}
