//! The facts that differ from cluster to cluster — the Service CIDR and the addresses
//! kubeadm takes from it, the cluster domain, where pod IPs come from, the DNS upstream —
//! their checks, and the kube-system ConfigMaps in which kubeadm writes them down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::profile::Like;
use crate::store::EtcdProcess;
use podcheck_node::ipam::PodIpam;
use podcheck_node::static_pod::{HostProgram, StaticPod};

/// kind's Service subnet (kubeadm's own default is 10.96.0.0/12).
pub const DEFAULT_SERVICE_CIDR: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(10, 96, 0, 0), 16) {
    Ok(net) => net,
    Err(_) => panic!("a /16 is a valid prefix"),
};
/// The cluster domain kubeadm and kind default to.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// The `kubernetes` Service takes the range's first address (kube-apiserver's
/// `GetIndexedIP(serviceCIDR, 1)`).
const KUBERNETES_SERVICE_INDEX: u32 = 1;
/// kube-dns takes the tenth (kubeadm: "the DNS service is always at the tenth cluster
/// clusterIP", cmd/kubeadm/app/constants).
const DNS_SERVICE_INDEX: u32 = 10;
/// The version kubeadm's ConfigMaps name, as `/version` serves it.
const KUBERNETES_VERSION: &str = "v1.33.0";
/// The `clusterName` of kubeadm's ClusterConfiguration (kind writes the cluster's name).
const CLUSTER_NAME: &str = "podcheck";

/// The cluster facts the control plane serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    pub like: Like,
    pub service_cidr: Ipv4Net,
    pub cluster_domain: String,
    /// The subnet the nodes' podCIDRs are carved from (a /24 each).
    pub pod_subnet: Ipv4Net,
    pub pod_ipam: PodIpam,
    /// Where the cluster DNS forwards names outside its zones; `None`: it refuses them.
    pub dns_upstream: Option<SocketAddr>,
}

impl ClusterFacts {
    /// The `kubernetes` Service's ClusterIP.
    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        indexed_ip(self.service_cidr, KUBERNETES_SERVICE_INDEX)
            .expect("checked: the Service CIDR holds ten addresses")
    }

    /// The `kube-dns` Service's ClusterIP: the kubelets' `clusterDNS`.
    pub fn dns_service_ip(&self) -> Ipv4Addr {
        indexed_ip(self.service_cidr, DNS_SERVICE_INDEX)
            .expect("checked: the Service CIDR holds ten addresses")
    }

    /// Why these facts cannot make a cluster, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if indexed_ip(self.service_cidr, DNS_SERVICE_INDEX + 1).is_none() {
            return Err(format!(
                "the Service CIDR {} is too small: it must hold the DNS Service's tenth address \
                 and the broadcast address (a /28 at most)",
                self.service_cidr
            ));
        }
        if overlap(self.service_cidr, self.pod_subnet) {
            return Err(format!(
                "the Service CIDR {} overlaps the pod subnet {}",
                self.service_cidr, self.pod_subnet
            ));
        }
        if let PodIpam::Pool(pool) = self.pod_ipam {
            if overlap(pool, self.service_cidr) {
                return Err(format!(
                    "the pod IP pool {pool} overlaps the Service CIDR {}",
                    self.service_cidr
                ));
            }
            if pool.prefix_len() >= NODE_CIDR_PREFIX {
                return Err(format!(
                    "the pod IP pool {pool} is the pod subnet the nodes' /{NODE_CIDR_PREFIX} \
                     podCIDRs are carved from, and the pool's blocks lie outside them: it must be \
                     larger than a /{NODE_CIDR_PREFIX}"
                ));
            }
        }
        podcheck_core::dns_name::subdomain_errors(&self.cluster_domain)
            .into_iter()
            .next()
            .map_or(Ok(()), |e| {
                Err(format!(
                    "the cluster domain {:?} is not a DNS name: {e}",
                    self.cluster_domain
                ))
            })?;
        if let Some(upstream) = self.dns_upstream {
            check_dns_upstream(upstream)?;
        }
        Ok(())
    }
}

/// The prefix of the podCIDRs carved from the pod subnet (kube-controller-manager's
/// `--node-cidr-mask-size` for IPv4).
pub const NODE_CIDR_PREFIX: u8 = 24;

/// The pod subnet of a cluster of `nodes` nodes with podCIDRs: kubeadm's 10.244.0.0/16 (as
/// kind's) up to 256 nodes; beyond, which a /16 cannot hold, the smallest block of
/// 10.128.0.0/9 that holds a /24 for each node (a cluster that size sets
/// `--cluster-cidr` wider in the same way).
pub fn pod_subnet_for(nodes: usize) -> Ipv4Net {
    let base = podcheck_node::network::pod_subnet_pool();
    if nodes <= 1 << (NODE_CIDR_PREFIX - base.prefix_len()) {
        return base;
    }
    let bits = nodes.next_power_of_two().trailing_zeros() as u8;
    let prefix = NODE_CIDR_PREFIX.saturating_sub(bits).max(9);
    Ipv4Net::new(Ipv4Addr::new(10, 128, 0, 0), prefix).expect("a prefix of 9 to 15")
}

