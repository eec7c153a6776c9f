//! What `ip -j` says: interfaces with their addresses, routes, link names. Pure.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// One interface (`ip -j addr show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The link-layer address (empty where there is none).
    pub mac: String,
    pub addresses: Vec<IpNet>,
}

/// One route (`ip -j route show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None` for `default`.
    pub dst: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub dev: String,
}

fn json_array(json: &str, what: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Err(format!("{what}: expected a JSON array, got {other}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Parses `ip -j addr show` (either family or both). An address entry with neither
/// `local` nor `prefixlen` is one `ip` filtered out (`-4`/`-6`) and is skipped; one with
/// only one of them is an error.
pub fn interfaces(json: &str) -> Result<Vec<Interface>, String> {
    let mut out = Vec::new();
    for link in json_array(json, "ip -j addr")? {
        let name = link
            .get("ifname")
            .and_then(Value::as_str)
            .ok_or("ip -j addr: a link without ifname")?
            .to_string();
        let mac = link
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut addresses = Vec::new();
        for info in link
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let local = info.get("local").and_then(Value::as_str);
            let len = info.get("prefixlen").and_then(Value::as_u64);
            let (local, len) = match (local, len) {
                (Some(local), Some(len)) => (local, len),
                (None, None) => continue,
                _ => {
                    return Err(format!(
                        "ip -j addr: an address of {name} without local/prefixlen"
                    ));
                }
            };
            let ip: IpAddr = local
                .parse()
                .map_err(|e| format!("ip -j addr: {local}: {e}"))?;
            let len = u8::try_from(len).map_err(|_| format!("ip -j addr: prefix length {len}"))?;
            let net = IpNet::new(ip, len).map_err(|e| format!("ip -j addr: {local}/{len}: {e}"))?;
            addresses.push(net);
        }
        out.push(Interface {
            name,
            mac,
            addresses,
        });
    }
    Ok(out)
}

/// Parses `ip -j route show` (a bare address is a host route).
pub fn routes(json: &str) -> Result<Vec<Route>, String> {
    let mut out = Vec::new();
    for r in json_array(json, "ip -j route")? {
        let dst = match r.get("dst").and_then(Value::as_str) {
            Some("default") | None => None,
            Some(d) => Some(match d.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => IpNet::from(
                    d.parse::<IpAddr>()
                        .map_err(|e| format!("ip -j route: {d}: {e}"))?,
                ),
            }),
        };
        let gateway = r
            .get("gateway")
            .and_then(Value::as_str)
            .and_then(|g| g.parse().ok());
        let dev = r
            .get("dev")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        out.push(Route { dst, gateway, dev });
    }
    Ok(out)
}

/// The interface names in `ip -j link show` output.
pub fn link_names(json: &str) -> Result<Vec<String>, String> {
    Ok(json_array(json, "ip -j link")?
        .iter()
        .filter_map(|l| l.get("ifname").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_addresses_are_skipped_and_half_ones_refused() {
        let filtered = r#"[{"ifname":"eth0","address":"aa:bb:cc:dd:ee:ff","addr_info":[{},{"family":"inet","local":"10.0.0.2","prefixlen":24}]}]"#;
        let got = interfaces(filtered).unwrap();
        assert_eq!(got[0].mac, "aa:bb:cc:dd:ee:ff");
        assert_eq!(
            got[0].addresses,
            vec!["10.0.0.2/24".parse::<IpNet>().unwrap()]
        );
        let half = r#"[{"ifname":"eth0","addr_info":[{"family":"inet","prefixlen":24}]}]"#;
        assert!(interfaces(half).is_err());
        assert!(interfaces(r#"[{"addr_info":[]}]"#).is_err());
        assert!(interfaces("{}").is_err());
    }

    #[test]
    fn routes_keep_default_as_none_and_hosts_as_full_prefixes() {
        let json = r#"[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"},{"dst":"10.0.0.7","dev":"eth0"},{"dst":"10.0.0.9/24","dev":"eth0"}]"#;
        let got = routes(json).unwrap();
        assert_eq!(got[0].dst, None);
        assert_eq!(got[0].gateway, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(got[1].dst, Some("10.0.0.7/32".parse().unwrap()));
        assert_eq!(got[2].dst, Some("10.0.0.0/24".parse().unwrap()));
        assert!(routes(r#"[{"dst":"nonsense"}]"#).is_err());
    }

    #[test]
    fn link_names_are_listed() {
        let links = r#"[{"ifindex":1,"ifname":"lo"},{"ifindex":5,"ifname":"pcbr3","master":"x"}]"#;
        assert_eq!(link_names(links).unwrap(), vec!["lo", "pcbr3"]);
    }
}
