//! A suite's nodes on a cluster podcheck did not make: the plan (`podcheck_core::node_map`)
//! applied through the API — labels, taints and cordons on the mapped nodes, a taint on the
//! others, filler pods for the declared capacity — and undone at the suite's end, or by a
//! later run after an interruption (each node records what was changed, and by which run).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use podcheck_core::node_map::{CHANGES_ANNOTATION, EXCLUDED_TAINT, NodeChanges, NodeMap, plan};
use podcheck_core::suite::NodeSpec;
use serde_json::json;

use crate::observer::RUN_LABEL;

/// How long the filler pods may take to run.
const FILLER_DEADLINE: Duration = Duration::from_secs(60);
/// How often a lost update of a node is tried again.
const PATCH_ATTEMPTS: usize = 5;

/// The suite's nodes, mapped and applied; [`AppliedNodes::undo`] restores the cluster.
#[derive(Debug)]
pub struct AppliedNodes {
    pub map: NodeMap,
    run_id: String,
    /// The namespace of the filler pods, if any were needed.
    fillers: Option<String>,
}

/// Maps `suite` nodes onto the cluster and applies the plan; the reasons it cannot, else.
pub async fn apply(
    admin: &kube::Client,
    suite: &[NodeSpec],
    run_id: &str,
) -> Result<AppliedNodes, Vec<String>> {
    let nodes: Api<Node> = Api::all(admin.clone());
    let cluster = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| vec![format!("the cluster's nodes could not be listed: {e}")])?
        .items;
    let pods: Api<Pod> = Api::all(admin.clone());
    let mut pods_on = BTreeMap::new();
    for n in &cluster {
        let name = n.metadata.name.clone().unwrap_or_default();
        let on = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        pods_on.insert(name, on);
    }
    let map = plan(suite, &cluster, &pods_on)?;
    let mut applied = AppliedNodes {
        map,
        run_id: run_id.to_string(),
        fillers: None,
    };
    if let Err(e) = applied.change_nodes(admin).await {
        applied.undo(admin).await;
        return Err(vec![e]);
    }
    if let Err(e) = applied.start_fillers(admin).await {
        applied.undo(admin).await;
        return Err(vec![e]);
    }
    Ok(applied)
}