/// The nodes' podCIDRs, in the order nodes get them: the /24s of the pod subnet from its
/// start, as kube-controller-manager's range allocator gives them.
pub fn node_pod_cidrs(pod_subnet: Ipv4Net) -> impl Iterator<Item = Ipv4Net> {
    pod_subnet
        .trunc()
        .subnets(NODE_CIDR_PREFIX)
        .into_iter()
        .flatten()
}

/// The DNS upstream must be on this machine's loopback: podcheck sends nothing anywhere else.
pub fn check_dns_upstream(upstream: SocketAddr) -> Result<(), String> {
    if upstream.ip().is_loopback() && upstream.port() != 0 {
        Ok(())
    } else {
        Err(format!(
            "the DNS upstream {upstream} is not a loopback address with a port: podcheck sends \
             no traffic off this machine (run your upstream on 127.0.0.1)"
        ))
    }
}

/// The `index`-th address of `cidr` (0 is the network address), if it is in the range.
pub fn indexed_ip(cidr: Ipv4Net, index: u32) -> Option<Ipv4Addr> {
    let base = u32::from(cidr.network());
    let ip = Ipv4Addr::from(base.checked_add(index)?);
    cidr.contains(&ip).then_some(ip)
}

fn overlap(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether `ip` is an address the cluster's Services may hold.
pub fn in_service_range(cidr: Ipv4Net, ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if cidr.contains(&v4))
}

/// The ConfigMaps `kubeadm init` leaves in kube-system: `kubeadm-config` (key
/// `ClusterConfiguration`) and `kubelet-config` (key `kubelet`), names and keys as in
/// cmd/kubeadm/app/constants, each document YAML as kubeadm writes it.
pub fn kubeadm_config_maps(facts: &ClusterFacts) -> Vec<Value> {
    let cluster_configuration = json!({
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "kubernetesVersion": KUBERNETES_VERSION,
        "clusterName": CLUSTER_NAME,
        "certificatesDir": "/etc/kubernetes/pki",
        "imageRepository": "registry.k8s.io",
        "apiServer": {},
        "controllerManager": {},
        "scheduler": {},
        "dns": {},
        "proxy": {},
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
        "networking": {
            "dnsDomain": facts.cluster_domain,
            "podSubnet": facts.pod_subnet.to_string(),
            "serviceSubnet": facts.service_cidr.to_string(),
        },
    });
    let kubelet = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "clusterDNS": [facts.dns_service_ip().to_string()],
        "clusterDomain": facts.cluster_domain,
        "resolvConf": "/etc/resolv.conf",
        "staticPodPath": "/etc/kubernetes/manifests",
        "rotateCertificates": true,
        "authentication": {"anonymous": {"enabled": false}, "webhook": {"enabled": true}, "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
        "authorization": {"mode": "Webhook"},
    });
    let config_map = |name: &str, key: &str, doc: &Value| {
        json!({
            "metadata": {"name": name, "namespace": "kube-system"},
            "data": {key: yaml(doc)},
        })
    };
    vec![
        config_map(
            "kubeadm-config",
            "ClusterConfiguration",
            &cluster_configuration,
        ),
        config_map("kubelet-config", "kubelet", &kubelet),
    ]
}

/// Where Debian's `etcd-client` installs etcdctl.
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

/// kubeadm's etcd static pod for the etcd podcheck started: its labels, the command line
/// it runs with, the image of its version (`registry.k8s.io/etcd:3.4.23-0`, kubeadm's tag
/// form) and kubeadm's requests; exec into it runs the host's `etcdctl` with
/// `ETCDCTL_API=3`.
pub fn etcd_static_pod(etcd: &EtcdProcess, version: &str) -> StaticPod {
    let started_at = podcheck_node::clock::timestamp(
        etcd.started_at()
            .try_into()
            .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now()),
    );
    StaticPod {
        name: "etcd".into(),
        namespace: "kube-system".into(),
        labels: BTreeMap::from([
            ("component".into(), "etcd".into()),
            ("tier".into(), "control-plane".into()),
        ]),
        container: "etcd".into(),
        image: format!("registry.k8s.io/etcd:{version}-0"),
        command: etcd.command().to_vec(),
        requests: BTreeMap::from([
            ("cpu".into(), "100m".into()),
            ("memory".into(), "100Mi".into()),
        ]),
        pid: etcd.pid(),
        started_at,
        programs: vec![HostProgram {
            name: "etcdctl".into(),
            path: ETCDCTL.into(),
            package: "etcd-client".into(),
            env: vec![("ETCDCTL_API".into(), "3".into())],
        }],
    }
}

