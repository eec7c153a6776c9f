//! The host side of a real pod network (`network::NodeNetwork`) against the kernel, iproute2,
//! nftables and Debian's CNI plugins (`/usr/lib/cni`), run directly per the CNI spec in
//! network namespaces the tests make (`pcktest-…`).
//!
//! Needs root, `ip`, `nft`, `nsenter`, the plugins and python3. When something is missing
//! the tests fail naming what is missing, unless `PODCHECK_SKIP_REAL=1` (then they print why
//! and pass), as every test on real components here.
//!
//! Traffic stays on this machine: the only packets sent go from the host to a pod of a
//! subnet the test claimed (`reach`) and from that pod to the DNS Service IP, which the
//! node's nftables table DNATs to the gateway (and anything else forwarded off the bridge
//! is dropped).
//!
//! Other podcheck processes (nextest runs each test in its own) may claim a /24 the moment
//! a test releases it, so "gone" is checked for *this* setup's objects: the bridge's
//! ifindex, the table's handle, the lock file's inode and the state's instance id.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use podcheck_node::network::{
    self, CONFLIST_NAME, DEFAULT_CNI_BIN_DIR, NETWORK_NAME, NodeNetwork, NodeNetworkOptions,
    SegmentOptions,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(10);

/// Whether the real network can be tested here; fails unless `PODCHECK_SKIP_REAL=1`.
fn real_or_skip(test: &str) -> bool {
    let mut missing = network::usable().err();
    if missing.is_none() && python3().is_none() {
        missing = Some("the DNS probe needs python3 (Debian: python3)".into());
    }
    match missing {
        None => true,
        Some(why) if std::env::var("PODCHECK_SKIP_REAL").as_deref() != Ok("1") => panic!(
            "{test}: {why} (install it, as .ci/run does, or set PODCHECK_SKIP_REAL=1 to skip tests on real components)"
        ),
        Some(why) => {
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn python3() -> Option<PathBuf> {
    // The system's, not a version manager's shim (which may not run in a bare netns).
    ["/usr/bin/python3", "/bin/python3"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| p.is_file())
        .or_else(|| which("python3"))
}

fn tool(name: &str) -> Command {
    Command::new(which(name).unwrap_or_else(|| PathBuf::from(name)))
}

/// Runs a command with a deadline (killed after it).
async fn run(mut command: Command, stdin: Option<&[u8]>) -> Output {
    let described = format!("{:?}", command.as_std());
    command
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{described}: {e}"));
    let pipe = child.stdin.take();
    let input = stdin.map(<[u8]>::to_vec);
    tokio::time::timeout(DEADLINE, async move {
        if let (Some(mut pipe), Some(input)) = (pipe, input) {
            pipe.write_all(&input).await.expect("writing stdin");
        }
        child.wait_with_output().await
    })
    .await
    .unwrap_or_else(|_| panic!("{described} did not finish within {DEADLINE:?}"))
    .unwrap_or_else(|e| panic!("{described}: {e}"))
}

async fn run_ok(command: Command, stdin: Option<&[u8]>) -> String {
    let described = format!("{:?}", command.as_std());
    let out = run(command, stdin).await;
    assert!(
        out.status.success(),
        "{described}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn ip(args: &[&str]) -> Output {
    let mut c = tool("ip");
    c.args(args);
    run(c, None).await
}

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cni/bridge.conflist")
}

fn options(dir: &Path) -> NodeNetworkOptions {
    NodeNetworkOptions {
        dir: dir.to_path_buf(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        dns_service_ip: Ipv4Addr::new(10, 96, 0, 10),
        cni_bin_dir: PathBuf::from(DEFAULT_CNI_BIN_DIR),
        template: template().into(),
    }
}

/// What identifies one setup's objects (see the module docs).
#[derive(Debug)]
struct Traces {
    bridge: String,
    ifindex: u64,
    table: String,
    table_handle: u64,
    lock: PathBuf,
    lock_inode: u64,
    state_dir: PathBuf,
    instance: String,
}

async fn ifindex(bridge: &str) -> Option<u64> {
    let out = ip(&["-j", "link", "show", "dev", bridge]).await;
    if !out.status.success() {
        return None;
    }
    let links: Value = serde_json::from_slice(&out.stdout).expect("ip -j link");
    links[0]["ifindex"].as_u64()
}

async fn table_handle(table: &str) -> Option<u64> {
    let mut c = tool("nft");
    c.args(["-j", "list", "table", "ip", table]);
    let out = run(c, None).await;
    if !out.status.success() {
        return None;
    }
    let list: Value = serde_json::from_slice(&out.stdout).expect("nft -j");
    list["nftables"]
        .as_array()?
        .iter()
        .find_map(|item| item["table"]["handle"].as_u64())
}

async fn traces(net: &NodeNetwork) -> Traces {
    let lock = network::subnet_lock_path(net.subnet());
    Traces {
        bridge: net.bridge().to_string(),
        ifindex: ifindex(net.bridge()).await.expect("the bridge exists"),
        table: net.nft_table().to_string(),
        table_handle: table_handle(net.nft_table())
            .await
            .expect("the table exists"),
        lock_inode: std::fs::metadata(&lock)
            .expect("the lock file exists")
            .ino(),
        lock,
        state_dir: net.state_dir().to_path_buf(),
        instance: net.instance().to_string(),
    }
}

/// This setup's bridge, table, lock file and state dir are gone (a later setup may have
/// made objects of the same names).
async fn assert_gone(t: &Traces) {
    assert_ne!(
        ifindex(&t.bridge).await,
        Some(t.ifindex),
        "bridge {} remains",
        t.bridge
    );
    assert_ne!(
        table_handle(&t.table).await,
        Some(t.table_handle),
        "table {} remains",
        t.table
    );
    // tmpfs reuses the inode number of a removed file: a lock file with the same number is
    // a later claimer's only while someone holds it.
    if let Ok(meta) = std::fs::metadata(&t.lock)
        && meta.ino() == t.lock_inode
    {
        let file = std::fs::File::open(&t.lock).unwrap();
        let free =
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
        assert!(!free, "lock {} remains, held by no one", t.lock.display());
    }
    if let Ok(state) = std::fs::read(t.state_dir.join("state.json")) {
        let state: Value = serde_json::from_slice(&state).expect("state.json");
        assert_ne!(
            state["instance"],
            t.instance,
            "{} remains",
            t.state_dir.display()
        );
    }
}

fn read_conflist(net: &NodeNetwork) -> Value {
    let path = net.conf_dir().join(CONFLIST_NAME);
    assert_eq!(path, net.conf_file());
    let entries: Vec<_> = std::fs::read_dir(net.conf_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        vec![CONFLIST_NAME],
        "only the conflist in the conf dir"
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("the conflist is JSON")
}

fn assert_conflist(net: &NodeNetwork, dir: &Path) {
    let conf = read_conflist(net);
    assert_eq!(conf["cniVersion"], "1.0.0");
    assert_eq!(conf["name"], NETWORK_NAME);
    let plugins = conf["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 1, "bridge only (no portmap): {conf}");
    let bridge = &plugins[0];
    assert_eq!(bridge["type"], "bridge");
    assert_eq!(bridge["bridge"], net.bridge());
    assert_eq!(bridge["isGateway"], false);
    assert_eq!(bridge["isDefaultGateway"], false);
    assert_eq!(bridge["ipMasq"], false);
    assert_eq!(bridge["hairpinMode"], false);
    let ipam = &bridge["ipam"];
    assert_eq!(ipam["type"], "host-local");
    let (first, last) = (
        Ipv4Addr::from(u32::from(net.subnet().network()) + 2),
        Ipv4Addr::from(u32::from(net.subnet().network()) + 254),
    );
    assert_eq!(
        ipam["ranges"],
        json!([[{"subnet": net.pod_network().to_string(), "rangeStart": first.to_string(),
                 "rangeEnd": last.to_string(), "gateway": net.gateway().to_string()}]])
    );
    assert_eq!(ipam["routes"], json!([{"dst": "10.96.0.0/12"}]));
    let data_dir = PathBuf::from(ipam["dataDir"].as_str().expect("dataDir"));
    assert_eq!(data_dir, net.ipam_dir());
    assert!(data_dir.starts_with(dir), "{}", data_dir.display());
}

fn assert_subnet_shape(net: &NodeNetwork) {
    let pool = network::pod_subnet_pool();
    assert_eq!(net.subnet().prefix_len(), 24);
    assert!(pool.contains(&net.subnet()), "{}", net.subnet());
    assert_eq!(
        u32::from(net.gateway()),
        u32::from(net.subnet().network()) + 1
    );
    assert!(
        net.bridge().len() <= 15 && !net.bridge().is_empty(),
        "{}",
        net.bridge()
    );
}

/// The gateway address is on the bridge right after setup (a DNS server binds it next).
async fn assert_bridge_ready(net: &NodeNetwork) {
    let out = ip(&["-j", "-4", "addr", "show", "dev", net.bridge()]).await;
    assert!(out.status.success(), "no bridge {}", net.bridge());
    let links: Value = serde_json::from_slice(&out.stdout).unwrap();
    let addrs: Vec<String> = links[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    assert!(
        addrs.contains(&format!(
            "{}/{}",
            net.gateway(),
            net.pod_network().prefix_len()
        )),
        "{addrs:?}"
    );
    let flags = links[0]["flags"].to_string();
    assert!(
        flags.contains("\"UP\""),
        "{} is not up: {flags}",
        net.bridge()
    );
}

async fn assert_ruleset(net: &NodeNetwork) {
    let mut c = tool("nft");
    c.args(["list", "table", "ip", net.nft_table()]);
    let rules = run_ok(c, None).await;
    let br = net.bridge();
    let gw = net.gateway();
    for want in [
        "type nat hook prerouting priority dstnat; policy accept;".to_string(),
        format!(
            "ip saddr {} ip daddr 10.96.0.10 udp dport 53 dnat to {gw}:53",
            net.subnet()
        ),
        format!(
            "ip saddr {} ip daddr 10.96.0.10 tcp dport 53 dnat to {gw}:53",
            net.subnet()
        ),
        "type filter hook forward priority filter; policy accept;".to_string(),
        format!("iifname \"{br}\" drop"),
        format!("oifname \"{br}\" drop"),
        format!("ip saddr {0} ip daddr {0} accept", net.pod_network()),
    ] {
        assert!(
            rules.lines().any(|l| l.trim() == want),
            "missing `{want}` in\n{rules}"
        );
    }
}

#[tokio::test]
async fn concurrent_setups_get_subnets_and_bridges_of_their_own() {
    if !real_or_skip("concurrent_setups_get_subnets_and_bridges_of_their_own") {
        return;
    }
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let (a, b) = tokio::join!(
        NodeNetwork::setup(options(dir_a.path())),
        NodeNetwork::setup(options(dir_b.path())),
    );
    let both = began.elapsed();
    let (a, b) = (a.expect("setup a"), b.expect("setup b"));
    eprintln!(
        "setup: a {:?} ({} {}), b {:?} ({} {}), both {both:?}",
        a.set_up_in(),
        a.bridge(),
        a.subnet(),
        b.set_up_in(),
        b.bridge(),
        b.subnet()
    );
    assert_ne!(a.subnet(), b.subnet());
    assert_ne!(a.bridge(), b.bridge());
    assert_ne!(a.nft_table(), b.nft_table());
    for (net, dir) in [(&a, dir_a.path()), (&b, dir_b.path())] {
        assert_subnet_shape(net);
        assert_bridge_ready(net).await;
        assert_ruleset(net).await;
        assert_conflist(net, dir);
        let owner = std::fs::read_to_string(net.state_dir().join("owner")).unwrap();
        assert_eq!(
            owner.split_whitespace().next(),
            Some(std::process::id().to_string().as_str())
        );
        // The subnet is locked: a third claimer cannot have it.
        let lock = std::fs::File::open(network::subnet_lock_path(net.subnet())).unwrap();
        assert!(
            rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err(),
            "{} is not locked",
            net.subnet()
        );
        let provider = net.provider();
        assert_eq!(provider.name, "bridge+host-local");
        assert!(provider.real);
        assert!(
            !provider.version.is_empty() && !provider.version.starts_with("unknown"),
            "{provider:?}"
        );
    }
    eprintln!("provider: {:?}", a.provider());
    let (ta, tb) = (traces(&a).await, traces(&b).await);
    // One torn down explicitly, the other by Drop.
    let began = Instant::now();
    a.teardown().await.expect("teardown a");
    let teardown = began.elapsed();
    let began = Instant::now();
    drop(b);
    let dropped = began.elapsed();
    eprintln!("teardown {teardown:?}, drop {dropped:?}");
    for (t, dir) in [(&ta, dir_a.path()), (&tb, dir_b.path())] {
        assert_gone(t).await;
        assert!(!dir.join("conf").join(CONFLIST_NAME).exists());
        assert!(!dir.join("cni-ipam").exists());
        assert!(dir.exists(), "the caller's dir stays");
    }
}

/// A network namespace of the test's own, deleted on drop.
struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    async fn new() -> Netns {
        let name = format!("pcktest-{:08x}", rand::random::<u32>());
        let out = ip(&["netns", "add", &name]).await;
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns {
            name,
            deleted: false,
        }
    }

    fn path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.name)
    }

    async fn delete(mut self) {
        let out = ip(&["netns", "del", &self.name]).await;
        assert!(out.status.success(), "ip netns del {}", self.name);
        self.deleted = true;
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = std::process::Command::new(which("ip").unwrap_or_else(|| "ip".into()))
                .args(["netns", "del", &self.name])
                .status();
        }
    }
}

/// The bridge plugin, run per the CNI spec with the conflist's one plugin config.
async fn cni(net: &NodeNetwork, command: &str, netns: &Netns) -> Output {
    let conf = read_conflist(net);
    let mut plugin = conf["plugins"][0].clone();
    plugin["name"] = conf["name"].clone();
    plugin["cniVersion"] = conf["cniVersion"].clone();
    let mut c = Command::new(Path::new(DEFAULT_CNI_BIN_DIR).join("bridge"));
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &netns.name)
        .env("CNI_NETNS", netns.path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", DEFAULT_CNI_BIN_DIR);
    run(c, Some(plugin.to_string().as_bytes())).await
}

/// Sends a UDP and a TCP "query" from inside the netns to the DNS Service IP; the test
/// answers both on the gateway's port 53, and the pod must see the answers come from the
/// Service IP.
async fn dns_round_trip(net: &NodeNetwork, netns: &Netns, pod_ip: Ipv4Addr) {
    let gateway = SocketAddr::from((net.gateway(), 53));
    let udp = tokio::net::UdpSocket::bind(gateway)
        .await
        .expect("bind udp gateway:53");
    let tcp = tokio::net::TcpListener::bind(gateway)
        .await
        .expect("bind tcp gateway:53");
    let script = "import socket\n\
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        u.settimeout(3)\n\
        u.sendto(b'podcheck-udp-probe', ('10.96.0.10', 53))\n\
        data, src = u.recvfrom(512)\n\
        print('udp', src[0], src[1], data.decode())\n\
        t = socket.create_connection(('10.96.0.10', 53), timeout=3)\n\
        t.sendall(b'podcheck-tcp-probe')\n\
        print('tcp', t.getpeername()[0], t.recv(64).decode())\n";
    let mut net_arg = std::ffi::OsString::from("--net=");
    net_arg.push(netns.path());
    let mut client = tool("nsenter");
    client
        .arg(net_arg)
        .arg(python3().unwrap())
        .args(["-c", script]);
    let server = async {
        let mut buf = [0u8; 512];
        let (n, from) = tokio::time::timeout(DEADLINE, udp.recv_from(&mut buf))
            .await
            .expect("a UDP datagram to the DNS Service IP arrives at gateway:53")
            .unwrap();
        assert_eq!(&buf[..n], b"podcheck-udp-probe");
        assert_eq!(from.ip(), std::net::IpAddr::V4(pod_ip));
        udp.send_to(b"pong-udp", from).await.unwrap();
        let (mut stream, peer) = tokio::time::timeout(DEADLINE, tcp.accept())
            .await
            .expect("a TCP connection to the DNS Service IP arrives at gateway:53")
            .unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(pod_ip));
        let mut got = vec![0u8; 18];
        tokio::time::timeout(DEADLINE, stream.read_exact(&mut got))
            .await
            .expect("the TCP probe's bytes")
            .unwrap();
        assert_eq!(got, b"podcheck-tcp-probe");
        stream.write_all(b"pong-tcp").await.unwrap();
        stream.shutdown().await.unwrap();
    };
    let (said, ()) = tokio::join!(run_ok(client, None), server);
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        vec!["udp 10.96.0.10 53 pong-udp", "tcp 10.96.0.10 pong-tcp"],
        "the answers come back from the Service IP"
    );
}

/// A TCP connect from inside `from` to `to`:1: `refused` when the other pod's kernel
/// answered with a RST.
async fn pod_to_pod(from: &Netns, to: Ipv4Addr) -> String {
    let script = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.settimeout(2)\n\
         try:\n    s.connect(('{to}', 1))\n    print('connected')\n\
         except ConnectionRefusedError:\n    print('refused')\n\
         except OSError as e:\n    print('error', e)\n"
    );
    let mut net_arg = std::ffi::OsString::from("--net=");
    net_arg.push(from.path());
    let mut c = tool("nsenter");
    c.arg(net_arg).arg(python3().unwrap()).args(["-c", &script]);
    run_ok(c, None).await.trim().to_string()
}

