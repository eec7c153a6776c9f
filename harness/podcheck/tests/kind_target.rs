//! `podcheck run --target kind` against the stand-in kind (tests/fixtures/kind/kind), whose
//! clusters are `podcheck up` processes: creation from each config of kind-configs/, reuse,
//! `--keep`, logs on failure, Ctrl-C at several moments, and kind's own failures; the
//! runtime's word through the nodes, from the stand-in docker beside it
//! (tests/fixtures/kind/docker). Every test checks that no process the stand-in started is
//! left.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rstest::rstest;
use support::{text, workspace};

/// A state directory for the stand-in, and the environment that puts it on PATH. Dropping it
/// deletes any cluster still alive (a failed test leaves nothing running).
struct StandIn {
    state: tempfile::TempDir,
}

impl StandIn {
    fn new() -> StandIn {
        StandIn {
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kind")
    }

    fn env(&self, command: &mut Command) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![StandIn::dir()];
        dirs.extend(std::env::split_paths(&path));
        command
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .env("PODCHECK_BIN", env!("CARGO_BIN_EXE_podcheck"))
            .env("PODCHECK_KIND_STATE", self.state.path())
            .env("PODCHECK_KIND_UP_ARGS", "--runtime sim --store memory")
            .env_remove("PODCHECK_KIND_NO_DOCKER")
            .env_remove("PODCHECK_KIND_NO_COREDNS")
            .env_remove("PODCHECK_KIND_CREATE_DELAY")
            .env_remove("PODCHECK_DOCKER_CONTAINER_STATE")
            .env_remove("PODCHECK_DOCKER_UNREACHABLE")
            .env_remove("KIND_EXPERIMENTAL_PROVIDER");
    }

    /// `podcheck ARGS` from the workspace root, with the stand-in on PATH.
    fn podcheck(&self, args: &[&str]) -> Command {
        let mut c = support::podcheck();
        c.args(args);
        self.env(&mut c);
        c
    }

    /// The stand-in itself, as a user would run kind.
    fn kind(&self, args: &[&str]) -> Output {
        let mut c = Command::new(StandIn::dir().join("kind"));
        c.args(args).current_dir(workspace());
        self.env(&mut c);
        c.output().unwrap()
    }

    /// A record the stand-in keeps (empty when it wrote none).
    fn record(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.path().join(name)).unwrap_or_default()
    }

    fn alive(&self, cluster: &str) -> bool {
        let clusters = self.kind(&["get", "clusters"]);
        String::from_utf8_lossy(&clusters.stdout)
            .lines()
            .any(|l| l == cluster)
    }

    /// Every process the stand-in started is gone (or a zombie): nothing is left running.
    fn assert_nothing_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for line in self.record("pids").lines() {
            let (name, pid) = line.split_once('\t').unwrap();
            while !gone(pid) {
                assert!(
                    Instant::now() < deadline,
                    "{name}'s process {pid} is still running"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let clusters = self.state.path().join("clusters");
        for entry in std::fs::read_dir(clusters).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            self.kind(&["delete", "cluster", "--name", &name]);
        }
    }
}

fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
    }
}

