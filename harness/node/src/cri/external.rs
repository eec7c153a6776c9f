//! A CRI runtime the user runs (`--cri-socket PATH`): the kubelet of the node uses it as it
//! is, with its own CNI configuration, and reports it by its Version answer.
//!
//! A probe sandbox shows the runtime's pod network: its subnet becomes the node's podCIDR,
//! and the cluster DNS server also listens on the gateway pods route the DNS Service IP to,
//! so a network that sends it there (as podcheck's own bridge network's DNAT does) resolves
//! in the pod.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use podcheck_protos::cri::v1::{VersionRequest, VersionResponse};

use super::CriError;
use super::client::{self, CriClient};
use super::runtime::CriRuntime;
use crate::runtime::{DnsConfig, Implementation, Runtime, SandboxConfig};

/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The deadline of `nsenter … ip route`.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(5);

/// The runtime at `socket`, connected, with its Version answer.
pub async fn connect(
    socket: &Path,
    log_root: PathBuf,
) -> Result<(CriRuntime, VersionResponse), CriError> {
    if !socket.exists() {
        return Err(CriError::Unusable(format!(
            "no CRI socket at {}",
            socket.display()
        )));
    }
    let channel = client::connect(socket, CONNECT_TIMEOUT).await?;
    let cri = CriClient::new(channel.clone(), client::DEFAULT_CALL_TIMEOUT);
    let version = cri
        .call(
            "Version",
            cri.runtime().version(cri.request(VersionRequest {
                version: "v1".into(),
            })),
        )
        .await?;
    if version.runtime_api_version != "v1" {
        return Err(CriError::Unexpected {
            call: "Version",
            message: format!(
                "the runtime at {} speaks CRI {:?}, not v1",
                socket.display(),
                version.runtime_api_version
            ),
        });
    }
    std::fs::create_dir_all(&log_root)
        .map_err(|e| CriError::io(format!("creating {}", log_root.display()), e))?;
    let runtime = CriRuntime::with_channel(
        channel,
        // The runtime's own default cgroup parent: its cgroup driver is not podcheck's to
        // know.
        String::new(),
        log_root,
        provider(&version),
        Implementation {
            name: format!("CNI of {}", name_of(&version)),
            real: true,
            version: String::new(),
        },
    );
    Ok((runtime, version))
}

/// The provider a runtime's Version answer names: `containerd`, `1.6.20~ds1`.
pub fn provider(version: &VersionResponse) -> Implementation {
    Implementation {
        name: name_of(version),
        real: true,
        version: version.runtime_version.clone(),
    }
}

fn name_of(version: &VersionResponse) -> String {
    if version.runtime_name.is_empty() {
        "cri".into()
    } else {
        version.runtime_name.clone()
    }
}

/// What a probe sandbox shows of the runtime's pod network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodNetwork {
    /// The subnet of the sandbox's address (its interface's prefix): the node's podCIDR.
    pub subnet: Option<Ipv4Net>,
    /// Where the sandbox sends packets for the cluster DNS Service IP: the host's side of
    /// the pod network.
    pub gateway: Option<Ipv4Addr>,
}

/// Runs a probe sandbox, reads its address and its route to `dns_ip` from inside its
/// network namespace, and stops and removes it.
pub async fn probe_pod_network(
    runtime: &CriRuntime,
    dns_ip: Ipv4Addr,
) -> Result<PodNetwork, CriError> {
    let config = SandboxConfig {
        name: "podcheck-network-probe".into(),
        namespace: "kube-system".into(),
        uid: uuid::Uuid::new_v4().to_string(),
        hostname: "podcheck-network-probe".into(),
        dns: DnsConfig::default(),
        log_directory: String::new(),
    };
    let sandbox = runtime
        .run_pod_sandbox(&config)
        .await
        .map_err(|e| CriError::Unexpected {
            call: "RunPodSandbox",
            message: format!("a probe sandbox for the pod network: {e}"),
        })?;
    let mut found = PodNetwork::default();
    if let Ok(Some(netns)) = runtime.sandbox_netns(&sandbox.id).await {
        if let IpAddr::V4(ip) = sandbox.ip
            && let Ok(addresses) = crate::network::netns_addresses(&netns).await
        {
            found.subnet = subnet_of(ip, &addresses);
        }
        found.gateway = route_via(&netns, dns_ip).await;
    }
    let _ = runtime.stop_pod_sandbox(&sandbox.id).await;
    let _ = runtime.remove_pod_sandbox(&sandbox.id).await;
    Ok(found)
}

/// The network of the interface address that is `ip` (`("eth0", "10.244.1.3/24")`).
fn subnet_of(ip: Ipv4Addr, addresses: &[(String, String)]) -> Option<Ipv4Net> {
    addresses
        .iter()
        .filter_map(|(_, a)| a.parse::<Ipv4Net>().ok())
        .find(|net| net.addr() == ip)
        .map(|net| net.trunc())
}

/// `nsenter --net=NETNS ip -4 route get DEST`: the `via` address, if the route has one.
async fn route_via(netns: &Path, dest: Ipv4Addr) -> Option<Ipv4Addr> {
    let mut net = std::ffi::OsString::from("--net=");
    net.push(netns);
    let mut command = tokio::process::Command::new("nsenter");
    command
        .arg(net)
        .args(["ip", "-4", "route", "get", &dest.to_string()])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(ROUTE_TIMEOUT, command.output())
        .await
        .ok()?
        .ok()?;
    parse_via(&String::from_utf8_lossy(&output.stdout))
}

/// The gateway in `ip route` output (`10.96.0.10 via 10.88.0.1 dev eth0 src …`).
fn parse_via(routes: &str) -> Option<Ipv4Addr> {
    routes.lines().find_map(|line| {
        let mut words = line.split_whitespace().skip_while(|w| *w != "via");
        words.next()?;
        words.next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_names_the_gateway_and_the_address_the_subnet() {
        assert_eq!(
            parse_via("10.96.0.10 via 10.244.7.1 dev eth0 src 10.244.7.3 uid 0 \n    cache \n"),
            Some(Ipv4Addr::new(10, 244, 7, 1))
        );
        assert_eq!(parse_via("10.244.7.1 dev eth0 src 10.244.7.3\n"), None);
        let addresses = [
            ("lo".to_string(), "127.0.0.1/8".to_string()),
            ("eth0".to_string(), "10.244.7.3/24".to_string()),
        ];
        assert_eq!(
            subnet_of(Ipv4Addr::new(10, 244, 7, 3), &addresses),
            Some("10.244.7.0/24".parse().unwrap())
        );
        assert_eq!(subnet_of(Ipv4Addr::new(10, 244, 8, 3), &addresses), None);
    }

    #[test]
    fn providers_are_named_by_the_version_answer() {
        let v = VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "containerd".into(),
            runtime_version: "1.6.20~ds1".into(),
            runtime_api_version: "v1".into(),
        };
        let p = provider(&v);
        assert_eq!(
            (p.name.as_str(), p.real, p.version.as_str()),
            ("containerd", true, "1.6.20~ds1")
        );
    }
}
