//! The scheduler's decision, pure: which nodes can take a pod, why the others cannot, and
//! which of the feasible ones is least allocated. Reasons use kube-scheduler's wording.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration,
};

use podcheck_core::quantity::scheduler_units;

/// What a pod asks of a node, in kube-scheduler's integer units: millicores
/// (`MilliValue`), bytes and pods (`Value`), so sums are exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub milli_cpu: i128,
    pub memory: i128,
    pub pods: i128,
}

impl std::ops::AddAssign for Requests {
    fn add_assign(&mut self, o: Self) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.pods = self.pods.saturating_add(o.pods);
    }
}

impl std::ops::SubAssign for Requests {
    fn sub_assign(&mut self, o: Self) {
        self.milli_cpu = self.milli_cpu.saturating_sub(o.milli_cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.pods = self.pods.saturating_sub(o.pods);
    }
}

/// The pod's effective requests: containers summed, init containers by their maximum,
/// limits standing in for missing requests (as the apiserver defaults them).
pub fn requests(pod: &Pod) -> Requests {
    let Some(spec) = pod.spec.as_ref() else {
        return Requests {
            pods: 1,
            ..Requests::default()
        };
    };
    let of = |c: &k8s_openapi::api::core::v1::Container, res: &str| {
        let r = c.resources.as_ref();
        r.and_then(|r| r.requests.as_ref())
            .and_then(|m| m.get(res))
            .or_else(|| r.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(res)))
            .and_then(|q| scheduler_units(res, q))
            .unwrap_or(0)
    };
    let mut total = Requests {
        pods: 1,
        ..Requests::default()
    };
    for c in &spec.containers {
        total += Requests {
            milli_cpu: of(c, "cpu"),
            memory: of(c, "memory"),
            pods: 0,
        };
    }
    for c in spec.init_containers.iter().flatten() {
        total.milli_cpu = total.milli_cpu.max(of(c, "cpu"));
        total.memory = total.memory.max(of(c, "memory"));
    }
    total
}

/// What a node offers.
pub fn allocatable(node: &Node) -> Requests {
    let get = |res: &str| {
        node.status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .and_then(|m| m.get(res))
            .and_then(|q| scheduler_units(res, q))
            .unwrap_or(0)
    };
    Requests {
        milli_cpu: get("cpu"),
        memory: get("memory"),
        pods: get("pods"),
    }
}

/// Why one node cannot take the pod; each string is one of kube-scheduler's reasons.
pub type Reasons = Vec<String>;

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key);
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        };
        // An empty key with Exists tolerates every taint.
        effect_ok && key_ok && value_ok
    })
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.labels();
    // The only field a node selector term may name is metadata.name.
    let field = |key: &str| (key == "metadata.name").then_some(&node.name);
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields.iter().all(|r| requirement_matches(r, field(&r.key)))
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// A node as the filters read it, worked out once each time the node changes rather than
/// once per pod (kube-scheduler's NodeInfo).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    node: Arc<Node>,
    allocatable: Requests,
    unschedulable: bool,
    /// The taints that filter (NoSchedule, NoExecute), the not-ready one included.
    taints: Vec<Taint>,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let spec = node.spec.as_ref();
        let mut taints: Vec<Taint> = spec
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| matches!(t.effect.as_str(), "NoSchedule" | "NoExecute"))
            .collect();
        // The node lifecycle controller taints nodes that are not Ready; do the same here.
        if !node_ready(&node) {
            taints.push(Taint {
                key: "node.kubernetes.io/not-ready".into(),
                effect: "NoSchedule".into(),
                ..Taint::default()
            });
        }
        NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            allocatable: allocatable(&node),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            taints,
            node,
        }
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }
}

/// A pod as the filters read it, worked out once per scheduling attempt.
#[derive(Debug)]
pub struct Candidate<'a> {
    spec: Option<&'a PodSpec>,
    requests: Requests,
}

