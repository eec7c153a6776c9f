//! The runtime's own word on a kind node: the commands podcheck runs there (`crictl`, and
//! `nsenter`/`bash` for the sandbox's network) and how to read their answers. Pure.
//!
//! Shapes read in kubernetes-sigs/cri-tools, cmd/crictl:
//! - `inspect ID` / `inspectp ID` (container.go, sandbox.go, util.go `resourceStatus`,
//!   `outputStatusData`): JSON by default, `{"status": S, "info": I}` for one ID and an array
//!   of those for several; S is the CRI `ContainerStatus` / `PodSandboxStatus` as protojson
//!   (lowerCamelCase names, enums by name — `CONTAINER_RUNNING`, `SANDBOX_READY`, `POD`/`NODE`
//!   — default values emitted), with `createdAt`/`startedAt`/`finishedAt` rewritten as RFC
//!   3339; I is the runtime's verbose info map with each JSON value parsed — containerd's
//!   has one key, `info` (internal/cri/server/podsandbox/sandbox_status.go), so I is its
//!   `SandboxInfo` (internal/cri/types/sandbox_info.go), whose `runtimeSpec` is the OCI spec
//!   with `linux.namespaces: [… {"type": "network", "path": …}]`.
//! - `pods --label K=V -o json` (sandbox.go): `{"items": [PodSandbox…]}`, newest first,
//!   `createdAt` as a protojson int64 (a string of nanoseconds).
//! - `version` (version.go): `Version:  0.1.0`, `RuntimeName:  containerd`,
//!   `RuntimeVersion:  v2.1.1`, `RuntimeApiVersion:  v1` (`fmt.Println` with two operands).
//! - a failed RPC: `level=error msg="… rpc error: code = NotFound desc = …"` on stderr, exit 1
//!   (main.go logs the error with logrus).
//!
//! kind's node image has crictl with /etc/crictl.yaml naming containerd's socket, bash,
//! iproute2, util-linux's nsenter and coreutils' timeout, but no ping or nc
//! (images/base/Dockerfile): the node reaches a pod by bash's `/dev/tcp`.

use serde_json::Value;

/// The label the kubelet puts on a pod's sandboxes and containers (pkg/kubelet/types/labels.go).
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";

/// How long the node waits for the pod to answer.
pub const REACH_SECONDS: u32 = 2;

/// The script the node runs (`bash -c SCRIPT reach IP`): a TCP connection to port 9 of `$1`.
/// A reset (refused) proves the packets arrived as well as an accept.
pub const REACH_SCRIPT: &str = "exec 3<>\"/dev/tcp/$1/9\" && echo connected";

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// `crictl version`.
pub fn version() -> Vec<String> {
    words(&["crictl", "version"])
}

/// `crictl inspect -o json ID`: one container's status.
pub fn inspect(id: &str) -> Vec<String> {
    words(&["crictl", "inspect", "-o", "json", id])
}

/// `crictl pods --label io.kubernetes.pod.uid=UID -o json`: the pod's sandboxes.
pub fn pods_of(uid: &str) -> Vec<String> {
    let label = format!("{POD_UID_LABEL}={uid}");
    words(&["crictl", "pods", "--label", &label, "-o", "json"])
}

/// `crictl inspectp -o json ID`: one sandbox's status, with the runtime's verbose info.
pub fn inspectp(id: &str) -> Vec<String> {
    words(&["crictl", "inspectp", "-o", "json", id])
}

/// `nsenter --net=PATH ip -j addr show`: the interfaces of a network namespace.
pub fn addresses_in(netns: &str) -> Vec<String> {
    let net = format!("--net={netns}");
    words(&["nsenter", &net, "ip", "-j", "addr", "show"])
}

/// `timeout 2 bash -c SCRIPT reach IP`: the node's TCP connection to the pod.
pub fn reach(ip: &str) -> Vec<String> {
    let seconds = REACH_SECONDS.to_string();
    words(&["timeout", &seconds, "bash", "-c", REACH_SCRIPT, "reach", ip])
}

/// The runtime that answers crictl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// `containerd`.
    pub name: String,
    /// `v2.1.1`.
    pub version: String,
}

