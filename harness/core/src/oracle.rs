//! An independent feasibility oracle for the `binding` stage.
//!
//! After a scheduler bound a pod to a node, [`feasible`] re-derives from the Kubernetes
//! scheduling rules whether that node could take the pod at all. It is written from the
//! rules of kube-scheduler's filter plugins (NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity, NodeResourcesFit) and the node lifecycle taints, never from any scheduler's
//! code, so that a scheduler and this oracle agreeing means something.
//!
//! What it deliberately leaves out: scoring and preferred affinity (they never make a node
//! infeasible), inter-pod (anti-)affinity, topology spread, host ports, volumes and dynamic
//! resource claims, pod-level `spec.resources`, and scheduler configuration (ignored
//! resources, added affinity).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Container, Node, NodeSelectorRequirement, Pod, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::scheduler_units;

/// Annotation naming the node a pod's author asked for.
///
/// Once bound, `spec.nodeName` is the scheduler's *result*, and nothing in the bound pod
/// tells whether the user had set it beforehand. A suite that wants the NodeName rule
/// checked records the requested node here; without it the rule is not checked.
pub const REQUESTED_NODE_ANNOTATION: &str = "podcheck.dev/requested-node";

const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const NO_SCHEDULE: &str = "NoSchedule";
const NO_EXECUTE: &str = "NoExecute";
const CPU: &str = "cpu";
const PODS: &str = "pods";

/// Why a node cannot take a pod, one entry per violated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// `spec.unschedulable` (cordoned) and the pod does not tolerate
    /// `node.kubernetes.io/unschedulable:NoSchedule`.
    NodeUnschedulable,
    /// The pod asked for another node through [`REQUESTED_NODE_ANNOTATION`].
    NodeNameMismatch { wanted: String },
    /// A `NoSchedule` or `NoExecute` taint, set or implied by readiness, that no toleration matches.
    UntoleratedTaint {
        key: String,
        value: String,
        effect: String,
    },
    /// One `spec.nodeSelector` entry the node's labels do not satisfy.
    NodeSelectorMismatch {
        key: String,
        wanted: String,
        actual: Option<String>,
    },
    /// No term of the required node affinity matched.
    NodeAffinityMismatch,
    /// The pod requests more of a resource than the node has left; quantities are human-readable.
    InsufficientResource {
        resource: String,
        requested: String,
        free: String,
    },
    /// The node already runs its allocatable number of pods.
    TooManyPods { allowed: i64 },
    /// The bound node does not exist. [`feasible`] never returns it, since it is handed a
    /// node; it is here for callers that look the node up.
    NodeNotFound,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeUnschedulable => f.write_str("node(s) were unschedulable"),
            Self::NodeNameMismatch { wanted } => {
                write!(f, "node(s) didn't match the requested node name {wanted}")
            }
            Self::UntoleratedTaint { key, value, .. } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Self::NodeSelectorMismatch {
                key,
                wanted,
                actual,
            } => {
                write!(
                    f,
                    "node(s) didn't match Pod's node affinity/selector (label {key}: wanted {wanted}, "
                )?;
                match actual {
                    Some(actual) => write!(f, "node has {actual})"),
                    None => f.write_str("node lacks it)"),
                }
            }
            Self::NodeAffinityMismatch => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Self::InsufficientResource {
                resource,
                requested,
                free,
            } => write!(
                f,
                "Insufficient {resource} (requested {requested}, free {free})"
            ),
            Self::TooManyPods { allowed } => write!(f, "Too many pods (allowed {allowed})"),
            Self::NodeNotFound => f.write_str("node not found"),
        }
    }
}

/// Checks whether `node` could take `pod`, given the other pods already bound to it
/// (terminal pods — phase Succeeded/Failed — do not count). Returns every violation, not
/// only the first.
///
/// `pods_on_node` may include `pod` itself (as a listing taken after binding would); it is
/// recognised by uid, or by namespace and name, and not counted twice. `spec.nodeName` is
/// taken as the binding result, not as a constraint; see [`REQUESTED_NODE_ANNOTATION`].
///
/// # Errors
///
/// Every [`Violation`] found, in a stable order: node name, cordon, taints, selector,
/// affinity, pod count, then resources by name.
pub fn feasible(pod: &Pod, node: &Node, pods_on_node: &[Pod]) -> Result<(), Vec<Violation>> {
    let mut violations = Vec::new();
    check_node_name(pod, node, &mut violations);
    check_taints(pod, node, &mut violations);
    check_node_affinity(pod, node, &mut violations);
    check_resources(pod, node, pods_on_node, &mut violations);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

// --- NodeName ---------------------------------------------------------------------------

fn check_node_name(pod: &Pod, node: &Node, out: &mut Vec<Violation>) {
    let wanted = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REQUESTED_NODE_ANNOTATION));
    if let Some(wanted) = wanted
        && Some(wanted) != node.metadata.name.as_ref()
    {
        out.push(Violation::NodeNameMismatch {
            wanted: wanted.clone(),
        });
    }
}

