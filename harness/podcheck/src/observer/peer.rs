//! A second pod that reaches the case's pod over the pod network: pod-to-pod, from another
//! node where the cluster has one, which is what a CNI exists for. One such pod per node is
//! made when first needed, bound to its node by name (no scheduler involved), in a namespace
//! of the run's own, and deleted with it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use podcheck_core::observation::{PeerRead, Probe, REACH_SCRIPT, parse_reach};
use serde_json::json;
use tokio::sync::Mutex;

use super::exec::InPod;
use super::{RUN_LABEL, ms};

/// How long a peer pod may take to run.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long the reach script may take (its own waits are 2 s each).
const REACH_DEADLINE: Duration = Duration::from_secs(10);

/// The run's peer pods, by node; made on first use, shared by the cases of a suite.
#[derive(Default)]
pub struct Peers {
    namespace: Mutex<Option<Result<String, String>>>,
    by_node: Mutex<HashMap<String, Result<String, String>>>,
    /// For each case pod's node, the node its peer runs on (found once).
    other: Mutex<HashMap<String, Option<String>>>,
}

impl Peers {
    /// From a pod on another node than `node` (or, where there is none, on `node`), reaches
    /// `ip`.
    pub(super) async fn reach(
        &self,
        admin: &kube::Client,
        run_id: &str,
        node: &str,
        ip: &str,
        t0: Instant,
    ) -> Probe<PeerRead> {
        let other = {
            let mut known = self.other.lock().await;
            match known.get(node) {
                Some(o) => o.clone(),
                None => {
                    let found = other_node(admin, node).await;
                    known.insert(node.to_string(), found.clone());
                    found
                }
            }
        };
        let (peer_node, same_node) = match other {
            Some(other) => (other, None),
            None => (
                node.to_string(),
                Some("the cluster has no other Ready node".to_string()),
            ),
        };
        let ns = match self.namespace(admin, run_id).await {
            Ok(ns) => ns,
            Err(e) => return Probe::Unavailable(e),
        };
        let pod = {
            let mut by_node = self.by_node.lock().await;
            match by_node.get(&peer_node) {
                Some(known) => known.clone(),
                None => {
                    let made = start(admin, &ns, &peer_node).await;
                    by_node.insert(peer_node.clone(), made.clone());
                    made
                }
            }
        };
        let pod = match pod {
            Ok(p) => p,
            Err(e) => return Probe::Unavailable(e),
        };
        let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
        let in_peer = InPod {
            pods: &pods,
            pod: &pod,
            container: "peer",
        };
        match in_peer
            .output(&["sh", "-c", REACH_SCRIPT, "sh", ip], REACH_DEADLINE)
            .await
        {
            Ok(out) => Probe::Seen(PeerRead {
                pod: format!("{ns}/{pod}"),
                node: peer_node,
                same_node,
                reached: parse_reach(&out),
                at_ms: ms(t0),
            }),
            // The script ends 0 either way; a failure is the exec's, not the network's.
            Err(why) => Probe::Unavailable(format!(
                "the second pod {ns}/{pod} could not run the reach script: {why}"
            )),
        }
    }

    /// The run's namespace for peer pods, made once.
    async fn namespace(&self, admin: &kube::Client, run_id: &str) -> Result<String, String> {
        let mut slot = self.namespace.lock().await;
        if let Some(known) = slot.as_ref() {
            return known.clone();
        }
        let name = format!("podcheck-peers-{}", short(run_id));
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        let object: Result<Namespace, _> = serde_json::from_value(json!({"metadata": {
            "name": name, "labels": {"app.kubernetes.io/managed-by": "podcheck", RUN_LABEL: run_id}}}));
        let made = match object {
            Ok(o) => match namespaces.create(&PostParams::default(), &o).await {
                Ok(_) => Ok(name),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
                Err(e) => Err(format!(
                    "creating namespace {name} for the second pods: {e}"
                )),
            },
            Err(e) => Err(e.to_string()),
        };
        *slot = Some(made.clone());
        made
    }

    /// Deletes the peer pods' namespace, if one was made (its pods stop at once).
    pub async fn remove(&self, admin: &kube::Client) {
        if let Some(Ok(ns)) = self.namespace.lock().await.take() {
            let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
            let now = DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::background()
            };
            for name in self
                .by_node
                .lock()
                .await
                .drain()
                .filter_map(|(_, p)| p.ok())
            {
                let _ = pods.delete(&name, &now).await;
            }
            let namespaces: Api<Namespace> = Api::all(admin.clone());
            let _ = namespaces.delete(&ns, &DeleteParams::background()).await;
        }
    }
}

/// A Ready node other than `node`, by name; None on a one-node cluster. One page of nodes
/// is enough to find one.
async fn other_node(admin: &kube::Client, node: &str) -> Option<String> {
    let nodes: Api<Node> = Api::all(admin.clone());
    let page = nodes.list(&ListParams::default().limit(50)).await.ok()?;
    let mut ready: Vec<String> = page
        .items
        .into_iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| n.metadata.name)
        .filter(|n| n != node)
        .collect();
    ready.sort();
    ready.into_iter().next()
}

/// A busybox pod bound to `node`, once it runs; its name, or why it does not.
async fn start(admin: &kube::Client, ns: &str, node: &str) -> Result<String, String> {
    let name = format!("peer-{node}");
    let name: String = name.chars().take(63).collect();
    let name = name.trim_end_matches(['-', '.']).to_string();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "podcheck"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "peer",
                "image": "busybox",
                "imagePullPolicy": "IfNotPresent",
                "args": ["sleep", "2147483647"],
            }],
        },
    }))
    .map_err(|e| e.to_string())?;
    match pods.create(&PostParams::default(), &pod).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(format!("creating a second pod on {node}: {e}")),
    }
    let running = tokio::time::timeout(START_DEADLINE, async {
        loop {
            if let Ok(p) = pods.get(&name).await
                && podcheck_core::path::ready(&p)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    running.await.map(|()| name.clone()).map_err(|_| {
        format!("the second pod {ns}/{name} on {node} did not run within {START_DEADLINE:?}")
    })
}

/// The end of a run id, for names.
pub(crate) fn short(run_id: &str) -> String {
    let alnum: Vec<char> = run_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    alnum[alnum.len().saturating_sub(12)..].iter().collect()
}
