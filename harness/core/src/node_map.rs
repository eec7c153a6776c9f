//! A suite's nodes on a cluster podcheck did not make. The embedded target starts the nodes
//! a suite declares; any other cluster has nodes of its own, so each declared node is mapped
//! onto a cluster node that gets the declared labels, taints and cordon, and a filler pod
//! that sets aside what the node has beyond the declared cpu and memory (as upstream's
//! scheduler e2e tests fill nodes). The cluster's other nodes get a taint that keeps case
//! pods off them. This module decides the plan; `podcheck::node_map` applies and undoes it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use crate::suite::NodeSpec;

/// The label that names the suite node a cluster node stands for.
pub const SUITE_NODE_LABEL: &str = "podcheck.dev/suite-node";
/// The taint that keeps case pods off the nodes a suite does not use.
pub const EXCLUDED_TAINT: &str = "podcheck.dev/excluded";
/// The annotation that records what podcheck changed on a node, so any later run can undo it.
pub const CHANGES_ANNOTATION: &str = "podcheck.dev/node-changes";

/// The resources a filler pod can set aside.
const FILLABLE: [&str; 2] = ["cpu", "memory"];

/// What to do to the cluster's nodes for a suite.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeMap {
    pub nodes: Vec<MappedNode>,
    /// Cluster nodes the suite does not use: tainted [`EXCLUDED_TAINT`] for its duration.
    pub excluded: Vec<String>,
}

/// One suite node on one cluster node.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedNode {
    /// The suite's name for it (`node-1`).
    pub suite: String,
    /// The cluster's (`kind-worker`).
    pub node: String,
    /// Labels to set, [`SUITE_NODE_LABEL`] among them.
    pub labels: BTreeMap<String, String>,
    /// Taints to add.
    pub taints: Vec<Taint>,
    /// Whether to cordon it.
    pub cordon: bool,
    /// The requests of a filler pod bound to it (`cpu: 4000m`), so that what is left free
    /// is what the suite declares; empty when nothing needs setting aside.
    pub filler: BTreeMap<String, String>,
}

impl NodeMap {
    /// Cluster node name → the suite's name for it.
    pub fn aliases(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .map(|m| (m.node.clone(), m.suite.clone()))
            .collect()
    }
}

/// What podcheck changed on a node (kept in [`CHANGES_ANNOTATION`], as JSON).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeChanges {
    /// The run that changed it.
    pub run: String,
    /// Label keys podcheck set, with the value each had before (None: absent).
    pub labels: BTreeMap<String, Option<String>>,
    /// Taints podcheck added, as `key:effect`.
    pub taints: Vec<String>,
    /// Whether podcheck cordoned it.
    pub cordoned: bool,
}

/// Maps `suite` nodes onto `cluster` nodes: Ready, schedulable ones, those without taints
/// of their own first, then workers before control planes, then by name. `pods_on` holds
/// each cluster node's pods. Every reason the suite cannot run on this cluster is returned.
pub fn plan(
    suite: &[NodeSpec],
    cluster: &[Node],
    pods_on: &BTreeMap<String, Vec<Pod>>,
) -> Result<NodeMap, Vec<String>> {
    if suite.is_empty() {
        return Ok(NodeMap::default());
    }
    let mut usable: Vec<&Node> = cluster
        .iter()
        .filter(|n| ready(n) && !cordoned(n))
        .collect();
    usable.sort_by_key(|n| {
        (
            !blocking_taints(n).is_empty(),
            control_plane(n),
            n.metadata.name.clone().unwrap_or_default(),
        )
    });
    if usable.len() < suite.len() {
        return Err(vec![format!(
            "the suite declares {} node(s) and the cluster has {} Ready, schedulable one(s): give it more nodes (kind-configs/ has multi-node configs)",
            suite.len(),
            usable.len()
        )]);
    }
    let mut problems = Vec::new();
    let mut map = NodeMap::default();
    for (spec, node) in suite.iter().zip(&usable) {
        let name = node.metadata.name.clone().unwrap_or_default();
        for t in blocking_taints(node) {
            problems.push(format!(
                "{name} (the suite's {}) carries the taint {}:{}, which the suite's node does not declare: pods the suite expects there would not fit",
                spec.name,
                t.key,
                t.effect
            ));
        }
        let pods = pods_on.get(&name).map(Vec::as_slice).unwrap_or_default();
        let filler = match filler(spec, node, pods) {
            Ok(f) => f,
            Err(mut p) => {
                problems.append(&mut p);
                BTreeMap::new()
            }
        };
        let mut labels = spec.labels.clone();
        labels.insert(SUITE_NODE_LABEL.into(), spec.name.clone());
        map.nodes.push(MappedNode {
            suite: spec.name.clone(),
            node: name,
            labels,
            taints: spec
                .taints
                .iter()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: (!t.value.is_empty()).then(|| t.value.clone()),
                    effect: t.effect.as_str().into(),
                    time_added: None,
                })
                .collect(),
            cordon: spec.unschedulable,
            filler,
        });
    }
    let used: Vec<&str> = map.nodes.iter().map(|m| m.node.as_str()).collect();
    map.excluded = cluster
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .filter(|n| !used.contains(&n.as_str()))
        .collect();
    if problems.is_empty() {
        Ok(map)
    } else {
        Err(problems)
    }
}

