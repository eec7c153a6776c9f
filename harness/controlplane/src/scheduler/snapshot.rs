//! The scheduler's picture of the cluster, kept up to date event by event as
//! kube-scheduler's cache is: every node's [`NodeInfo`] and what the pods placed on it
//! request. A scheduling attempt reads it and walks no pod, so its cost does not grow with
//! the pods already running; with many nodes it stops once it has found enough feasible
//! ones, as kube-scheduler's `percentageOfNodesToScore` does.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::filter::{self, Candidate, NodeInfo, Reasons, Requests};

/// kube-scheduler's `minFeasibleNodesToFind`: below this many nodes, all are looked at.
const MIN_FEASIBLE_NODES: usize = 100;
/// kube-scheduler's `minFeasibleNodesPercentageToFind`.
const MIN_FEASIBLE_PERCENT: usize = 5;

/// A pod the cache counts on a node.
#[derive(Debug, Clone)]
struct Placed {
    node: String,
    requests: Requests,
    /// Bound by us, not yet seen bound in the watch (kube-scheduler's assumed pod).
    assumed: bool,
}

/// A node and what the pods placed on it request, side by side so a decision reads both
/// without a lookup.
#[derive(Debug)]
struct Slot {
    info: NodeInfo,
    used: Requests,
}

/// Nodes and what is placed on them.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// By name, so the walk's order (and ties between equal scores) is stable.
    nodes: Vec<Slot>,
    /// What the pods placed on each node request, by node name, nodes not (yet) seen
    /// included; each slot's `used` mirrors it.
    used: HashMap<String, Requests>,
    /// By pod uid.
    placed: HashMap<String, Placed>,
    /// Where the next attempt starts its walk, so nodes take turns being looked at first.
    next_start: usize,
}

/// Where a pod goes, or why it goes nowhere.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Bind(String),
    /// kube-scheduler's FailedScheduling message.
    Unschedulable(String),
}

fn uid(pod: &Pod) -> Option<&str> {
    pod.metadata.uid.as_deref()
}

/// kube-scheduler's `numFeasibleNodesToFind` with the adaptive percentage (the default).
fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES {
        return all;
    }
    let percent = 50usize.saturating_sub(all / 125).max(MIN_FEASIBLE_PERCENT);
    (all * percent / 100).max(MIN_FEASIBLE_NODES)
}

impl Snapshot {
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn slot(&self, info: NodeInfo) -> Slot {
        let used = self.used(&info.name);
        Slot { info, used }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.nodes
            .binary_search_by(|n| n.info.name.as_str().cmp(name))
    }

    /// Replaces every node (a fresh listing).
    pub fn set_nodes(&mut self, nodes: impl IntoIterator<Item = Node>) {
        let mut slots: Vec<Slot> = nodes
            .into_iter()
            .map(|n| self.slot(NodeInfo::new(Arc::new(n))))
            .collect();
        slots.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        self.nodes = slots;
    }

    pub fn node_changed(&mut self, node: Node) {
        let slot = self.slot(NodeInfo::new(Arc::new(node)));
        match self.position(&slot.info.name) {
            Ok(i) => self.nodes[i] = slot,
            Err(i) => self.nodes.insert(i, slot),
        }
    }

    pub fn node_gone(&mut self, node: &Node) {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if let Ok(i) = self.position(name) {
            self.nodes.remove(i);
        }
    }

    /// Counts a pod as the watch shows it: on its node while bound and not finished.
    pub fn pod_changed(&mut self, pod: &Pod) {
        let Some(uid) = uid(pod) else { return };
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let finished = matches!(phase, Some("Succeeded" | "Failed"));
        match node {
            Some(node) if !finished => {
                let requests = filter::requests(pod);
                self.place(uid, node, requests, false);
            }
            // An older event of a pod we bound says nothing about where it is now.
            None if self.placed.get(uid).is_some_and(|p| p.assumed) => {}
            _ => self.unplace(uid),
        }
    }

    pub fn pod_gone(&mut self, pod: &Pod) {
        if let Some(uid) = uid(pod) {
            self.unplace(uid);
        }
    }

    /// Forgets every pod but those we bound and have not seen bound yet, before a fresh
    /// listing of pods is counted again.
    pub fn forget_seen_pods(&mut self) {
        let seen: Vec<String> = self
            .placed
            .iter()
            .filter(|(_, p)| !p.assumed)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in seen {
            self.unplace(&uid);
        }
    }

    /// Takes the pod's resources on `node` before the binding is seen.
    pub fn assume(&mut self, pod: &Pod, node: &str, requests: Requests) {
        if let Some(uid) = uid(pod) {
            self.place(uid, node, requests, true);
        }
    }

    /// A binding that failed: its resources are free again.
    pub fn forget(&mut self, uid: &str) {
        if self.placed.get(uid).is_some_and(|p| p.assumed) {
            self.unplace(uid);
        }
    }

    fn place(&mut self, uid: &str, node: &str, requests: Requests, assumed: bool) {
        self.unplace(uid);
        let used = self.used.entry(node.to_string()).or_default();
        *used += requests;
        let used = *used;
        self.mirror(node, used);
        let placed = Placed {
            node: node.to_string(),
            requests,
            assumed,
        };
        self.placed.insert(uid.to_string(), placed);
    }

