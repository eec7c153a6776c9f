//! `podcheck explain STAGE`: what happens in a stage, what podcheck looks at, and what
//! commonly breaks — the seed walk-through, stage by stage.

use crate::stage::Stage;

/// The explanation of a stage, as plain text.
pub fn explain(stage: Stage) -> String {
    let (what, evidence, breaks) = match stage {
        Stage::Auth => (
            "`kubectl run busybox --image busybox` becomes a POST of a Pod to the apiserver. Before \
             anything is stored, the apiserver authenticates the caller (a bearer token, a client \
             certificate, or nobody), authorizes the verb (RBAC: may this user create pods in this \
             namespace?), then runs admission: defaulting (restartPolicy, dnsPolicy, schedulerName, \
             the service account, …) and validation (names, containers, images, ports).",
            "The HTTP answer to the create, sent as the case's identity: 201 with the Pod, or a \
             metav1.Status — 401 Unauthorized, 403 Forbidden, 422 Invalid with the offending fields. \
             When the request is denied, podcheck also checks that nothing reached the store.",
            "Expired or mistyped tokens (401); missing RoleBindings, or a binding in the wrong \
             namespace (403); pods without an image or with upper-case container names (422).",
        ),
        Stage::EtcdWrite => (
            "The apiserver is the only component that talks to etcd. Once the request is admitted it \
             writes the Pod under /registry/pods/NAMESPACE/NAME, and the revision of that write \
             becomes the object's resourceVersion.",
            "A direct read of the key from the store, comparing the key's create revision with the \
             resourceVersion the API answered: on the embedded target the store itself, on kind \
             and kubeadm clusters etcdctl run in the etcd static pod through pods/exec. Where the \
             store cannot be read (a managed control plane), a consistent read through the API \
             stands in, and is labelled as weaker evidence.",
            "An unhealthy or slow etcd (writes time out); an apiserver answering before the write \
             is durable; resourceVersions that do not come from the store.",
        ),
        Stage::Pending => (
            "At this point the pod object exists, but nothing has happened to it yet: it is Pending \
             and no node is assigned. Every controller that watches pods sees this state first.",
            "The first event of a watch on the pod that was opened before the create: ADDED, phase \
             Pending, spec.nodeName empty.",
            "Pods created with spec.nodeName already set (they bypass the scheduler); mutating \
             webhooks that assign nodes; a watch that misses the ADDED event.",
        ),
        Stage::Binding => (
            "The scheduler watches for pods without a node. It filters the nodes that can take the \
             pod (nodeSelector, node affinity, taints and tolerations, free resources, cordoned \
             nodes), scores the rest, and tells the apiserver its choice through the pod's binding \
             subresource; the apiserver stores spec.nodeName and the PodScheduled condition.",
            "spec.nodeName going from unset to a node with PodScheduled=True in the same update \
             (the kubelet reports PodScheduled too, so the condition alone proves nothing), the \
             Scheduled event and which scheduler wrote it — and podcheck's own oracle re-checks \
             that the chosen node was feasible, reading taints as kube-scheduler does. A pod that \
             fits nowhere must show PodScheduled=False/Unschedulable and a FailedScheduling event \
             that says why.",
            "No scheduler for the pod's schedulerName; a custom scheduler that ignores taints or \
             resource requests; nodes that are NotReady or cordoned; requests larger than any node.",
        ),
        Stage::CriLaunch => (
            "The kubelet of the chosen node sees the pod bound to it. It asks the container runtime, \
             over CRI, for a pod sandbox (RunPodSandbox), pulls the images, and creates and starts \
             each container. Note the order in a real kubelet: the runtime sets up the sandbox's \
             network — it calls the CNI plugins — while it creates the sandbox, before any \
             application container starts. Reports list stages in the seed's order but keep the \
             real timestamps, so cniAttach usually completes before criLaunch.",
            "containerStatuses with containerIDs and state.running, the Pulled, Created and Started \
             events, and where the runtime is reachable, CRI ContainerStatus for the same container \
             IDs (on kind, crictl inspect on the node). A refused sandbox or a failed pull is what a \
             kubelet retries: each attempt is evidence, and the case waits for the pod until its \
             deadline.",
            "Images that cannot be pulled (no registry, a typo); a runtime that cannot create \
             sandboxes (cgroup or seccomp trouble, the oom_score_adj trap); a missing sandbox image.",
        ),
        Stage::CniAttach => (
            "While creating the sandbox, the runtime runs the CNI plugins named in its CNI \
             configuration: they create the pod's interface in its network namespace, assign an \
             address from the node's range (IPAM), and set up routes. The runtime reports the \
             address back to the kubelet, which publishes it as status.podIP.",
            "status.podIP is set, lies in the range the CNI allocates from (the node's podCIDR, or a \
             pool of its own such as Calico's IPPools) and is unique among running pods; the pod's \
             own interfaces hold it (pods/exec ip addr); a second pod, on another node where there \
             is one, reaches it; where the sandbox's network namespace can be inspected from the \
             node, it holds the interface with that address and the node reaches it.",
            "No CNI configuration on the node (the sandbox fails with 'cni config uninitialized'); \
             an IPAM range that is not the one the node's pods get; no routes or tunnels between \
             nodes; exhausted or leaked address ranges; duplicate addresses after a plugin lost \
             its state.",
        ),
        Stage::Dns => (
            "The kubelet writes the pod's /etc/resolv.conf from its cluster DNS settings: for \
             dnsPolicy ClusterFirst the cluster DNS Service as nameserver, the search path \
             NS.svc.ZONE svc.ZONE ZONE, and ndots:5. The cluster DNS (CoreDNS, or podcheck's \
             builtin server) answers for Services and pods from the API.",
            "resolv.conf read from inside the container (pods/exec): the cluster DNS Service (or a \
             NodeLocal DNSCache address), the search path of the cluster domain it names (then the \
             node's own domains), ndots 5; and lookups of kubernetes.default and the case's names \
             resolved the way a program in the pod would — one query per candidate of the search \
             path, each with a deadline — against the cluster DNS, which must answer the Services' \
             ClusterIPs as read from the cluster. Names outside the cluster zone go upstream: a \
             slow upstream is noted, not blamed on the cluster DNS.",
            "A kubelet --cluster-dns that is not the DNS Service's IP; a wrong --cluster-domain; a \
             DNS server that is down or not watching Services; network policy that blocks port 53.",
        ),
        Stage::StatusUpdate => (
            "Finally the kubelet reports the pod's status to the apiserver — phase Running, the \
             conditions Initialized, ContainersReady and Ready, the pod and host IPs, the start \
             time — and the apiserver writes it to etcd. At this point the pod is running. The \
             kubelet goes on reporting: a container that exits is Terminated with its exit code, \
             the pod leaves Ready (ContainersNotReady), and restartPolicy Always starts it again \
             after a growing back-off (CrashLoopBackOff, restartCount, Last State).",
            "The watch shows phase Running with the conditions True and the addresses and start time \
             set; a store read (or a consistent API read) shows the status persisted. With \
             `staysReadyFor`, the pod is watched that much longer and must stay Ready, with no \
             container terminated or restarted; an exit is shown as kubectl describe shows it \
             (State, Last State, Restart Count, the Ready condition).",
            "A kubelet that cannot patch pods/status (RBAC for system:node, the NodeRestriction \
             plugin); readiness probes that never succeed; an app that exits (its command ends, \
             it crashes, it gives up on a dependency): CrashLoopBackOff; clock skew confusing \
             timestamps.",
        ),
    };
    format!(
        "{name} — {component}\n\nWhat happens\n{what}\n\nWhat podcheck checks\n{evidence}\n\nWhat commonly breaks\n{breaks}\n",
        name = stage.name(),
        component = stage.component(),
        what = wrap(what),
        evidence = wrap(evidence),
        breaks = wrap(breaks),
    )
}

/// Wraps prose at 88 columns with a two-space indent.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > 86 && !line.is_empty() {
            out.push_str("  ");
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_explained_with_its_parts() {
        for s in Stage::ALL {
            let text = explain(s);
            assert!(text.starts_with(s.name()));
            for heading in [
                "What happens",
                "What podcheck checks",
                "What commonly breaks",
            ] {
                assert!(text.contains(heading));
            }
            assert!(text.lines().all(|l| l.len() <= 90), "{text}");
        }
        assert!(explain(Stage::CriLaunch).contains("CNI plugins"));
    }
}