/// The filler's requests: what `node` has free beyond the declared capacity.
fn filler(
    spec: &NodeSpec,
    node: &Node,
    pods: &[Pod],
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (resource, declared) in &spec.capacity {
        if !FILLABLE.contains(&resource.as_str()) {
            problems.push(format!(
                "the suite's {} declares {resource}: {declared}; on a cluster's node podcheck can set aside only cpu and memory",
                spec.name
            ));
            continue;
        }
        let quantity = k8s_openapi::apimachinery::pkg::api::resource::Quantity(declared.clone());
        let Some(declared_units) = crate::quantity::scheduler_units(resource, &quantity) else {
            problems.push(format!(
                "the suite's {} declares {resource}: {declared:?}, which is not a quantity",
                spec.name
            ));
            continue;
        };
        let free = crate::oracle::free(node, pods, resource);
        let spare = free - declared_units;
        if spare < 0 {
            problems.push(format!(
                "{name} has {} {resource} free, less than the {declared} the suite's {} declares",
                units(resource, free),
                spec.name
            ));
        } else if spare > 0 {
            out.insert(resource.clone(), units(resource, spare));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// An amount in the scheduler's units, as a quantity: millicores or bytes.
fn units(resource: &str, amount: i128) -> String {
    if resource == "cpu" {
        format!("{amount}m")
    } else {
        amount.to_string()
    }
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn cordoned(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn control_plane(n: &Node) -> bool {
    n.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key("node-role.kubernetes.io/control-plane"))
}

/// Taints that keep pods off the node (PreferNoSchedule only lowers its score).
fn blocking_taints(n: &Node) -> Vec<&Taint> {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .filter(|t| t.effect != "PreferNoSchedule")
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::suite::{TaintEffect, TaintSpec};

    fn node(name: &str, extra: serde_json::Value) -> Node {
        let mut v = json!({
            "metadata": {"name": name, "labels": {}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            },
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    /// A JSON merge patch, enough for test nodes.
    fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
        match (into, patch) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (slot, patch) => *slot = patch,
        }
    }

    fn spec(name: &str) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            labels: BTreeMap::from([("disk".to_string(), "ssd".to_string())]),
            taints: Vec::new(),
            capacity: BTreeMap::new(),
            unschedulable: false,
        }
    }

    fn requesting(node: &str, cpu: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p-{cpu}"), "namespace": "kube-system"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": "Running"},
        }))
        .unwrap()
    }

    #[test]
    fn workers_without_taints_come_first_and_the_rest_are_excluded() {
        let cluster = vec![
            node(
                "kind-control-plane",
                json!({
                    "metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
                    "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
                }),
            ),
            node("kind-worker2", json!({})),
            node("kind-worker", json!({})),
            node(
                "not-ready",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            ),
        ];
        let map = plan(
            &[spec("node-1"), spec("node-2")],
            &cluster,
            &BTreeMap::new(),
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = map
            .nodes
            .iter()
            .map(|m| (m.suite.as_str(), m.node.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("node-1", "kind-worker"), ("node-2", "kind-worker2")]
        );
        assert_eq!(map.excluded, ["kind-control-plane", "not-ready"]);
        assert_eq!(map.nodes[0].labels[SUITE_NODE_LABEL], "node-1");
        assert_eq!(map.nodes[0].labels["disk"], "ssd");
        assert_eq!(map.aliases()["kind-worker2"], "node-2");
    }

    #[test]
    fn taints_cordon_and_a_filler_for_the_declared_capacity() {
        let mut s = spec("node-1");
        s.taints.push(TaintSpec {
            key: "dedicated".into(),
            value: "infra".into(),
            effect: TaintEffect::NoSchedule,
        });
        s.unschedulable = true;
        s.capacity = BTreeMap::from([
            ("cpu".to_string(), "2".to_string()),
            ("memory".to_string(), "4Gi".to_string()),
        ]);
        let pods = BTreeMap::from([("w".to_string(), vec![requesting("w", "100m")])]);
        let map = plan(&[s], &[node("w", json!({}))], &pods).unwrap();
        let m = &map.nodes[0];
        assert!(m.cordon);
        assert_eq!(m.taints[0].key, "dedicated");
        assert_eq!(m.taints[0].value.as_deref(), Some("infra"));
        // 8 cpu - 100m requested - 2 declared; 32Gi - 4Gi.
        assert_eq!(m.filler["cpu"], "5900m");
        assert_eq!(m.filler["memory"], (28u64 << 30).to_string());
    }

    #[test]
    fn what_a_cluster_cannot_give_is_said() {
        let mut big = spec("node-1");
        big.capacity = BTreeMap::from([("cpu".to_string(), "16".to_string())]);
        let mut gpu = spec("node-2");
        gpu.capacity = BTreeMap::from([("nvidia.com/gpu".to_string(), "1".to_string())]);
        let cluster = vec![node("a", json!({})), node("b", json!({}))];
        let problems = plan(&[big, gpu], &cluster, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            problems,
            [
                "a has 8000m cpu free, less than the 16 the suite's node-1 declares",
                "the suite's node-2 declares nvidia.com/gpu: 1; on a cluster's node podcheck can set aside only cpu and memory",
            ]
        );
        let too_few = plan(
            &[spec("node-1"), spec("node-2")],
            &cluster[..1],
            &BTreeMap::new(),
        );
        assert!(
            too_few.unwrap_err()[0]
                .starts_with("the suite declares 2 node(s) and the cluster has 1")
        );
    }

    #[test]
    fn a_tainted_node_that_must_be_used_is_a_problem() {
        let tainted = node(
            "cp",
            json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
        );
        let problems = plan(&[spec("node-1")], &[tainted], &BTreeMap::new()).unwrap_err();
        assert!(
            problems[0]
                .contains("carries the taint node-role.kubernetes.io/control-plane:NoSchedule"),
            "{problems:?}"
        );
    }
}
