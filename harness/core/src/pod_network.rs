//! Which range a pod's IP must lie in. Not every CNI allocates from its node's
//! `spec.podCIDR`: kindnet, flannel and Cilium with Kubernetes IPAM do, while Calico (its
//! IPPools, in blocks per node) and Cilium's cluster-pool IPAM do not. So the range a pod
//! IP is held to depends on what the cluster shows: the node's podCIDRs, the pod networks
//! the cluster declares (kubeadm's podSubnet, Calico's IPPools), and where the other pods
//! of the node got their addresses.

use ipnet::IpNet;

/// A range the cluster says pods get their addresses from, and who says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    pub cidr: IpNet,
    /// `kube-system/kubeadm-config podSubnet`, `Calico IPPool default-ipv4-ippool`, …
    pub source: String,
}

/// The pod subnets of a kubeadm `ClusterConfiguration` (the `kubeadm-config` ConfigMap's
/// `ClusterConfiguration` key): `networking.podSubnet`, comma-separated when dual-stack.
pub fn kubeadm_pod_subnets(cluster_configuration: &str) -> Vec<IpNet> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        networking: Networking,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Networking {
        #[serde(default)]
        pod_subnet: String,
    }
    serde_saphyr::from_str::<Config>(cluster_configuration)
        .map(|c| {
            c.networking
                .pod_subnet
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The range check's outcome, in words for the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeVerdict {
    /// In the node's podCIDR.
    InPodCidr { cidr: String },
    /// Outside the node's podCIDR, inside a pod network the CNI allocates from itself.
    InPodNetwork {
        pod_cidr: String,
        network: PodNetwork,
    },
    /// Outside the node's podCIDR, like every other pod of the node: the CNI does not
    /// allocate from it, and nothing else names a range.
    NotFromPodCidr { pod_cidr: String, others: usize },
    /// The node has no podCIDR and no pod network holds the IP: nothing to check against.
    NotChecked,
    /// Outside the range this CNI allocates from.
    Outside { why: String },
}

impl RangeVerdict {
    pub fn ok(&self) -> bool {
        !matches!(self, RangeVerdict::Outside { .. })
    }

    /// The evidence (or the problem) in words.
    pub fn words(&self, ip: &str, node: &str) -> String {
        match self {
            RangeVerdict::InPodCidr { cidr } => format!("{ip} lies in {node}'s podCIDR {cidr}"),
            RangeVerdict::InPodNetwork { pod_cidr, network } => format!(
                "{ip} lies outside {node}'s podCIDR {pod_cidr} but in the pod network {} ({}): the CNI allocates from pools of its own (as Calico's IPAM does), not from the node's podCIDR",
                network.cidr, network.source
            ),
            RangeVerdict::NotFromPodCidr { pod_cidr, others } => format!(
                "{ip} lies outside {node}'s podCIDR {pod_cidr}, as do the {others} other pod(s) on {node}: the CNI does not allocate from the podCIDR, and the cluster names no pod network, so the range was not checked"
            ),
            RangeVerdict::NotChecked => {
                format!(
                    "{node} has no podCIDR and no pod network holds {ip}; the range was not checked"
                )
            }
            RangeVerdict::Outside { why } => format!("{ip} is outside {why}"),
        }
    }
}

/// Where `ip` stands: `pod_cidrs` are the node's, `networks` the cluster's, `neighbours` the
/// IPs of the node's other pods (not on the host network).
pub fn range_verdict(
    ip: std::net::IpAddr,
    node: &str,
    pod_cidrs: &[IpNet],
    networks: &[PodNetwork],
    neighbours: &[std::net::IpAddr],
) -> RangeVerdict {
    let same_family: Vec<&IpNet> = pod_cidrs
        .iter()
        .filter(|c| c.addr().is_ipv4() == ip.is_ipv4())
        .collect();
    if let Some(c) = same_family.iter().find(|c| c.contains(&ip)) {
        return RangeVerdict::InPodCidr {
            cidr: c.to_string(),
        };
    }
    let network = networks.iter().find(|n| n.cidr.contains(&ip));
    let Some(pod_cidr) = same_family.first() else {
        return match network {
            Some(n) => RangeVerdict::InPodNetwork {
                pod_cidr: "(none)".into(),
                network: n.clone(),
            },
            None => RangeVerdict::NotChecked,
        };
    };
    let in_pod_cidr = neighbours
        .iter()
        .filter(|n| same_family.iter().any(|c| c.contains(*n)))
        .count();
    if in_pod_cidr > 0 {
        return RangeVerdict::Outside {
            why: format!(
                "{node}'s podCIDR {pod_cidr}, from which the CNI gave {in_pod_cidr} other pod(s) on {node} their addresses"
            ),
        };
    }
    match network {
        Some(n) => RangeVerdict::InPodNetwork {
            pod_cidr: pod_cidr.to_string(),
            network: n.clone(),
        },
        None if !networks.is_empty() => RangeVerdict::Outside {
            why: format!(
                "{node}'s podCIDR {pod_cidr} and every pod network of the cluster ({})",
                networks
                    .iter()
                    .map(|n| format!("{} from {}", n.cidr, n.source))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None if !neighbours.is_empty() => RangeVerdict::NotFromPodCidr {
            pod_cidr: pod_cidr.to_string(),
            others: neighbours.len(),
        },
        None => RangeVerdict::Outside {
            why: format!("{node}'s podCIDR {pod_cidr}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn net(cidr: &str, source: &str) -> PodNetwork {
        PodNetwork {
            cidr: cidr.parse().unwrap(),
            source: source.into(),
        }
    }

    fn ips(list: &[&str]) -> Vec<std::net::IpAddr> {
        list.iter().map(|i| i.parse().unwrap()).collect()
    }

    const NODE_CIDR: &str = "10.244.1.0/24";

    #[test]
    fn kubeadm_names_its_pod_subnets() {
        let config = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: kind\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n  serviceSubnet: 10.96.0.0/16\n";
        let subnets = kubeadm_pod_subnets(config);
        assert_eq!(
            subnets,
            [
                "10.244.0.0/16".parse::<IpNet>().unwrap(),
                "fd00:10:244::/56".parse().unwrap()
            ]
        );
        assert!(kubeadm_pod_subnets("networking: {}\n").is_empty());
        assert!(kubeadm_pod_subnets("not: [yaml").is_empty());
    }

    #[rstest]
    // kindnet, flannel, host-local: the podCIDR holds the IP.
    #[case::in_pod_cidr("10.244.1.7", &[NODE_CIDR], &[], &[], true, "lies in node-1's podCIDR 10.244.1.0/24")]
    // Calico on kubeadm: a /26 block of 192.168.0.0/16, which kubeadm's podSubnet names.
    #[case::calico_block_in_the_pod_subnet("192.168.35.70", &["192.168.1.0/24"], &[("192.168.0.0/16", "kube-system/kubeadm-config podSubnet")], &[], true, "but in the pod network 192.168.0.0/16 (kube-system/kubeadm-config podSubnet)")]
    // Calico's IPPool when kubeadm's podSubnet says something else.
    #[case::calico_pool("192.168.35.70", &[NODE_CIDR], &[("10.244.0.0/16", "kubeadm"), ("192.168.0.0/16", "Calico IPPool default-ipv4-ippool")], &[], true, "Calico IPPool default-ipv4-ippool")]
    // A podCIDR CNI that handed out a neighbour's range: the other pods of the node are in
    // its podCIDR, so this one must be too.
    #[case::outlier("10.244.2.7", &[NODE_CIDR], &[("10.244.0.0/16", "kubeadm")], &["10.244.1.3"], false, "10.244.2.7 is outside node-1's podCIDR 10.244.1.0/24, from which the CNI gave 1 other pod(s)")]
    #[case::outside_every_range("10.9.0.5", &[NODE_CIDR], &[("10.244.0.0/16", "kubeadm")], &[], false, "and every pod network of the cluster (10.244.0.0/16 from kubeadm)")]
    // No network named, but the node's other pods are all outside its podCIDR too.
    #[case::not_from_pod_cidr("172.30.4.2", &[NODE_CIDR], &[], &["172.30.4.9", "172.30.4.10"], true, "as do the 2 other pod(s) on node-1")]
    #[case::alone_and_outside("172.30.4.2", &[NODE_CIDR], &[], &[], false, "10.244.1.0/24")]
    #[case::no_pod_cidr("172.30.4.2", &[], &[], &[], true, "node-1 has no podCIDR and no pod network holds 172.30.4.2")]
    #[case::ipv6_against_ipv6("fd00:10:244:1::5", &[NODE_CIDR, "fd00:10:244:1::/64"], &[], &[], true, "fd00:10:244:1::/64")]
    fn the_range_a_pod_ip_is_held_to(
        #[case] ip: &str,
        #[case] pod_cidrs: &[&str],
        #[case] networks: &[(&str, &str)],
        #[case] neighbours: &[&str],
        #[case] ok: bool,
        #[case] words: &str,
    ) {
        let cidrs: Vec<IpNet> = pod_cidrs.iter().map(|c| c.parse().unwrap()).collect();
        let networks: Vec<PodNetwork> = networks.iter().map(|(c, s)| net(c, s)).collect();
        let v = range_verdict(
            ip.parse().unwrap(),
            "node-1",
            &cidrs,
            &networks,
            &ips(neighbours),
        );
        assert_eq!(v.ok(), ok, "{v:?}");
        let said = v.words(ip, "node-1");
        assert!(said.contains(words), "{said}");
    }
}
