//! `podcheck` on real components: etcd, containerd + runc, the CNI bridge plugin and DNS
//! from inside the pod — and nothing left behind afterwards, whether the run ends, is
//! interrupted, or loses its runtime. These tests fail where the components are missing
//! (`.ci/run` installs them), unless `PODCHECK_SKIP_REAL=1`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Up, podcheck, real_or_skip, text, workspace};

/// What a podcheck process made on the host, seen while it ran.
#[derive(Debug, Default, Clone)]
struct Footprint {
    dirs: BTreeSet<PathBuf>,
    cgroups: BTreeSet<String>,
    bridges: BTreeSet<String>,
}

impl Footprint {
    /// Adds what podcheck `pid` has now: its run dirs, the cgroup parents its containerds
    /// recorded there, and the bridges whose owner file names it.
    fn add(&mut self, pid: u32) {
        let prefix = format!("cp-{pid}-");
        for entry in std::fs::read_dir("/run/podcheck")
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                self.dirs.insert(entry.path());
                for node in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let file = node.path().join("containerd/podcheck-containerd.cgroup");
                    if let Ok(cg) = std::fs::read_to_string(file) {
                        self.cgroups.insert(cg.trim().to_string());
                    }
                }
            }
        }
        for entry in std::fs::read_dir("/run/podcheck/net")
            .into_iter()
            .flatten()
            .flatten()
        {
            let owner = std::fs::read_to_string(entry.path().join("owner")).unwrap_or_default();
            if owner.split_whitespace().next() == Some(pid.to_string().as_str()) {
                self.bridges
                    .insert(entry.file_name().to_string_lossy().to_string());
            }
        }
    }

    /// Everything of this footprint still on the host.
    fn leftovers(&self, pid: u32) -> Vec<String> {
        let mut left = Vec::new();
        let prefix = format!("/run/podcheck/cp-{pid}-");
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&prefix) {
                left.push(format!(
                    "process {}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        for line in mounts.lines().filter(|l| l.contains(&prefix)) {
            left.push(format!("mount: {line}"));
        }
        for d in &self.dirs {
            if d.exists() {
                left.push(format!("dir {}", d.display()));
            }
        }
        for cg in &self.cgroups {
            for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
                let p = ctrl.path().join(cg.trim_start_matches('/'));
                if p.exists() {
                    left.push(format!("cgroup {}", p.display()));
                }
            }
        }
        for b in &self.bridges {
            if Path::new("/sys/class/net").join(b).exists() {
                left.push(format!("bridge {b}"));
            }
            let table = Command::new("nft")
                .args(["list", "table", "ip", &format!("podcheck_{b}")])
                .output()
                .unwrap();
            if table.status.success() {
                left.push(format!("nft table podcheck_{b}"));
            }
            if Path::new("/run/podcheck/net").join(b).exists() {
                left.push(format!("state dir /run/podcheck/net/{b}"));
            }
        }
        left
    }
}