impl<'a> Candidate<'a> {
    pub fn new(pod: &'a Pod) -> Candidate<'a> {
        Candidate {
            spec: pod.spec.as_ref(),
            requests: requests(pod),
        }
    }

    pub fn requests(&self) -> Requests {
        self.requests
    }

    fn tolerations(&self) -> &'a [Toleration] {
        self.spec
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[])
    }

    /// Whether the node satisfies the pod's nodeSelector and required node affinity.
    fn matches_affinity(&self, node: &NodeInfo) -> bool {
        let Some(spec) = self.spec else {
            return true;
        };
        let labels = node.labels();
        let selector_ok = spec
            .node_selector
            .as_ref()
            .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let affinity_ok =
            required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)));
        selector_ok && affinity_ok
    }

    /// Runs the filters in kube-scheduler's order; the first that fails gives the node's
    /// reasons. `used` is what the pods on the node already request.
    pub fn filter(&self, node: &NodeInfo, used: Requests) -> Result<(), Reasons> {
        let tolerations = self.tolerations();
        let unschedulable_taint = || Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        if node.unschedulable && !tolerates(tolerations, &unschedulable_taint()) {
            return Err(vec!["node(s) were unschedulable".into()]);
        }
        if let Some(name) = self
            .spec
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
            && name != node.name
        {
            return Err(vec!["node(s) didn't match the requested node name".into()]);
        }
        if let Some(t) = node.taints.iter().find(|t| !tolerates(tolerations, t)) {
            return Err(vec![format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )]);
        }
        if !self.matches_affinity(node) {
            return Err(vec![
                "node(s) didn't match Pod's node affinity/selector".into(),
            ]);
        }
        let (want, have) = (self.requests, node.allocatable);
        let mut reasons = Vec::new();
        let after = |used: i128, want: i128| used.saturating_add(want);
        if after(used.pods, want.pods) > have.pods {
            reasons.push("Too many pods".to_string());
        }
        if want.milli_cpu > 0 && after(used.milli_cpu, want.milli_cpu) > have.milli_cpu {
            reasons.push("Insufficient cpu".to_string());
        }
        if want.memory > 0 && after(used.memory, want.memory) > have.memory {
            reasons.push("Insufficient memory".to_string());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// The least-allocated score (0–100) of a feasible node after placing the pod, plus
    /// preferred node affinity.
    pub fn score(&self, node: &NodeInfo, used: Requests) -> f64 {
        let (want, have) = (self.requests, node.allocatable);
        // A share of the node, where floats are fine: scores only rank nodes.
        let free = |used: i128, want: i128, have: i128| {
            if have <= 0 {
                0.0
            } else {
                ((have as f64 - used as f64 - want as f64) / have as f64).max(0.0)
            }
        };
        // Pods without requests count as kube-scheduler's defaults (100m CPU, 200MB memory).
        let cpu = if want.milli_cpu > 0 {
            want.milli_cpu
        } else {
            100
        };
        let mem = if want.memory > 0 {
            want.memory
        } else {
            200 * 1024 * 1024
        };
        50.0 * (free(used.milli_cpu, cpu, have.milli_cpu) + free(used.memory, mem, have.memory))
            + self.preferred_affinity(node)
    }

    /// Preferred node affinity: the weights of the terms the node meets (at most 100),
    /// counted twice, as kube-scheduler's default profile weighs NodeAffinity against
    /// resources.
    fn preferred_affinity(&self, node: &NodeInfo) -> f64 {
        let weights: i32 = self
            .spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|p| term_matches(&p.preference, node))
            .map(|p| p.weight)
            .sum();
        2.0 * f64::from(weights.clamp(0, 100))
    }
}

/// [`Candidate::filter`] of one pod on one node.
pub fn filter(pod: &Pod, node: &Node, used: Requests) -> Result<(), Reasons> {
    Candidate::new(pod).filter(&NodeInfo::new(Arc::new(node.clone())), used)
}

/// [`Candidate::score`] of one pod on one node.
pub fn score(pod: &Pod, node: &Node, used: Requests) -> f64 {
    Candidate::new(pod).score(&NodeInfo::new(Arc::new(node.clone())), used)
}

