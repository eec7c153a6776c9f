//! What the CNI specification (1.0.0, 1.1.0) says, as pure functions: the per-plugin config
//! a runtime derives from a conflist, a valid result per cniVersion, a valid error, a valid
//! VERSION answer; and whether what `ip -j` shows of a namespace holds what a result
//! claims. No I/O here.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use podcheck_host::ip::{Interface, Route};
use serde_json::{Map, Value};

/// Error codes the spec assigns (1–7, 11; 50 and 51 from 1.1.0 on, for STATUS).
pub fn code_allowed(code: u64, version: &str) -> bool {
    match code {
        1..=7 | 11 => true,
        50 | 51 => version_at_least(version, "1.1.0"),
        // 1–99 are reserved to the spec; plugins may use 100 and up.
        c => c >= 100,
    }
}

/// What the spec calls a well-known error code, in words.
pub fn code_meaning(code: u64) -> &'static str {
    match code {
        1 => "incompatible CNI version",
        2 => "unsupported field in network configuration",
        3 => "container unknown or does not exist",
        4 => "invalid necessary environment variables",
        5 => "I/O failure",
        6 => "failed to decode content",
        7 => "invalid network config",
        11 => "try again later",
        50 => "the plugin is not available",
        51 => "the plugin is not available, and existing containers may be damaged",
        c if c >= 100 => "plugin-specific",
        _ => "reserved by the spec, not assigned",
    }
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Whether spec version `v` is `min` or later.
pub fn version_at_least(v: &str, min: &str) -> bool {
    version_key(v) >= version_key(min)
}

/// The config one plugin of a conflist gets on stdin: its own object, with the network's
/// `name` and `cniVersion` and (for all but the first ADD) `prevResult` injected, as the
/// spec's section on network configuration lists says.
pub fn plugin_config(
    conflist: &Value,
    index: usize,
    cni_version: &str,
    prev_result: Option<&Value>,
) -> Value {
    let mut plugin = conflist
        .get("plugins")
        .and_then(|p| p.get(index))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    plugin.insert("cniVersion".into(), Value::from(cni_version));
    if let Some(name) = conflist.get("name") {
        plugin.insert("name".into(), name.clone());
    }
    match prev_result {
        Some(prev) => {
            plugin.insert("prevResult".into(), prev.clone());
        }
        None => {
            plugin.remove("prevResult");
        }
    }
    Value::Object(plugin)
}

/// A CNI error (spec: "Error" result type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u64,
    pub msg: String,
    pub details: String,
}

/// Parses a plugin's stdout as a CNI error: an object with a numeric `code` and a string
/// `msg` (`details` optional).
pub fn parse_error(stdout: &str) -> Result<CniError, String> {
    let value: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("the error output is not JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("the error output is not a JSON object")?;
    let code = obj
        .get("code")
        .ok_or("the error has no `code`")?
        .as_u64()
        .ok_or("the error's `code` is not an unsigned integer")?;
    let msg = obj
        .get("msg")
        .ok_or("the error has no `msg`")?
        .as_str()
        .ok_or("the error's `msg` is not a string")?
        .to_string();
    let details = match obj.get("details") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("the error's `details` is not a string".into()),
    };
    Ok(CniError { code, msg, details })
}

/// A VERSION answer: its `cniVersion` and `supportedVersions`.
pub fn parse_version(stdout: &str) -> Result<(String, Vec<String>), String> {
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let version = value
        .get("cniVersion")
        .and_then(Value::as_str)
        .ok_or("no string `cniVersion`")?
        .to_string();
    let supported = value
        .get("supportedVersions")
        .and_then(Value::as_array)
        .ok_or("no `supportedVersions` list")?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or("`supportedVersions` holds something that is not a string")?;
    if !supported.contains(&version) {
        return Err(format!(
            "its cniVersion {version} is not among its supportedVersions"
        ));
    }
    Ok((version, supported))
}

/// An interface a result claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultInterface {
    pub name: String,
    pub mac: Option<String>,
    /// The namespace path; `None` for the host's.
    pub sandbox: Option<String>,
}

/// An address a result claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultIp {
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    pub interface: Option<usize>,
}

/// A route a result claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRoute {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
}

/// A result, as far as podcheck checks it against the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniResult {
    pub interfaces: Vec<ResultInterface>,
    pub ips: Vec<ResultIp>,
    pub routes: Vec<ResultRoute>,
}

