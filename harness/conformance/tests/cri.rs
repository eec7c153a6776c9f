//! `suites/cri` against podcheck's own containerd (every check passes, nothing is left
//! behind), and against runtimes that misbehave or expectations they do not meet (the check
//! that fails is named). Tests that need the real runtime fail where it is missing, unless
//! `PODCHECK_SKIP_REAL=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use podcheck_conformance::ConformanceError;
use podcheck_conformance::cri::{self, RuntimeUnderTest};
use podcheck_core::conformance::cri::CriSuite;
use podcheck_core::conformance::{AnySuite, load_any};
use podcheck_core::result::{CaseResult, StageStatus, SuiteResult, Verdict};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn load(path: &Path) -> CriSuite {
    let read = |p: &Path| std::fs::read_to_string(p);
    match load_any(path, &read) {
        Ok(AnySuite::Cri(s)) => s,
        Ok(other) => panic!("{} is a {} suite", path.display(), other.kind()),
        Err(e) => panic!("{e}"),
    }
}

fn builtin_suite() -> CriSuite {
    load(&workspace().join("suites/cri/suite.yaml"))
}

/// A suite from YAML text (written to a temporary file, as users write them).
fn suite_from(yaml: &str) -> CriSuite {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suite.yaml");
    std::fs::write(&path, yaml).unwrap();
    load(&path)
}

/// Whether the real runtime can run here; fails the test otherwise, unless
/// `PODCHECK_SKIP_REAL=1`.
fn real_or_skip() -> bool {
    match podcheck_node::real_runtime_usable() {
        Ok(()) => true,
        Err(why) => {
            assert_eq!(
                std::env::var("PODCHECK_SKIP_REAL").as_deref(),
                Ok("1"),
                "the real runtime is missing ({why}); install containerd runc \
                 containernetworking-plugins, or set PODCHECK_SKIP_REAL=1"
            );
            false
        }
    }
}

fn failures(result: &SuiteResult) -> String {
    let mut out = String::new();
    for case in &result.cases {
        for check in case.checks() {
            if check.status == StageStatus::Failed {
                out.push_str(&format!(
                    "{} / {}: {} (evidence: {:?})\n",
                    case.name,
                    check.name,
                    check.message.as_deref().unwrap_or(""),
                    check.evidence.iter().map(|e| &e.detail).collect::<Vec<_>>()
                ));
            }
        }
        if let Some(e) = &case.error {
            out.push_str(&format!("{}: error {e}\n", case.name));
        }
    }
    out
}

