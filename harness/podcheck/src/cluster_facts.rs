//! Facts of a cluster that differ from cluster to cluster, read through the API once per
//! target: never assumed (see REAL-CLUSTERS.md). Reads that fail leave a fact unknown; the
//! verdicts then say what they could not check.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use podcheck_core::pod_network::{PodNetwork, kubeadm_pod_subnets};

/// The pod networks the cluster declares: kubeadm's `podSubnet` (kind and kubeadm clusters
/// keep it in `kube-system/kubeadm-config`) and Calico's enabled IPPools, where Calico's
/// API is served.
pub async fn pod_networks(admin: &kube::Client) -> Vec<PodNetwork> {
    let mut networks = Vec::new();
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-system");
    if let Ok(Some(cm)) = config_maps.get_opt("kubeadm-config").await
        && let Some(config) = cm.data.as_ref().and_then(|d| d.get("ClusterConfiguration"))
    {
        networks.extend(
            kubeadm_pod_subnets(config)
                .into_iter()
                .map(|cidr| PodNetwork {
                    cidr,
                    source: "kube-system/kubeadm-config podSubnet".into(),
                }),
        );
    }
    let ippools = ApiResource {
        group: "crd.projectcalico.org".into(),
        version: "v1".into(),
        api_version: "crd.projectcalico.org/v1".into(),
        kind: "IPPool".into(),
        plural: "ippools".into(),
    };
    let pools: Api<DynamicObject> = Api::all_with(admin.clone(), &ippools);
    if let Ok(list) = pools.list(&ListParams::default().limit(100)).await {
        for pool in list.items {
            let spec = &pool.data["spec"];
            if spec["disabled"].as_bool() == Some(true) {
                continue;
            }
            if let Some(cidr) = spec["cidr"].as_str().and_then(|c| c.parse().ok()) {
                networks.push(PodNetwork {
                    cidr,
                    source: format!(
                        "Calico IPPool {}",
                        pool.metadata.name.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
    }
    networks
}