#[tokio::test]
async fn a_pod_on_the_bridge_reaches_the_host_and_dns_but_nothing_beyond() {
    if !real_or_skip("a_pod_on_the_bridge_reaches_the_host_and_dns_but_nothing_beyond") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let net = NodeNetwork::setup(options(dir.path()))
        .await
        .expect("setup");
    eprintln!(
        "setup {:?}: {} {} gateway {}",
        net.set_up_in(),
        net.bridge(),
        net.subnet(),
        net.gateway()
    );
    assert_conflist(&net, dir.path());
    assert_ruleset(&net).await;
    let netns = Netns::new().await;

    let began = Instant::now();
    let add = cni(&net, "ADD", &netns).await;
    eprintln!("CNI ADD {:?}", began.elapsed());
    assert!(
        add.status.success(),
        "ADD: {}\n{}",
        String::from_utf8_lossy(&add.stdout),
        String::from_utf8_lossy(&add.stderr)
    );
    let result: Value = serde_json::from_slice(&add.stdout).expect("the ADD result is JSON");
    assert_eq!(result["cniVersion"], "1.0.0");
    let address: Ipv4Net = result["ips"][0]["address"]
        .as_str()
        .expect("an address")
        .parse()
        .unwrap();
    let pod_ip = address.addr();
    assert!(
        net.subnet().contains(&pod_ip),
        "{address} in {}",
        net.subnet()
    );
    assert_eq!(result["ips"][0]["gateway"], net.gateway().to_string());
    assert_eq!(result["routes"], json!([{"dst": "10.96.0.0/12"}]));
    let reserved = net.ipam_dir().join(NETWORK_NAME).join(pod_ip.to_string());
    assert!(
        reserved.exists(),
        "host-local's reservation in {}",
        reserved.display()
    );

    // The probes.
    let addresses = network::netns_addresses(&netns.path())
        .await
        .expect("netns addresses");
    assert_eq!(addresses, vec![("eth0".to_string(), address.to_string())]);
    let took = net.reach(pod_ip).await.expect("the host reaches the pod");
    eprintln!("reach {pod_ip}: {took:?}");
    for outside in [
        Ipv4Addr::new(8, 8, 8, 8),
        Ipv4Addr::new(10, 96, 0, 10),
        net.gateway(),
    ] {
        let refused = net.reach(outside).await;
        assert!(refused.is_err(), "reach({outside}) must be refused");
    }
    let other_subnet = Ipv4Addr::from(u32::from(net.subnet().broadcast()) + 2);
    assert!(net.reach(other_subnet).await.is_err());

    // Routes inside the pod: no default, the Service CIDR via the gateway.
    let routes = ip(&["-n", &netns.name, "-j", "-4", "route", "show"]).await;
    let routes: Value = serde_json::from_slice(&routes.stdout).unwrap();
    assert!(
        routes
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["dst"] != "default"),
        "no default route in the pod: {routes}"
    );
    let beyond = ip(&["-n", &netns.name, "route", "get", "8.8.8.8"]).await;
    assert!(
        !beyond.status.success(),
        "8.8.8.8 must be unroutable from the pod: {}",
        String::from_utf8_lossy(&beyond.stdout)
    );
    let service = ip(&["-n", &netns.name, "route", "get", "10.96.0.10"]).await;
    assert!(service.status.success());
    let service = String::from_utf8_lossy(&service.stdout);
    assert!(
        service.contains(&format!("via {} dev eth0", net.gateway())),
        "{service}"
    );

    dns_round_trip(&net, &netns, pod_ip).await;

    // A second pod on the bridge: pods reach each other (with br_netfilter, as on Debian
    // hosts with bridge-nf-call-iptables=1, bridged frames cross the forward hook too).
    let other = Netns::new().await;
    let add = cni(&net, "ADD", &other).await;
    assert!(
        add.status.success(),
        "ADD: {}",
        String::from_utf8_lossy(&add.stderr)
    );
    let result: Value = serde_json::from_slice(&add.stdout).unwrap();
    let other_ip: Ipv4Net = result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(other_ip.addr(), pod_ip);
    assert_eq!(
        pod_to_pod(&netns, other_ip.addr()).await,
        "refused",
        "the other pod's kernel answers (RST)"
    );
    let del = cni(&net, "DEL", &other).await;
    assert!(del.status.success());
    other.delete().await;

    let began = Instant::now();
    let del = cni(&net, "DEL", &netns).await;
    eprintln!("CNI DEL {:?}", began.elapsed());
    assert!(
        del.status.success(),
        "DEL: {}",
        String::from_utf8_lossy(&del.stderr)
    );
    assert!(!reserved.exists(), "DEL releases the address");
    netns.delete().await;
    let ports = ip(&["-j", "link", "show", "master", net.bridge()]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&ports.stdout).unwrap(),
        json!([]),
        "no veth left on the bridge"
    );

    let t = traces(&net).await;
    let began = Instant::now();
    net.teardown().await.expect("teardown");
    eprintln!("teardown {:?}", began.elapsed());
    assert_gone(&t).await;
    assert!(!dir.path().join("cni-ipam").exists());
    assert!(!dir.path().join("conf").join(CONFLIST_NAME).exists());
}