/// `crictl version`'s answer.
pub fn parse_version(stdout: &str) -> Result<RuntimeVersion, String> {
    let field = |key: &str| {
        stdout.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    match (field("RuntimeName"), field("RuntimeVersion")) {
        (Some(name), Some(version)) if !name.is_empty() => Ok(RuntimeVersion { name, version }),
        _ => Err(format!(
            "crictl version printed no RuntimeName and RuntimeVersion: {:?}",
            stdout.trim()
        )),
    }
}

/// A container's state, as the CRI names it (`ContainerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

impl ContainerState {
    fn parse(word: &str) -> Result<ContainerState, String> {
        Ok(match word {
            "CONTAINER_CREATED" => ContainerState::Created,
            "CONTAINER_RUNNING" => ContainerState::Running,
            "CONTAINER_EXITED" => ContainerState::Exited,
            "CONTAINER_UNKNOWN" => ContainerState::Unknown,
            other => return Err(format!("an unknown container state {other:?}")),
        })
    }

    /// The word the runtime probe records (`podcheck_core::observation::RuntimeRead`).
    pub fn word(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
            ContainerState::Unknown => "unknown",
        }
    }
}

/// What `crictl inspect` says of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub state: ContainerState,
    /// `exitCode`, for an exited container.
    pub exit_code: Option<i64>,
    /// `reason` (`Completed`, `Error`, `OOMKilled`), when the runtime gives one.
    pub reason: Option<String>,
}