fn case<'a>(result: &'a SuiteResult, name: &str) -> &'a CaseResult {
    result
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// What this process has on the host under podcheck's run directories: directories,
/// processes, mounts, bridges (by their owner file) and the given cgroups.
fn footprint(cgroups: &[String]) -> BTreeSet<String> {
    let pid = std::process::id();
    let prefix = format!("/run/podcheck/cp-{pid}-");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("/run/podcheck")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path().display().to_string();
        if path.starts_with(&prefix) {
            found.insert(format!("dir {path}"));
        }
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&prefix) {
                found.insert(format!("process {cmdline}"));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines().filter(|l| l.contains(&prefix)) {
        found.insert(format!("mount {line}"));
    }
    for entry in std::fs::read_dir("/run/podcheck/net")
        .into_iter()
        .flatten()
        .flatten()
    {
        let owner = std::fs::read_to_string(entry.path().join("owner")).unwrap_or_default();
        if owner.split_whitespace().next() == Some(pid.to_string().as_str()) {
            found.insert(format!("bridge {}", entry.file_name().to_string_lossy()));
        }
    }
    for cg in cgroups {
        // cgroup v2 (the unified hierarchy at the top), then each v1 controller.
        let unified = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
        if unified.exists() {
            found.insert(format!("cgroup {}", unified.display()));
        }
        for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = ctrl.path().join(cg.trim_start_matches('/'));
            if p.exists() {
                found.insert(format!("cgroup {}", p.display()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_suite_passes_against_podchecks_containerd_and_leaves_nothing() {
    if !real_or_skip() {
        return;
    }
    let suite = builtin_suite();
    let began = Instant::now();
    let runtime = RuntimeUnderTest::start_own().await.unwrap();
    let started = began.elapsed();
    let cgroups = vec![runtime.cgroup_parent().to_string()];
    let during = footprint(&cgroups);
    let result = cri::run_on(&suite, &runtime).await;
    let ran = began.elapsed() - started;
    runtime.shutdown().await;
    let total = began.elapsed();
    eprintln!(
        "cri suite: containerd + network up in {started:?}, {} cases in {ran:?}, {total:?} \
         with shutdown; per case: {:?}",
        result.cases.len(),
        result
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.duration_ms.round()))
            .collect::<Vec<_>>()
    );
    assert!(
        result.cases.iter().all(|c| c.verdict == Verdict::Passed),
        "failed checks:\n{}",
        failures(&result)
    );
    assert_eq!(result.kind, "cri");
    let component = &result.components[0];
    assert_eq!(component.component, "runtime");
    assert_eq!(component.name, "containerd (started by podcheck)");
    assert!(
        component.version.starts_with("containerd 1.") && component.version.ends_with("(CRI v1)"),
        "{component:?}"
    );
    let names: BTreeSet<&str> = result
        .cases
        .iter()
        .flat_map(|c| c.checks())
        .map(|c| c.name.as_str())
        .collect();
    for want in [
        "version.runtime-api-version",
        "runPodSandbox",
        "runPodSandbox.dns-config",
        "runPodSandbox.hostname",
        "podSandboxStatus.ready",
        "podSandboxStatus.ip",
        "createContainer",
        "startContainer",
        "containerStatus.running",
        "containerStatus.exited",
        "execSync.exit-3.exit-code",
        "execSync.echo.stdout",
        "listPodSandbox.filter-state",
        "listContainers.filter-sandbox",
        "stopPodSandbox.idempotent",
        "removePodSandbox.idempotent",
        "stopPodSandbox.unknown-id",
        "podSandboxStatus.removed",
    ] {
        assert!(names.contains(want), "no check {want} in {names:?}");
    }
    let ip = case(&result, "sandbox-dns-hostname")
        .checks()
        .iter()
        .find(|c| c.name == "podSandboxStatus.ip")
        .unwrap();
    assert_eq!(ip.observed, "an IP in the node's subnet", "{ip:?}");
    assert!(ip.evidence[0].detail.contains("network.ip \"10."), "{ip:?}");
    let evidence = &case(&result, "version").checks()[0].evidence[0];
    assert!(
        evidence.real && evidence.provider.starts_with("containerd "),
        "{evidence:?}"
    );
    assert!(
        during.iter().any(|f| f.starts_with("bridge"))
            && during.iter().any(|f| f.starts_with("dir")),
        "the runtime made nothing to check: {during:?}"
    );
    let mut left = footprint(&cgroups);
    // The bridges and nftables tables seen during the run are gone too.
    for bridge in during.iter().filter_map(|f| f.strip_prefix("bridge ")) {
        if Path::new("/sys/class/net").join(bridge).exists() {
            left.insert(format!("interface {bridge}"));
        }
        let table = std::process::Command::new("nft")
            .args(["list", "table", "ip", &format!("podcheck_{bridge}")])
            .output()
            .unwrap();
        if table.status.success() {
            left.insert(format!("nft table podcheck_{bridge}"));
        }
    }
    assert!(left.is_empty(), "left behind:\n{left:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmet_expectation_fails_the_check_it_names() {
    if !real_or_skip() {
        return;
    }
    let suite = suite_from(
        r#"apiVersion: podcheck.dev/v1alpha1
kind: CriSuite
metadata: {name: wrong}
spec:
  cases:
    - name: version
      check:
        version: {runtimeName: cri-o}
    - name: exits
      check:
        execSync:
          - {name: exit-3, command: [sh, -c, "exit 3"], exitCode: 4}
          - {name: echo, command: [echo, hi], stdout: "hi\n"}
    - name: dns
      check:
        podSandbox:
          hostname: right
          dnsConfig: {servers: [10.96.0.10], searches: [a.example]}
    - name: too-slow
      timeout: 1ms
      check:
        container: {}
"#,
    );
    let result = cri::run(&suite, None).await.unwrap();
    let version = case(&result, "version");
    assert_eq!(version.verdict, Verdict::Failed);
    let failed: Vec<&str> = version
        .checks()
        .iter()
        .filter(|c| c.status == StageStatus::Failed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["version.runtime-name"]);
    let exits = case(&result, "exits");
    assert_eq!(exits.verdict, Verdict::Failed);
    let exit3 = exits
        .checks()
        .iter()
        .find(|c| c.name == "execSync.exit-3.exit-code")
        .unwrap();
    assert_eq!(exit3.status, StageStatus::Failed);
    assert_eq!(exit3.observed, "exit code 3");
    assert!(
        exit3.message.as_deref().unwrap().contains("exits 4"),
        "{exit3:?}"
    );
    let echo = exits
        .checks()
        .iter()
        .find(|c| c.name == "execSync.echo.stdout")
        .unwrap();
    assert_eq!(echo.status, StageStatus::Passed, "{echo:?}");
    let slow = case(&result, "too-slow");
    assert_eq!(slow.verdict, Verdict::Failed);
    let deadline = slow.checks().last().unwrap();
    assert_eq!(deadline.name, "case.deadline", "{slow:?}");
    assert!(deadline.expected.contains("1ms"), "{deadline:?}");
    // The runtime did what was asked: this one passes.
    assert_eq!(
        case(&result, "dns").verdict,
        Verdict::Passed,
        "{}",
        failures(&result)
    );
}

#[tokio::test]
async fn a_socket_that_is_not_a_cri_server_fails_every_case_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("not-cri.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    // Accepts, writes something that is not HTTP/2, and hangs up.
    let server = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"220 hello, this is not gRPC\r\n").await;
        }
    });
    let suite = builtin_suite();
    let began = Instant::now();
    let result = cri::run(&suite, Some(&socket)).await.unwrap();
    server.abort();
    eprintln!("{}", failures(&result));
    assert!(began.elapsed().as_secs() < 30, "took {:?}", began.elapsed());
    assert_eq!(result.cases.len(), suite.cases.len());
    for c in &result.cases {
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert_eq!(c.checks().len(), 1, "{c:?}");
        let check = &c.checks()[0];
        assert_eq!(check.name, "cri.connect");
        assert_eq!(check.status, StageStatus::Failed);
        assert!(
            check.message.as_deref().unwrap().contains("not-cri.sock"),
            "{check:?}"
        );
        assert!(!check.evidence[0].detail.is_empty(), "{check:?}");
    }
    assert_eq!(result.components[0].name, socket.display().to_string());
    assert_eq!(result.components[0].version, "");
}