#[tokio::test]
async fn a_dead_owners_network_is_swept_by_the_next_setup() {
    if !real_or_skip("a_dead_owners_network_is_swept_by_the_next_setup") {
        return;
    }
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = NodeNetwork::setup(options(dir_a.path()))
        .await
        .expect("setup a");
    let ta = traces(&a).await;
    // The owner "dies": a pid no process can have (beyond any pid_max), and the lock goes
    // as the kernel would drop it; nothing is torn down.
    std::fs::write(a.state_dir().join("owner"), "999999999\n").unwrap();
    a.abandon();

    let b = NodeNetwork::setup(options(dir_b.path()))
        .await
        .expect("setup b");
    eprintln!("setup with a sweep {:?}", b.set_up_in());
    assert_gone(&ta).await;
    assert!(!dir_a.path().join("conf").join(CONFLIST_NAME).exists());
    assert!(!dir_a.path().join("cni-ipam").exists());

    // A live owner's network is never swept.
    let tb = traces(&b).await;
    let swept = network::sweep_stale().await.expect("sweep");
    assert!(!swept.contains(&b.bridge().to_string()), "{swept:?}");
    assert_eq!(ifindex(b.bridge()).await, Some(tb.ifindex));
    assert_eq!(table_handle(b.nft_table()).await, Some(tb.table_handle));
    b.teardown().await.expect("teardown b");
    assert_gone(&tb).await;
}

