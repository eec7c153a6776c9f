//! Services: validation, defaulting, ClusterIP allocation from the service CIDR, and
//! `kubectl get services` columns.

use std::net::{IpAddr, Ipv4Addr};

use async_trait::async_trait;
use ipnet::Ipv4Net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::validation::{
    PORT_RANGE_MSG, check_enum, dns1123_label_errors, dns1123_subdomain_errors, duplicate,
    go_quote, int_field, invalid, required, validate_name,
};
use super::{Resource, STATUS, Strategy, set_default};
use crate::apiserver::object;
use crate::apiserver::registry::Registry;
use crate::apiserver::status::{ApiError, cause};
use crate::apiserver::table::{AGE, Column, NAME, age, col, or_none, text};

pub(super) static RESOURCE: Resource = Resource {
    short_names: &["svc"],
    categories: &["all"],
    subresources: &[STATUS],
    has_status_subresource: true,
    ..Resource::new("", "services", "service", "Service", true, &Services)
};

struct Services;

#[async_trait]
impl Strategy for Services {
    fn validate(&self, svc: &Value) -> Vec<StatusCause> {
        validate_service(svc)
    }

    /// Allocates the ClusterIP (the one asked for, if free), then defaults and stores the
    /// Service, all under the registry's allocation lock: allocation reads every Service.
    async fn store(
        &self,
        registry: &Registry,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        let _allocating = registry.allocating().await;
        let requested = object::str_at(&obj, "/spec/clusterIP").map(str::to_string);
        let ip = match requested.as_deref() {
            Some("None") => None,
            Some(ip) if !ip.is_empty() => {
                let used = used_cluster_ips(registry).await?;
                if let Err(why) = check_requested(registry.service_cidr, ip, &used) {
                    return Err(ApiError::invalid(
                        r,
                        name,
                        vec![cause(
                            "FieldValueInvalid",
                            "spec.clusterIPs",
                            format!(
                                "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: {why}"
                            ),
                        )],
                    ));
                }
                Some(ip.to_string())
            }
            _ => {
                let used = used_cluster_ips(registry).await?;
                let next = next_free(registry.service_cidr, &used).ok_or_else(|| {
                    ApiError::internal("failed to allocate a serviceIP: range is full")
                })?;
                Some(next.to_string())
            }
        };
        default_service(&mut obj, ip);
        registry.store_new(r, ns, name, &obj).await
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Type", 0, "The type of the service."),
            col("Cluster-IP", 0, "The cluster IP of the service."),
            col("External-IP", 0, "The external IP of the service."),
            col("Port(s)", 0, "The ports of the service."),
            AGE,
            col("Selector", 1, "The label selector of the service."),
        ]
    }

    fn cells(&self, o: &Value, now: Timestamp) -> Vec<Value> {
        let name = text(o, "/metadata/name");
        let created = age(o, "/metadata/creationTimestamp", now);
        let ports: Vec<String> = o
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                        format!("{port}/{proto}")
                    })
                    .collect()
            })
            .unwrap_or_default();
        let selector: Vec<String> = o
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        vec![
            json!(name),
            json!(text(o, "/spec/type")),
            json!(or_none(text(o, "/spec/clusterIP"))),
            json!("<none>"),
            json!(if ports.is_empty() {
                "<none>".into()
            } else {
                ports.join(",")
            }),
            json!(created),
            json!(if selector.is_empty() {
                "<none>".into()
            } else {
                selector.join(",")
            }),
        ]
    }
}

async fn used_cluster_ips(registry: &Registry) -> Result<Vec<String>, ApiError> {
    let listing = registry.store.list("/registry/services/", None).await?;
    Ok(listing
        .items
        .iter()
        .filter_map(|kv| {
            let svc = object::decode(kv);
            object::str_at(&svc, "/spec/clusterIP").map(str::to_string)
        })
        .collect())
}

/// The lowest address of the range no Service holds, between the network and the
/// broadcast address (the `kubernetes` Service holds the first, kube-dns the tenth).
fn next_free(cidr: Ipv4Net, used: &[String]) -> Option<Ipv4Addr> {
    cidr.hosts()
        .find(|ip| !used.iter().any(|u| *u == ip.to_string()))
}