    fn unplace(&mut self, uid: &str) {
        let Some(old) = self.placed.remove(uid) else {
            return;
        };
        if let Some(used) = self.used.get_mut(&old.node) {
            *used -= old.requests;
            let used = *used;
            if used == Requests::default() {
                self.used.remove(&old.node);
            }
            self.mirror(&old.node, used);
        }
    }

    /// Copies a node's usage into its slot.
    fn mirror(&mut self, node: &str, used: Requests) {
        if let Ok(i) = self.position(node) {
            self.nodes[i].used = used;
        }
    }

    fn used(&self, node: &str) -> Requests {
        self.used.get(node).copied().unwrap_or_default()
    }

    /// Filters the nodes, from where the last attempt stopped, until enough are feasible;
    /// the least allocated of those wins (ties: the first name).
    pub fn decide(&mut self, pod: &Pod) -> Decision {
        let all = self.nodes.len();
        if all == 0 {
            return Decision::Unschedulable(filter::unschedulable_message(0, &[]));
        }
        let wanted = feasible_nodes_to_find(all);
        let candidate = Candidate::new(pod);
        let start = self.next_start % all;
        let mut failures: Vec<Reasons> = Vec::new();
        let (mut feasible, mut examined) = (0, 0);
        let mut best: Option<(f64, &str)> = None;
        for i in 0..all {
            let Slot { info: node, used } = &self.nodes[(start + i) % all];
            let used = *used;
            examined += 1;
            match candidate.filter(node, used) {
                Ok(()) => {
                    feasible += 1;
                    let s = candidate.score(node, used);
                    if best.is_none_or(|(b, n)| s > b || (s == b && node.name.as_str() < n)) {
                        best = Some((s, &node.name));
                    }
                    if feasible >= wanted {
                        break;
                    }
                }
                Err(reasons) => failures.push(reasons),
            }
        }
        let best = best.map(|(_, name)| name.to_string());
        self.next_start = (start + examined) % all;
        match best {
            Some(node) => Decision::Bind(node),
            None => Decision::Unschedulable(filter::unschedulable_message(all, &failures)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    fn pod(uid: &str, cpu: &str, node: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox",
                     "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .unwrap()
    }

    #[rstest]
    #[case(1, 1)]
    #[case(99, 99)]
    #[case(100, 100)]
    #[case(1000, 420)]
    #[case(5000, 500)]
    #[case(6000, 300)]
    #[case(20_000, 1000)]
    fn feasible_nodes_as_kube_scheduler_counts_them(#[case] all: usize, #[case] want: usize) {
        assert_eq!(feasible_nodes_to_find(all), want);
    }

    #[test]
    fn bound_and_assumed_pods_take_room_until_they_leave() {
        let mut s = Snapshot::default();
        s.set_nodes([node("a", "1"), node("b", "1")]);
        s.pod_changed(&pod("p1", "600m", Some("a")));
        // a has 400m left, b 1000m: b is less allocated.
        assert_eq!(
            s.decide(&pod("p2", "600m", None)),
            Decision::Bind("b".into())
        );
        s.assume(
            &pod("p2", "600m", None),
            "b",
            Requests {
                milli_cpu: 600,
                memory: 0,
                pods: 1,
            },
        );
        // An older event of p2, still unbound, does not free what was assumed.
        s.pod_changed(&pod("p2", "600m", None));
        let Decision::Unschedulable(message) = s.decide(&pod("p3", "600m", None)) else {
            panic!("p3 should fit nowhere");
        };
        assert!(
            message.starts_with("0/2 nodes are available: 2 Insufficient cpu."),
            "{message}"
        );
        // p1 finishes: its room is free again.
        let mut done = pod("p1", "600m", Some("a"));
        done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).unwrap());
        s.pod_changed(&done);
        assert_eq!(
            s.decide(&pod("p3", "600m", None)),
            Decision::Bind("a".into())
        );
        // A failed binding gives its room back; a seen one stays.
        s.forget("p2");
        assert_eq!(s.used("b"), Requests::default());
        s.pod_changed(&pod("p1", "600m", Some("a")));
        s.forget("p1");
        assert_eq!(s.used("a").milli_cpu, 600);
        s.pod_gone(&pod("p1", "600m", Some("a")));
        assert_eq!(s.used("a"), Requests::default());
    }

    #[test]
    fn a_relisting_keeps_only_what_is_assumed() {
        let mut s = Snapshot::default();
        s.set_nodes([node("a", "1")]);
        s.pod_changed(&pod("seen", "300m", Some("a")));
        s.assume(
            &pod("ours", "200m", None),
            "a",
            Requests {
                milli_cpu: 200,
                memory: 0,
                pods: 1,
            },
        );
        s.forget_seen_pods();
        assert_eq!(s.used("a").milli_cpu, 200);
    }

    #[test]
    fn with_many_nodes_the_walk_stops_at_enough_feasible_ones_and_moves_on() {
        let mut s = Snapshot::default();
        s.set_nodes((0..1000).map(|i| node(&format!("n{i:04}"), "1")));
        let p = pod("p", "100m", None);
        assert_eq!(s.decide(&p), Decision::Bind("n0000".into()));
        assert_eq!(s.next_start, 420);
        assert_eq!(s.decide(&p), Decision::Bind("n0420".into()));
        s.node_gone(&node("n0420", "1"));
        s.node_changed(node("n0420", "2"));
        assert_eq!(s.node_count(), 1000);
    }
}