// --- NodeUnschedulable and TaintToleration ----------------------------------------------

fn check_taints(pod: &Pod, node: &Node, out: &mut Vec<Violation>) {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let tolerated = |taint: &Taint| tolerations.iter().any(|t| tolerates(t, taint));

    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if cordoned && !tolerated(&taint(TAINT_UNSCHEDULABLE, NO_SCHEDULE)) {
        out.push(Violation::NodeUnschedulable);
    }

    let set = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    // Only the node's taints count: kube-scheduler does not read the Ready condition; the
    // node lifecycle controller turns it into `node.kubernetes.io/not-ready` taints.
    for t in set {
        if t.effect != NO_SCHEDULE && t.effect != NO_EXECUTE {
            continue; // PreferNoSchedule only lowers a node's score.
        }
        // A cordoned node usually carries this taint too; it is one rule, reported once above.
        if cordoned && t.key == TAINT_UNSCHEDULABLE && t.effect == NO_SCHEDULE {
            continue;
        }
        if !tolerated(t) {
            out.push(Violation::UntoleratedTaint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            });
        }
    }
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        effect: effect.to_owned(),
        ..Taint::default()
    }
}

/// Kubernetes' toleration match: an empty effect or key is a wildcard, `Exists` ignores the
/// value, `Equal` (the default) compares it.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    let key = toleration.key.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect || !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "Exists" => true,
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

// --- NodeAffinity -----------------------------------------------------------------------

fn check_node_affinity(pod: &Pod, node: &Node, out: &mut Vec<Violation>) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let no_labels = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&no_labels);
    for (key, wanted) in spec.node_selector.iter().flatten() {
        let actual = labels.get(key);
        if actual != Some(wanted) {
            out.push(Violation::NodeSelectorMismatch {
                key: key.clone(),
                wanted: wanted.clone(),
                actual: actual.cloned(),
            });
        }
    }

    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let Some(required) = required else {
        return;
    };
    let name = node.metadata.name.as_deref().unwrap_or_default();
    // Terms are ORed; within a term every expression and field requirement must hold, and
    // a term with neither matches nothing.
    let matched = required.node_selector_terms.iter().any(|term| {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        !(exprs.is_empty() && fields.is_empty())
            && exprs.iter().all(|r| label_matches(r, labels))
            && fields.iter().all(|r| field_matches(r, name))
    });
    if !matched {
        out.push(Violation::NodeAffinityMismatch);
    }
}

/// One `matchExpressions` requirement. Malformed ones (wrong value counts, unknown
/// operators, non-integer Gt/Lt operands) match nothing, as in Kubernetes.
fn label_matches(req: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let actual = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => !values.is_empty() && actual.is_some_and(|a| values.contains(a)),
        "NotIn" => !values.is_empty() && actual.is_none_or(|a| !values.contains(a)),
        "Exists" => values.is_empty() && actual.is_some(),
        "DoesNotExist" => values.is_empty() && actual.is_none(),
        op @ ("Gt" | "Lt") => {
            let [bound] = values else {
                return false;
            };
            let (Ok(bound), Some(Ok(actual))) =
                (bound.parse::<i64>(), actual.map(|a| a.parse::<i64>()))
            else {
                return false;
            };
            if op == "Gt" {
                actual > bound
            } else {
                actual < bound
            }
        }
        _ => false,
    }
}

/// One `matchFields` requirement: only `metadata.name` with `In`/`NotIn` and exactly one value.
fn field_matches(req: &NodeSelectorRequirement, node_name: &str) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match (req.key.as_str(), req.operator.as_str(), values) {
        ("metadata.name", "In", [v]) => v == node_name,
        ("metadata.name", "NotIn", [v]) => v != node_name,
        _ => false,
    }
}

// --- NodeResourcesFit -------------------------------------------------------------------

/// Resource amounts in the scheduler's integer units: millicores for cpu, base units
/// (bytes, devices, pods) for the rest, both rounded up.
type Resources = BTreeMap<String, i128>;