#[tokio::test]
async fn a_missing_socket_is_an_environment_error() {
    let err = cri::run(&builtin_suite(), Some(Path::new("/nonexistent/cri.sock")))
        .await
        .unwrap_err();
    assert!(matches!(err, ConformanceError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/cri.sock"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_suite_passes_against_a_runtime_given_by_its_socket() {
    if !real_or_skip() {
        return;
    }
    // A containerd podcheck did not start for this run: the suite knows only its socket.
    let other = RuntimeUnderTest::start_own().await.unwrap();
    let socket = other.socket().to_path_buf();
    let result = cri::run(&builtin_suite(), Some(&socket)).await.unwrap();
    // Everything the suite made there is gone again.
    let left = other
        .client()
        .unwrap()
        .runtime()
        .list_pod_sandbox(podcheck_protos::cri::v1::ListPodSandboxRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .items;
    other.shutdown().await;
    assert!(
        result.cases.iter().all(|c| c.verdict == Verdict::Passed),
        "failed checks:\n{}",
        failures(&result)
    );
    assert!(left.is_empty(), "sandboxes left in the runtime: {left:?}");
    let component = &result.components[0];
    assert_eq!(component.name, socket.display().to_string());
    assert!(
        component.version.starts_with("containerd "),
        "{component:?}"
    );
    // Without podcheck's network at hand, the IP is checked for being one.
    let ip = case(&result, "sandbox-dns-hostname")
        .checks()
        .iter()
        .find(|c| c.name == "podSandboxStatus.ip")
        .unwrap();
    assert_eq!(ip.observed, "an IP address", "{ip:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_half_way_leaves_nothing() {
    if !real_or_skip() {
        return;
    }
    let suite = builtin_suite();
    // The whole suite takes about 5 s: it is dropped in the middle of a case.
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(2500),
        cri::run(&suite, None),
    )
    .await;
    assert!(
        cut.is_err(),
        "the run finished before it could be cancelled"
    );
    let left = footprint(&[]);
    assert!(left.is_empty(), "left behind:\n{left:#?}");
}

/// Cut off half-way against a user's runtime (Ctrl-C drops the run), the run still removes
/// the sandboxes it made there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_on_a_users_runtime_removes_its_sandboxes() {
    if !real_or_skip() {
        return;
    }
    let other = RuntimeUnderTest::start_own().await.unwrap();
    let socket = other.socket().to_path_buf();
    let suite = builtin_suite();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(2500),
        cri::run(&suite, Some(&socket)),
    )
    .await;
    assert!(
        cut.is_err(),
        "the run finished before it could be cancelled"
    );
    let left = other
        .client()
        .unwrap()
        .runtime()
        .list_pod_sandbox(podcheck_protos::cri::v1::ListPodSandboxRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .items;
    other.shutdown().await;
    assert!(left.is_empty(), "sandboxes left in the runtime: {left:?}");
}
