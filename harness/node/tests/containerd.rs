//! The real runtime: a private containerd driven over CRI, with pods on a bridge of the
//! test's own. Needs root, containerd, runc and the CNI plugins; without them each test is
//! fails naming what is missing, unless `PODCHECK_SKIP_REAL=1` (then it is skipped), as every
//! test on real components here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use podcheck_node::cri::{ContainerdOptions, ContainerdProcess, CriRuntime};
use podcheck_node::runtime::{
    ContainerConfig, ContainerState, DnsConfig, Implementation, Runtime, RuntimeError,
    SandboxConfig,
};

const CNI_BIN_DIR: &str = "/usr/lib/cni";
const DEADLINE: Duration = Duration::from_secs(20);

/// `None` when everything the test needs is here; else why not.
fn missing() -> Option<String> {
    if let Err(e) = podcheck_node::cri::usable() {
        return Some(e);
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        if !Path::new(CNI_BIN_DIR).join(plugin).is_file() {
            return Some(format!(
                "the CNI plugin {CNI_BIN_DIR}/{plugin} is missing (Debian package \
                 `containernetworking-plugins`)"
            ));
        }
    }
    if !Path::new("/usr/sbin/ip").is_file() && !Path::new("/sbin/ip").is_file() {
        return Some("the ip command is missing (Debian package `iproute2`)".into());
    }
    None
}

/// Whether the test can run; fails it when it cannot, unless `PODCHECK_SKIP_REAL=1`.
fn runnable(test: &str) -> bool {
    let Some(why) = missing() else {
        return true;
    };
    if std::env::var("PODCHECK_SKIP_REAL").as_deref() != Ok("1") {
        panic!(
            "{test}: the real runtime cannot run: {why} (install it, as .ci/run does, or set PODCHECK_SKIP_REAL=1 to skip tests on real components)"
        );
    }
    eprintln!("skipping {test}: {why}");
    false
}

fn random_hex(digits: usize) -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")[..digits].to_string()
}

/// A subnet 10.250.X.0/24 no interface on this machine has an address in.
fn free_subnet() -> Ipv4Net {
    let used = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for _ in 0..64 {
        let octet: u8 = rand::random();
        if !used.contains(&format!(" 10.250.{octet}.")) {
            return format!("10.250.{octet}.0/24").parse().unwrap();
        }
    }
    panic!("no free 10.250.X.0/24 subnet");
}

/// One containerd with a bridge network of its own, in a temporary directory (on tmpfs
/// where there is one, as /run usually is).
struct Node {
    containerd: Option<ContainerdProcess>,
    runtime: CriRuntime,
    dir: PathBuf,
    cgroup_parent: String,
    socket: PathBuf,
    subnet: Ipv4Net,
    /// Dropped after containerd (field order).
    _scratch: Scratch,
}

/// The test's temporary directory and bridge, removed when dropped, also when the test
/// fails half-way.
struct Scratch {
    bridge: String,
    tmp: tempfile::TempDir,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The bridge plugin never deletes its bridge.
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Node {
    async fn start() -> Node {
        Self::start_with(|_| {}).await
    }

    /// `before` gets the temporary directory before containerd starts in `TMP/node-1`.
    async fn start_with(before: impl FnOnce(&Path)) -> Node {
        let mut builder = tempfile::Builder::new();
        builder.prefix("podcheck-cri-test-");
        let tmp = builder
            .tempdir_in("/dev/shm")
            .or_else(|_| builder.tempdir())
            .unwrap();
        let scratch = Scratch {
            bridge: format!("pcktest{}", random_hex(4)),
            tmp,
        };
        let tmp = scratch.tmp.path().to_path_buf();
        let bridge = scratch.bridge.clone();
        let subnet = free_subnet();
        let cni_dir = tmp.as_path().join("cni");
        std::fs::create_dir_all(&cni_dir).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": bridge,
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "isDefaultGateway": false,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet.to_string()}]],
                    "dataDir": tmp.as_path().join("ipam"),
                },
            }],
        });
        std::fs::write(
            cni_dir.join("10-podcheck.conflist"),
            serde_json::to_vec_pretty(&conflist).unwrap(),
        )
        .unwrap();
        before(&tmp);
        let dir = tmp.as_path().join("node-1");
        let containerd = ContainerdProcess::start(ContainerdOptions::new(&dir, &cni_dir))
            .await
            .expect("containerd starts");
        let timings = containerd.timings();
        eprintln!(
            "containerd {} started in {:?} (ready {:?}, images built {:?}, imported {:?}), \
             snapshotter {}",
            containerd.provider_version(),
            timings.total,
            timings.ready,
            timings.build_images,
            timings.import_images,
            containerd.snapshotter()
        );
        let runtime = containerd.runtime(Implementation {
            name: "bridge".into(),
            real: true,
            version: "cni".into(),
        });
        Node {
            cgroup_parent: containerd.cgroup_parent().to_string(),
            socket: containerd.socket().to_path_buf(),
            containerd: Some(containerd),
            runtime,
            dir,
            subnet,
            _scratch: scratch,
        }
    }

    fn log_root(&self) -> PathBuf {
        self.containerd.as_ref().unwrap().log_root().to_path_buf()
    }

    /// Shuts containerd down (or drops it) and checks that nothing of it remains.
    async fn finish(mut self, graceful: bool) {
        let containerd = self.containerd.take().unwrap();
        let began = Instant::now();
        if graceful {
            containerd.shutdown().await;
        } else {
            drop(containerd);
        }
        eprintln!(
            "containerd {} in {:?}",
            if graceful { "shut down" } else { "dropped" },
            began.elapsed()
        );
        assert_no_leftovers(&self.dir, &self.socket, &self.cgroup_parent);
    }
}