fn keys_known(
    obj: &Map<String, Value>,
    known: &[&str],
    newer: &[(&str, &str)],
    version: &str,
    what: &str,
    problems: &mut Vec<String>,
) {
    for key in obj.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        match newer.iter().find(|(k, _)| k == key) {
            Some((_, since)) if version_at_least(version, since) => {}
            Some((_, since)) => problems.push(format!(
                "{what} has `{key}`, a field of spec {since}, in a {version} result"
            )),
            None => problems.push(format!(
                "{what} has `{key}`, which spec {version} does not define"
            )),
        }
    }
}

fn ip_of(v: &Value, what: &str, problems: &mut Vec<String>) -> Option<IpAddr> {
    match v.as_str().map(str::parse::<IpAddr>) {
        Some(Ok(ip)) => Some(ip),
        _ => {
            problems.push(format!("{what} is not an IP address: {v}"));
            None
        }
    }
}

fn net_of(v: &Value, what: &str, problems: &mut Vec<String>) -> Option<IpNet> {
    match v.as_str().map(str::parse::<IpNet>) {
        Some(Ok(n)) => Some(n),
        _ => {
            problems.push(format!("{what} is not in CIDR notation: {v}"));
            None
        }
    }
}

/// Checks an ADD result (stdout) against the spec of `version` (1.0.0 or 1.1.0): the same
/// `cniVersion`; `interfaces` with names; `ips` with CIDR addresses, IP gateways and
/// interface indexes that exist; `routes` with CIDR `dst`; `dns` with string lists; no
/// fields the version does not define. Returns what it claims, or every problem found.
pub fn validate_result(stdout: &str, version: &str) -> Result<CniResult, Vec<String>> {
    let mut problems = Vec::new();
    let value: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("the result is not JSON: {e}")]),
    };
    let Some(obj) = value.as_object() else {
        return Err(vec!["the result is not a JSON object".into()]);
    };
    keys_known(
        obj,
        &["cniVersion", "interfaces", "ips", "routes", "dns"],
        &[],
        version,
        "the result",
        &mut problems,
    );
    match obj.get("cniVersion").and_then(Value::as_str) {
        Some(v) if v == version => {}
        Some(v) => problems.push(format!(
            "the result's cniVersion is {v}, the config's is {version}"
        )),
        None => problems.push("the result has no string `cniVersion`".into()),
    }
    let mut result = CniResult::default();
    let list = |key: &str, problems: &mut Vec<String>| -> Vec<Value> {
        match obj.get(key) {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                problems.push(format!("`{key}` is not a list: {other}"));
                Vec::new()
            }
        }
    };
    for (i, iface) in list("interfaces", &mut problems).iter().enumerate() {
        let what = format!("interfaces[{i}]");
        let Some(o) = iface.as_object() else {
            problems.push(format!("{what} is not an object"));
            continue;
        };
        keys_known(
            o,
            &["name", "mac", "sandbox"],
            &[
                ("mtu", "1.1.0"),
                ("socketPath", "1.1.0"),
                ("pciID", "1.1.0"),
            ],
            version,
            &what,
            &mut problems,
        );
        let Some(name) = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            problems.push(format!("{what} has no `name`"));
            continue;
        };
        let text = |k: &str, problems: &mut Vec<String>| match o.get(k) {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                problems.push(format!("{what}.{k} is not a string: {other}"));
                None
            }
        };
        let mac = text("mac", &mut problems);
        let sandbox = text("sandbox", &mut problems);
        result.interfaces.push(ResultInterface {
            name: name.to_string(),
            mac,
            sandbox,
        });
    }
    for (i, ip) in list("ips", &mut problems).iter().enumerate() {
        let what = format!("ips[{i}]");
        let Some(o) = ip.as_object() else {
            problems.push(format!("{what} is not an object"));
            continue;
        };
        // `version` ("4"/"6") was dropped in 1.0.0.
        keys_known(
            o,
            &["address", "gateway", "interface"],
            &[],
            version,
            &what,
            &mut problems,
        );
        let address = match o.get("address") {
            Some(a) => net_of(a, &format!("{what}.address"), &mut problems),
            None => {
                problems.push(format!("{what} has no `address`"));
                None
            }
        };
        let gateway = o
            .get("gateway")
            .and_then(|g| ip_of(g, &format!("{what}.gateway"), &mut problems));
        let interface = match o.get("interface") {
            None => None,
            Some(v) => match v.as_u64().map(|n| n as usize) {
                Some(n) if n < result.interfaces.len() => Some(n),
                Some(n) => {
                    problems.push(format!(
                        "{what}.interface is {n}, but the result lists {} interfaces",
                        result.interfaces.len()
                    ));
                    None
                }
                None => {
                    problems.push(format!("{what}.interface is not an index: {v}"));
                    None
                }
            },
        };
        if let Some(address) = address {
            result.ips.push(ResultIp {
                address,
                gateway,
                interface,
            });
        }
    }
    for (i, route) in list("routes", &mut problems).iter().enumerate() {
        let what = format!("routes[{i}]");
        let Some(o) = route.as_object() else {
            problems.push(format!("{what} is not an object"));
            continue;
        };
        keys_known(
            o,
            &["dst", "gw"],
            &[
                ("mtu", "1.1.0"),
                ("advmss", "1.1.0"),
                ("priority", "1.1.0"),
                ("table", "1.1.0"),
                ("scope", "1.1.0"),
            ],
            version,
            &what,
            &mut problems,
        );
        let dst = match o.get("dst") {
            Some(d) => net_of(d, &format!("{what}.dst"), &mut problems),
            None => {
                problems.push(format!("{what} has no `dst`"));
                None
            }
        };
        let gw = o
            .get("gw")
            .and_then(|g| ip_of(g, &format!("{what}.gw"), &mut problems));
        if let Some(dst) = dst {
            result.routes.push(ResultRoute { dst, gw });
        }
    }
    if let Some(dns) = obj.get("dns") {
        match dns.as_object() {
            None => problems.push(format!("`dns` is not an object: {dns}")),
            Some(o) => {
                keys_known(
                    o,
                    &["nameservers", "domain", "search", "options"],
                    &[],
                    version,
                    "dns",
                    &mut problems,
                );
                for k in ["nameservers", "search", "options"] {
                    if let Some(v) = o.get(k)
                        && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                    {
                        problems.push(format!("dns.{k} is not a list of strings: {v}"));
                    }
                }
                if let Some(v) = o.get("domain")
                    && !v.is_string()
                {
                    problems.push(format!("dns.domain is not a string: {v}"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(result)
    } else {
        Err(problems)
    }
}

/// The claimed routes the namespace does not hold: same destination (`0.0.0.0/0` is
/// `default`), and the same gateway where the result names one.
pub fn missing_routes(claimed: &[ResultRoute], held: &[Route]) -> Vec<String> {
    claimed
        .iter()
        .filter(|c| {
            let dst = c.dst.trunc();
            let want = (dst.prefix_len() != 0).then_some(dst);
            !held
                .iter()
                .any(|h| h.dst == want && c.gw.is_none_or(|gw| h.gateway == Some(gw)))
        })
        .map(|c| match c.gw {
            Some(gw) => format!("{} via {gw}", c.dst),
            None => c.dst.to_string(),
        })
        .collect()
}

/// The claimed addresses the namespace does not hold: each on its interface where the
/// result names one in the namespace, else on any interface of the namespace.
pub fn missing_addresses(result: &CniResult, held: &[Interface]) -> Vec<String> {
    let mut missing = Vec::new();
    for ip in &result.ips {
        let iface = ip
            .interface
            .and_then(|i| result.interfaces.get(i))
            .filter(|i| i.sandbox.is_some());
        let found = match iface {
            Some(iface) => held
                .iter()
                .any(|h| h.name == iface.name && h.addresses.contains(&ip.address)),
            None => held.iter().any(|h| h.addresses.contains(&ip.address)),
        };
        if !found {
            missing.push(match iface {
                Some(i) => format!("{} on {}", ip.address, i.name),
                None => format!("{} (on no interface named by the result)", ip.address),
            });
        }
    }
    missing
}

/// The claimed sandbox interfaces the namespace does not hold (by name, and MAC where
/// claimed).
pub fn missing_interfaces(result: &CniResult, held: &[Interface]) -> Vec<String> {
    result
        .interfaces
        .iter()
        .filter(|i| i.sandbox.is_some())
        .filter(|i| {
            !held.iter().any(|h| {
                h.name == i.name
                    && i.mac
                        .as_ref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(&h.mac))
            })
        })
        .map(|i| match &i.mac {
            Some(m) => format!("{} ({m})", i.name),
            None => i.name.clone(),
        })
        .collect()
}

/// The addresses that occur more than once.
pub fn duplicates(addresses: &[IpAddr]) -> Vec<IpAddr> {
    let mut seen = BTreeSet::new();
    let mut dup = BTreeSet::new();
    for a in addresses {
        if !seen.insert(*a) {
            dup.insert(*a);
        }
    }
    dup.into_iter().collect()
}

/// At most `max` bytes of `s` (on a character boundary), marked when cut.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// One line of JSON (plugins pretty-print their output).
pub fn compact(s: &str) -> String {
    match serde_json::from_str::<Value>(s.trim()) {
        Ok(v) => v.to_string(),
        Err(_) => s.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podcheck_host::ip;
    use podcheck_node::network;
    use rstest::rstest;
    use serde_json::json;

    const BRIDGE_RESULT: &str = r#"{
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "pcbr3", "mac": "aa:bb:cc:00:00:01"},
            {"name": "veth1234", "mac": "aa:bb:cc:00:00:02"},
            {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "sandbox": "/run/netns/x"}
        ],
        "ips": [{"interface": 2, "address": "10.244.3.2/24", "gateway": "10.244.3.1"}],
        "routes": [{"dst": "10.96.0.0/12", "gw": "10.244.3.1"}],
        "dns": {}
    }"#;

    #[test]
    fn a_bridge_result_is_valid_for_1_0_0_and_read() {
        let r = validate_result(BRIDGE_RESULT, "1.0.0").unwrap();
        assert_eq!(r.interfaces.len(), 3);
        assert_eq!(r.interfaces[2].sandbox.as_deref(), Some("/run/netns/x"));
        assert_eq!(r.ips[0].address, "10.244.3.2/24".parse::<IpNet>().unwrap());
        assert_eq!(r.ips[0].interface, Some(2));
        assert_eq!(r.routes[0].gw, Some("10.244.3.1".parse().unwrap()));
    }

    #[rstest]
    #[case::version_mismatch(r#"{"cniVersion":"0.4.0"}"#, "1.0.0", "the config's is 1.0.0")]
    #[case::no_version(r#"{}"#, "1.0.0", "no string `cniVersion`")]
    #[case::old_ip_version(
        r#"{"cniVersion":"1.0.0","ips":[{"version":"4","address":"10.0.0.2/24"}]}"#,
        "1.0.0",
        "ips[0] has `version`"
    )]
    #[case::bare_address(
        r#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2"}]}"#,
        "1.0.0",
        "not in CIDR notation"
    )]
    #[case::bad_index(
        r#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24","interface":1}]}"#,
        "1.0.0",
        "lists 0 interfaces"
    )]
    #[case::no_name(
        r#"{"cniVersion":"1.0.0","interfaces":[{"mac":"x"}]}"#,
        "1.0.0",
        "has no `name`"
    )]
    #[case::mtu_in_1_0(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mtu":1500}]}"#,
        "1.0.0",
        "a field of spec 1.1.0"
    )]
    #[case::route_without_dst(
        r#"{"cniVersion":"1.1.0","routes":[{"gw":"10.0.0.1"}]}"#,
        "1.1.0",
        "has no `dst`"
    )]
    #[case::dns_not_strings(
        r#"{"cniVersion":"1.0.0","dns":{"nameservers":[1]}}"#,
        "1.0.0",
        "dns.nameservers"
    )]
    #[case::not_json("{", "1.0.0", "not JSON")]
    fn invalid_results_are_named(#[case] out: &str, #[case] version: &str, #[case] want: &str) {
        let problems = validate_result(out, version).unwrap_err();
        assert!(problems.iter().any(|p| p.contains(want)), "{problems:?}");
    }

    #[test]
    fn fields_of_1_1_0_are_valid_in_1_1_0() {
        let out = r#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mtu":1500,"sandbox":"/x"}],
            "routes":[{"dst":"0.0.0.0/0","priority":10,"table":100,"scope":0}]}"#;
        let r = validate_result(out, "1.1.0").unwrap();
        assert_eq!(r.routes.len(), 1);
    }

    #[test]
    fn errors_parse_and_codes_follow_the_spec() {
        let e = parse_error(
            "{\n \"code\": 1,\n \"msg\": \"incompatible CNI versions\",\n \"details\": \"x\"\n}",
        )
        .unwrap();
        assert_eq!(
            (e.code, e.msg.as_str(), e.details.as_str()),
            (1, "incompatible CNI versions", "x")
        );
        assert!(parse_error(r#"{"code":"1","msg":"x"}"#).is_err());
        assert!(parse_error(r#"{"code":1}"#).is_err());
        assert!(parse_error("plugin panicked").is_err());
        assert!(
            code_allowed(7, "1.0.0") && code_allowed(999, "1.0.0") && code_allowed(11, "1.0.0")
        );
        assert!(!code_allowed(8, "1.0.0") && !code_allowed(0, "1.0.0"));
        assert!(!code_allowed(50, "1.0.0") && code_allowed(50, "1.1.0"));
    }

    #[test]
    fn version_answers_parse() {
        let (v, s) =
            parse_version(r#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#)
                .unwrap();
        assert_eq!((v.as_str(), s.len()), ("1.0.0", 2));
        assert!(parse_version(r#"{"cniVersion":"1.1.0","supportedVersions":["1.0.0"]}"#).is_err());
        assert!(parse_version(r#"{"supportedVersions":[]}"#).is_err());
        assert!(version_at_least("1.1.0", "1.0.0") && !version_at_least("0.4.0", "1.0.0"));
    }

    #[test]
    fn plugin_configs_get_name_version_and_prev_result() {
        let conflist = json!({"cniVersion":"1.0.0","name":"net","plugins":[{"type":"ptp","ipam":{"type":"host-local"}},{"type":"tuning"}]});
        let first = plugin_config(&conflist, 0, "1.1.0", None);
        assert_eq!(
            first,
            json!({"type":"ptp","ipam":{"type":"host-local"},"name":"net","cniVersion":"1.1.0"})
        );
        let prev = json!({"cniVersion":"1.1.0"});
        let second = plugin_config(&conflist, 1, "1.1.0", Some(&prev));
        assert_eq!(second["prevResult"], prev);
        assert_eq!(network::plugin_types(&conflist), ["ptp", "tuning"]);
        assert_eq!(network::ipam_types(&conflist), ["host-local"]);
    }

    #[test]
    fn the_namespace_is_compared_with_the_result() {
        let addr = r#"[{"ifname":"lo","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifname":"eth0","address":"aa:bb:cc:00:00:03","addr_info":[{"family":"inet","local":"10.244.3.2","prefixlen":24}]}]"#;
        let routes = r#"[{"dst":"10.96.0.0/12","gateway":"10.244.3.1","dev":"eth0"},{"dst":"10.244.3.0/24","dev":"eth0"}]"#;
        let held = ip::interfaces(addr).unwrap();
        let held_routes = ip::routes(routes).unwrap();
        let r = validate_result(BRIDGE_RESULT, "1.0.0").unwrap();
        assert!(missing_interfaces(&r, &held).is_empty());
        assert!(missing_addresses(&r, &held).is_empty());
        assert!(missing_routes(&r.routes, &held_routes).is_empty());

        // An IPAM plugin run as the main plugin: addresses on no interface.
        let ipam_only = validate_result(
            r#"{"cniVersion":"1.0.0","ips":[{"address":"10.244.3.9/24","gateway":"10.244.3.1"}],"routes":[{"dst":"0.0.0.0/0"}]}"#,
            "1.0.0",
        )
        .unwrap();
        assert_eq!(
            missing_addresses(&ipam_only, &held),
            ["10.244.3.9/24 (on no interface named by the result)"]
        );
        assert_eq!(
            missing_routes(&ipam_only.routes, &held_routes),
            ["0.0.0.0/0"]
        );
        let wrong_mac = r#"[{"ifname":"eth0","address":"aa:bb:cc:00:00:09","addr_info":[]}]"#;
        assert_eq!(
            missing_interfaces(&r, &ip::interfaces(wrong_mac).unwrap()),
            ["eth0 (aa:bb:cc:00:00:03)"]
        );
    }

    #[test]
    fn duplicates_and_clipping() {
        let a: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(duplicates(&a), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(clip("abcdef", 3), "abc… (6 bytes)");
        assert_eq!(compact("{\n \"a\": 1\n}"), r#"{"a":1}"#);
    }
}