/// The one `{"status", "info"}` object of an inspect answer (an array of one is the same).
fn single(stdout: &str, what: &str) -> Result<Value, String> {
    let value: Value =
        serde_json::from_str(stdout).map_err(|e| format!("{what}: not JSON ({e})"))?;
    match value {
        Value::Array(mut items) if items.len() == 1 => Ok(items.remove(0)),
        Value::Array(items) => Err(format!("{what}: {} answers for one ID", items.len())),
        other => Ok(other),
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `crictl inspect -o json ID`'s answer.
pub fn parse_inspect(stdout: &str) -> Result<ContainerStatus, String> {
    let v = single(stdout, "crictl inspect")?;
    let id = text(&v, "/status/id").ok_or("crictl inspect: no status.id")?;
    let state = text(&v, "/status/state").ok_or("crictl inspect: no status.state")?;
    let state = ContainerState::parse(state).map_err(|e| format!("crictl inspect: {e}"))?;
    Ok(ContainerStatus {
        id: id.to_string(),
        name: text(&v, "/status/metadata/name")
            .unwrap_or_default()
            .to_string(),
        state,
        exit_code: (state == ContainerState::Exited)
            .then(|| v.pointer("/status/exitCode").and_then(Value::as_i64))
            .flatten(),
        reason: text(&v, "/status/reason").map(str::to_string),
    })
}

/// Whether crictl failed because the runtime does not know the ID (gRPC `NotFound`).
pub fn not_found(stderr: &str) -> bool {
    stderr.contains("code = NotFound")
}

/// The pod's sandbox to read: the newest `SANDBOX_READY` one of `crictl pods -o json`; why
/// there is none otherwise.
pub fn ready_sandbox(stdout: &str) -> Result<String, String> {
    let v: Value =
        serde_json::from_str(stdout).map_err(|e| format!("crictl pods: not JSON ({e})"))?;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or("crictl pods: no items")?;
    let created = |s: &Value| {
        s.get("createdAt")
            .and_then(|c| {
                c.as_str()
                    .and_then(|t| t.parse::<i64>().ok())
                    .or(c.as_i64())
            })
            .unwrap_or_default()
    };
    let ready = items
        .iter()
        .filter(|s| text(s, "/state") == Some("SANDBOX_READY"))
        .max_by_key(|s| created(s));
    match ready.and_then(|s| text(s, "/id")) {
        Some(id) => Ok(id.to_string()),
        None if items.is_empty() => Err("the runtime has no sandbox for the pod".into()),
        None => Err(format!(
            "none of the pod's {} sandbox(es) is ready",
            items.len()
        )),
    }
}

/// What `crictl inspectp` says of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxStatus {
    pub id: String,
    /// `SANDBOX_READY`, `SANDBOX_NOTREADY`.
    pub state: String,
    /// `status.network.ip`, then the `additionalIps`.
    pub ips: Vec<String>,
    /// `status.linux.namespaces.options.network` is `NODE`: the node's own network.
    pub host_network: bool,
    /// The network namespace in the runtime's spec for the sandbox
    /// (`info.runtimeSpec.linux.namespaces[type=network].path`).
    pub netns: Option<String>,
}

/// `crictl inspectp -o json ID`'s answer.
pub fn parse_inspectp(stdout: &str) -> Result<SandboxStatus, String> {
    let v = single(stdout, "crictl inspectp")?;
    let id = text(&v, "/status/id").ok_or("crictl inspectp: no status.id")?;
    let mut ips: Vec<String> = text(&v, "/status/network/ip")
        .map(str::to_string)
        .into_iter()
        .collect();
    ips.extend(
        v.pointer("/status/network/additionalIps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| text(a, "/ip").map(str::to_string)),
    );
    let netns = v
        .pointer("/info/runtimeSpec/linux/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|n| text(n, "/type") == Some("network"))
        .and_then(|n| text(n, "/path"))
        .map(str::to_string);
    Ok(SandboxStatus {
        id: id.to_string(),
        state: text(&v, "/status/state").unwrap_or_default().to_string(),
        ips,
        host_network: text(&v, "/status/linux/namespaces/options/network") == Some("NODE"),
        netns,
    })
}

/// `ip -j addr show` in the sandbox's namespace: (interface, address/prefix), without `lo`.
pub fn parse_addresses(stdout: &str) -> Result<Vec<(String, String)>, String> {
    Ok(podcheck_host::ip::interfaces(stdout)?
        .into_iter()
        .filter(|i| i.name != "lo")
        .flat_map(|i| {
            i.addresses
                .into_iter()
                .map(move |a| (i.name.clone(), a.to_string()))
        })
        .collect())
}

/// What the node's TCP connection to the pod came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The pod's stack answered: how.
    Reached(String),
    /// It did not: why.
    NotReached(String),
    /// The command did not run on the node (the CLI or the node failed): what was said.
    NotRun(String),
}

/// Reads the reach command's exit code and output (stdout and stderr together). bash names
/// `/dev/tcp/IP/9` in every failure of its own; `timeout` exits 124 at its deadline.
pub fn parse_reach(code: Option<i32>, output: &str) -> Reach {
    let said = output.trim().replace('\n', "; ");
    if output.lines().any(|l| l.trim() == "connected") {
        return Reach::Reached(
            "a TCP connection from the node to port 9 was accepted by the pod".into(),
        );
    }
    if output.contains("Connection refused") {
        return Reach::Reached(
            "a TCP connection from the node to port 9 was refused by the pod's stack (a reset): the packets arrived"
                .into(),
        );
    }
    if code == Some(124) {
        return Reach::NotReached(format!(
            "a TCP connection from the node to port 9 was not answered within {REACH_SECONDS} s"
        ));
    }
    if output.contains("/dev/tcp/") {
        return Reach::NotReached(format!(
            "a TCP connection from the node to port 9 failed: {said}"
        ));
    }
    Reach::NotRun(said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// `crictl inspect` of a running container on a kind node (containerd 2.1), as crictl
    /// 1.33 prints it; the verbose info trimmed.
    const INSPECT_RUNNING: &str = r#"{
  "info": {
    "config": {"metadata": {"name": "c"}},
    "pid": 4312,
    "removing": false,
    "runtimeType": "io.containerd.runc.v2",
    "sandboxID": "5b1c09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918077665544",
    "snapshotKey": "0f0c1b9e8d7c6b5a49382716f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c",
    "snapshotter": "overlayfs"
  },
  "status": {
    "annotations": {
      "io.kubernetes.container.hash": "6a3e2f1b",
      "io.kubernetes.container.restartCount": "0",
      "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
      "io.kubernetes.container.terminationMessagePolicy": "File",
      "io.kubernetes.pod.terminationGracePeriod": "30"
    },
    "createdAt": "2026-12-06T21:40:02.514203112Z",
    "exitCode": 0,
    "finishedAt": "0001-01-01T00:00:00Z",
    "id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "image": {
      "annotations": {},
      "image": "docker.io/library/busybox:1.36",
      "runtimeHandler": "",
      "userSpecifiedImage": ""
    },
    "imageId": "",
    "imageRef": "docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
    "labels": {
      "io.kubernetes.container.name": "c",
      "io.kubernetes.pod.name": "busybox",
      "io.kubernetes.pod.namespace": "pc-pod-lifecycle-busybox-runs",
      "io.kubernetes.pod.uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"
    },
    "logPath": "/var/log/pods/pc-pod-lifecycle-busybox-runs_busybox_a8ec414b-22b1-4471-840c-009f9989e4d8/c/0.log",
    "message": "",
    "metadata": {"attempt": 0, "name": "c"},
    "mounts": [],
    "reason": "",
    "resources": null,
    "startedAt": "2026-12-06T21:40:02.601877201Z",
    "state": "CONTAINER_RUNNING",
    "stopSignal": "RUNTIME_DEFAULT",
    "user": {"linux": {"gid": "0", "supplementalGroups": ["0", "10"], "uid": "0"}}
  }
}
"#;

    /// `crictl pods --label … -o json`: a sandbox that was replaced, and the current one.
    const PODS: &str = r#"{
  "items": [
    {
      "annotations": {"kubernetes.io/config.seen": "2026-12-06T21:40:01.902Z"},
      "createdAt": "1796593202103884102",
      "id": "5b1c09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918077665544",
      "labels": {"io.kubernetes.pod.uid": "a8ec414b-22b1-4471-840c-009f9989e4d8", "run": "busybox"},
      "metadata": {"attempt": 1, "name": "busybox", "namespace": "pc-pod-lifecycle-busybox-runs", "uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"},
      "runtimeHandler": "",
      "state": "SANDBOX_READY"
    },
    {
      "annotations": {},
      "createdAt": "1796593201905113377",
      "id": "77aa09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918000000000",
      "labels": {"io.kubernetes.pod.uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"},
      "metadata": {"attempt": 0, "name": "busybox", "namespace": "pc-pod-lifecycle-busybox-runs", "uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"},
      "runtimeHandler": "",
      "state": "SANDBOX_NOTREADY"
    }
  ]
}
"#;

    /// `crictl inspectp` of that sandbox (containerd's verbose info trimmed to what matters).
    const INSPECTP: &str = r#"{
  "info": {
    "cniResult": {"Interfaces": {"eth0": {"IPConfigs": [{"IP": "10.244.1.3", "Gateway": "10.244.1.1"}], "Mac": "ce:51:2f:0a:93:7e", "Sandbox": "/var/run/netns/cni-7d2c6d1e-3f7c-5b0b-4d5c-0b1a2f3e4d5c"}},
                  "DNS": [{}, {}], "Routes": null},
    "image": "registry.k8s.io/pause:3.10",
    "netNamespaceClosed": false,
    "pid": 4250,
    "processStatus": "running",
    "runtimeSpec": {
      "hostname": "busybox",
      "linux": {
        "cgroupsPath": "kubelet-kubepods-besteffort-poda8ec414b_22b1_4471_840c_009f9989e4d8.slice:cri-containerd:5b1c09d2",
        "namespaces": [
          {"type": "pid"},
          {"type": "ipc"},
          {"type": "uts"},
          {"type": "mount"},
          {"path": "/var/run/netns/cni-7d2c6d1e-3f7c-5b0b-4d5c-0b1a2f3e4d5c", "type": "network"}
        ]
      },
      "ociVersion": "1.2.1"
    },
    "runtimeType": "io.containerd.runc.v2",
    "snapshotter": "overlayfs"
  },
  "status": {
    "annotations": {"kubernetes.io/config.seen": "2026-12-06T21:40:01.902Z"},
    "createdAt": "2026-12-06T21:40:02.103884102Z",
    "id": "5b1c09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918077665544",
    "labels": {"io.kubernetes.pod.uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"},
    "linux": {"namespaces": {"options": {"ipc": "POD", "network": "POD", "pid": "CONTAINER", "targetId": "", "usernsOptions": null}}},
    "metadata": {"attempt": 1, "name": "busybox", "namespace": "pc-pod-lifecycle-busybox-runs", "uid": "a8ec414b-22b1-4471-840c-009f9989e4d8"},
    "network": {"additionalIps": [{"ip": "fd00:10:244:1::3"}], "ip": "10.244.1.3"},
    "runtimeHandler": "",
    "state": "SANDBOX_READY"
  }
}
"#;

    /// iproute2's `ip -j addr show` in a kindnet pod's namespace.
    const IP_ADDR: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","noprefixroute":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link_index":7,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"ce:51:2f:0a:93:7e","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[{"family":"inet","local":"10.244.1.3","prefixlen":24,"broadcast":"10.244.1.255","scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::cc51:2fff:fe0a:937e","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]"#;

    #[test]
    fn command_lines_are_crictls_own() {
        assert_eq!(version(), ["crictl", "version"]);
        assert_eq!(
            inspect("0123abcd"),
            ["crictl", "inspect", "-o", "json", "0123abcd"]
        );
        assert_eq!(
            pods_of("a8ec414b-22b1"),
            [
                "crictl",
                "pods",
                "--label",
                "io.kubernetes.pod.uid=a8ec414b-22b1",
                "-o",
                "json"
            ]
        );
        assert_eq!(
            inspectp("5b1c"),
            ["crictl", "inspectp", "-o", "json", "5b1c"]
        );
        assert_eq!(
            addresses_in("/var/run/netns/cni-1"),
            [
                "nsenter",
                "--net=/var/run/netns/cni-1",
                "ip",
                "-j",
                "addr",
                "show"
            ]
        );
        let reach = reach("10.244.1.3");
        assert_eq!(reach[..4], ["timeout", "2", "bash", "-c"]);
        assert_eq!(reach[5..], ["reach", "10.244.1.3"]);
    }

    #[test]
    fn the_version_names_the_runtime() {
        let out = "Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  v2.1.1\nRuntimeApiVersion:  v1\n";
        assert_eq!(
            parse_version(out),
            Ok(RuntimeVersion {
                name: "containerd".into(),
                version: "v2.1.1".into()
            })
        );
        let err = parse_version("time=\"…\" level=fatal msg=\"connect: connection refused\"\n")
            .unwrap_err();
        assert!(err.contains("no RuntimeName"), "{err}");
    }

    #[test]
    fn inspect_gives_the_id_and_state() {
        let status = parse_inspect(INSPECT_RUNNING).unwrap();
        assert_eq!(
            status,
            ContainerStatus {
                id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                name: "c".into(),
                state: ContainerState::Running,
                exit_code: None,
                reason: None,
            }
        );
        assert_eq!(status.state.word(), "running");
        // Several IDs print an array; one in an array is the same answer.
        let one = format!("[{INSPECT_RUNNING}]");
        assert_eq!(parse_inspect(&one).unwrap().id, status.id);
    }

    #[rstest]
    #[case::exited("CONTAINER_EXITED", ContainerState::Exited, "exited")]
    #[case::created("CONTAINER_CREATED", ContainerState::Created, "created")]
    #[case::unknown("CONTAINER_UNKNOWN", ContainerState::Unknown, "unknown")]
    fn every_cri_state_has_its_word(
        #[case] cri: &str,
        #[case] state: ContainerState,
        #[case] word: &str,
    ) {
        let text = INSPECT_RUNNING
            .replace("CONTAINER_RUNNING", cri)
            .replace("\"exitCode\": 0", "\"exitCode\": 137")
            .replace("\"reason\": \"\"", "\"reason\": \"Error\"");
        let status = parse_inspect(&text).unwrap();
        assert_eq!((status.state, status.state.word()), (state, word));
        assert_eq!(status.reason.as_deref(), Some("Error"));
        assert_eq!(
            status.exit_code,
            (state == ContainerState::Exited).then_some(137)
        );
    }

    #[rstest]
    #[case::not_json("level=error msg=\"…\"", "not JSON")]
    #[case::no_state(r#"{"status": {"id": "abc"}, "info": {}}"#, "no status.state")]
    #[case::strange_state(
        r#"{"status": {"id": "abc", "state": "PAUSED"}}"#,
        "unknown container state \"PAUSED\""
    )]
    #[case::two_answers(r#"[{"status": {}}, {"status": {}}]"#, "2 answers for one ID")]
    fn a_wrong_inspect_answer_says_what_is_wrong(#[case] stdout: &str, #[case] words: &str) {
        let err = parse_inspect(stdout).unwrap_err();
        assert!(err.contains(words), "{err}");
    }

    #[test]
    fn not_found_is_crictls_grpc_code() {
        let stderr = "time=\"2026-12-06T21:40:09Z\" level=error msg=\"get the status of containers: get container status: rpc error: code = NotFound desc = an error occurred when try to find container \\\"fedcba\\\": not found\"\n";
        assert!(not_found(stderr));
        assert!(!not_found(
            "level=error msg=\"validate service connection: … connection refused\""
        ));
    }

    #[test]
    fn the_ready_sandbox_is_the_newest_ready_one() {
        assert_eq!(
            ready_sandbox(PODS).unwrap(),
            "5b1c09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918077665544"
        );
        let none_ready = PODS.replace("\"SANDBOX_READY\"", "\"SANDBOX_NOTREADY\"");
        assert_eq!(
            ready_sandbox(&none_ready).unwrap_err(),
            "none of the pod's 2 sandbox(es) is ready"
        );
        assert_eq!(
            ready_sandbox("{\"items\": []}").unwrap_err(),
            "the runtime has no sandbox for the pod"
        );
        // Newest by createdAt even when crictl's order is not relied upon.
        let two_ready = PODS.replace("\"SANDBOX_NOTREADY\"", "\"SANDBOX_READY\"");
        assert!(ready_sandbox(&two_ready).unwrap().starts_with("5b1c"));
    }

    #[test]
    fn inspectp_gives_the_ips_and_the_network_namespace() {
        let status = parse_inspectp(INSPECTP).unwrap();
        assert_eq!(
            status,
            SandboxStatus {
                id: "5b1c09d2c2f1a7e3d6f0b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918077665544".into(),
                state: "SANDBOX_READY".into(),
                ips: vec!["10.244.1.3".into(), "fd00:10:244:1::3".into()],
                host_network: false,
                netns: Some("/var/run/netns/cni-7d2c6d1e-3f7c-5b0b-4d5c-0b1a2f3e4d5c".into()),
            }
        );
    }

    #[test]
    fn a_host_network_sandbox_has_no_namespace_of_its_own() {
        let text = INSPECTP
            .replace("\"network\": \"POD\"", "\"network\": \"NODE\"")
            .replace(
                "{\"path\": \"/var/run/netns/cni-7d2c6d1e-3f7c-5b0b-4d5c-0b1a2f3e4d5c\", \"type\": \"network\"}",
                "{\"type\": \"cgroup\"}",
            )
            .replace("\"ip\": \"10.244.1.3\"", "\"ip\": \"\"");
        let status = parse_inspectp(&text).unwrap();
        assert!(status.host_network);
        assert_eq!(status.netns, None);
        assert_eq!(status.ips, ["fd00:10:244:1::3"]);
    }

    #[test]
    fn without_the_runtimes_info_there_is_no_path() {
        // `crictl inspectp -q`, or a runtime that gives no verbose info.
        let mut bare: Value = serde_json::from_str(INSPECTP).unwrap();
        bare.as_object_mut().unwrap().remove("info");
        let status = parse_inspectp(&bare.to_string()).unwrap();
        assert_eq!(status.netns, None);
        assert_eq!(status.ips[0], "10.244.1.3");
    }

    #[test]
    fn addresses_leave_out_loopback() {
        assert_eq!(
            parse_addresses(IP_ADDR).unwrap(),
            [
                ("eth0".to_string(), "10.244.1.3/24".to_string()),
                (
                    "eth0".to_string(),
                    "fe80::cc51:2fff:fe0a:937e/64".to_string()
                ),
            ]
        );
        assert!(parse_addresses("nsenter: cannot open /var/run/netns/x").is_err());
    }

    #[rstest]
    #[case::refused(
        Some(1),
        "reach: connect: Connection refused\nreach: line 1: /dev/tcp/10.244.1.3/9: Connection refused\n",
        "Reached: refused by the pod's stack"
    )]
    #[case::accepted(Some(0), "connected\n", "Reached: accepted")]
    #[case::silent(Some(124), "", "NotReached: not answered within 2 s")]
    #[case::no_route(
        Some(1),
        "reach: connect: No route to host\nreach: line 1: /dev/tcp/10.244.1.3/9: No route to host\n",
        "NotReached: No route to host"
    )]
    #[case::no_container(
        Some(1),
        "Error response from daemon: No such container: kind-worker9\n",
        "NotRun: No such container"
    )]
    #[case::no_bash(
        Some(127),
        "timeout: failed to run command 'bash': No such file or directory\n",
        "NotRun: failed to run command"
    )]
    fn the_reach_answer_is_read(
        #[case] code: Option<i32>,
        #[case] output: &str,
        #[case] expected: &str,
    ) {
        let (kind, words) = expected.split_once(": ").unwrap();
        let (got, said) = match parse_reach(code, output) {
            Reach::Reached(s) => ("Reached", s),
            Reach::NotReached(s) => ("NotReached", s),
            Reach::NotRun(s) => ("NotRun", s),
        };
        assert_eq!(got, kind, "{said}");
        assert!(said.contains(words), "{said}");
    }
}