fn check_resources(pod: &Pod, node: &Node, pods_on_node: &[Pod], out: &mut Vec<Violation>) {
    let status = node.status.as_ref();
    let listed = status
        .and_then(|s| s.allocatable.as_ref())
        .filter(|a| !a.is_empty())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    let allocatable = listed.map(to_resources).unwrap_or_default();
    let others: Vec<&Pod> = pods_on_node
        .iter()
        .filter(|p| !is_terminal(p) && !same_pod(p, pod))
        .collect();

    let allowed = allocatable.get(PODS).copied().unwrap_or(0);
    if others.len() as i128 + 1 > allowed {
        out.push(Violation::TooManyPods {
            allowed: i64::try_from(allowed).unwrap_or(i64::MAX),
        });
    }

    let mut used = Resources::new();
    for other in &others {
        add(&mut used, &pod_requests(other));
    }
    for (name, &requested) in &pod_requests(pod) {
        // Zero requests never fail, even for resources the node does not list.
        if requested <= 0 || name == PODS {
            continue;
        }
        let free = allocatable
            .get(name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(used.get(name).copied().unwrap_or(0));
        if requested > free {
            out.push(Violation::InsufficientResource {
                resource: name.clone(),
                requested: human(name, requested),
                free: human(name, free),
            });
        }
    }
}

/// What the node has left for `resource` in the scheduler's units (millicores for cpu,
/// bytes for memory): its allocatable minus what its running pods request.
pub fn free(node: &Node, pods_on_node: &[Pod], resource: &str) -> i128 {
    let status = node.status.as_ref();
    let allocatable = status
        .and_then(|s| s.allocatable.as_ref())
        .filter(|a| !a.is_empty())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()))
        .map(to_resources)
        .unwrap_or_default();
    let used: i128 = pods_on_node
        .iter()
        .filter(|p| !is_terminal(p))
        .map(|p| pod_requests(p).get(resource).copied().unwrap_or(0))
        .sum();
    allocatable.get(resource).copied().unwrap_or(0) - used
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn same_pod(a: &Pod, b: &Pod) -> bool {
    let (a, b) = (&a.metadata, &b.metadata);
    match (&a.uid, &b.uid) {
        (Some(x), Some(y)) => x == y,
        _ => a.name.is_some() && a.name == b.name && a.namespace == b.namespace,
    }
}