impl AppliedNodes {
    async fn change_nodes(&self, admin: &kube::Client) -> Result<(), String> {
        for m in &self.map.nodes {
            let taints: Vec<(String, String)> = m
                .taints
                .iter()
                .map(|t| (t.key.clone(), t.effect.clone()))
                .collect();
            let values = m.taints.iter().map(|t| t.value.clone()).collect();
            change(
                admin,
                &m.node,
                &self.run_id,
                &m.labels,
                &taints,
                values,
                m.cordon,
            )
            .await?;
        }
        for name in &self.map.excluded {
            let taint = (EXCLUDED_TAINT.to_string(), "NoSchedule".to_string());
            change(
                admin,
                name,
                &self.run_id,
                &BTreeMap::new(),
                &[taint],
                vec![None],
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// A filler pod per node that has more than the suite declares, bound to it by name,
    /// and waits until each runs (the kubelet admitted it, the scheduler counts it).
    async fn start_fillers(&mut self, admin: &kube::Client) -> Result<(), String> {
        let wanted: Vec<_> = self
            .map
            .nodes
            .iter()
            .filter(|m| !m.filler.is_empty())
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let ns = format!(
            "podcheck-fill-{}",
            crate::observer::short_run_id(&self.run_id)
        );
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        let object: Namespace = serde_json::from_value(json!({"metadata": {
            "name": ns, "labels": {"app.kubernetes.io/managed-by": "podcheck", RUN_LABEL: self.run_id}}}))
        .map_err(|e| e.to_string())?;
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| format!("creating namespace {ns} for the filler pods: {e}"))?;
        self.fillers = Some(ns.clone());
        let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
        for m in &wanted {
            let pod: Pod = serde_json::from_value(json!({
                "metadata": {"name": format!("filler-{}", m.suite)},
                "spec": {
                    "nodeName": m.node,
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{
                        "name": "filler",
                        "image": "busybox",
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["sleep", "2147483647"],
                        "resources": {"requests": m.filler},
                    }],
                },
            }))
            .map_err(|e| e.to_string())?;
            pods.create(&PostParams::default(), &pod)
                .await
                .map_err(|e| format!("creating the filler pod for {}: {e}", m.node))?;
        }
        let running = tokio::time::timeout(FILLER_DEADLINE, async {
            loop {
                let list = pods.list(&ListParams::default()).await;
                if list.is_ok_and(|l| {
                    l.items.len() == wanted.len()
                        && l.items.iter().all(|p| {
                            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                        })
                }) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        running.await.map_err(|_| {
            format!(
                "the filler pods in {ns} did not run within {FILLER_DEADLINE:?} (they set aside what the nodes have beyond the suite's capacities)"
            )
        })
    }

    /// Restores every node this run changed and deletes the filler pods (best effort:
    /// what fails is logged; [`undo_run`] finds it again).
    pub async fn undo(&self, admin: &kube::Client) {
        if let Some(ns) = &self.fillers {
            let namespaces: Api<Namespace> = Api::all(admin.clone());
            let _ = namespaces.delete(ns, &Default::default()).await;
        }
        undo_run(admin, &self.run_id).await;
    }
}

/// Restores every node `run_id` changed, from the record on each node.
pub async fn undo_run(admin: &kube::Client, run_id: &str) -> usize {
    let nodes: Api<Node> = Api::all(admin.clone());
    let Ok(list) = nodes.list(&ListParams::default()).await else {
        return 0;
    };
    let mut restored = 0;
    for n in list.items {
        let record = n
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CHANGES_ANNOTATION))
            .and_then(|v| serde_json::from_str::<NodeChanges>(v).ok());
        let (Some(name), Some(record)) = (n.metadata.name.clone(), record) else {
            continue;
        };
        if record.run != run_id {
            continue;
        }
        match restore(&nodes, &name, &record).await {
            Ok(()) => restored += 1,
            Err(e) => tracing::warn!(node = %name, error = %e, "could not restore the node"),
        }
    }
    restored
}

/// Sets labels, adds taints (with `values`) and cordons, recording what it changed.
async fn change(
    admin: &kube::Client,
    name: &str,
    run_id: &str,
    labels: &BTreeMap<String, String>,
    taints: &[(String, String)],
    values: Vec<Option<String>>,
    cordon: bool,
) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(admin.clone());
    update(&nodes, name, |node| {
        let meta = &node.metadata;
        let before = meta.labels.clone().unwrap_or_default();
        let changes = NodeChanges {
            run: run_id.to_string(),
            labels: labels
                .keys()
                .map(|k| (k.clone(), before.get(k).cloned()))
                .collect(),
            taints: taints.iter().map(|(k, e)| format!("{k}:{e}")).collect(),
            cordoned: cordon && !node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        };
        let mut all_taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        for ((key, effect), value) in taints.iter().zip(&values) {
            if !all_taints.iter().any(|t| &t.key == key && &t.effect == effect) {
                all_taints.push(k8s_openapi::api::core::v1::Taint {
                    key: key.clone(),
                    value: value.clone(),
                    effect: effect.clone(),
                    time_added: None,
                });
            }
        }
        let mut patch = json!({
            "metadata": {
                "resourceVersion": meta.resource_version,
                "labels": labels,
                "annotations": {CHANGES_ANNOTATION: serde_json::to_string(&changes).unwrap_or_default()},
            },
            "spec": {"taints": all_taints},
        });
        if cordon {
            patch["spec"]["unschedulable"] = json!(true);
        }
        patch
    })
    .await
}

/// Undoes what `record` says was changed on the node.
async fn restore(nodes: &Api<Node>, name: &str, record: &NodeChanges) -> Result<(), String> {
    update(nodes, name, |node| {
        let meta = &node.metadata;
        let labels: serde_json::Map<String, serde_json::Value> = record
            .labels
            .iter()
            .map(|(k, before)| (k.clone(), json!(before)))
            .collect();
        let taints: Vec<_> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !record.taints.contains(&format!("{}:{}", t.key, t.effect)))
            .collect();
        let mut patch = json!({
            "metadata": {
                "resourceVersion": meta.resource_version,
                "labels": labels,
                "annotations": {CHANGES_ANNOTATION: null},
            },
            "spec": {"taints": taints},
        });
        if record.cordoned {
            patch["spec"]["unschedulable"] = json!(null);
        }
        patch
    })
    .await
}

/// A merge patch built from the node as read, pinned to its resourceVersion: a concurrent
/// write (the kubelet's, another controller's) makes it 409, and it is built again.
async fn update(
    nodes: &Api<Node>,
    name: &str,
    build: impl Fn(&Node) -> serde_json::Value,
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..PATCH_ATTEMPTS {
        let node = nodes
            .get(name)
            .await
            .map_err(|e| format!("reading node {name}: {e}"))?;
        match nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(build(&node)))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => last = s.message,
            Err(e) => return Err(format!("changing node {name}: {e}")),
        }
    }
    Err(format!("changing node {name}: {last}"))
}