/// Why `ip` cannot be given to a Service, in kube-apiserver 1.33's words: an address outside
/// every Service CIDR gets the MultiCIDRServiceAllocator's `ErrMismatchedNetwork` (the
/// bitmap allocator of ≤ 1.32 said `the provided IP (IP) is not in the valid range. The range
/// of valid IPs is CIDR`, which 1.33 still says of the network and broadcast addresses);
/// pkg/registry/core/service/ipallocator.
fn check_requested(cidr: Ipv4Net, ip: &str, used: &[String]) -> Result<(), String> {
    let Ok(parsed) = ip.parse::<IpAddr>() else {
        // Validation has refused it already.
        return Ok(());
    };
    if !crate::cluster::in_service_range(cidr, parsed) {
        return Err("the provided network does not match the current range".into());
    }
    if parsed == IpAddr::V4(cidr.network()) || parsed == IpAddr::V4(cidr.broadcast()) {
        return Err(format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
        ));
    }
    if used.iter().any(|u| u == ip) {
        return Err("provided IP is already allocated".into());
    }
    Ok(())
}

/// Service defaulting, with the ClusterIP already chosen (None for headless; ignored for
/// ExternalName Services, which have none).
fn default_service(svc: &mut Value, cluster_ip: Option<String>) {
    if !svc.get("spec").is_some_and(Value::is_object) {
        svc["spec"] = json!({});
    }
    let spec = &mut svc["spec"];
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if external {
        // An ExternalName Service is only a DNS alias: no ClusterIP, no traffic policy.
        if let Some(spec) = spec.as_object_mut() {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
        }
    } else {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if headless && !external {
        spec["clusterIPs"] = json!(["None"]);
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if let Some(ip) = cluster_ip.filter(|_| !external) {
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            set_default(p, "targetPort", port);
        }
    }
    svc["status"] = json!({"loadBalancer": {}});
}

/// Service validation, as kube-apiserver's `ValidateService` for what DNS and clients read:
/// the type, an ExternalName's name, the ClusterIP, and the ports (each named when there
/// are several, names unique DNS-1123 labels, numbers in range, known protocols).
fn validate_service(svc: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(svc, &mut causes);
    let spec = svc.get("spec").cloned().unwrap_or_else(|| json!({}));
    check_enum(
        spec.get("type"),
        "spec.type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        &mut causes,
    );
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    let cluster_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    if external {
        match spec.get("externalName").and_then(Value::as_str) {
            None | Some("") => causes.push(required("spec.externalName", "")),
            Some(name) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                for e in dns1123_subdomain_errors(name) {
                    causes.push(invalid("spec.externalName", &go_quote(name), &e));
                }
            }
        }
    } else if !cluster_ip.is_empty()
        && cluster_ip != "None"
        && cluster_ip.parse::<std::net::IpAddr>().is_err()
    {
        causes.push(invalid(
            "spec.clusterIPs[0]",
            &go_quote(cluster_ip),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() && !external && cluster_ip != "None" {
        causes.push(required("spec.ports", ""));
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let field = |f: &str| format!("spec.ports[{i}].{f}");
        match p.get("name").and_then(Value::as_str).unwrap_or("") {
            "" if ports.len() > 1 => causes.push(required(&field("name"), "")),
            "" => {}
            name => {
                for e in dns1123_label_errors(name) {
                    causes.push(invalid(&field("name"), &go_quote(name), &e));
                }
                if names.contains(&name) {
                    causes.push(duplicate(&field("name"), name));
                }
                names.push(name);
            }
        }
        match int_field(p.get("port")) {
            None => causes.push(invalid(&field("port"), "0", PORT_RANGE_MSG)),
            Some(Ok(n)) if !(1..=65535).contains(&n) => {
                causes.push(invalid(&field("port"), &n.to_string(), PORT_RANGE_MSG))
            }
            Some(Err(shown)) => causes.push(invalid(&field("port"), &shown, PORT_RANGE_MSG)),
            Some(Ok(_)) => {}
        }
        check_enum(
            p.get("protocol"),
            &field("protocol"),
            &["SCTP", "TCP", "UDP"],
            &mut causes,
        );
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fields(causes: &[StatusCause]) -> Vec<String> {
        causes.iter().filter_map(|c| c.field.clone()).collect()
    }

    #[rstest]
    #[case::cluster_ip(json!({"ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}))]
    #[case::one_unnamed_port(json!({"ports": [{"port": 80}]}))]
    #[case::headless_without_ports(json!({"clusterIP": "None"}))]
    #[case::external_name(json!({"type": "ExternalName", "externalName": "www.example.com"}))]
    #[case::external_name_fqdn(json!({"type": "ExternalName", "externalName": "www.example.com."}))]
    #[case::node_port(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}))]
    fn services_kubernetes_accepts(#[case] spec: Value) {
        let svc = json!({"metadata": {"name": "web"}, "spec": spec});
        assert_eq!(validate_service(&svc), Vec::new());
    }

    #[rstest]
    #[case::no_ports(json!({}), &["spec.ports"])]
    #[case::unnamed_of_two(json!({"ports": [{"name": "a", "port": 80}, {"port": 81}]}), &["spec.ports[1].name"])]
    #[case::duplicate_names(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}), &["spec.ports[1].name"])]
    #[case::bad_name(json!({"ports": [{"name": "Http", "port": 80}]}), &["spec.ports[0].name"])]
    #[case::port_range(json!({"ports": [{"name": "a", "port": 70000}]}), &["spec.ports[0].port"])]
    #[case::protocol(json!({"ports": [{"name": "a", "port": 80, "protocol": "ICMP"}]}), &["spec.ports[0].protocol"])]
    #[case::type_(json!({"type": "Magic", "ports": [{"port": 80}]}), &["spec.type"])]
    #[case::external_without_name(json!({"type": "ExternalName"}), &["spec.externalName"])]
    #[case::external_bad_name(json!({"type": "ExternalName", "externalName": "Not_A_Name"}), &["spec.externalName"])]
    #[case::cluster_ip(json!({"clusterIP": "10.96.0.300", "ports": [{"port": 80}]}), &["spec.clusterIPs[0]"])]
    fn invalid_services_name_the_field(#[case] spec: Value, #[case] expected: &[&str]) {
        let svc = json!({"metadata": {"name": "web"}, "spec": spec});
        assert_eq!(fields(&validate_service(&svc)), expected);
    }

    #[test]
    fn cluster_ips_come_from_the_configured_range() {
        let cidr: Ipv4Net = "10.100.0.0/16".parse().unwrap();
        let used = vec!["10.100.0.1".to_string(), "10.100.0.10".to_string()];
        assert_eq!(next_free(cidr, &used), Some(Ipv4Addr::new(10, 100, 0, 2)));
        let used: Vec<String> = (1..=13).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            next_free("10.0.0.0/28".parse().unwrap(), &used),
            Some(Ipv4Addr::new(10, 0, 0, 14))
        );
        let used: Vec<String> = (1..=14).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            next_free("10.0.0.0/28".parse().unwrap(), &used),
            None,
            "the broadcast address is nobody's"
        );
    }

    #[test]
    fn requested_ips_outside_the_range_are_refused_as_kube_apiserver_refuses_them() {
        let cidr: Ipv4Net = "10.100.0.0/16".parse().unwrap();
        let used = vec!["10.100.0.10".to_string()];
        assert_eq!(
            check_requested(cidr, "10.96.100.10", &used),
            Err("the provided network does not match the current range".into())
        );
        assert_eq!(
            check_requested(cidr, "10.100.255.255", &used),
            Err("the provided IP (10.100.255.255) is not in the valid range. The range of valid IPs is 10.100.0.0/16".into())
        );
        assert_eq!(
            check_requested(cidr, "10.100.0.10", &used),
            Err("provided IP is already allocated".into())
        );
        assert_eq!(check_requested(cidr, "10.100.7.7", &used), Ok(()));
        assert!(check_requested(cidr, "fd00::10", &used).is_err());
    }

    #[test]
    fn headless_and_external_services_get_no_cluster_ip() {
        let mut headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        default_service(&mut headless, None);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(headless["spec"]["type"], "ClusterIP");
        let mut external = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
        default_service(&mut external, Some("10.96.0.7".into()));
        assert!(external["spec"].get("clusterIP").is_none());
        assert!(external["spec"].get("clusterIPs").is_none());
        let mut plain =
            json!({"metadata": {"name": "p"}, "spec": {"ports": [{"name": "http", "port": 80}]}});
        default_service(&mut plain, Some("10.96.0.8".into()));
        assert_eq!(plain["spec"]["clusterIP"], "10.96.0.8");
        assert_eq!(plain["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(plain["spec"]["ports"][0]["targetPort"], 80);
    }
}
