//! The DNS configuration the kubelet gives a pod, computed as kubelet's `GetPodDNS` does.

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::DnsConfig;

/// The kubelet's cluster DNS settings (`--cluster-dns`, `--cluster-domain`, `--resolv-conf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDnsSettings {
    pub servers: Vec<String>,
    pub domain: String,
    /// The host's resolver (`--resolv-conf`): `dnsPolicy: Default` pods get it, and its
    /// search domains follow the cluster's for `ClusterFirst` ones where
    /// `append_host_search` says so.
    pub host: DnsConfig,
    /// Whether `ClusterFirst` pods' search path ends with the host's search domains, as a
    /// real kubelet's does (`generateSearchesForDNSClusterFirst`); podcheck's quick profile
    /// leaves them out so that a pod's lookups never depend on the machine.
    pub append_host_search: bool,
}

/// `MaxDNSNameservers`, `MaxDNSSearchPaths` and `MaxDNSSearchListChars` of
/// pkg/apis/core/validation (the expanded limits, GA since 1.28), and DNS-1123's 253.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_LINE_CHARS: usize = 2048;
const MAX_SEARCH_CHARS: usize = 253;

/// The pod's DNS configuration, as kubelet's `GetPodDNS` computes it, and the warning its
/// `DNSConfigForming` event carries when limits cut the configuration short.
pub fn pod_dns(pod: &Pod, cluster: &ClusterDnsSettings) -> (DnsConfig, Option<String>) {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let host_network = spec.host_network.unwrap_or(false);
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster_first = || {
        let mut searches = vec![
            format!("{ns}.svc.{}", cluster.domain),
            format!("svc.{}", cluster.domain),
            cluster.domain.clone(),
        ];
        if cluster.append_host_search {
            // The kubelet's resolv.conf parser drops a trailing dot.
            searches.extend(
                cluster
                    .host
                    .searches
                    .iter()
                    .map(|s| s.strip_suffix('.').unwrap_or(s).to_string()),
            );
        }
        DnsConfig {
            servers: cluster.servers.clone(),
            searches: without_duplicates(searches),
            options: vec!["ndots:5".into()],
        }
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
    let warning = fit_limits(&mut config);
    (config, warning)
}

fn without_duplicates(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in list {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// kubelet's `formDNSConfigFitsLimits`: at most 3 nameservers; at most 32 search domains,
/// none longer than 253 characters, the search line at most 2048 (domains are cut from its
/// end). The warning is the kubelet's, when something was cut.
fn fit_limits(config: &mut DnsConfig) -> Option<String> {
    let mut warnings = Vec::new();
    if config.servers.len() > MAX_NAMESERVERS {
        config.servers.truncate(MAX_NAMESERVERS);
        warnings.push(format!(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
            config.servers.join(" ")
        ));
    }
    let before = config.searches.clone();
    config.searches.truncate(MAX_SEARCHES);
    config.searches.retain(|s| s.len() <= MAX_SEARCH_CHARS);
    while config.searches.join(" ").len() > MAX_SEARCH_LINE_CHARS {
        config.searches.pop();
    }
    if config.searches != before {
        warnings.push(format!(
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
            config.searches.join(" ")
        ));
    }
    (!warnings.is_empty()).then(|| warnings.join("; "))
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
            append_host_search: false,
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
        let (config, warning) = pod_dns(&pod(spec), &settings());
        assert_eq!(config.resolv_conf(), resolv);
        assert_eq!(warning, None);
    }

    fn with_host_search(search: &str) -> ClusterDnsSettings {
        ClusterDnsSettings {
            host: ResolvConf::parse(&format!("nameserver 192.0.2.53\nsearch {search}\n")).into(),
            append_host_search: true,
            ..settings()
        }
    }

    #[test]
    fn cluster_first_pods_search_the_hosts_domains_after_the_clusters() {
        let cluster = with_host_search("corp.example. example.org cluster.local");
        let (config, warning) = pod_dns(&pod(json!({"containers": []})), &cluster);
        assert_eq!(
            config.searches,
            [
                "team.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example",
                "example.org"
            ],
            "trailing dots dropped, duplicates once"
        );
        assert_eq!(warning, None);
        let (host, _) = pod_dns(
            &pod(json!({"containers": [], "dnsPolicy": "Default"})),
            &cluster,
        );
        assert_eq!(host.servers, ["192.0.2.53"]);
    }

    #[test]
    fn search_domains_are_cut_to_thirty_two() {
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let (config, warning) = pod_dns(
            &pod(json!({"containers": []})),
            &with_host_search(&many.join(" ")),
        );
        assert_eq!(config.searches.len(), 32);
        assert_eq!(config.searches[31], "d28.example");
        let warning = warning.unwrap();
        assert!(
            warning.starts_with("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: team.svc.cluster.local svc.cluster.local cluster.local d0.example"),
            "{warning}"
        );
    }

    #[test]
    fn the_search_line_is_cut_to_2048_characters_from_its_end() {
        // 20 domains of 100 characters: 3 cluster ones + 20 would make 2000 + ~80 + spaces.
        let long: Vec<String> = (0..20)
            .map(|i| format!("{i:02}{}.example", "x".repeat(90)))
            .collect();
        let (config, warning) = pod_dns(
            &pod(json!({"containers": []})),
            &with_host_search(&long.join(" ")),
        );
        let line = config.searches.join(" ");
        assert!(line.len() <= 2048, "{}", line.len());
        assert_eq!(config.searches.len(), 3 + 19);
        assert!(warning.is_some());
        let too_long = format!("{}.example", "y".repeat(250));
        let (config, _) = pod_dns(
            &pod(json!({"containers": []})),
            &with_host_search(&format!("{too_long} ok.example")),
        );
        assert_eq!(
            config.searches.last().map(String::as_str),
            Some("ok.example")
        );
    }

    #[test]
    fn at_most_three_nameservers() {
        let spec = json!({"containers": [], "dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}});
        let (config, warning) = pod_dns(&pod(spec), &settings());
        assert_eq!(config.servers, ["10.96.0.10", "1.1.1.1", "2.2.2.2"]);
        assert!(
            warning
                .unwrap()
                .starts_with("Nameserver limits were exceeded")
        );
    }
}