/// What the pod occupies on its node: regular containers and sidecars (restartable init
/// containers) run together, each ordinary init container runs alone beside the sidecars
/// started before it, so the pod needs the larger of the two, plus its overhead.
fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::new();
    };
    let mut total = Resources::new();
    for c in &spec.containers {
        add(&mut total, &container_requests(c));
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c);
        let while_running = if c.restart_policy.as_deref() == Some("Always") {
            add(&mut total, &own);
            add(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            add(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        for (name, &v) in &while_running {
            let peak = init_peak.entry(name.clone()).or_default();
            *peak = (*peak).max(v);
        }
    }
    for (name, v) in init_peak {
        let t = total.entry(name).or_default();
        *t = (*t).max(v);
    }
    if let Some(overhead) = &spec.overhead {
        add(&mut total, &to_resources(overhead));
    }
    total
}

/// A container's requests, where a limit stands in for an absent request (the apiserver
/// defaults requests from limits). Unparseable quantities are ignored.
fn container_requests(c: &Container) -> Resources {
    let res = c.resources.as_ref();
    let limits = res.and_then(|r| r.limits.as_ref()).map(to_resources);
    let requests = res.and_then(|r| r.requests.as_ref()).map(to_resources);
    limits.into_iter().chain(requests).flatten().collect()
}

fn to_resources(list: &BTreeMap<String, Quantity>) -> Resources {
    list.iter()
        .filter_map(|(name, q)| Some((name.clone(), scheduler_units(name, q)?)))
        .collect()
}

fn add(into: &mut Resources, other: &Resources) {
    for (name, v) in other {
        let sum = into.entry(name.clone()).or_default();
        *sum = sum.saturating_add(*v);
    }
}

/// Exact suffixes for rendering amounts, largest first, binary before decimal.
const SUFFIXES: [(&str, i128); 12] = [
    ("Ei", 1 << 60),
    ("Pi", 1 << 50),
    ("Ti", 1 << 40),
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

/// Renders an amount the way a Kubernetes user would write it: cpu as cores or millicores,
/// the rest with the largest exact binary or decimal suffix.
fn human(resource: &str, v: i128) -> String {
    if resource == CPU {
        return if v % 1000 == 0 {
            (v / 1000).to_string()
        } else {
            format!("{v}m")
        };
    }
    SUFFIXES
        .iter()
        .find(|(_, factor)| v != 0 && v % factor == 0)
        .map_or_else(|| v.to_string(), |(s, factor)| format!("{}{s}", v / factor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::{Value, json};

    /// RFC 7386 merge: objects merge, anything else replaces, null deletes.
    fn merge(base: &mut Value, patch: Value) {
        match (base, patch) {
            (Value::Object(base), Value::Object(patch)) => {
                for (k, v) in patch {
                    if v.is_null() {
                        base.remove(&k);
                    } else {
                        merge(base.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
            (base, patch) => *base = patch,
        }
    }

    /// A Ready node `n1` with room for 4 cpu, 8Gi memory, 100Gi disk and 110 pods.
    fn node(patch: Value) -> Node {
        let mut base = json!({
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        });
        merge(&mut base, patch);
        serde_json::from_value(base).expect("test node")
    }

    /// Pod `default/p` with one container `c` requesting nothing.
    fn pod(patch: Value) -> Pod {
        let mut base = json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
            "spec": {"containers": [{"name": "c"}]},
        });
        merge(&mut base, patch);
        serde_json::from_value(base).expect("test pod")
    }

    /// A pod `name` whose single container requests `requests`.
    fn requesting(name: &str, requests: Value) -> Pod {
        pod(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}")},
            "spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]},
        }))
    }

    fn check(pod: &Pod, node: &Node) -> Vec<Violation> {
        feasible(pod, node, &[]).err().unwrap_or_default()
    }

    fn taint_v(key: &str, value: &str, effect: &str) -> Violation {
        Violation::UntoleratedTaint {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        }
    }

    fn insufficient(resource: &str, requested: &str, free: &str) -> Violation {
        Violation::InsufficientResource {
            resource: resource.into(),
            requested: requested.into(),
            free: free.into(),
        }
    }

    #[test]
    fn plain_pod_fits_ready_node() {
        assert_eq!(feasible(&pod(json!({})), &node(json!({})), &[]), Ok(()));
    }

    #[rstest]
    #[case::matches(json!({"zone": "a"}), vec![])]
    #[case::other_value(json!({"zone": "b"}), vec![Violation::NodeSelectorMismatch { key: "zone".into(), wanted: "a".into(), actual: Some("b".into()) }])]
    #[case::missing_label(json!({"disk": "ssd"}), vec![Violation::NodeSelectorMismatch { key: "zone".into(), wanted: "a".into(), actual: None }])]
    fn node_selector(#[case] labels: Value, #[case] expected: Vec<Violation>) {
        let n = node(json!({"metadata": {"labels": labels}}));
        let p = pod(json!({"spec": {"nodeSelector": {"zone": "a"}}}));
        assert_eq!(check(&p, &n), expected);
    }

    #[test]
    fn node_selector_reports_each_key() {
        let n = node(json!({"metadata": {"labels": {"zone": "a"}}}));
        let p = pod(json!({"spec": {"nodeSelector": {"zone": "b", "disk": "ssd"}}}));
        assert_eq!(check(&p, &n).len(), 2);
    }

    fn required(terms: Value) -> Pod {
        pod(json!({"spec": {"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }}}}))
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> Value {
        if values.is_empty() {
            json!({"key": key, "operator": op})
        } else {
            json!({"key": key, "operator": op, "values": values})
        }
    }

    #[rstest]
    #[case::in_hit(expr("zone", "In", &["a", "b"]), true)]
    #[case::in_miss(expr("zone", "In", &["c"]), false)]
    #[case::in_absent_label(expr("rack", "In", &["r1"]), false)]
    #[case::in_without_values(expr("zone", "In", &[]), false)]
    #[case::notin_hit(expr("zone", "NotIn", &["c"]), true)]
    #[case::notin_miss(expr("zone", "NotIn", &["a"]), false)]
    #[case::notin_absent_label(expr("rack", "NotIn", &["r1"]), true)]
    #[case::exists(expr("zone", "Exists", &[]), true)]
    #[case::exists_absent(expr("rack", "Exists", &[]), false)]
    #[case::exists_with_values(expr("zone", "Exists", &["a"]), false)]
    #[case::does_not_exist(expr("rack", "DoesNotExist", &[]), true)]
    #[case::does_not_exist_present(expr("zone", "DoesNotExist", &[]), false)]
    #[case::gt_hit(expr("gen", "Gt", &["4"]), true)]
    #[case::gt_equal(expr("gen", "Gt", &["5"]), false)]
    #[case::lt_hit(expr("gen", "Lt", &["6"]), true)]
    #[case::lt_equal(expr("gen", "Lt", &["5"]), false)]
    #[case::gt_non_integer_label(expr("zone", "Gt", &["1"]), false)]
    #[case::gt_absent_label(expr("rack", "Gt", &["1"]), false)]
    #[case::gt_two_values(expr("gen", "Gt", &["1", "2"]), false)]
    #[case::unknown_operator(expr("zone", "Like", &["a"]), false)]
    fn affinity_operators(#[case] requirement: Value, #[case] fits: bool) {
        let n = node(json!({"metadata": {"labels": {"zone": "a", "gen": "5"}}}));
        let p = required(json!([{"matchExpressions": [requirement]}]));
        let expected = if fits {
            vec![]
        } else {
            vec![Violation::NodeAffinityMismatch]
        };
        assert_eq!(check(&p, &n), expected);
    }

    #[rstest]
    #[case::terms_ored(json!([
        {"matchExpressions": [expr("zone", "In", &["x"])]},
        {"matchExpressions": [expr("zone", "In", &["a"])]},
    ]), true)]
    #[case::no_term_matches(json!([
        {"matchExpressions": [expr("zone", "In", &["x"])]},
        {"matchExpressions": [expr("gen", "Lt", &["2"])]},
    ]), false)]
    #[case::expressions_anded(json!([
        {"matchExpressions": [expr("zone", "In", &["a"]), expr("gen", "Gt", &["9"])]},
    ]), false)]
    #[case::expressions_all_hold(json!([
        {"matchExpressions": [expr("zone", "In", &["a"]), expr("gen", "Gt", &["1"])]},
    ]), true)]
    #[case::empty_term_matches_nothing(json!([{}]), false)]
    #[case::no_terms(json!([]), false)]
    #[case::field_name_in(json!([{"matchFields": [expr("metadata.name", "In", &["n1"])]}]), true)]
    #[case::field_name_in_other(json!([{"matchFields": [expr("metadata.name", "In", &["n2"])]}]), false)]
    #[case::field_name_notin(json!([{"matchFields": [expr("metadata.name", "NotIn", &["n2"])]}]), true)]
    #[case::field_name_notin_self(json!([{"matchFields": [expr("metadata.name", "NotIn", &["n1"])]}]), false)]
    #[case::field_unknown_key(json!([{"matchFields": [expr("metadata.uid", "In", &["n1"])]}]), false)]
    #[case::field_and_expression(json!([{
        "matchFields": [expr("metadata.name", "In", &["n1"])],
        "matchExpressions": [expr("zone", "In", &["x"])],
    }]), false)]
    fn affinity_terms(#[case] terms: Value, #[case] fits: bool) {
        let n = node(json!({"metadata": {"labels": {"zone": "a", "gen": "5"}}}));
        assert_eq!(check(&required(terms), &n).is_empty(), fits);
    }

    #[test]
    fn selector_and_affinity_both_apply() {
        let n = node(json!({"metadata": {"labels": {"zone": "a"}}}));
        let mut p = required(json!([{"matchExpressions": [expr("zone", "In", &["a"])]}]));
        p.spec.as_mut().expect("spec").node_selector =
            Some([("zone".to_owned(), "b".to_owned())].into());
        assert_eq!(
            check(&p, &n),
            vec![Violation::NodeSelectorMismatch {
                key: "zone".into(),
                wanted: "b".into(),
                actual: Some("a".into())
            }]
        );
    }

    #[rstest]
    #[case::no_schedule_untolerated("NoSchedule", json!([]), false)]
    #[case::no_execute_untolerated("NoExecute", json!([]), false)]
    #[case::prefer_no_schedule_never_blocks("PreferNoSchedule", json!([]), true)]
    #[case::equal_match("NoSchedule", json!([{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]), true)]
    #[case::equal_is_default("NoSchedule", json!([{"key": "dedicated", "value": "infra"}]), true)]
    #[case::equal_wrong_value("NoSchedule", json!([{"key": "dedicated", "operator": "Equal", "value": "web"}]), false)]
    #[case::exists_ignores_value("NoExecute", json!([{"key": "dedicated", "operator": "Exists", "value": "web"}]), true)]
    #[case::wrong_key("NoSchedule", json!([{"key": "gpu", "operator": "Exists"}]), false)]
    #[case::wrong_effect("NoExecute", json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]), false)]
    #[case::empty_effect_matches_all("NoExecute", json!([{"key": "dedicated", "operator": "Exists"}]), true)]
    #[case::empty_key_exists_tolerates_all("NoSchedule", json!([{"operator": "Exists"}]), true)]
    #[case::no_execute_with_seconds("NoExecute", json!([{"key": "dedicated", "operator": "Exists", "tolerationSeconds": 30}]), true)]
    #[case::unknown_operator("NoSchedule", json!([{"key": "dedicated", "operator": "Gt", "value": "infra"}]), false)]
    fn taints(#[case] effect: &str, #[case] tolerations: Value, #[case] fits: bool) {
        let n = node(
            json!({"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": effect}]}}),
        );
        let p = pod(json!({"spec": {"tolerations": tolerations}}));
        let expected = if fits {
            vec![]
        } else {
            vec![taint_v("dedicated", "infra", effect)]
        };
        assert_eq!(check(&p, &n), expected);
    }

    #[test]
    fn every_untolerated_taint_is_reported() {
        let n = node(json!({"spec": {"taints": [
            {"key": "a", "effect": "NoSchedule"},
            {"key": "b", "value": "1", "effect": "NoExecute"},
            {"key": "c", "effect": "NoSchedule"},
        ]}}));
        let p = pod(json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}));
        assert_eq!(
            check(&p, &n),
            vec![
                taint_v("a", "", "NoSchedule"),
                taint_v("b", "1", "NoExecute")
            ]
        );
    }

    /// kube-scheduler reads taints, not the Ready condition: a NotReady node the lifecycle
    /// controller has not tainted yet is feasible to it, and so to the oracle.
    #[rstest]
    #[case::ready_false(json!([{"type": "Ready", "status": "False"}]))]
    #[case::ready_unknown(json!([{"type": "Ready", "status": "Unknown"}]))]
    #[case::never_reported(json!([{"type": "MemoryPressure", "status": "False"}]))]
    fn readiness_alone_is_not_a_taint(#[case] conditions: Value) {
        let n = node(json!({"status": {"conditions": conditions}}));
        assert_eq!(check(&pod(json!({})), &n), vec![]);
    }

    #[test]
    fn the_not_ready_taint_the_controller_sets_is_a_taint() {
        let n = node(json!({
            "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        }));
        assert_eq!(
            check(&pod(json!({})), &n),
            vec![taint_v("node.kubernetes.io/not-ready", "", "NoSchedule")]
        );
    }

    #[rstest]
    #[case::untolerated(json!([]), vec![Violation::NodeUnschedulable])]
    #[case::tolerated(json!([{"key": TAINT_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]), vec![])]
    #[case::tolerate_everything(json!([{"operator": "Exists"}]), vec![])]
    #[case::wrong_effect(json!([{"key": TAINT_UNSCHEDULABLE, "operator": "Exists", "effect": "NoExecute"}]), vec![Violation::NodeUnschedulable])]
    fn unschedulable(#[case] tolerations: Value, #[case] expected: Vec<Violation>) {
        let p = pod(json!({"spec": {"tolerations": tolerations}}));
        let cordoned = node(json!({"spec": {"unschedulable": true}}));
        assert_eq!(check(&p, &cordoned), expected);
        // The taint the lifecycle controller adds to cordoned nodes is the same rule.
        let tainted = node(json!({"spec": {"unschedulable": true, "taints": [
            {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
        ]}}));
        assert_eq!(check(&p, &tainted), expected);
    }

    #[rstest]
    #[case::no_annotation(json!({}), vec![])]
    #[case::same_node(json!({REQUESTED_NODE_ANNOTATION: "n1"}), vec![])]
    #[case::other_node(json!({REQUESTED_NODE_ANNOTATION: "n2"}), vec![Violation::NodeNameMismatch { wanted: "n2".into() }])]
    fn node_name(#[case] annotations: Value, #[case] expected: Vec<Violation>) {
        // spec.nodeName is the binding result, so a different one is no violation by itself.
        let p = pod(
            json!({"metadata": {"annotations": annotations}, "spec": {"nodeName": "elsewhere"}}),
        );
        assert_eq!(check(&p, &node(json!({}))), expected);
    }

    /// A pod with the given containers, init containers and overhead.
    fn shaped(containers: Value, init: Value, overhead: Value) -> Pod {
        pod(
            json!({"spec": {"containers": containers, "initContainers": init, "overhead": overhead}}),
        )
    }

    fn c(requests: Value) -> Value {
        json!({"name": "c", "resources": {"requests": requests}})
    }

    #[rstest]
    #[case::fits_exactly(
        shaped(json!([c(json!({"cpu": "3"})), c(json!({"cpu": "1000m", "memory": "8Gi"}))]), json!([]), Value::Null),
        vec![]
    )]
    #[case::one_millicore_over(
        shaped(json!([c(json!({"cpu": "4001m"}))]), json!([]), Value::Null),
        vec![insufficient("cpu", "4001m", "4")]
    )]
    #[case::one_byte_over(
        shaped(json!([c(json!({"memory": "8589934593"}))]), json!([]), Value::Null),
        vec![insufficient("memory", "8589934593", "8Gi")]
    )]
    #[case::ephemeral_over(
        shaped(json!([c(json!({"ephemeral-storage": "101Gi"}))]), json!([]), Value::Null),
        vec![insufficient("ephemeral-storage", "101Gi", "100Gi")]
    )]
    #[case::init_container_max(
        shaped(json!([c(json!({"cpu": "1"}))]), json!([c(json!({"cpu": "5"}))]), Value::Null),
        vec![insufficient("cpu", "5", "4")]
    )]
    #[case::init_containers_not_summed(
        shaped(json!([c(json!({"cpu": "1"}))]), json!([c(json!({"cpu": "3"})), c(json!({"cpu": "4"}))]), Value::Null),
        vec![]
    )]
    #[case::sidecar_adds_to_containers(
        shaped(
            json!([c(json!({"cpu": "3"}))]),
            json!([{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1500m"}}}]),
            Value::Null,
        ),
        vec![insufficient("cpu", "4500m", "4")]
    )]
    #[case::init_after_sidecar(
        shaped(
            json!([c(json!({"cpu": "100m"}))]),
            json!([
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                c(json!({"cpu": "3500m"})),
            ]),
            Value::Null,
        ),
        vec![insufficient("cpu", "4500m", "4")]
    )]
    #[case::limits_as_requests(
        shaped(json!([{"name": "c", "resources": {"limits": {"cpu": "5", "memory": "1Gi"}}}]), json!([]), Value::Null),
        vec![insufficient("cpu", "5", "4")]
    )]
    #[case::request_wins_over_limit(
        shaped(json!([{"name": "c", "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "8"}}}]), json!([]), Value::Null),
        vec![]
    )]
    #[case::overhead_counts(
        shaped(json!([c(json!({"cpu": "3900m"}))]), json!([]), json!({"cpu": "250m"})),
        vec![insufficient("cpu", "4150m", "4")]
    )]
    #[case::extended_missing_on_node(
        shaped(json!([c(json!({"example.com/gpu": "1"}))]), json!([]), Value::Null),
        vec![insufficient("example.com/gpu", "1", "0")]
    )]
    #[case::zero_extended_never_fails(
        shaped(json!([c(json!({"example.com/gpu": "0", "cpu": "0"}))]), json!([]), Value::Null),
        vec![]
    )]
    fn resources(#[case] p: Pod, #[case] expected: Vec<Violation>) {
        assert_eq!(check(&p, &node(json!({}))), expected);
    }

    #[test]
    fn extended_resource_listed_on_node() {
        let n = node(json!({"status": {"allocatable": {"example.com/gpu": "2"}}}));
        let others = [requesting("a", json!({"example.com/gpu": "1"}))];
        let p = requesting("p", json!({"example.com/gpu": "1"}));
        assert_eq!(feasible(&p, &n, &others), Ok(()));
        let p = requesting("p", json!({"example.com/gpu": "2"}));
        assert_eq!(
            feasible(&p, &n, &others),
            Err(vec![insufficient("example.com/gpu", "2", "1")])
        );
    }

    #[test]
    fn other_pods_consume_and_terminal_ones_do_not() {
        let n = node(json!({}));
        let mut done = requesting("done", json!({"cpu": "4"}));
        done.status = serde_json::from_value(json!({"phase": "Succeeded"})).ok();
        let mut failed = requesting("failed", json!({"cpu": "4"}));
        failed.status = serde_json::from_value(json!({"phase": "Failed"})).ok();
        let running = requesting("running", json!({"cpu": "2500m", "memory": "1Gi"}));
        let others = [done, failed, running];

        let p = requesting("p", json!({"cpu": "1500m"}));
        assert_eq!(feasible(&p, &n, &others), Ok(()));
        let p = requesting("p", json!({"cpu": "2", "memory": "7Gi"}));
        assert_eq!(
            feasible(&p, &n, &others),
            Err(vec![insufficient("cpu", "2", "1500m")])
        );
    }

    #[test]
    fn the_pod_itself_in_the_listing_is_not_counted_twice() {
        let n = node(json!({}));
        let p = requesting("p", json!({"cpu": "3"}));
        assert_eq!(feasible(&p, &n, std::slice::from_ref(&p)), Ok(()));
    }

    #[test]
    fn allocatable_falls_back_to_capacity() {
        let n =
            node(json!({"status": {"allocatable": null, "capacity": {"cpu": "1", "pods": "10"}}}));
        let p = requesting("p", json!({"cpu": "2"}));
        assert_eq!(check(&p, &n), vec![insufficient("cpu", "2", "1")]);
    }

    #[rstest]
    #[case::room_left(2, vec![])]
    #[case::full(3, vec![Violation::TooManyPods { allowed: 3 }])]
    fn pod_count(#[case] running: usize, #[case] expected: Vec<Violation>) {
        let n = node(json!({"status": {"allocatable": {"pods": "3"}}}));
        let mut others: Vec<Pod> = (0..running)
            .map(|i| requesting(&format!("r{i}"), json!({})))
            .collect();
        let mut finished = requesting("finished", json!({}));
        finished.status = serde_json::from_value(json!({"phase": "Succeeded"})).ok();
        others.push(finished);
        assert_eq!(
            feasible(&pod(json!({})), &n, &others)
                .err()
                .unwrap_or_default(),
            expected
        );
    }

    #[test]
    fn node_without_status_takes_nothing() {
        let n = node(json!({"status": null}));
        assert_eq!(
            check(&pod(json!({})), &n),
            vec![Violation::TooManyPods { allowed: 0 }]
        );
    }

    #[test]
    fn all_violations_are_reported_together() {
        let n = node(json!({
            "metadata": {"labels": {"zone": "b"}},
            "spec": {"unschedulable": true, "taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"pods": "1", "cpu": "2", "memory": null}},
        }));
        let mut p = requesting("p", json!({"cpu": "3", "memory": "1G"}));
        merge_pod(
            &mut p,
            json!({
                "metadata": {"annotations": {REQUESTED_NODE_ANNOTATION: "n2"}},
                "spec": {"nodeSelector": {"zone": "a"}},
            }),
        );
        let others = [requesting("a", json!({"cpu": "1"}))];
        assert_eq!(
            feasible(&p, &n, &others),
            Err(vec![
                Violation::NodeNameMismatch {
                    wanted: "n2".into()
                },
                Violation::NodeUnschedulable,
                taint_v("dedicated", "infra", "NoSchedule"),
                Violation::NodeSelectorMismatch {
                    key: "zone".into(),
                    wanted: "a".into(),
                    actual: Some("b".into())
                },
                Violation::TooManyPods { allowed: 1 },
                insufficient("cpu", "3", "1"),
                insufficient("memory", "1G", "0"),
            ])
        );
    }

    fn merge_pod(p: &mut Pod, patch: Value) {
        let mut v = serde_json::to_value(&*p).expect("pod serialises");
        merge(&mut v, patch);
        *p = serde_json::from_value(v).expect("patched pod");
    }

    #[rstest]
    #[case("cpu", 3000, "3")]
    #[case("cpu", 2500, "2500m")]
    #[case("cpu", -1000, "-1")]
    #[case("memory", 0, "0")]
    #[case("memory", 134_217_728, "128Mi")]
    #[case("memory", 1_000_000_000, "1G")]
    #[case("memory", 1_500, "1500")]
    fn human_amounts(#[case] resource: &str, #[case] units: i128, #[case] expected: &str) {
        assert_eq!(human(resource, units), expected);
    }

    #[rstest]
    #[case(
        taint_v("dedicated", "infra", "NoSchedule"),
        "node(s) had untolerated taint {dedicated: infra}"
    )]
    #[case(
        insufficient("cpu", "3", "2"),
        "Insufficient cpu (requested 3, free 2)"
    )]
    #[case(Violation::TooManyPods { allowed: 110 }, "Too many pods (allowed 110)")]
    #[case(Violation::NodeUnschedulable, "node(s) were unschedulable")]
    #[case(Violation::NodeSelectorMismatch { key: "zone".into(), wanted: "a".into(), actual: None },
        "node(s) didn't match Pod's node affinity/selector (label zone: wanted a, node lacks it)")]
    fn display(#[case] v: Violation, #[case] expected: &str) {
        assert_eq!(v.to_string(), expected);
    }
}
