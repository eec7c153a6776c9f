//! `podcheck` as its users run it: `podcheck up`, then the machine's real kubectl.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `podcheck up` process, killed if the test ends early.
struct Up {
    child: Child,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Up {
    fn start(args: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_podcheck"))
            .arg("up")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("podcheck starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                    let _ = tx.send(PathBuf::from(path));
                }
            }
        });
        let kubeconfig = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(path) => path,
            Err(_) => {
                let _ = child.kill();
                panic!("podcheck up printed no kubeconfig within 30 s");
            }
        };
        Up {
            child,
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .arg("--request-timeout=20s")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.cache.path())
            .output()
            .expect("kubectl runs (it is part of this machine's image)")
    }

    /// Runs kubectl and returns its stdout, failing the test on a non-zero exit.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Retries `kubectl args` until `accept` likes its output.
    fn until(&self, args: &[&str], accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.kubectl(args);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if out.status.success() && accept(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {args:?} never gave what was expected; last output:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "podcheck did not stop within 15 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn column(table: &str, row_starts: &str, header: &str) -> String {
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    let at = head
        .find(header)
        .unwrap_or_else(|| panic!("no column {header} in {head}"));
    let row = lines
        .find(|l| l.starts_with(row_starts))
        .unwrap_or_else(|| panic!("no row {row_starts} in\n{table}"));
    row[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn kubectl_runs_a_pod_through_its_life() {
    let up = Up::start(&["--nodes", "2"]);
    let nodes = up.ok(&["get", "nodes"]);
    assert_eq!(column(&nodes, "node-1", "STATUS"), "Ready", "{nodes}");
    assert_eq!(column(&nodes, "node-2", "STATUS"), "Ready", "{nodes}");

    assert!(
        up.ok(&["run", "busybox", "--image", "busybox"])
            .contains("pod/busybox created")
    );
    let wide = up.until(&["get", "pods", "-o", "wide"], |t| t.contains("Running"));
    let ip = column(&wide, "busybox", "IP");
    let node = column(&wide, "busybox", "NODE");
    assert_eq!(column(&wide, "busybox", "READY"), "1/1");
    let cidr = up.ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]);
    let prefix = cidr.trim_end_matches("0/24");
    assert!(
        ip.starts_with(prefix),
        "pod IP {ip} lies in {node}'s podCIDR {cidr}"
    );

    let yaml = up.ok(&["get", "pod", "busybox", "-o", "yaml"]);
    for needle in [
        "type: PodScheduled",
        "type: Initialized",
        "type: ContainersReady",
        "type: Ready",
        "containerStatuses:",
        "containerID: sim://",
        "running:",
        "phase: Running",
    ] {
        assert!(yaml.contains(needle), "`{needle}` missing from\n{yaml}");
    }
    let events = up.until(&["get", "events"], |t| t.contains("Started"));
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            events
                .lines()
                .any(|l| l.contains(reason) && l.contains("pod/busybox")),
            "no {reason} event in\n{events}"
        );
    }
    let describe = up.ok(&["describe", "pod", "busybox"]);
    assert!(
        describe.contains("Successfully assigned default/busybox to"),
        "{describe}"
    );

    assert!(
        up.ok(&["delete", "pod", "busybox"])
            .contains("pod \"busybox\" deleted")
    );
    let gone = up.kubectl(&["get", "pod", "busybox"]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("(NotFound): pods \"busybox\" not found")
    );
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Field 4, after the parenthesised command name, is the parent pid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

#[test]
fn ctrl_c_stops_everything_and_leaves_nothing_behind() {
    let mut up = Up::start(&[]);
    up.ok(&["run", "sleeper", "--image", "busybox"]);
    up.until(&["get", "pod", "sleeper"], |t| t.contains("Running"));
    let pid = up.child.id();
    let run_dir: PathBuf = up.kubeconfig.parent().unwrap().to_path_buf();
    assert!(run_dir.exists());
    let status = up.interrupt();
    assert!(status.success(), "podcheck exited with {status}");
    assert!(!up.kubeconfig.exists(), "the kubeconfig is left behind");
    assert!(
        !run_dir.exists(),
        "the run directory {} is left behind",
        run_dir.display()
    );
    assert!(
        children_of(pid).is_empty(),
        "processes of the run are left behind"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn an_existing_kubeconfig_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "precious").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_podcheck"))
        .args(["up", "--kubeconfig"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("will not overwrite"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}