fn ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .expect("reading net.ipv4.ip_forward")
        .trim()
        .to_string()
}

/// ADDs `netns` to `net` and returns the address the result gives (with its prefix).
async fn attach(net: &NodeNetwork, netns: &Netns) -> Ipv4Net {
    let add = cni(net, "ADD", netns).await;
    assert!(
        add.status.success(),
        "ADD: {}\n{}",
        String::from_utf8_lossy(&add.stdout),
        String::from_utf8_lossy(&add.stderr)
    );
    let result: Value = serde_json::from_slice(&add.stdout).expect("the ADD result is JSON");
    result["ips"][0]["address"]
        .as_str()
        .expect("an address")
        .parse()
        .unwrap()
}

fn segment_options(dirs: Vec<PathBuf>) -> SegmentOptions {
    let one = options(Path::new("/unused"));
    SegmentOptions {
        node_dirs: dirs,
        service_cidr: one.service_cidr,
        dns_service_ip: one.dns_service_ip,
        cni_bin_dir: one.cni_bin_dir,
        template: one.template,
    }
}

#[tokio::test]
async fn pods_of_two_nodes_reach_each_other_and_nothing_else() {
    if !real_or_skip("pods_of_two_nodes_reach_each_other_and_nothing_else") {
        return;
    }
    let forwarding = ip_forward();
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    // Two nodes of one control plane, and a network of another (a concurrent run's).
    let (segment, other) = tokio::join!(
        NodeNetwork::setup_segment(segment_options(vec![
            dir.path().join("node-1"),
            dir.path().join("node-2"),
        ])),
        NodeNetwork::setup(options(&dir.path().join("elsewhere"))),
    );
    let mut segment = segment.expect("setup of two nodes");
    let other = other.expect("setup of another run's network");
    let (n2, n1) = (segment.pop().unwrap(), segment.pop().unwrap());
    eprintln!(
        "setup {:?}: {} {} ({} + {}), other run {} {}",
        began.elapsed(),
        n1.bridge(),
        n1.pod_network(),
        n1.subnet(),
        n2.subnet(),
        other.bridge(),
        other.subnet()
    );
    // One bridge, a /24 each, one aligned /23 holding both; the other run's is elsewhere.
    assert_eq!(n1.bridge(), n2.bridge());
    assert_eq!(n1.nft_table(), n2.nft_table());
    assert_eq!(n1.pod_network(), n2.pod_network());
    assert_eq!(n1.pod_network().prefix_len(), 23);
    assert_eq!(n1.pod_network().network(), n1.subnet().network());
    assert_eq!(
        u32::from(n2.subnet().network()),
        u32::from(n1.subnet().network()) + 256
    );
    assert_ne!(other.bridge(), n1.bridge());
    assert!(!n1.pod_network().contains(&other.subnet()));
    for net in [&n1, &n2, &other] {
        assert_subnet_shape(net);
        assert_bridge_ready(net).await;
        assert_ruleset(net).await;
        let lock = std::fs::File::open(network::subnet_lock_path(net.subnet())).unwrap();
        assert!(
            rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err(),
            "{} is not locked",
            net.subnet()
        );
    }
    assert_conflist(&n1, &dir.path().join("node-1"));
    assert_conflist(&n2, &dir.path().join("node-2"));

    let (pa, pb, pc) = (Netns::new().await, Netns::new().await, Netns::new().await);
    let a = attach(&n1, &pa).await;
    let b = attach(&n2, &pb).await;
    let c = attach(&other, &pc).await;
    eprintln!("pods: {a} on node-1, {b} on node-2, {c} of the other run");
    assert!(n1.subnet().contains(&a.addr()), "{a} in {}", n1.subnet());
    assert!(n2.subnet().contains(&b.addr()), "{b} in {}", n2.subnet());
    assert_eq!(
        a.prefix_len(),
        23,
        "the block's prefix: node-2's /24 is on-link"
    );

    // Across nodes, on-link: no hop through the host.
    let route = ip(&["-n", &pa.name, "route", "get", &b.addr().to_string()]).await;
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    assert!(
        route.contains("dev eth0") && !route.contains(" via "),
        "{route}"
    );
    assert_eq!(
        pod_to_pod(&pa, b.addr()).await,
        "refused",
        "node-1 → node-2"
    );
    assert_eq!(
        pod_to_pod(&pb, a.addr()).await,
        "refused",
        "node-2 → node-1"
    );
    // The host reaches each node's pods.
    n1.reach(a.addr()).await.expect("host → node-1's pod");
    n2.reach(b.addr()).await.expect("host → node-2's pod");

    // Nothing else: the other run's pod, and anything off the machine, have no route
    // (nothing is sent).
    let unreachable = pod_to_pod(&pa, c.addr()).await;
    assert!(
        unreachable.contains("unreachable"),
        "another run's pod must be unreachable: {unreachable}"
    );
    let unreachable = pod_to_pod(&pc, b.addr()).await;
    assert!(unreachable.contains("unreachable"), "{unreachable}");
    for outside in ["8.8.8.8", "192.168.1.1", "10.245.0.1"] {
        let r = ip(&["-n", &pb.name, "route", "get", outside]).await;
        assert!(
            !r.status.success(),
            "{outside} must be unroutable from the pod: {}",
            String::from_utf8_lossy(&r.stdout)
        );
    }
    // Each node's DNS DNAT goes to its own gateway, told apart by the source on the shared
    // bridge.
    dns_round_trip(&n2, &pb, b.addr()).await;
    dns_round_trip(&n1, &pa, a.addr()).await;

    for (net, ns) in [(&n1, pa), (&n2, pb), (&other, pc)] {
        let del = cni(net, "DEL", &ns).await;
        assert!(
            del.status.success(),
            "DEL: {}",
            String::from_utf8_lossy(&del.stderr)
        );
        ns.delete().await;
    }

    // The segment goes with its last node.
    let t = traces(&n1).await;
    let lock2 = network::subnet_lock_path(n2.subnet());
    n1.teardown().await.expect("teardown node-1");
    assert_eq!(
        ifindex(&t.bridge).await,
        Some(t.ifindex),
        "node-2 still uses it"
    );
    assert!(!dir.path().join("node-1/conf").join(CONFLIST_NAME).exists());
    assert!(dir.path().join("node-2/conf").join(CONFLIST_NAME).exists());
    n2.teardown().await.expect("teardown node-2");
    assert_gone(&t).await;
    if let Ok(file) = std::fs::File::open(&lock2) {
        assert!(
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err(),
            "node-2's /24 lock remains, held by no one"
        );
    }
    other.teardown().await.expect("teardown the other run's");
    assert_eq!(
        ip_forward(),
        forwarding,
        "the host's net.ipv4.ip_forward is untouched"
    );
}