/// A manifest that stands in for a CNI's: the stand-in starts CoreDNS once the ConfigMap
/// exists, as a real cluster runs it once a CNI does.
const STANDIN_CNI: &str = "\
# The stand-in CNI
apiVersion: v1
kind: ServiceAccount
metadata: {name: standin-cni, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: standin-cni, namespace: kube-system}
data: {cni-conf.json: '{\"cniVersion\": \"1.0.0\", \"name\": \"standin\"}'}
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn results(reports: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(reports.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[rstest]
#[case::default("default.yaml", "podcheck", 1)]
#[case::multi_node("multi-node.yaml", "podcheck-multi", 3)]
#[case::no_default_cni("no-default-cni.yaml", "podcheck-cni", 2)]
#[case::custom_scheduler("custom-scheduler.yaml", "podcheck-scheduler", 5)]
fn a_cluster_is_created_from_each_config_used_and_deleted(
    #[case] file: &str,
    #[case] name: &str,
    #[case] nodes: usize,
) {
    let kind = StandIn::new();
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let config = format!("kind-configs/{file}");
    let manifest = write(tmp.path(), "cni.yaml", STANDIN_CNI);
    let mut args = vec![
        "run",
        "suites/pod-lifecycle",
        "--case",
        "busybox-runs",
        "--target",
        "kind",
        "--kind-config",
        &config,
        "--snapshot",
        "ignore",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    if file == "no-default-cni.yaml" {
        args.extend(["--cni-manifest", &manifest]);
    }
    let out = kind.podcheck(&args).output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");

    // Created by kind from the config, into a kubeconfig of podcheck's own.
    let calls = kind.record("calls");
    let create = calls
        .lines()
        .find(|l| l.starts_with("create cluster"))
        .unwrap_or_else(|| panic!("no create in\n{calls}"));
    let prefix = format!("create cluster --name {name} --config {config} --kubeconfig ");
    assert!(create.starts_with(&prefix), "{create}");
    let kubeconfig = &create[prefix.len()..];
    assert!(
        kubeconfig.contains("podcheck-kind-") && !kubeconfig.contains("/.kube/"),
        "{create}"
    );
    assert_eq!(
        kind.record("created"),
        format!("{name}\t{nodes}\tkindest/node:v1.36.1\n")
    );
    assert!(
        said.contains(&format!("kind: cluster {name} ready in"))
            && said.contains(&format!("{nodes} node(s) Ready, 2 CoreDNS pod(s) Running")),
        "podcheck waited for every node of the config: {said}"
    );
    // podcheck's images, as OCI archives, into that cluster.
    let loaded = kind.record("loaded");
    for image in ["busybox.tar\toci", "pause.tar\toci"] {
        assert!(
            loaded
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with(image)),
            "{image} not loaded:\n{loaded}"
        );
    }
    if file == "no-default-cni.yaml" {
        assert!(said.contains("cni.yaml: created 2 object(s)"), "{said}");
        assert_eq!(
            kind.record("cni"),
            format!("{name}\n"),
            "CoreDNS waited for the CNI"
        );
    }

    // Reported as kind, with the cluster and its node image.
    let results = results(&reports);
    assert_eq!(results["target"]["kind"], "kind");
    let cluster = results["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "cluster")
        .unwrap_or_else(|| panic!("no cluster in {}", results["target"]));
    assert_eq!(cluster["name"], name);
    assert_eq!(cluster["version"], "kindest/node:v1.36.1");
    assert!(
        said.contains(&format!("cluster {name} kindest/node:v1.36.1 (real)")),
        "the providers line names it: {said}"
    );

    // A passing run exports no logs, and the cluster is gone with its processes.
    assert!(!reports.join("kind-logs").exists());
    assert_eq!(kind.record("exported"), "");
    assert_eq!(kind.record("deleted"), format!("{name}\n"));
    let calls = kind.record("calls");
    assert!(
        calls
            .lines()
            .any(|l| l == format!("delete cluster --name {name} --kubeconfig {kubeconfig}")),
        "delete names podcheck's kubeconfig, never the user's: {calls}"
    );
    assert!(!kind.alive(name));
    kind.assert_nothing_left();
}

#[test]
fn without_a_config_the_built_in_default_is_used() {
    let kind = StandIn::new();
    let reports = tempfile::tempdir().unwrap();
    let out = kind
        .podcheck(&[
            "run",
            "suites/pod-lifecycle",
            "--case",
            "busybox-runs",
            "--target",
            "kind",
            "--snapshot",
            "ignore",
            "--report-dir",
            reports.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let calls = kind.record("calls");
    assert!(
        calls.lines().any(
            |l| l.starts_with("create cluster --name podcheck --config /")
                && l.contains("podcheck-kind-")
                && l.contains("/kind-config.yaml --kubeconfig ")
        ),
        "{calls}"
    );
    kind.assert_nothing_left();
}

#[test]
fn an_existing_cluster_is_reused_by_name_and_left_alone() {
    let kind = StandIn::new();
    let made = kind.kind(&[
        "create",
        "cluster",
        "--name",
        "shared",
        "--config",
        "kind-configs/multi-node.yaml",
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let reports = tempfile::tempdir().unwrap();
    let out = kind
        .podcheck(&[
            "run",
            "suites/pod-lifecycle",
            "--case",
            "busybox-runs",
            "--target",
            "kind",
            "--kind-cluster",
            "shared",
            "--snapshot",
            "ignore",
            "--report-dir",
            reports.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("kind: reusing cluster shared"), "{said}");
    let calls = kind.record("calls");
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("create")).count(),
        1,
        "podcheck created nothing: {calls}"
    );
    assert!(
        calls.lines().any(|l| l == "get kubeconfig --name shared"),
        "{calls}"
    );
    assert!(!calls.contains("delete"), "{calls}");
    assert!(kind.alive("shared"), "the reused cluster is still there");
    let loaded = kind.record("loaded");
    assert!(
        loaded.contains("shared\t"),
        "images go into the reused cluster: {loaded}"
    );
    let results = results(reports.path());
    assert_eq!(results["target"]["kind"], "kind");
    assert!(
        kind.kind(&["delete", "cluster", "--name", "shared"])
            .status
            .success()
    );
    kind.assert_nothing_left();
}

#[test]
fn keep_leaves_the_cluster_with_the_cni_objects_created_through_the_api() {
    let kind = StandIn::new();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = write(tmp.path(), "cni.yaml", STANDIN_CNI);
    let out = kind
        .podcheck(&[
            "run",
            "suites/pod-lifecycle",
            "--case",
            "busybox-runs",
            "--target",
            "kind",
            "--kind-config",
            "kind-configs/no-default-cni.yaml",
            "--cni-manifest",
            &manifest,
            "--keep",
            "--snapshot",
            "ignore",
            "--report-dir",
            tmp.path().join("reports").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("kind: cluster podcheck-cni kept (--keep)"),
        "{said}"
    );
    assert_eq!(kind.record("deleted"), "");
    assert!(kind.alive("podcheck-cni"));
    // The manifest's objects are in the cluster, as kubectl sees them.
    let kubeconfig = write(
        tmp.path(),
        "kubeconfig",
        &String::from_utf8(
            kind.kind(&["get", "kubeconfig", "--name", "podcheck-cni"])
                .stdout,
        )
        .unwrap(),
    );
    let objects = Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "--request-timeout=20s"])
        .args([
            "get",
            "configmap,serviceaccount",
            "-n",
            "kube-system",
            "-o",
            "name",
        ])
        .env("KUBECACHEDIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&objects.stdout);
    assert!(
        names.contains("configmap/standin-cni"),
        "{}",
        text(&objects)
    );
    assert!(
        names.contains("serviceaccount/standin-cni"),
        "{}",
        text(&objects)
    );
    let deleted = kind.kind(&["delete", "cluster", "--name", "podcheck-cni"]);
    assert!(deleted.status.success());
    kind.assert_nothing_left();
}

#[test]
fn a_failing_case_exports_the_clusters_logs_into_the_report_dir() {
    let kind = StandIn::new();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write(
        tmp.path(),
        "fails.yaml",
        "apiVersion: podcheck.dev/v1alpha1
kind: Suite
metadata:
  name: fails
  description: A pod that schedules, expected not to.
spec:
  timeout: 5s
  cases:
    - name: expected-unschedulable
      pod:
        spec:
          containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, args: [sleep, '3600']}]
      expect:
        binding: {unschedulable: Insufficient cpu}
      deadlines: {binding: 2s}
",
    );
    let reports = tmp.path().join("reports");
    let out = kind
        .podcheck(&[
            "run",
            &suite,
            "--target",
            "kind",
            "--snapshot",
            "ignore",
            "--report-dir",
            reports.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let logs = reports.join("kind-logs");
    assert!(logs.join("kind-version.txt").is_file(), "{said}");
    assert!(
        logs.join("podcheck-control-plane/podcheck-up.log")
            .is_file(),
        "{said}"
    );
    assert_eq!(
        kind.record("exported"),
        format!("podcheck\t{}\n", logs.display())
    );
    assert!(
        reports.join("junit.xml").is_file(),
        "the reports are there too"
    );
    assert_eq!(kind.record("deleted"), "podcheck\n");
    kind.assert_nothing_left();
}

#[test]
fn readiness_has_a_deadline_and_its_failure_says_what_was_missing() {
    let kind = StandIn::new();
    let reports = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = kind
        .podcheck(&[
            "run",
            "suites/pod-lifecycle",
            "--target",
            "kind",
            "--kind-wait",
            "3s",
            "--report-dir",
            reports.path().to_str().unwrap(),
        ])
        .env("PODCHECK_KIND_NO_COREDNS", "1")
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains(
            "error: kind cluster podcheck not ready within 3s (--kind-wait): no CoreDNS pod (kube-system, k8s-app=kube-dns) yet"
        ),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        reports.path().join("kind-logs/kind-version.txt").is_file(),
        "{said}"
    );
    assert_eq!(kind.record("deleted"), "podcheck\n");
    kind.assert_nothing_left();
}

/// A podcheck run whose stderr lines arrive on a channel, to interrupt it at a moment.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to a minute) for a stderr line containing `needle`.
    fn until_said(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("podcheck never said {needle:?}:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// SIGINT, as Ctrl-C; the exit code and everything it said.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("podcheck did not stop within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"))
    }
}

#[rstest]
#[case::during_create("Starting control-plane")]
#[case::while_waiting("kind: waiting for: no CoreDNS pod")]
fn ctrl_c_before_the_cluster_is_ready_deletes_it(#[case] moment: &str) {
    let kind = StandIn::new();
    let reports = tempfile::tempdir().unwrap();
    let mut command = kind.podcheck(&[
        "run",
        "suites/pod-lifecycle",
        "--target",
        "kind",
        "--keep",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    command
        .env("PODCHECK_KIND_CREATE_DELAY", "30")
        .env("PODCHECK_KIND_NO_COREDNS", "1");
    if moment.starts_with("kind: waiting") {
        command.env_remove("PODCHECK_KIND_CREATE_DELAY");
    }
    let mut run = Running::start(command);
    if moment == "Starting control-plane" {
        // kind's output is podcheck's to read only at the end: wait for the stand-in's state.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(kind.state.path().join("clusters/podcheck/up.log"))
            .unwrap_or_default()
            .contains("export KUBECONFIG=")
        {
            assert!(
                Instant::now() < deadline,
                "the stand-in's cluster never came up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        run.until_said("kind: creating cluster podcheck");
    } else {
        run.until_said(moment);
    }
    let (code, said) = run.interrupt();
    assert_eq!(code, Some(130), "{said}");
    assert!(
        said.contains("podcheck: deleted kind cluster podcheck"),
        "{said}"
    );
    assert_eq!(kind.record("deleted"), "podcheck\n", "{said}");
    assert!(!kind.alive("podcheck"));
    kind.assert_nothing_left();
}

/// Waits until the cluster has the namespace of the `waits` suite's case: the run is under way.
fn until_the_case_runs(kind: &StandIn, cluster: &str, scratch: &Path) {
    let kubeconfig = scratch.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kind.kind(&["get", "kubeconfig", "--name", cluster]).stdout,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !namespaces(&kubeconfig, scratch).contains("pc-waits-never-runs") {
        assert!(Instant::now() < deadline, "the case never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn namespaces(kubeconfig: &Path, scratch: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout=20s", "get", "namespaces", "-o", "name"])
        .env("KUBECACHEDIR", scratch.join("cache"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn waits_suite() -> String {
    let suite = workspace().join("harness/podcheck/tests/fixtures/waits.yaml");
    suite.to_str().unwrap().to_string()
}

#[test]
fn ctrl_c_during_the_run_deletes_the_cluster() {
    let kind = StandIn::new();
    let reports = tempfile::tempdir().unwrap();
    let suite = waits_suite();
    let mut run = Running::start(kind.podcheck(&[
        "run",
        &suite,
        "--target",
        "kind",
        "--snapshot",
        "ignore",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]));
    run.until_said("kind: cluster podcheck ready");
    until_the_case_runs(&kind, "podcheck", reports.path());
    let (code, said) = run.interrupt();
    assert_eq!(code, Some(130), "{said}");
    assert!(
        said.contains("podcheck: deleted kind cluster podcheck"),
        "{said}"
    );
    assert_eq!(kind.record("deleted"), "podcheck\n");
    kind.assert_nothing_left();
}

#[test]
fn ctrl_c_during_a_run_on_a_reused_cluster_keeps_it_and_deletes_the_runs_namespaces() {
    let kind = StandIn::new();
    let made = kind.kind(&["create", "cluster", "--name", "shared"]);
    assert!(made.status.success(), "{}", text(&made));
    let reports = tempfile::tempdir().unwrap();
    let suite = waits_suite();
    let mut run = Running::start(kind.podcheck(&[
        "run",
        &suite,
        "--target",
        "kind",
        "--kind-cluster",
        "shared",
        "--snapshot",
        "ignore",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]));
    run.until_said("kind: cluster shared ready");
    until_the_case_runs(&kind, "shared", reports.path());
    let (code, said) = run.interrupt();
    assert_eq!(code, Some(130), "{said}");
    assert!(
        said.contains("podcheck: deleted 1 namespace(s) of this run"),
        "{said}"
    );
    assert_eq!(kind.record("deleted"), "", "{said}");
    assert!(kind.alive("shared"));
    let left = namespaces(&reports.path().join("kubeconfig"), reports.path());
    assert!(
        !left.contains("pc-waits"),
        "the run's namespace is left:\n{left}"
    );
    assert!(
        kind.kind(&["delete", "cluster", "--name", "shared"])
            .status
            .success()
    );
    kind.assert_nothing_left();
}

#[test]
fn without_docker_kinds_failure_is_an_environment_error_in_its_words() {
    let kind = StandIn::new();
    let out = kind
        .podcheck(&["run", "suites/pod-lifecycle", "--target", "kind"])
        .env("PODCHECK_KIND_NO_DOCKER", "1")
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains(
            "error: kind found no container runtime to run its nodes in: install and start docker"
        ),
        "{said}"
    );
    assert!(
        said.contains("exec: \"docker\": executable file not found in $PATH"),
        "kind's own words are shown: {said}"
    );
    assert_eq!(kind.record("pids"), "", "nothing was started");
}

#[test]
fn a_name_in_use_is_kinds_error_and_that_cluster_is_left_alone() {
    let kind = StandIn::new();
    let made = kind.kind(&["create", "cluster", "--name", "podcheck"]);
    assert!(made.status.success(), "{}", text(&made));
    let out = kind
        .podcheck(&["run", "suites/pod-lifecycle", "--target", "kind"])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("error: a kind cluster named podcheck exists already: reuse it with --kind-cluster podcheck"),
        "{said}"
    );
    assert!(
        said.contains("node(s) already exist for a cluster with the name \"podcheck\""),
        "{said}"
    );
    assert_eq!(
        kind.record("deleted"),
        "",
        "podcheck deletes no cluster it did not create"
    );
    assert!(kind.alive("podcheck"));
    assert!(
        kind.kind(&["delete", "cluster", "--name", "podcheck"])
            .status
            .success()
    );
    kind.assert_nothing_left();
}

#[test]
fn without_kind_on_path_the_error_says_so() {
    let out = support::podcheck()
        .args(["run", "suites/pod-lifecycle", "--target", "kind"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("error: the kind command is not on PATH"),
        "{said}"
    );
}

#[test]
fn usage_errors_come_before_any_kind_command() {
    let kind = StandIn::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--target",
                "kind",
                "--kind-config",
                "kind-configs/no-default-cni.yaml",
            ],
            "error: kind-configs/no-default-cni.yaml sets networking.disableDefaultCNI: true",
        ),
        (
            &[
                "--target",
                "kind",
                "--cni-manifest",
                "kind-configs/default.yaml",
            ],
            "keeps kind's default CNI (kindnet)",
        ),
        (
            &["--kind-config", "kind-configs/default.yaml"],
            "error: --kind-config applies to the kind target only: add --target kind",
        ),
        (
            &["--target", "kind", "--scheduler", "none"],
            "a kind cluster runs its own schedulers",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["run", "suites/pod-lifecycle"];
        args.extend(flags);
        let out = kind.podcheck(&args).output().unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {said}");
        assert!(said.contains(message), "{flags:?}: {said}");
    }
    assert_eq!(kind.record("calls"), "", "kind was never run");
}

/// The stages of the only case of a run, by name.
fn stage<'a>(results: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    results["suites"][0]["cases"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {results}"))
}

/// The evidence of a stage from `source`, as `provider (real|simulated): detail` lines.
fn evidence(stage: &serde_json::Value, source: &str) -> Vec<String> {
    stage["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == source)
        .map(|e| {
            format!(
                "{} ({}): {}",
                e["provider"].as_str().unwrap(),
                if e["real"] == true {
                    "real"
                } else {
                    "simulated"
                },
                e["detail"].as_str().unwrap()
            )
        })
        .collect()
}

/// `podcheck run` of the busybox-runs case on the stand-in kind, with `env` set; its exit
/// code, what it said and its results.
fn busybox_runs(kind: &StandIn, env: &[(&str, &str)]) -> (Option<i32>, String, serde_json::Value) {
    let reports = tempfile::tempdir().unwrap();
    let mut command = kind.podcheck(&[
        "run",
        "suites/pod-lifecycle",
        "--case",
        "busybox-runs",
        "--target",
        "kind",
        "--snapshot",
        "ignore",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (out.status.code(), text(&out), results(reports.path()))
}

#[test]
fn cri_launch_and_cni_attach_take_the_runtimes_word_through_the_node() {
    let kind = StandIn::new();
    let (code, said, results) = busybox_runs(&kind, &[]);
    assert_eq!(code, Some(0), "{said}");

    // criLaunch: crictl inspect on the pod's node found the container running.
    let cri = evidence(stage(&results, "criLaunch"), "cri");
    assert!(
        cri.iter().any(|e| e.starts_with(
            "containerd v2.1.1-podcheck-standin (crictl inspect on node node-1) (real): ContainerStatus "
        ) && e.ends_with(": RUNNING")),
        "{cri:?}"
    );
    // cniAttach: the sandbox's network namespace, by crictl inspectp and nsenter, holds the
    // pod's IP, and the node reached it.
    let cni = stage(&results, "cniAttach");
    let ip = evidence(cni, "api")
        .iter()
        .find_map(|e| {
            let rest = e.split_once("status.podIP = ")?.1;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .unwrap_or_else(|| panic!("no pod IP in {cni}"));
    let netns = evidence(cni, "netns");
    let from_node: Vec<&String> = netns
        .iter()
        .filter(|e| e.contains("(crictl inspectp on node node-1: sandbox "))
        .collect();
    assert!(
        from_node.iter().any(
            |e| e.contains(&format!(" at {ip}, netns /var/run/netns/cni-"))
                && e.ends_with(&format!("(real): the sandbox's netns holds eth0 {ip}/24"))
        ),
        "{netns:?}"
    );
    assert!(
        from_node.iter().any(|e| e.ends_with(&format!(
            "(real): the node reaches {ip}: a TCP connection from the node to port 9 was refused by the pod's stack (a reset): the packets arrived"
        ))),
        "{netns:?}"
    );
    assert_eq!(cni["status"], "passed", "{cni}");

    // The runtime is a provider of the target, as crictl named it.
    let runtime = results["target"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "runtime")
        .unwrap_or_else(|| panic!("no runtime in {}", results["target"]));
    assert_eq!(runtime["name"], "containerd");
    assert_eq!(
        runtime["version"],
        "v2.1.1-podcheck-standin (crictl on node node-1)"
    );
    assert_eq!(runtime["real"], true);

    // Each command ran on the node as kind runs commands there.
    let calls = kind.record("docker-calls");
    for command in [
        "exec --privileged node-1 crictl version",
        "exec --privileged node-1 crictl inspect -o json ",
        "exec --privileged node-1 crictl pods --label io.kubernetes.pod.uid=",
        "exec --privileged node-1 crictl inspectp -o json ",
        "exec --privileged node-1 nsenter --net=/var/run/netns/cni-",
        "exec --privileged node-1 timeout 2 bash -c ",
    ] {
        assert!(
            calls.lines().any(|l| l.starts_with(command)),
            "no {command:?} in\n{calls}"
        );
    }
    kind.assert_nothing_left();
}

#[test]
fn a_container_the_runtime_reports_exited_fails_cri_launch_naming_the_runtime() {
    let kind = StandIn::new();
    let (code, said, results) = busybox_runs(
        &kind,
        &[("PODCHECK_DOCKER_CONTAINER_STATE", "CONTAINER_EXITED")],
    );
    assert_eq!(code, Some(1), "{said}");
    let cri = stage(&results, "criLaunch");
    assert_eq!(cri["status"], "failed", "{cri}");
    let message = cri["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the runtime (containerd v2.1.1-podcheck-standin (crictl inspect on node node-1)) reports container "
        ) && message.ends_with(" as exited"),
        "{message}"
    );
    assert!(
        cri["hint"]
            .as_str()
            .unwrap()
            .contains("the status is not backed by the runtime"),
        "{cri}"
    );
    // The API alone still says Running: only the runtime's word failed the stage.
    assert!(
        evidence(cri, "api")
            .iter()
            .any(|e| e.contains("containerStatuses running")),
        "{cri}"
    );
    assert!(said.contains("criLaunch"), "{said}");
    kind.assert_nothing_left();
}

#[test]
fn without_docker_the_node_probes_say_why_and_the_run_still_passes() {
    let kind = StandIn::new();
    // PATH: the stand-in kind alone, and the machine's directories that hold none of the
    // CLIs kind could run its nodes with.
    let only_kind = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(StandIn::dir().join("kind"), only_kind.path().join("kind")).unwrap();
    let clis = ["docker", "podman", "nerdctl", "finch"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![only_kind.path().to_path_buf()];
    dirs.extend(std::env::split_paths(&path).filter(|d| clis.iter().all(|c| !d.join(c).exists())));
    for fallback in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        assert!(
            clis.iter().all(|c| !Path::new(fallback).join(c).exists()),
            "{fallback} holds a container CLI: podcheck would find it there"
        );
    }
    let joined = std::env::join_paths(dirs).unwrap();
    let path = joined.to_str().unwrap();
    let (code, said, results) = busybox_runs(&kind, &[("PATH", path)]);
    assert_eq!(code, Some(0), "{said}");
    let why = "probe unavailable: docker (kind's default: none of docker, nerdctl, finch, podman answered `-v`) is not on PATH, so crictl on the kind nodes cannot be reached";
    for (name, source) in [("criLaunch", "cri"), ("cniAttach", "netns")] {
        let found = evidence(stage(&results, name), source);
        assert!(
            found
                .iter()
                .any(|e| e == &format!("none (simulated): {why}")),
            "{name}: {found:?}"
        );
    }
    assert!(
        said.contains("crictl on the kind nodes cannot be asked"),
        "the run says so once per suite: {said}"
    );
    assert_eq!(kind.record("docker-calls"), "", "no docker ran");
    kind.assert_nothing_left();
}

#[test]
fn the_scheduler_suite_runs_on_the_custom_scheduler_config_and_the_nodes_are_restored() {
    let kind = StandIn::new();
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    // What validate-scheduler.yml runs on kind, with the stand-in's own scheduler serving
    // default-scheduler (no static pod runs here).
    let out = kind
        .podcheck(&[
            "run",
            "suites/scheduler",
            "--target",
            "kind",
            "--kind-config",
            "kind-configs/custom-scheduler.yaml",
            "--keep",
            "--snapshot",
            "ignore",
            "--report-dir",
            reports.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("5 node(s) Ready") && said.contains("11 passed, 0 failed, 0 errors"),
        "{said}"
    );
    let results = results(&reports);
    let selector = results["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "node-selector")
        .unwrap();
    let binding = selector["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "binding")
        .unwrap();
    assert_eq!(binding["status"], "passed", "{binding}");

    // The cluster's nodes are as they were: no label, taint, cordon or record of podcheck's.
    let kubeconfig = write(
        tmp.path(),
        "kubeconfig",
        &String::from_utf8(
            kind.kind(&["get", "kubeconfig", "--name", "podcheck-scheduler"])
                .stdout,
        )
        .unwrap(),
    );
    let nodes = Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "--request-timeout=20s"])
        .args(["get", "nodes", "-o", "json"])
        .env("KUBECACHEDIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    assert!(nodes.status.success(), "{}", text(&nodes));
    let nodes: serde_json::Value = serde_json::from_slice(&nodes.stdout).unwrap();
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for node in items {
        let shown = node.to_string();
        assert!(
            !shown.contains("podcheck.dev/") && node["spec"]["unschedulable"] != true,
            "{shown}"
        );
    }
    assert!(
        kind.kind(&["delete", "cluster", "--name", "podcheck-scheduler"])
            .status
            .success()
    );
    kind.assert_nothing_left();
}