/// kube-scheduler's FailedScheduling message for a pod that no node can take.
pub fn unschedulable_message(total_nodes: usize, failures: &[Reasons]) -> String {
    if total_nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for reasons in failures {
        for r in reasons {
            *counts.entry(r.as_str()).or_default() += 1;
        }
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!(
        "0/{total_nodes} nodes are available: {}. preemption: 0/{total_nodes} nodes are available: {total_nodes} Preemption is not helpful for scheduling.",
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn node(extra: serde_json::Value) -> Node {
        let mut n = json!({
            "metadata": {"name": "node-1", "labels": {"disk": "ssd"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        json_patch::merge(&mut n, &extra);
        serde_json::from_value(n).unwrap()
    }

    fn pod(spec: serde_json::Value) -> Pod {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        json_patch::merge(&mut p, &json!({"spec": spec}));
        serde_json::from_value(p).unwrap()
    }

    #[rstest]
    #[case(json!({}), json!({}), None)]
    #[case(json!({"nodeSelector": {"disk": "nvme"}}), json!({}), Some("node(s) didn't match Pod's node affinity/selector"))]
    #[case(json!({"nodeSelector": {"disk": "ssd"}}), json!({}), None)]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}}), json!({}), Some("node(s) didn't match Pod's node affinity/selector"))]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]}}}}), json!({}), None)]
    #[case(json!({}), json!({"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}), Some("node(s) had untolerated taint {dedicated: infra}"))]
    #[case(json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]}), json!({"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}), None)]
    #[case(json!({}), json!({"spec": {"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}}), None)]
    #[case(json!({}), json!({"spec": {"unschedulable": true}}), Some("node(s) were unschedulable"))]
    #[case(json!({}), json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}), Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"))]
    #[case(json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "3"}}}]}), json!({}), Some("Insufficient cpu"))]
    #[case(json!({"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"memory": "8Gi"}}}]}), json!({}), Some("Insufficient memory"))]
    fn filters(
        #[case] spec: serde_json::Value,
        #[case] node_patch: serde_json::Value,
        #[case] reason: Option<&str>,
    ) {
        let result = filter(&pod(spec), &node(node_patch), Requests::default());
        assert_eq!(result.err().map(|r| r[0].clone()).as_deref(), reason);
    }

    #[test]
    fn too_many_pods() {
        let used = Requests {
            pods: 110,
            ..Requests::default()
        };
        assert_eq!(
            filter(&pod(json!({})), &node(json!({})), used),
            Err(vec!["Too many pods".into()])
        );
    }

    #[test]
    fn message_counts_reasons_in_order() {
        let failures = vec![
            vec!["node(s) didn't match Pod's node affinity/selector".into()],
            vec!["Insufficient cpu".into()],
            vec!["Insufficient cpu".into()],
        ];
        assert_eq!(
            unschedulable_message(3, &failures),
            "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            unschedulable_message(0, &[]),
            "no nodes available to schedule pods"
        );
    }

    fn requesting(name: &str, cpu: &str) -> Pod {
        let mut p = pod(
            json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}),
        );
        p.metadata.name = Some(name.into());
        p
    }

    /// The builtin scheduler and the binding oracle count the same millicores (rounded up,
    /// as `MilliValue`), so they agree at the boundary of a node with cpu `1`.
    #[rstest]
    #[case("500m", "0.5", true)]
    #[case("501m", "0.5", false)]
    #[case("0.5", "500m", true)]
    #[case("1n", "999m", true)]
    #[case("1n", "1", false)]
    #[case("1e-1", "900m", true)]
    fn builtin_scheduler_and_oracle_agree_at_the_boundary(
        #[case] bound: &str,
        #[case] wanted: &str,
        #[case] fits: bool,
    ) {
        let n = node(json!({"status": {"allocatable": {"cpu": "1"}}}));
        let (bound, wanted) = (requesting("bound", bound), requesting("wanted", wanted));
        let builtin = filter(&wanted, &n, requests(&bound));
        let oracle = podcheck_core::oracle::feasible(&wanted, &n, std::slice::from_ref(&bound));
        assert_eq!(builtin.is_ok(), fits, "builtin: {builtin:?}");
        assert_eq!(oracle.is_ok(), fits, "oracle: {oracle:?}");
    }

    #[test]
    fn emptier_nodes_score_higher() {
        let p = pod(json!({}));
        let n = node(json!({}));
        let busy = Requests {
            milli_cpu: 1500,
            memory: 3 * 1024 * 1024 * 1024,
            pods: 10,
        };
        assert!(score(&p, &n, Requests::default()) > score(&p, &n, busy));
    }
}
