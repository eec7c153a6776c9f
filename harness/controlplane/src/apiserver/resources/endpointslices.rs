//! EndpointSlices (what cluster DNS reads for headless Services; stored, as
//! kube-apiserver does, under /registry/endpointslices): validation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

use super::validation::{
    PORT_RANGE_MSG, check_enum, dns1123_label_errors, dns1123_subdomain_errors, duplicate,
    go_quote, int_field, invalid, required, validate_name,
};
use super::{Resource, Strategy};
use crate::apiserver::status::cause;

pub(super) static RESOURCE: Resource = Resource::new(
    "discovery.k8s.io",
    "endpointslices",
    "endpointslice",
    "EndpointSlice",
    true,
    &EndpointSlices,
);

struct EndpointSlices;

impl Strategy for EndpointSlices {
    fn validate(&self, slice: &Value) -> Vec<StatusCause> {
        validate_endpoint_slice(slice)
    }
}

/// EndpointSlice validation, as kube-apiserver's `ValidateEndpointSlice` for what DNS
/// reads: the address type, each endpoint's addresses (of that type, 1 to 100) and
/// hostname, and the ports.
fn validate_endpoint_slice(slice: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_name(slice, &mut causes);
    let address_type = slice.get("addressType").and_then(Value::as_str);
    match address_type {
        None => causes.push(required("addressType", "")),
        Some(_) => check_enum(
            slice.get("addressType"),
            "addressType",
            &["FQDN", "IPv4", "IPv6"],
            &mut causes,
        ),
    }
    let endpoints = slice
        .get("endpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, e) in endpoints.iter().enumerate() {
        let addresses = e
            .get("addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let field = format!("endpoints[{i}].addresses");
        if addresses.is_empty() {
            causes.push(required(&field, "must contain at least 1 address"));
        } else if addresses.len() > 100 {
            causes.push(cause(
                "FieldValueTooMany",
                &field,
                format!("Too many: {}: must have at most 100 items", addresses.len()),
            ));
        }
        for (j, a) in addresses.iter().enumerate() {
            let text = a.as_str().unwrap_or_default();
            let ok = match address_type {
                Some("IPv4") => text.parse::<std::net::Ipv4Addr>().is_ok(),
                Some("IPv6") => text.parse::<std::net::Ipv6Addr>().is_ok(),
                Some("FQDN") => dns1123_subdomain_errors(text).is_empty(),
                _ => true,
            };
            if !ok {
                let detail = match address_type {
                    Some("IPv4") => "must be a valid IPv4 address",
                    Some("IPv6") => "must be a valid IPv6 address",
                    _ => "must be a valid fully qualified domain name",
                };
                causes.push(invalid(&format!("{field}[{j}]"), &go_quote(text), detail));
            }
        }
        if let Some(hostname) = e.get("hostname").and_then(Value::as_str) {
            for err in dns1123_label_errors(hostname) {
                causes.push(invalid(
                    &format!("endpoints[{i}].hostname"),
                    &go_quote(hostname),
                    &err,
                ));
            }
        }
    }
    let ports = slice
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let field = |f: &str| format!("ports[{i}].{f}");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() {
            for e in dns1123_label_errors(name) {
                causes.push(invalid(&field("name"), &go_quote(name), &e));
            }
        }
        if names.contains(&name) {
            causes.push(duplicate(&field("name"), name));
        }
        names.push(name);
        if let Some(Ok(n)) = int_field(p.get("port"))
            && !(1..=65535).contains(&n)
        {
            causes.push(invalid(&field("port"), &n.to_string(), PORT_RANGE_MSG));
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
    use serde_json::json;

    fn fields(causes: &[StatusCause]) -> Vec<String> {
        causes.iter().filter_map(|c| c.field.clone()).collect()
    }

    #[test]
    fn endpoint_slices_are_checked_against_their_address_type() {
        let good = json!({"metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "web-0"}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
        assert_eq!(validate_endpoint_slice(&good), Vec::new());
        let bad = json!({"metadata": {"name": "s"}, "addressType": "IPv6",
            "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "Web_0"}, {"addresses": []}],
            "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81, "protocol": "ICMP"}]});
        assert_eq!(
            fields(&validate_endpoint_slice(&bad)),
            [
                "endpoints[0].addresses[0]",
                "endpoints[0].hostname",
                "endpoints[1].addresses",
                "ports[1].name",
                "ports[1].protocol"
            ]
        );
        let untyped = json!({"metadata": {"name": "s"}});
        assert_eq!(fields(&validate_endpoint_slice(&untyped)), ["addressType"]);
    }
}
