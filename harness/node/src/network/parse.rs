//! Pure parsing and rendering for the node network: what `ip -j` says of the host (through
//! podcheck-host's parser), plugin banners, the conflist template and the nftables ruleset.
//! No I/O here.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use podcheck_host::ip;
use serde_json::Value;

/// The prefix of the bridges (and so of the state dirs) podcheck makes.
pub(super) const BRIDGE_PREFIX: &str = "pcbr";
/// The prefix of the nftables tables podcheck makes; the bridge name follows.
pub(super) const TABLE_PREFIX: &str = "podcheck_";

/// The bridge of the `index`th /24 of the pool: `pcbr0` … `pcbr255`.
pub(super) fn bridge_name(index: u8) -> String {
    format!("{BRIDGE_PREFIX}{index}")
}

/// The inverse of [`bridge_name`]; `None` for any other name (also `pcbr007`).
pub(super) fn bridge_index(name: &str) -> Option<u8> {
    let digits = name.strip_prefix(BRIDGE_PREFIX)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The nftables table of a bridge.
pub(super) fn table_name(bridge: &str) -> String {
    format!("{TABLE_PREFIX}{bridge}")
}

/// The `index`th /24 of `pool` (a /16).
pub(super) fn nth_subnet(pool: Ipv4Net, index: u8) -> Ipv4Net {
    let [a, b, _, _] = pool.network().octets();
    Ipv4Net::new(Ipv4Addr::new(a, b, index, 0), 24).expect("24 is a valid prefix length")
}

/// The first host address of a subnet: the bridge's own address, the pods' gateway.
pub(super) fn gateway_of(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Whether two networks share any address.
pub(super) fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The IPv4 destinations of `ip -j -4 route show table all`, except `default` (which
/// overlaps everything and says nothing about which addresses are in use). A destination
/// without a prefix length is a host (/32).
pub(super) fn route_destinations(json: &str) -> Result<Vec<Ipv4Net>, String> {
    Ok(ip::routes(json)?
        .into_iter()
        .filter_map(|r| match r.dst? {
            IpNet::V4(net) => Some(net),
            // Not IPv4 (the caller asked for -4, but a family-less dump is tolerated).
            IpNet::V6(_) => None,
        })
        .collect())
}

/// Every interface's IPv4 addresses in `ip -j addr show` output, as `(ifname, addr/len)`.
fn inet_addresses(json: &str) -> Result<Vec<(String, Ipv4Net)>, String> {
    Ok(ip::interfaces(json)?
        .into_iter()
        .flat_map(|i| {
            let name = i.name;
            i.addresses.into_iter().filter_map(move |a| match a {
                IpNet::V4(net) => Some((name.clone(), net)),
                IpNet::V6(_) => None,
            })
        })
        .collect())
}

/// The networks of every IPv4 address on the host (`ip -j -4 addr show`).
pub(super) fn address_networks(json: &str) -> Result<Vec<Ipv4Net>, String> {
    Ok(inet_addresses(json)?
        .into_iter()
        .map(|(_, net)| net.trunc())
        .collect())
}

/// What a pod's network namespace shows (`ip -j -4 addr show`): `(ifname, "addr/len")`,
/// without the loopback interface.
pub fn interface_addresses(json: &str) -> Result<Vec<(String, String)>, String> {
    Ok(inet_addresses(json)?
        .into_iter()
        .filter(|(name, _)| name != "lo")
        .map(|(name, net)| (name, net.to_string()))
        .collect())
}

/// The version in a CNI plugin's banner (what it prints without `CNI_COMMAND`), as
/// `CNI bridge plugin v1.1.1`; `None` when the build does not know it (`version unknown`).
pub(super) fn plugin_banner_version(banner: &str) -> Option<String> {
    banner.lines().find_map(|line| {
        let mut words = line.split_once(" plugin ")?.1.split_whitespace().peekable();
        if words.peek() == Some(&"version") {
            words.next();
        }
        let word = words.next()?;
        let digits = word.strip_prefix('v').unwrap_or(word);
        let versionish = digits.chars().next().is_some_and(|c| c.is_ascii_digit())
            && digits
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+~".contains(c));
        versionish.then(|| word.to_string())
    })
}

/// The package that owns a file, from `dpkg-query -S FILE` (`pkg: /path`, or
/// `pkg:arch: /path`).
pub(super) fn dpkg_owner(output: &str) -> Option<String> {
    let line = output.lines().next()?;
    let (pkgs, path) = line.split_once(": ")?;
    if !path.starts_with('/') {
        return None;
    }
    let pkg = pkgs.split(", ").next()?.split(':').next()?.trim();
    (!pkg.is_empty() && !pkg.contains(char::is_whitespace)).then(|| pkg.to_string())
}

/// The highest spec version in a plugin's `CNI_COMMAND=VERSION` answer.
pub(super) fn newest_supported_version(json: &str) -> Option<String> {
    let value: Value = serde_json::from_str(json).ok()?;
    let versions = value.get("supportedVersions")?.as_array()?;
    versions
        .iter()
        .filter_map(Value::as_str)
        .max_by_key(|v| {
            v.split('.')
                .map(|p| p.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .map(str::to_string)
}

/// Fills `{{name}}` placeholders with JSON-escaped values and checks that the result is
/// JSON with no placeholder left.
pub(super) fn render_template(template: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = template.to_string();
    for (name, value) in vars {
        let quoted = serde_json::to_string(value).map_err(|e| e.to_string())?;
        out = out.replace(&format!("{{{{{name}}}}}"), &quoted[1..quoted.len() - 1]);
    }
    if let Some(at) = out.find("{{") {
        let name: String = out[at..].chars().take_while(|c| *c != '}').collect();
        return Err(format!("unknown placeholder {name}}}}}"));
    }
    serde_json::from_str::<Value>(&out).map_err(|e| format!("not JSON once filled in: {e}"))?;
    Ok(out)
}

/// The plugin types of a conflist, in order (those without a `type` are left out).
pub fn plugin_types(conflist: &Value) -> Vec<String> {
    plugins(conflist)
        .filter_map(|p| p.get("type").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The IPAM types the conflist's plugins delegate to, each once, in order.
pub fn ipam_types(conflist: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in plugins(conflist).filter_map(|p| p.pointer("/ipam/type").and_then(Value::as_str)) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

fn plugins(conflist: &Value) -> impl Iterator<Item = &Value> {
    conflist
        .get("plugins")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The plugins a conflist (or its template: placeholders sit inside strings, so it is
/// JSON already) needs, checked: each plugin's `type` in order, then each `ipam.type` not
/// named yet.
pub fn conflist_plugins(conflist: &str) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(conflist).map_err(|e| format!("not JSON: {e}"))?;
    let listed = plugins(&value).count();
    if listed == 0 {
        return Err("a conflist needs a non-empty `plugins` list".into());
    }
    let mut out = plugin_types(&value);
    if out.len() < listed || out.iter().any(String::is_empty) {
        return Err("every plugin of a conflist needs a `type`".into());
    }
    for ipam in ipam_types(&value) {
        if !ipam.is_empty() && !out.contains(&ipam) {
            out.push(ipam);
        }
    }
    if let Some(bad) = out.iter().find(|p| p.contains('/') || p.starts_with('.')) {
        return Err(format!("plugin type {bad:?} is not a file name"));
    }
    Ok(out)
}

/// The prefix length of a segment's block for `nodes` nodes: one /24 each, rounded up to a
/// power of two so that the block is one aligned network (1 node: /24, 2: /23, 3-4: /22,
/// … 129-256: /16). `None` for no node or more than the pool's 256 /24s.
pub(super) fn block_prefix(nodes: usize) -> Option<u8> {
    if nodes == 0 || nodes > 256 {
        return None;
    }
    let bits = nodes.next_power_of_two().trailing_zeros();
    Some(24 - bits as u8)
}

/// The block of `pool` (a /16) that starts at its `start`th /24, with `prefix`.
pub(super) fn block_at(pool: Ipv4Net, start: u8, prefix: u8) -> Ipv4Net {
    let [a, b, _, _] = pool.network().octets();
    Ipv4Net::new(Ipv4Addr::new(a, b, start, 0), prefix).expect("16..=24 is a valid prefix length")
}

/// The indexes (in the pool) of the /24s of a block.
pub(super) fn block_indexes(block: Ipv4Net) -> std::ops::RangeInclusive<u8> {
    let first = block.network().octets()[2];
    let last = block.broadcast().octets()[2];
    first..=last
}

/// What host-local hands out of a node's /24: `.2` to `.254` (`.1` is the gateway). The
/// pods' prefix is the block's, so `.0` and `.255` would be valid hosts of a larger block,
/// but every /24 keeps the shape it has alone.
pub(super) fn pod_range(subnet: Ipv4Net) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(subnet.network());
    (Ipv4Addr::from(base + 2), Ipv4Addr::from(base + 254))
}

/// The segment's nftables table, loaded in one transaction (`nft -f -`): declaring the
/// table first and deleting it makes the load replace any earlier table of the same name.
///
/// - `dns`: what a node's pods (by source address: the node's /24) send to the DNS Service
///   IP on port 53 reaches the server on that node's gateway instead (the Service IP is not
///   routed anywhere else);
/// - `isolate`: nothing is forwarded to or from the bridge, so no pod packet ever leaves
///   through another interface, whatever the host's routes and `ip_forward` say. What
///   stays on the bridge passes: with `br_netfilter` (`bridge-nf-call-iptables=1`), frames
///   between two pods of the bridge — of one node or of two — traverse this hook too, in
///   and out on the bridge. Plugins without a bridge (`ptp`: a veth per pod, routed by the
///   host) are held by the block instead: packets between two of its addresses pass, any
///   other packet from or to it is dropped.
pub(super) fn nft_ruleset(
    table: &str,
    bridge: &str,
    block: Ipv4Net,
    nodes: &[(Ipv4Net, Ipv4Addr)],
    dns_service_ip: Ipv4Addr,
) -> String {
    let mut dns = String::new();
    for (subnet, gateway) in nodes {
        for proto in ["udp", "tcp"] {
            dns.push_str(&format!(
                "\t\tip saddr {subnet} ip daddr {dns_service_ip} {proto} dport 53 dnat to {gateway}:53\n"
            ));
        }
    }
    format!(
        "table ip {table}\n\
         delete table ip {table}\n\
         table ip {table} {{\n\
         \tchain dns {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         {dns}\
         \t}}\n\
         \tchain isolate {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{bridge}\" oifname \"{bridge}\" accept\n\
         \t\tiifname \"{bridge}\" drop\n\
         \t\toifname \"{bridge}\" drop\n\
         \t\tip saddr {block} ip daddr {block} accept\n\
         \t\tip saddr {block} drop\n\
         \t\tip daddr {block} drop\n\
         \t}}\n\
         }}\n"
    )
}

/// Deletes a table whether or not it exists, in one transaction.
pub(super) fn nft_delete(table: &str) -> String {
    format!("table ip {table}\ndelete table ip {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},
        {"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},
        {"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","flags":[]},
        {"type":"local","dst":"192.0.2.2","dev":"eth0","table":"local","flags":[]},
        {"type":"unreachable","dst":"10.244.7.0/24","flags":[]}]"#;

    const ADDRS: &str = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
        {"ifindex":2,"ifname":"ifb0","addr_info":[]},
        {"ifindex":4,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24},
                                                  {"family":"inet6","local":"fd00::2","prefixlen":64}]},
        {"ifindex":9,"ifname":"eth1","addr_info":[{"family":"inet","local":"10.244.3.9","prefixlen":16}]}]"#;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn routes_skip_default_and_make_hosts_of_bare_addresses() {
        assert_eq!(
            route_destinations(ROUTES).unwrap(),
            vec![
                net("192.0.2.0/24"),
                net("127.0.0.0/8"),
                net("192.0.2.2/32"),
                net("10.244.7.0/24")
            ]
        );
        assert_eq!(route_destinations("[]").unwrap(), vec![]);
        assert!(route_destinations("{}").is_err());
        assert!(route_destinations("not json").is_err());
    }

    #[test]
    fn address_networks_are_truncated_and_ipv4_only() {
        assert_eq!(
            address_networks(ADDRS).unwrap(),
            vec![
                net("127.0.0.0/8"),
                net("192.0.2.0/24"),
                net("10.244.0.0/16")
            ]
        );
    }

    #[test]
    fn pod_interfaces_skip_loopback() {
        let pod = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":3,"link_index":12,"ifname":"eth0","addr_info":[{"family":"inet","local":"10.244.0.2","prefixlen":24,"broadcast":"10.244.0.255"}]}]"#;
        assert_eq!(
            interface_addresses(pod).unwrap(),
            vec![("eth0".to_string(), "10.244.0.2/24".to_string())]
        );
        assert_eq!(interface_addresses("[]").unwrap(), vec![]);
        let broken = r#"[{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.1"}]}]"#;
        assert!(interface_addresses(broken).is_err());
    }

    #[test]
    fn overlap_is_symmetric_containment() {
        assert!(overlaps(net("10.244.3.0/24"), net("10.244.0.0/16")));
        assert!(overlaps(net("10.244.0.0/16"), net("10.244.3.0/24")));
        assert!(overlaps(net("10.244.3.0/24"), net("10.244.3.7/32")));
        assert!(!overlaps(net("10.244.3.0/24"), net("10.244.4.0/24")));
        assert!(!overlaps(net("10.244.3.0/24"), net("192.0.2.0/24")));
    }

    #[test]
    fn subnets_gateways_and_names() {
        let pool = net("10.244.0.0/16");
        assert_eq!(nth_subnet(pool, 0), net("10.244.0.0/24"));
        assert_eq!(nth_subnet(pool, 255), net("10.244.255.0/24"));
        assert_eq!(
            gateway_of(net("10.244.17.0/24")),
            Ipv4Addr::new(10, 244, 17, 1)
        );
        for i in [0u8, 9, 10, 255] {
            let name = bridge_name(i);
            assert!(name.len() <= 15, "{name}");
            assert_eq!(bridge_index(&name), Some(i));
        }
        for other in [
            "pcbr", "pcbr007", "pcbr256", "pcbr1a", "cni0", "pcbr-1", "xpcbr1",
        ] {
            assert_eq!(bridge_index(other), None, "{other}");
        }
        assert_eq!(table_name("pcbr4"), "podcheck_pcbr4");
    }

    #[test]
    fn banners_give_the_plugin_version_when_known() {
        assert_eq!(
            plugin_banner_version(
                "CNI bridge plugin v1.1.1\nCNI protocol versions supported: 0.1.0, 1.0.0\n"
            ),
            Some("v1.1.1".into())
        );
        assert_eq!(
            plugin_banner_version("CNI bridge plugin version v1.4.0-rc1"),
            Some("v1.4.0-rc1".into())
        );
        assert_eq!(
            plugin_banner_version(
                "CNI bridge plugin version unknown\nCNI protocol versions supported: 0.1.0"
            ),
            None
        );
        assert_eq!(plugin_banner_version(""), None);
    }

    #[test]
    fn dpkg_owners_and_spec_versions() {
        assert_eq!(
            dpkg_owner("containernetworking-plugins: /usr/lib/cni/bridge\n"),
            Some("containernetworking-plugins".into())
        );
        assert_eq!(
            dpkg_owner("libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"),
            Some("libc6".into())
        );
        assert_eq!(
            dpkg_owner("dpkg-query: no path found matching pattern /x"),
            None
        );
        assert_eq!(
            newest_supported_version(
                r#"{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.3.1","0.4.0","1.0.0"]}"#
            ),
            Some("1.0.0".into())
        );
        assert_eq!(newest_supported_version("{}"), None);
    }

    #[test]
    fn templates_fill_escape_and_reject_leftovers() {
        let t = r#"{"bridge": "{{bridge}}", "dataDir": "{{dataDir}}"}"#;
        let out =
            render_template(t, &[("bridge", "pcbr1"), ("dataDir", "/tmp/a \"b\"\\c")]).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["bridge"], "pcbr1");
        assert_eq!(v["dataDir"], "/tmp/a \"b\"\\c");
        let err = render_template(t, &[("bridge", "pcbr1")]).unwrap_err();
        assert!(err.contains("{{dataDir}}"), "{err}");
        assert!(render_template("{", &[]).is_err());
    }

    #[test]
    fn the_fixture_renders_to_the_expected_conflist() {
        let template = include_str!("../../../../fixtures/cni/bridge.conflist");
        let out = render_template(
            template,
            &[
                ("bridge", "pcbr4"),
                ("subnet", "10.244.5.0/24"),
                ("gateway", "10.244.5.1"),
                ("podNetwork", "10.244.4.0/22"),
                ("rangeStart", "10.244.5.2"),
                ("rangeEnd", "10.244.5.254"),
                ("serviceCidr", "10.96.0.0/12"),
                ("dataDir", "/tmp/node/ipam"),
            ],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["name"], "podcheck");
        let plugins = v["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 1, "bridge only, no portmap");
        let bridge = &plugins[0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "pcbr4");
        assert_eq!(bridge["isGateway"], false);
        assert_eq!(bridge["isDefaultGateway"], false);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["hairpinMode"], false);
        let ipam = &bridge["ipam"];
        assert_eq!(ipam["type"], "host-local");
        // Addresses from the node's /24, with the block's prefix: the other nodes' pods are
        // on-link.
        assert_eq!(
            ipam["ranges"],
            serde_json::json!([[{"subnet": "10.244.4.0/22", "rangeStart": "10.244.5.2",
                                 "rangeEnd": "10.244.5.254", "gateway": "10.244.5.1"}]])
        );
        assert_eq!(ipam["routes"], serde_json::json!([{"dst": "10.96.0.0/12"}]));
        assert_eq!(ipam["dataDir"], "/tmp/node/ipam");
    }

    #[test]
    fn blocks_hold_a_power_of_two_of_24s() {
        let expected = [
            (1, Some(24)),
            (2, Some(23)),
            (3, Some(22)),
            (4, Some(22)),
            (5, Some(21)),
            (128, Some(17)),
            (129, Some(16)),
            (256, Some(16)),
            (0, None),
            (257, None),
        ];
        for (nodes, prefix) in expected {
            assert_eq!(block_prefix(nodes), prefix, "{nodes} nodes");
        }
        let pool = net("10.244.0.0/16");
        let block = block_at(pool, 4, 22);
        assert_eq!(block, net("10.244.4.0/22"));
        assert_eq!(block_indexes(block), 4..=7);
        assert_eq!(block_indexes(block_at(pool, 9, 24)), 9..=9);
        assert_eq!(block_indexes(block_at(pool, 0, 16)), 0..=255);
        assert_eq!(
            pod_range(net("10.244.5.0/24")),
            (Ipv4Addr::new(10, 244, 5, 2), Ipv4Addr::new(10, 244, 5, 254))
        );
    }

    #[test]
    fn conflists_name_their_plugins_then_their_ipam() {
        let t = include_str!("../../../../fixtures/cni/ptp.conflist");
        assert_eq!(conflist_plugins(t).unwrap(), ["ptp", "host-local"]);
        let t = include_str!("../../../../fixtures/cni/bridge.conflist");
        assert_eq!(conflist_plugins(t).unwrap(), ["bridge", "host-local"]);
        let chain =
            r#"{"plugins":[{"type":"ptp","ipam":{"type":"host-local"}},{"type":"tuning"}]}"#;
        assert_eq!(
            conflist_plugins(chain).unwrap(),
            ["ptp", "tuning", "host-local"]
        );
        assert!(conflist_plugins(r#"{"plugins":[]}"#).is_err());
        assert!(conflist_plugins(r#"{"plugins":[{"name":"x"}]}"#).is_err());
        assert!(conflist_plugins(r#"{"plugins":[{"type":"../bin/sh"}]}"#).is_err());
        assert!(conflist_plugins("{").is_err());
    }

    #[test]
    fn the_ruleset_dnats_dns_per_node_and_isolates_the_bridge() {
        let nodes = [
            (net("10.244.4.0/24"), Ipv4Addr::new(10, 244, 4, 1)),
            (net("10.244.5.0/24"), Ipv4Addr::new(10, 244, 5, 1)),
        ];
        let rules = nft_ruleset(
            "podcheck_pcbr4",
            "pcbr4",
            net("10.244.4.0/23"),
            &nodes,
            Ipv4Addr::new(10, 96, 0, 10),
        );
        assert!(rules.starts_with("table ip podcheck_pcbr4\ndelete table ip podcheck_pcbr4\n"));
        for line in [
            "type nat hook prerouting priority dstnat; policy accept;",
            "ip saddr 10.244.4.0/24 ip daddr 10.96.0.10 udp dport 53 dnat to 10.244.4.1:53",
            "ip saddr 10.244.4.0/24 ip daddr 10.96.0.10 tcp dport 53 dnat to 10.244.4.1:53",
            "ip saddr 10.244.5.0/24 ip daddr 10.96.0.10 udp dport 53 dnat to 10.244.5.1:53",
            "ip saddr 10.244.5.0/24 ip daddr 10.96.0.10 tcp dport 53 dnat to 10.244.5.1:53",
            "type filter hook forward priority filter; policy accept;",
            "iifname \"pcbr4\" oifname \"pcbr4\" accept",
            "iifname \"pcbr4\" drop",
            "oifname \"pcbr4\" drop",
            "ip saddr 10.244.4.0/23 ip daddr 10.244.4.0/23 accept",
            "ip saddr 10.244.4.0/23 drop",
            "ip daddr 10.244.4.0/23 drop",
        ] {
            assert!(rules.lines().any(|l| l.trim() == line), "{line}\n{rules}");
        }
        // No DNAT by interface: on a shared bridge only the source tells the nodes apart.
        assert!(!rules.contains("iifname \"pcbr4\" ip daddr"), "{rules}");
        assert_eq!(
            nft_delete("podcheck_pcbr5"),
            "table ip podcheck_pcbr5\ndelete table ip podcheck_pcbr5\n"
        );
    }
}
