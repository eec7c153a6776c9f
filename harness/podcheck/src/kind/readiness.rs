//! When a kind cluster is ready for cases: every node `Ready` and the cluster DNS (CoreDNS:
//! kube-system pods labelled `k8s-app=kube-dns`, as kubeadm deploys it) Running and Ready,
//! read through the API. `kind create cluster --wait` is no substitute: it watches the
//! control-plane nodes only, and on its timeout prints a warning and exits 0
//! (pkg/cluster/internal/create/actions/waitforready/waitforready.go).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

/// The label kubeadm's CoreDNS Deployment gives its pods (and the kube-dns Service selects).
pub const DNS_SELECTOR: &str = "k8s-app=kube-dns";

/// What the cluster still lacks, one phrase each; empty when it is ready. `expected_nodes`:
/// how many nodes must have registered (those of a config podcheck created it from).
pub fn pending(nodes: &[Node], dns_pods: &[Pod], expected_nodes: Option<usize>) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(expected) = expected_nodes
        && nodes.len() < expected
    {
        missing.push(format!("{} of {expected} nodes registered", nodes.len()));
    }
    if nodes.is_empty() && expected_nodes.is_none() {
        missing.push("no node registered".into());
    }
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("?");
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match ready {
            Some(c) if c.status == "True" => {}
            Some(c) => missing.push(format!(
                "node {name} is NotReady{}",
                because(c.reason.as_deref(), c.message.as_deref())
            )),
            None => missing.push(format!("node {name} reports no Ready condition yet")),
        }
    }
    let live: Vec<&Pod> = dns_pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    if live.is_empty() {
        missing.push(format!("no CoreDNS pod (kube-system, {DNS_SELECTOR}) yet"));
    }
    for pod in live {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        let condition = |kind: &str| {
            status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == kind))
        };
        if phase != "Running" {
            // Unscheduled (the nodes are tainted not-ready until a CNI runs) says why.
            let why = condition("PodScheduled")
                .filter(|c| c.status != "True")
                .map(|c| because(c.reason.as_deref(), c.message.as_deref()))
                .unwrap_or_default();
            missing.push(format!("CoreDNS pod {name} is {phase}{why}"));
        } else if condition("Ready").is_none_or(|c| c.status != "True") {
            missing.push(format!("CoreDNS pod {name} is Running but not Ready"));
        }
    }
    missing
}

fn because(reason: Option<&str>, message: Option<&str>) -> String {
    match (reason, message) {
        (Some(r), Some(m)) if !m.is_empty() => format!(" ({r}: {m})"),
        (Some(r), _) => format!(" ({r})"),
        (None, Some(m)) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    }
}

/// What the wait saw when the cluster turned ready.
#[derive(Debug)]
pub struct Ready {
    pub nodes: usize,
    pub dns_pods: usize,
    pub after: Duration,
}

/// Polls the API once a second until [`pending`] is empty, or `deadline` passes (then the
/// last things pending, or the API's own error, are the `Err`). Each new state is reported
/// through `report`.
pub async fn wait(
    client: &kube::Client,
    expected_nodes: Option<usize>,
    deadline: Duration,
    report: &(dyn Fn(&[String]) + Sync),
) -> Result<Ready, Vec<String>> {
    let started = Instant::now();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let dns = ListParams::default().labels(DNS_SELECTOR);
    let mut last: Vec<String> = Vec::new();
    loop {
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            Ok::<_, kube::Error>((
                nodes.list(&Default::default()).await?,
                pods.list(&dns).await?,
            ))
        })
        .await;
        let now = match seen {
            Ok(Ok((n, p))) => {
                let missing = pending(&n.items, &p.items, expected_nodes);
                if missing.is_empty() {
                    return Ok(Ready {
                        nodes: n.items.len(),
                        dns_pods: p.items.len(),
                        after: started.elapsed(),
                    });
                }
                missing
            }
            // The apiserver may still be settling: an error is one more thing to wait for.
            Ok(Err(e)) => vec![format!("the API answered: {e}")],
            Err(_) => vec!["the API did not answer within 10 s".into()],
        };
        if now != last {
            report(&now);
            last = now;
        }
        if started.elapsed() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(1).min(deadline.saturating_sub(started.elapsed())))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ready: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                "reason": "KubeletNotReady",
                "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}]}
        }))
        .unwrap()
    }

    fn dns_pod(name: &str, phase: &str, ready: bool) -> Pod {
        let mut conditions =
            vec![json!({"type": "Ready", "status": if ready {"True"} else {"False"}})];
        if phase == "Pending" {
            conditions.push(json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."}));
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system"},
            "status": {"phase": phase, "conditions": conditions}
        }))
        .unwrap()
    }

    #[test]
    fn a_ready_cluster_lacks_nothing() {
        let nodes = [node("pc-control-plane", "True"), node("pc-worker", "True")];
        let pods = [
            dns_pod("coredns-a", "Running", true),
            dns_pod("coredns-b", "Running", true),
        ];
        assert!(pending(&nodes, &pods, Some(2)).is_empty());
    }

    #[test]
    fn without_a_cni_the_nodes_and_coredns_say_why() {
        let nodes = [node("pc-control-plane", "False")];
        let pods = [dns_pod("coredns-a", "Pending", false)];
        let missing = pending(&nodes, &pods, Some(1));
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].starts_with("node pc-control-plane is NotReady (KubeletNotReady: container runtime network not ready"), "{missing:?}");
        assert_eq!(
            missing[1],
            "CoreDNS pod coredns-a is Pending (Unschedulable: 0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.)"
        );
    }

    #[test]
    fn nodes_still_joining_and_dns_not_yet_ready_are_pending() {
        let nodes = [node("pc-control-plane", "True")];
        let missing = pending(&nodes, &[], Some(3));
        assert_eq!(
            missing,
            [
                "1 of 3 nodes registered",
                "no CoreDNS pod (kube-system, k8s-app=kube-dns) yet"
            ]
        );
        let pods = [dns_pod("coredns-a", "Running", false)];
        assert_eq!(
            pending(&nodes, &pods, None),
            ["CoreDNS pod coredns-a is Running but not Ready"]
        );
        assert_eq!(pending(&[], &pods[..0], None)[0], "no node registered");
    }

    #[test]
    fn a_coredns_pod_on_its_way_out_does_not_count() {
        let nodes = [node("n", "True")];
        let mut old = dns_pod("coredns-old", "Running", false);
        old.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        let pods = [old, dns_pod("coredns-new", "Running", true)];
        assert!(pending(&nodes, &pods, None).is_empty());
    }
}
