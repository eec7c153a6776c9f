//! The DNS configuration the kubelet gives a pod, computed as kubelet's `GetPodDNS` does.

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::DnsConfig;

/// The kubelet's cluster DNS settings (`--cluster-dns`, `--cluster-domain`, `--resolv-conf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDnsSettings {
    pub servers: Vec<String>,
    pub domain: String,
    /// The host's resolver, for `dnsPolicy: Default`.
    pub host: DnsConfig,
}

/// Kubernetes limits the search path to 32 domains.
const MAX_SEARCHES: usize = 32;

pub fn pod_dns(pod: &Pod, cluster: &ClusterDnsSettings) -> DnsConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let host_network = spec.host_network.unwrap_or(false);
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster_first = || DnsConfig {
        servers: cluster.servers.clone(),
        searches: vec![
            format!("{ns}.svc.{}", cluster.domain),
            format!("svc.{}", cluster.domain),
            cluster.domain.clone(),
        ],
        options: vec!["ndots:5".into()],
    };
    let mut config = match policy {
        "ClusterFirstWithHostNet" => cluster_first(),
        "ClusterFirst" if !host_network => cluster_first(),
        "None" => DnsConfig::default(),
        _ => cluster.host.clone(),
    };
    if let Some(extra) = spec.dns_config {
        for s in extra.nameservers.unwrap_or_default() {
            if !config.servers.contains(&s) {
                config.servers.push(s);
            }
        }
        for s in extra.searches.unwrap_or_default() {
            if !config.searches.contains(&s) {
                config.searches.push(s);
            }
        }
        for o in extra.options.unwrap_or_default() {
            let rendered = match o.value {
                Some(v) => format!("{}:{v}", o.name.clone().unwrap_or_default()),
                None => o.name.clone().unwrap_or_default(),
            };
            let name = o.name.unwrap_or_default();
            config
                .options
                .retain(|x| x.split(':').next() != Some(name.as_str()));
            config.options.push(rendered);
        }
    }
    config.searches.truncate(MAX_SEARCHES);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use podcheck_core::resolv::ResolvConf;
    use rstest::rstest;
    use serde_json::json;

    fn settings() -> ClusterDnsSettings {
        ClusterDnsSettings {
            servers: vec!["10.96.0.10".into()],
            domain: "cluster.local".into(),
            host: ResolvConf::parse("nameserver 192.0.2.53\nsearch example.org\n").into(),
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "team"}, "spec": spec}),
        )
        .unwrap()
    }

    #[rstest]
    #[case(json!({"containers": []}), "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")]
    #[case(json!({"containers": [], "dnsPolicy": "Default"}), "search example.org\nnameserver 192.0.2.53\n")]
    #[case(json!({"containers": [], "hostNetwork": true}), "search example.org\nnameserver 192.0.2.53\n")]
    #[case(json!({"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}), "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")]
    #[case(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["a.b"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}), "search a.b\nnameserver 1.2.3.4\noptions ndots:2 edns0\n")]
    #[case(json!({"containers": [], "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]}}), "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:1\n")]
    fn policies(#[case] spec: serde_json::Value, #[case] resolv: &str) {
        assert_eq!(pod_dns(&pod(spec), &settings()).resolv_conf(), resolv);
    }
}