fn yaml(doc: &Value) -> String {
    serde_saphyr::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ClusterFacts {
        ClusterFacts {
            like: Like::Kubeadm,
            service_cidr: DEFAULT_SERVICE_CIDR,
            cluster_domain: "cluster.local".into(),
            pod_subnet: "10.244.0.0/16".parse().unwrap(),
            pod_ipam: PodIpam::NodePodCidr,
            dns_upstream: None,
        }
    }

    #[test]
    fn kubernetes_takes_the_first_address_and_dns_the_tenth() {
        let mut f = facts();
        assert_eq!(f.kubernetes_service_ip(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(f.dns_service_ip(), Ipv4Addr::new(10, 96, 0, 10));
        f.service_cidr = "10.100.0.0/16".parse().unwrap();
        assert_eq!(f.kubernetes_service_ip(), Ipv4Addr::new(10, 100, 0, 1));
        assert_eq!(f.dns_service_ip(), Ipv4Addr::new(10, 100, 0, 10));
        assert_eq!(
            indexed_ip("10.0.0.0/29".parse().unwrap(), 10),
            None,
            "outside the range"
        );
    }

    #[test]
    fn facts_that_cannot_make_a_cluster_are_refused() {
        assert_eq!(facts().check(), Ok(()));
        let bad = [
            ClusterFacts {
                service_cidr: "10.96.0.0/29".parse().unwrap(),
                ..facts()
            },
            ClusterFacts {
                service_cidr: "10.244.0.0/20".parse().unwrap(),
                ..facts()
            },
            ClusterFacts {
                pod_ipam: PodIpam::Pool("10.96.0.0/12".parse().unwrap()),
                ..facts()
            },
            // No room for a podCIDR and blocks outside it.
            ClusterFacts {
                pod_ipam: PodIpam::Pool("192.168.0.0/24".parse().unwrap()),
                ..facts()
            },
            ClusterFacts {
                cluster_domain: "Not A Domain".into(),
                ..facts()
            },
            ClusterFacts {
                dns_upstream: Some("192.0.2.53:53".parse().unwrap()),
                ..facts()
            },
        ];
        for f in bad {
            assert!(f.check().is_err(), "{f:?}");
        }
        assert!(
            ClusterFacts {
                service_cidr: "10.96.0.0/28".parse().unwrap(),
                ..facts()
            }
            .check()
            .is_ok()
        );
    }

    #[rstest::rstest]
    #[case(1, "10.244.0.0/16")]
    #[case(256, "10.244.0.0/16")]
    #[case(257, "10.128.0.0/15")]
    #[case(1000, "10.128.0.0/14")]
    #[case(5000, "10.128.0.0/11")]
    fn the_pod_subnet_holds_a_24_for_every_node(#[case] nodes: usize, #[case] subnet: &str) {
        let chosen = pod_subnet_for(nodes);
        assert_eq!(chosen.to_string(), subnet);
        assert!(node_pod_cidrs(chosen).count() >= nodes);
    }

    #[test]
    fn pod_cidrs_are_the_pod_subnets_24s_in_order() {
        let cidrs: Vec<String> = node_pod_cidrs("192.168.0.0/16".parse().unwrap())
            .take(3)
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            cidrs,
            ["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"]
        );
        assert_eq!(
            node_pod_cidrs("10.244.0.0/16".parse().unwrap()).count(),
            256
        );
        assert_eq!(node_pod_cidrs("10.0.0.0/25".parse().unwrap()).count(), 0);
    }

    #[test]
    fn only_loopback_upstreams() {
        assert!(check_dns_upstream("127.0.0.1:5353".parse().unwrap()).is_ok());
        assert!(check_dns_upstream("127.1.2.3:53".parse().unwrap()).is_ok());
        assert!(check_dns_upstream("[::1]:53".parse().unwrap()).is_ok());
        assert!(check_dns_upstream("127.0.0.1:0".parse().unwrap()).is_err());
        assert!(check_dns_upstream("10.0.0.1:53".parse().unwrap()).is_err());
        assert!(check_dns_upstream("[2001:db8::1]:53".parse().unwrap()).is_err());
    }

    #[test]
    fn kubeadms_config_maps_name_the_networking() {
        let f = ClusterFacts {
            service_cidr: "10.100.0.0/16".parse().unwrap(),
            cluster_domain: "example.internal".into(),
            ..facts()
        };
        let maps = kubeadm_config_maps(&f);
        assert_eq!(maps[0]["metadata"]["name"], "kubeadm-config");
        let cluster: serde_json::Value =
            serde_saphyr::from_str(maps[0]["data"]["ClusterConfiguration"].as_str().unwrap())
                .unwrap();
        assert_eq!(cluster["apiVersion"], "kubeadm.k8s.io/v1beta4");
        assert_eq!(cluster["kind"], "ClusterConfiguration");
        assert_eq!(
            cluster["networking"],
            json!({"dnsDomain": "example.internal", "podSubnet": "10.244.0.0/16", "serviceSubnet": "10.100.0.0/16"})
        );
        assert_eq!(maps[1]["metadata"]["name"], "kubelet-config");
        let kubelet: serde_json::Value =
            serde_saphyr::from_str(maps[1]["data"]["kubelet"].as_str().unwrap()).unwrap();
        assert_eq!(kubelet["kind"], "KubeletConfiguration");
        assert_eq!(kubelet["clusterDNS"], json!(["10.100.0.10"]));
        assert_eq!(kubelet["clusterDomain"], "example.internal");
    }
}