/// Polls the footprint of a running podcheck until it exits.
struct Watched {
    child: Child,
    footprint: Arc<Mutex<Footprint>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Watched {
    fn spawn(cmd: &mut Command) -> Watched {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let footprint = Arc::new(Mutex::new(Footprint::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, s) = (footprint.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                f.lock().unwrap().add(pid);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watched {
            child,
            footprint,
            stop,
        }
    }

    /// Waits for the exit (bounded) and returns the output.
    fn finish(self, within: Duration) -> Output {
        let deadline = Instant::now() + within;
        let mut child = self.child;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("podcheck did not finish within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        child.wait_with_output().unwrap()
    }
}

fn assert_nothing_left(pid: u32, footprint: &Footprint) {
    assert!(
        !footprint.dirs.is_empty()
            && !footprint.bridges.is_empty()
            && !footprint.cgroups.is_empty(),
        "the run made no real nodes: {footprint:?}"
    );
    let left = footprint.leftovers(pid);
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
}

fn results(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn stage<'a>(results: &'a serde_json::Value, case: &str, stage: &str) -> &'a serde_json::Value {
    results["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap())
        .find(|c| c["name"] == case)
        .and_then(|c| {
            c["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["stage"] == stage)
        })
        .unwrap_or_else(|| panic!("no {case}/{stage} in {results}"))
}

/// The providers named by a stage's evidence.
fn providers(stage: &serde_json::Value) -> Vec<String> {
    stage["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["real"] == true)
        .map(|e| e["provider"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pod_lifecycle_passes_on_real_components_and_leaves_nothing() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let run = Watched::spawn(
        podcheck()
            .args([
                "run",
                "suites/pod-lifecycle",
                "--require-real",
                "store,runtime,network,dns",
            ])
            .arg("--report-dir")
            .arg(reports.path()),
    );
    let pid = run.child.id();
    let footprint_of = run.footprint.clone();
    let out = run.finish(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(reports.path());
    for case in ["busybox-runs", "service-resolves"] {
        let has = |stage_name: &str, needle: &str| {
            let p = providers(stage(&r, case, stage_name));
            assert!(
                p.iter().any(|p| p.contains(needle)),
                "{case}/{stage_name}: no real evidence from {needle}: {p:?}"
            );
        };
        has("etcdWrite", "etcd");
        has("statusUpdate", "etcd");
        has("criLaunch", "containerd");
        has("criLaunch", "podcheck-registry");
        has("cniAttach", "bridge");
        has("dns", "in-pod lookup");
        let cri = stage(&r, case, "criLaunch").to_string();
        assert!(
            cri.contains("runc"),
            "the runtime's version names runc: {cri}"
        );
        let cni = stage(&r, case, "cniAttach").to_string();
        assert!(cni.contains("eth0") && cni.contains("reaches"), "{cni}");
    }
    assert_nothing_left(pid, &footprint_of.lock().unwrap());
}

/// suites/scheduler declares four nodes: on real components their pods share one pod
/// network (one bridge, a /24 each), and the second pod of cniAttach, on another node,
/// reaches each case's pod.
#[test]
fn the_scheduler_suite_reaches_pods_across_its_four_real_nodes() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let run = Watched::spawn(
        podcheck()
            .args([
                "run",
                "suites/scheduler",
                "--require-real",
                "store,runtime,network",
            ])
            .arg("--report-dir")
            .arg(reports.path()),
    );
    let pid = run.child.id();
    let footprint_of = run.footprint.clone();
    let out = run.finish(Duration::from_secs(180));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(reports.path());
    let cases = r["suites"][0]["cases"].as_array().unwrap();
    let mut across = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let of = |wanted: &str| {
            case["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["stage"] == wanted)
                .unwrap()
                .clone()
        };
        if of("criLaunch")["status"] != "passed" {
            continue;
        }
        let cni = of("cniAttach");
        assert_eq!(cni["status"], "passed", "{name}: {cni}");
        let words = cni.to_string();
        assert!(
            words.contains("on another node") && words.contains("reached"),
            "{name}: the second pod on another node reached the pod: {words}"
        );
        across += 1;
    }
    assert!(
        across >= 5,
        "{across} running cases were reached across nodes"
    );
    // One segment for the four nodes: one bridge, not one per node.
    let footprint = footprint_of.lock().unwrap().clone();
    assert_eq!(footprint.bridges.len(), 1, "{footprint:?}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        forwarding,
        "net.ipv4.ip_forward is untouched"
    );
    assert_nothing_left(pid, &footprint);
}

#[test]
fn kubectl_logs_and_exec_reach_a_real_container_and_ctrl_c_leaves_nothing() {
    if !real_or_skip() {
        return;
    }
    let mut up = Up::start(&["--runtime", "containerd"]);
    let mut footprint = Footprint::default();
    footprint.add(up.child.id());
    let pid = up.child.id();
    let created = up.kubectl(&[
        "run",
        "echo",
        "--image",
        "busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo hello from a real container; sleep 3600",
    ]);
    assert!(created.status.success(), "{}", text(&created));
    up.until(&["get", "pod", "echo"], |t| t.contains("Running"));
    let logs = up.until(&["logs", "echo"], |t| !t.is_empty());
    assert_eq!(logs, "hello from a real container\n");
    let resolv = up.until(&["exec", "echo", "--", "cat", "/etc/resolv.conf"], |t| {
        !t.is_empty()
    });
    assert!(resolv.contains("nameserver 10.96.0.10"), "{resolv}");
    // kubectl 1.27 execs over SPDY: the same file from the same real container.
    let old = Path::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.27");
    if old.is_file() {
        let out = Command::new(old)
            .args([
                "--request-timeout=20s",
                "exec",
                "echo",
                "--",
                "cat",
                "/etc/resolv.conf",
            ])
            .env("KUBECONFIG", &up.kubeconfig)
            .env("KUBECACHEDIR", up.cache.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), resolv);
        let code = Command::new(old)
            .args([
                "--request-timeout=20s",
                "exec",
                "echo",
                "--",
                "sh",
                "-c",
                "exit 3",
            ])
            .env("KUBECONFIG", &up.kubeconfig)
            .env("KUBECACHEDIR", up.cache.path())
            .status()
            .unwrap();
        assert_eq!(
            code.code(),
            Some(3),
            "kubectl 1.27 exits with the command's code"
        );
    }
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    let id = up.until(
        &[
            "get",
            "pod",
            "echo",
            "-o",
            "jsonpath={.status.containerStatuses[0].containerID}",
        ],
        |t| !t.is_empty(),
    );
    assert!(id.starts_with("containerd://"), "{id}");

    // A container that ends: its exit is reported, and its log stays readable.
    let done = up.kubectl(&[
        "run",
        "once",
        "--image",
        "busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo bye; exit 3",
    ]);
    assert!(done.status.success(), "{}", text(&done));
    up.until(
        &["get", "pod", "once", "-o", "jsonpath={.status.phase}"],
        |t| t == "Failed",
    );
    let code = up.until(
        &[
            "get",
            "pod",
            "once",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
        ],
        |t| !t.is_empty(),
    );
    assert_eq!(code, "3");
    assert_eq!(up.until(&["logs", "once"], |t| !t.is_empty()), "bye\n");
    // Following the log of a container that ended returns what it wrote, then ends;
    // timestamps come from the runtime's log file.
    assert_eq!(
        up.until(&["logs", "-f", "once"], |t| !t.is_empty()),
        "bye\n"
    );
    let stamped = up.until(&["logs", "--timestamps", "--tail=1", "echo"], |t| {
        !t.is_empty()
    });
    assert!(
        stamped.ends_with("Z hello from a real container\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    if old.is_file() {
        let out = Command::new(old)
            .args(["--request-timeout=20s", "logs", "echo"])
            .env("KUBECONFIG", &up.kubeconfig)
            .env("KUBECACHEDIR", up.cache.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from a real container\n",
            "kubectl 1.27 logs"
        );
    }

    footprint.add(pid);
    let footprint = footprint.clone();
    let status = up.interrupt();
    assert!(
        status.success(),
        "podcheck up exits 0 on Ctrl-C: {status:?}"
    );
    assert_nothing_left(pid, &footprint);
}

/// A failed pull is what a kubelet retries (a registry's 429 looks the same at first): the
/// case waits until its deadline (12 s here), criLaunch fails with containerd's own error,
/// and every attempt the kubelet made is in the evidence.
#[test]
fn an_image_never_built_is_retried_until_the_deadline_and_fails_cri_launch() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let out = podcheck()
        .args([
            "run",
            "harness/podcheck/tests/fixtures/never-built.yaml",
            "--runtime",
            "containerd",
            "--snapshot",
            "ignore",
        ])
        .arg("--report-dir")
        .arg(reports.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(reports.path());
    let cri = stage(&r, "missing-image", "criLaunch");
    assert_eq!(cri["status"], "failed", "{cri}");
    let all = cri.to_string();
    assert!(
        all.contains("ErrImagePull"),
        "the pod's reason is in the evidence: {all}"
    );
    assert!(
        all.contains("podcheck.invalid/never-built:v1")
            && all.contains("failed to pull and unpack image"),
        "containerd's own error is in the evidence: {all}"
    );
    for later in ["dns", "statusUpdate"] {
        let s = stage(&r, "missing-image", later);
        assert_ne!(s["status"], "passed", "{s}");
        assert!(
            s["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{later} says why: {s}"
        );
    }
    let attempts = cri["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("attempt failed, the kubelet retries: Failed from kubelet: Failed to pull image"))
        })
        .count();
    assert!(
        attempts >= 2,
        "the kubelet pulled again after its 10 s back-off, and both attempts are evidence: {all}"
    );
    let elapsed = r["suites"][0]["cases"][0]["durationMs"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        elapsed >= 12_000.0,
        "a failed pull does not end the case before its deadline: {elapsed} ms"
    );
}

/// The containerd started by podcheck `pid`, and whether one of its shims runs yet.
fn containerd_of(pid: u32) -> (Option<u32>, bool) {
    let prefix = format!("/run/podcheck/cp-{pid}-");
    let (mut daemon, mut shim) = (None, false);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(&prefix) {
            continue;
        }
        if cmdline.contains("containerd-shim") {
            shim = true;
        } else if cmdline.starts_with("/usr/bin/containerd ")
            || cmdline.contains("bin/containerd --config")
        {
            daemon = Some(p);
        }
    }
    (daemon, shim)
}

#[test]
fn killing_containerd_mid_run_fails_the_stages_and_still_cleans_up() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let run = Watched::spawn(
        podcheck()
            .args([
                "run",
                "harness/podcheck/tests/fixtures/slow-pods.yaml",
                "--runtime",
                "containerd",
                "--snapshot",
                "ignore",
                "--jobs",
                "1",
            ])
            .arg("--report-dir")
            .arg(reports.path()),
    );
    let pid = run.child.id();
    // Kill containerd as soon as the first sandbox's shim runs: mid-way through a pod.
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        if let (Some(daemon), true) = containerd_of(pid) {
            Command::new("kill")
                .args(["-KILL", &daemon.to_string()])
                .status()
                .unwrap();
            break daemon;
        }
        assert!(
            Instant::now() < deadline,
            "no containerd shim appeared within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let footprint = run.footprint.clone();
    let out = run.finish(Duration::from_secs(180));
    assert_eq!(
        out.status.code(),
        Some(1),
        "containerd {killed} was killed: {}",
        text(&out)
    );
    let r = results(reports.path());
    let failed: Vec<String> = ["first", "second", "third"]
        .iter()
        .flat_map(|c| {
            ["criLaunch", "cniAttach"].map(|s| {
                let st = stage(&r, c, s);
                (st["status"] == "failed").then(|| format!("{c}/{s}: {st}"))
            })
        })
        .flatten()
        .collect();
    assert!(!failed.is_empty(), "no runtime stage failed: {r}");
    let third = stage(&r, "third", "criLaunch").to_string();
    assert!(
        third.contains("FailedCreatePodSandBox")
            || third.contains("runtime call failed")
            || third.contains("transport"),
        "the runtime's failure is the evidence: {third}"
    );
    assert_nothing_left(pid, &footprint.lock().unwrap());
}

#[test]
fn ctrl_c_during_a_real_run_leaves_nothing() {
    if !real_or_skip() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let run = Watched::spawn(
        podcheck()
            .args([
                "run",
                "harness/podcheck/tests/fixtures/slow-pods.yaml",
                "--runtime",
                "containerd",
                "--snapshot",
                "ignore",
                "--jobs",
                "3",
            ])
            .arg("--report-dir")
            .arg(reports.path()),
    );
    let pid = run.child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !containerd_of(pid).1 {
        assert!(
            Instant::now() < deadline,
            "no pod sandbox appeared within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let footprint = run.footprint.clone();
    let out = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_nothing_left(pid, &footprint.lock().unwrap());
}

#[test]
fn without_root_podcheck_runs_on_simulated_providers_and_says_why() {
    if !real_or_skip() {
        return;
    }
    // The real runtime needs root: as `nobody`, the same binary falls back and says so.
    let reports = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        reports.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_podcheck"))
            .args(args)
            .current_dir(workspace())
            .env_remove("CI")
            .output()
            .unwrap()
    };
    let doctor = as_nobody(&["doctor"]);
    let said = text(&doctor);
    assert!(doctor.status.success(), "{said}");
    assert!(
        said.contains("runtime") && said.contains("simulated") && said.contains("root"),
        "{said}"
    );
    let report_dir = reports.path().to_str().unwrap().to_string();
    let run = as_nobody(&[
        "run",
        "suites/pod-lifecycle",
        "--store",
        "memory",
        "--report-dir",
        &report_dir,
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let r = results(reports.path());
    let cri = stage(&r, "busybox-runs", "criLaunch").to_string();
    assert!(
        cri.contains("\"real\":false") && cri.contains("sim"),
        "{cri}"
    );
    let required = as_nobody(&["doctor", "--require-real", "runtime"]);
    assert_eq!(required.status.code(), Some(3), "{}", text(&required));
}