#[tokio::test]
async fn a_dead_owners_segment_is_swept_whole() {
    if !real_or_skip("a_dead_owners_segment_is_swept_whole") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("node-{i}")))
        .collect();
    let nodes = NodeNetwork::setup_segment(segment_options(dirs.clone()))
        .await
        .expect("setup of three nodes");
    let block = nodes[0].pod_network();
    assert_eq!(block.prefix_len(), 22, "three nodes take an aligned /22");
    let t = traces(&nodes[0]).await;
    let locks: Vec<PathBuf> = block
        .subnets(24)
        .unwrap()
        .map(network::subnet_lock_path)
        .collect();
    assert_eq!(locks.len(), 4);
    std::fs::write(nodes[0].state_dir().join("owner"), "999999999\n").unwrap();
    for n in nodes {
        n.abandon();
    }
    for d in &dirs {
        assert!(
            d.join("conf").join(CONFLIST_NAME).exists(),
            "abandoned in place"
        );
    }

    let swept = network::sweep_stale().await.expect("sweep");
    assert!(swept.contains(&t.bridge), "{swept:?}");
    assert_gone(&t).await;
    for d in &dirs {
        assert!(!d.join("conf").join(CONFLIST_NAME).exists());
        assert!(!d.join("cni-ipam").exists());
    }
    for lock in &locks {
        if let Ok(file) = std::fs::File::open(lock) {
            assert!(
                rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                    .is_err(),
                "{} remains, held by no one",
                lock.display()
            );
        }
    }
}