fn mount_points() -> Vec<(PathBuf, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            Some((
                PathBuf::from(left.split(' ').nth(4)?.replace("\\040", " ")),
                right.split(' ').next()?.to_string(),
            ))
        })
        .collect()
}

fn processes_mentioning(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_none()
        {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(text) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    mount_points()
        .into_iter()
        .filter(|(_, fstype)| fstype == "cgroup" || fstype == "cgroup2")
        .map(|(mount, _)| mount.join(parent.trim_start_matches('/')))
        .filter(|p| p.exists())
        .collect()
}

fn assert_no_leftovers(dir: &Path, socket: &Path, cgroup_parent: &str) {
    let dir_text = dir.to_string_lossy();
    let procs = processes_mentioning(&dir_text);
    assert!(procs.is_empty(), "processes remain: {procs:#?}");
    let procs = processes_mentioning(&socket.to_string_lossy());
    assert!(procs.is_empty(), "processes remain: {procs:#?}");
    let mounts: Vec<_> = mount_points()
        .into_iter()
        .filter(|(p, _)| p.starts_with(dir))
        .collect();
    assert!(mounts.is_empty(), "mounts remain: {mounts:#?}");
    let cgroups = cgroup_dirs(cgroup_parent);
    assert!(cgroups.is_empty(), "cgroups remain: {cgroups:#?}");
    assert!(!dir.exists(), "{} remains", dir.display());
}

/// Where containerd 1.6 puts the socket of the shim serving a sandbox:
/// `/run/containerd/s/HEX(sha256(SOCKET/NAMESPACE/ID))`.
fn shim_socket(containerd_socket: &Path, sandbox_id: &str) -> PathBuf {
    use sha2::Digest;
    let key = containerd_socket.join("k8s.io").join(sandbox_id);
    let digest = sha2::Sha256::digest(key.to_string_lossy().as_bytes());
    Path::new("/run/containerd/s").join(hex::encode(digest))
}

fn dns() -> DnsConfig {
    DnsConfig {
        servers: vec!["10.96.0.10".into()],
        searches: vec![
            "default.svc.cluster.local".into(),
            "svc.cluster.local".into(),
            "cluster.local".into(),
        ],
        options: vec!["ndots:5".into()],
    }
}

fn sandbox_config(name: &str) -> SandboxConfig {
    let uid = uuid::Uuid::new_v4().to_string();
    SandboxConfig {
        name: name.into(),
        namespace: "default".into(),
        uid: uid.clone(),
        hostname: name.into(),
        dns: dns(),
        log_directory: format!("/var/log/pods/default_{name}_{uid}"),
    }
}

fn busybox(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: "busybox".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        args: Vec::new(),
        attempt: 0,
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

async fn timed<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let began = Instant::now();
    let out = fut.await;
    eprintln!("{what}: {:?}", began.elapsed());
    out
}

/// Polls the container's state until `done` accepts it, or fails at the deadline.
async fn wait_state(
    rt: &CriRuntime,
    id: &str,
    done: impl Fn(&ContainerState) -> bool,
) -> ContainerState {
    let began = Instant::now();
    loop {
        let state = rt.container_state(id).await.unwrap();
        if done(&state) {
            return state;
        }
        assert!(
            began.elapsed() < DEADLINE,
            "container {id} is still {state:?} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the file contains `text`.
async fn wait_log(path: &Path, text: &str) -> String {
    let began = Instant::now();
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        assert!(
            began.elapsed() < DEADLINE,
            "{} has no {text:?} after {DEADLINE:?}: {log:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_rfc3339_seconds(s: &str) -> bool {
    s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_answers_execs_and_logs() {
    if !runnable("a_pod_runs_answers_execs_and_logs") {
        return;
    }
    let node = Node::start().await;
    let rt = &node.runtime;
    let provider = rt.provider();
    assert_eq!(provider.name, "containerd");
    assert!(provider.real);
    assert!(
        provider.version.contains("(runc "),
        "provider version {:?}",
        provider.version
    );
    assert_eq!(rt.id_scheme(), "containerd");
    assert_eq!(rt.network_provider().name, "bridge");

    let config = sandbox_config("web");
    let sandbox = timed(
        "RunPodSandbox (+ PodSandboxStatus)",
        rt.run_pod_sandbox(&config),
    )
    .await
    .unwrap();
    let std::net::IpAddr::V4(ip) = sandbox.ip else {
        panic!("not IPv4: {}", sandbox.ip);
    };
    assert!(node.subnet.contains(&ip), "{ip} not in {}", node.subnet);
    // The sandbox lives in this containerd's cgroup parent.
    assert!(
        !cgroup_dirs(&node.cgroup_parent).is_empty(),
        "no cgroup {} in any hierarchy",
        node.cgroup_parent
    );
    assert_eq!(
        rt.sandbox_of_pod(&config.uid).await.unwrap(),
        Some(sandbox.id.clone())
    );

    assert!(rt.image_present("busybox").await.unwrap());
    let image_id = rt.image_id("busybox").await.unwrap();
    assert!(image_id.contains("sha256:"), "image id {image_id}");
    eprintln!("busybox image id: {image_id}");

    let container = timed(
        "CreateContainer (+ ImageStatus)",
        rt.create_container(&sandbox.id, &busybox("app", "echo hello; sleep 3600")),
    )
    .await
    .unwrap();
    assert_eq!(
        rt.container_state(&container).await.unwrap(),
        ContainerState::Created
    );
    timed("StartContainer", rt.start_container(&container))
        .await
        .unwrap();
    let state = wait_state(rt, &container, |s| {
        matches!(s, ContainerState::Running { .. })
    })
    .await;
    let ContainerState::Running { started_at } = state else {
        unreachable!()
    };
    assert!(is_rfc3339_seconds(&started_at), "started_at {started_at}");

    let resolv = timed(
        "ExecSync cat /etc/resolv.conf",
        rt.exec_sync(&container, &strings(&["cat", "/etc/resolv.conf"])),
    )
    .await
    .unwrap();
    assert_eq!(resolv.exit_code, 0);
    assert_eq!(String::from_utf8_lossy(&resolv.stdout), dns().resolv_conf());

    let echo = rt
        .exec_sync(&container, &strings(&["echo", "hi there"]))
        .await
        .unwrap();
    assert_eq!(
        (echo.exit_code, echo.stdout.as_slice()),
        (0, &b"hi there\n"[..])
    );
    let exit3 = timed(
        "ExecSync sh -c 'exit 3'",
        rt.exec_sync(&container, &strings(&["sh", "-c", "echo oops >&2; exit 3"])),
    )
    .await
    .unwrap();
    assert_eq!(exit3.exit_code, 3);
    assert_eq!(exit3.stderr, b"oops\n");
    // Calls longer than the channel's connect timeout (1 s while waiting for readiness).
    let slow = rt
        .exec_sync(&container, &strings(&["sh", "-c", "sleep 1.5; echo slow"]))
        .await
        .unwrap();
    assert_eq!(slow.stdout, b"slow\n");
    let hostname = rt
        .exec_sync(&container, &strings(&["hostname"]))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&hostname.stdout).trim(), "web");

    let log = rt
        .container_log(&container)
        .await
        .unwrap()
        .expect("a log file");
    assert!(
        log.starts_with(node.log_root()),
        "{} is not under {}",
        log.display(),
        node.log_root().display()
    );
    let text = wait_log(&log, "hello").await;
    // CRI log format: TIMESTAMP STREAM P|F LINE.
    assert!(
        text.lines().any(|l| l.ends_with(" stdout F hello")),
        "{text:?}"
    );

    let netns = rt
        .sandbox_netns(&sandbox.id)
        .await
        .unwrap()
        .expect("a netns");
    assert!(netns.exists(), "{} does not exist", netns.display());
    assert!(
        netns.starts_with(&node.dir),
        "{} not under the dir",
        netns.display()
    );

    assert!(matches!(
        rt.container_state("no-such-container").await,
        Err(RuntimeError::NoContainer(_))
    ));
    assert!(matches!(
        rt.sandbox_netns("no-such-sandbox").await,
        Err(RuntimeError::NoSandbox(_))
    ));

    let shim_socket = shim_socket(&node.socket, &sandbox.id);
    assert!(shim_socket.exists(), "{} is missing", shim_socket.display());
    timed("StopPodSandbox", rt.stop_pod_sandbox(&sandbox.id))
        .await
        .unwrap();
    rt.stop_pod_sandbox(&sandbox.id).await.unwrap();
    assert!(matches!(
        rt.container_state(&container).await.unwrap(),
        ContainerState::Exited { .. }
    ));
    assert_eq!(rt.sandbox_of_pod(&config.uid).await.unwrap(), None);
    timed("RemovePodSandbox", rt.remove_pod_sandbox(&sandbox.id))
        .await
        .unwrap();
    rt.remove_pod_sandbox(&sandbox.id).await.unwrap();
    rt.stop_pod_sandbox(&sandbox.id).await.unwrap();
    assert!(matches!(
        rt.container_state(&container).await,
        Err(RuntimeError::NoContainer(_))
    ));
    assert!(!log.exists(), "the pod's log directory is removed with it");
    assert!(!shim_socket.exists(), "{} remains", shim_socket.display());

    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_never_imported_fails_to_pull_with_containerds_message() {
    if !runnable("an_image_never_imported_fails_to_pull_with_containerds_message") {
        return;
    }
    // Leftovers of a containerd whose owner is gone, beside this one: removed at start.
    let stale_parent = format!("/podcheck-test{}", random_hex(8));
    let pids_cgroup = cgroup_dirs("/")
        .into_iter()
        .find(|p| p.ends_with("pids"))
        .map(|p| p.join(stale_parent.trim_start_matches('/')));
    let node = Node::start_with(|tmp| {
        let stale = tmp.join("node-0");
        std::fs::create_dir_all(stale.join("root")).unwrap();
        // No process has pid 2^22 + 1 (above pid_max's limit).
        std::fs::write(stale.join("podcheck-containerd.owner"), "4194305 1\n").unwrap();
        std::fs::write(stale.join("podcheck-containerd.cgroup"), &stale_parent).unwrap();
        if let Some(cgroup) = &pids_cgroup {
            std::fs::create_dir_all(cgroup).unwrap();
        }
    })
    .await;
    let stale = node.dir.parent().unwrap().join("node-0");
    assert!(!stale.exists(), "the stale directory was swept");
    if let Some(cgroup) = &pids_cgroup {
        assert!(!cgroup.exists(), "the stale cgroup was swept");
    }

    let rt = &node.runtime;
    let image = "docker.io/library/podcheck-never-imported:1";
    assert!(!rt.image_present(image).await.unwrap());
    let began = Instant::now();
    let err = rt.pull_image(image).await.unwrap_err();
    let took = began.elapsed();
    eprintln!("PullImage failed in {took:?}: {err}");
    let RuntimeError::Rpc { message, .. } = err else {
        panic!("not an rpc error: {err:?}");
    };
    assert!(message.contains(image), "{message}");
    assert!(message.contains("failed to pull"), "{message}");
    // The pull never left the machine: its only dial was the dead proxy on loopback, and
    // it failed at once.
    assert!(
        message.contains("proxyconnect tcp: dial tcp 127.0.0.1:"),
        "{message}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(matches!(
        rt.image_id(image).await,
        Err(RuntimeError::Failed(_))
    ));

    let sandbox = rt.run_pod_sandbox(&sandbox_config("pull")).await.unwrap();
    let err = rt
        .create_container(
            &sandbox.id,
            &ContainerConfig {
                name: "c".into(),
                image: image.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    eprintln!("CreateContainer without the image: {err}");
    let RuntimeError::Failed(message) = err else {
        panic!("not Failed: {err:?}");
    };
    assert!(message.contains("podcheck-never-imported"), "{message}");
    let err = rt
        .create_container("no-such-sandbox", &busybox("c", "true"))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NoSandbox(_)), "{err:?}");
    // Left running: shutdown stops and removes it through CRI.
    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exiting_container_reports_its_exit_code() {
    if !runnable("an_exiting_container_reports_its_exit_code") {
        return;
    }
    let node = Node::start().await;
    let rt = &node.runtime;
    let sandbox = rt.run_pod_sandbox(&sandbox_config("job")).await.unwrap();
    let container = rt
        .create_container(&sandbox.id, &busybox("job", "echo bye; exit 2"))
        .await
        .unwrap();
    rt.start_container(&container).await.unwrap();
    let state = wait_state(rt, &container, |s| {
        matches!(s, ContainerState::Exited { .. })
    })
    .await;
    let ContainerState::Exited {
        exit_code,
        reason,
        finished_at,
    } = state
    else {
        unreachable!()
    };
    assert_eq!(exit_code, 2);
    assert_eq!(reason, "Error");
    assert!(
        is_rfc3339_seconds(&finished_at),
        "finished_at {finished_at}"
    );
    let log = rt.container_log(&container).await.unwrap().unwrap();
    wait_log(&log, "bye").await;
    assert!(rt.exec_sync(&container, &strings(&["true"])).await.is_err());
    rt.stop_pod_sandbox(&sandbox.id).await.unwrap();
    rt.remove_pod_sandbox(&sandbox.id).await.unwrap();
    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_containerd_with_a_running_pod_leaves_nothing() {
    if !runnable("dropping_containerd_with_a_running_pod_leaves_nothing") {
        return;
    }
    let node = Node::start().await;
    let rt = &node.runtime;
    let sandbox = rt.run_pod_sandbox(&sandbox_config("left")).await.unwrap();
    let container = rt
        .create_container(&sandbox.id, &busybox("app", "sleep 3600"))
        .await
        .unwrap();
    rt.start_container(&container).await.unwrap();
    wait_state(rt, &container, |s| {
        matches!(s, ContainerState::Running { .. })
    })
    .await;
    let shims = processes_mentioning(&node.socket.to_string_lossy());
    assert!(!shims.is_empty(), "a shim serves the pod");
    let shim_socket = shim_socket(&node.socket, &sandbox.id);
    assert!(shim_socket.exists(), "{} is missing", shim_socket.display());
    // No CRI calls: the shims, the pause and app processes, mounts and cgroups are all
    // cleaned up from the outside.
    node.finish(false).await;
    // The killed shim's socket lives outside the directory: removed too.
    assert!(!shim_socket.exists(), "{} remains", shim_socket.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containerds_side_by_side_do_not_touch_each_other() {
    if !runnable("two_containerds_side_by_side_do_not_touch_each_other") {
        return;
    }
    let (a, b) = tokio::join!(Node::start(), Node::start());
    assert_ne!(a.cgroup_parent, b.cgroup_parent);
    let mut running = Vec::new();
    for node in [&a, &b] {
        let rt = &node.runtime;
        let sandbox = rt.run_pod_sandbox(&sandbox_config("twin")).await.unwrap();
        let container = rt
            .create_container(&sandbox.id, &busybox("app", "sleep 3600"))
            .await
            .unwrap();
        rt.start_container(&container).await.unwrap();
        wait_state(rt, &container, |s| {
            matches!(s, ContainerState::Running { .. })
        })
        .await;
        running.push(container);
    }
    // One goes away with its pod still running; the other's pod is unharmed.
    a.finish(true).await;
    let rt = &b.runtime;
    assert!(matches!(
        rt.container_state(&running[1]).await.unwrap(),
        ContainerState::Running { .. }
    ));
    let out = rt
        .exec_sync(&running[1], &strings(&["echo", "still here"]))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still here\n");
    b.finish(true).await;
}

/// Set for the child process of `a_killed_owners_leftovers_are_swept_by_the_next_start`: the
/// temporary directory it runs its containerd in (`DIR/node-0`, CNI config in `DIR/cni`).
const HELPER_ENV: &str = "PODCHECK_CRI_TEST_HELPER_DIR";

/// Not a test of its own: run as a child process by
/// `a_killed_owners_leftovers_are_swept_by_the_next_start`, it starts containerd with a
/// running pod, reports, and waits to be SIGKILLed. Without its environment variable it
/// does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_helper() {
    let Some(tmp) = std::env::var_os(HELPER_ENV).map(PathBuf::from) else {
        return;
    };
    let containerd =
        ContainerdProcess::start(ContainerdOptions::new(tmp.join("node-0"), tmp.join("cni")))
            .await
            .expect("containerd starts");
    let rt = containerd.runtime(Implementation {
        name: "bridge".into(),
        real: true,
        version: "cni".into(),
    });
    let sandbox = rt.run_pod_sandbox(&sandbox_config("orphan")).await.unwrap();
    let container = rt
        .create_container(&sandbox.id, &busybox("app", "sleep 3600"))
        .await
        .unwrap();
    rt.start_container(&container).await.unwrap();
    wait_state(&rt, &container, |s| {
        matches!(s, ContainerState::Running { .. })
    })
    .await;
    println!(
        "READY {} {} {}",
        containerd.cgroup_parent(),
        containerd.socket().display(),
        sandbox.id
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Never reached when killed; a forgotten helper still cleans up.
    containerd.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owners_leftovers_are_swept_by_the_next_start() {
    if !runnable("a_killed_owners_leftovers_are_swept_by_the_next_start") {
        return;
    }
    let mut orphan: Option<(PathBuf, PathBuf, String, String)> = None;
    let node = Node::start_with(|tmp| {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_helper",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(HELPER_ENV, tmp)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                // libtest prints `test NAME ... ` before the test's own output.
                if let Some((_, rest)) = line.split_once("READY ") {
                    let _ = tx.send(rest.to_string());
                    return;
                }
            }
        });
        let ready = rx.recv_timeout(DEADLINE);
        // SIGKILL: no Drop, no shutdown. setpriv's parent-death signal takes containerd
        // down with it; the shim and the pod's processes stay.
        child.kill().unwrap();
        child.wait().unwrap();
        let ready = ready.expect("the helper reports a running pod");
        let mut parts = ready.split(' ');
        let (cgroup_parent, socket, sandbox) = (
            parts.next().unwrap().to_string(),
            PathBuf::from(parts.next().unwrap()),
            parts.next().unwrap().to_string(),
        );
        let dir = tmp.join("node-0");
        let config = dir.join("config.toml").to_string_lossy().into_owned();
        let began = Instant::now();
        while !processes_mentioning(&config).is_empty() {
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "containerd outlived its killed owner"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !processes_mentioning(&socket.to_string_lossy()).is_empty(),
            "the shim outlives its containerd"
        );
        assert!(!cgroup_dirs(&cgroup_parent).is_empty());
        orphan = Some((dir, socket, cgroup_parent, sandbox));
    })
    .await;
    let (dir, socket, cgroup_parent, sandbox) = orphan.unwrap();
    // The start above swept it all.
    assert_no_leftovers(&dir, &socket, &cgroup_parent);
    let shim_socket = shim_socket(&socket, &sandbox);
    assert!(!shim_socket.exists(), "{} remains", shim_socket.display());
    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containerd_that_does_not_start_says_why_and_leaves_nothing() {
    if !runnable("a_containerd_that_does_not_start_says_why_and_leaves_nothing") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node-1");
    let mut opts = ContainerdOptions::new(&dir, tmp.path().join("cni"));
    opts.binary = PathBuf::from("/bin/false");
    let err = ContainerdProcess::start(opts).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("exited during start-up"), "{message}");
    assert!(message.contains("containerd.log"), "{message}");
    assert!(!dir.exists(), "{} remains", dir.display());

    // A directory that is not empty is refused, and left as it was.
    std::fs::create_dir_all(dir.join("mine")).unwrap();
    let err = ContainerdProcess::start(ContainerdOptions::new(&dir, tmp.path().join("cni")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(dir.join("mine").exists());
}
