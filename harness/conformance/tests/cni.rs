//! `suites/cni/suite.yaml` against Debian's CNI plugins (`/usr/lib/cni`): it passes for
//! bridge + host-local and for ptp + host-local, a broken conflist fails the check it
//! breaks with evidence, and nothing is left behind (namespaces, bridges, run dirs, state).
//!
//! Needs root, iproute2, nftables and the plugins. When something is missing the tests
//! fail naming it, unless `PODCHECK_SKIP_REAL=1` (then they print why and pass).

use std::path::{Path, PathBuf};
use std::time::Instant;

use podcheck_conformance::ConformanceError;
use podcheck_conformance::cni::{CniOverrides, run};
use podcheck_core::conformance::cni::CniSuite;
use podcheck_core::conformance::{AnySuite, load_any};
use podcheck_core::result::{CaseResult, Source, StageStatus, SuiteResult, Verdict};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn real_or_skip(test: &str) -> bool {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root".to_string());
    }
    for p in ["bridge", "ptp", "host-local", "loopback"] {
        if !Path::new("/usr/lib/cni").join(p).is_file() {
            missing.push(format!(
                "/usr/lib/cni/{p} (Debian: containernetworking-plugins)"
            ));
        }
    }
    for t in ["ip", "nft"] {
        if !["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(t).is_file())
        {
            missing.push(format!("the {t} command"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    if std::env::var("PODCHECK_SKIP_REAL").as_deref() != Ok("1") {
        panic!(
            "{test}: needs {why} (or set PODCHECK_SKIP_REAL=1 to skip tests on real components)"
        );
    }
    eprintln!("skipping {test}: needs {why}");
    false
}

fn suite() -> CniSuite {
    let path = repo().join("suites/cni/suite.yaml");
    match load_any(&path, &|p| std::fs::read_to_string(p)) {
        Ok(AnySuite::Cni(s)) => s,
        Ok(other) => panic!("suites/cni/suite.yaml is a {} suite", other.kind()),
        Err(e) => panic!("suites/cni/suite.yaml does not load:\n{e}"),
    }
}

fn failures(result: &SuiteResult) -> String {
    let mut out = String::new();
    for case in &result.cases {
        if case.verdict == Verdict::Passed {
            continue;
        }
        out.push_str(&format!(
            "{} {:?} {:?}\n",
            case.name, case.verdict, case.error
        ));
        for c in case
            .checks()
            .iter()
            .filter(|c| c.status == StageStatus::Failed)
        {
            out.push_str(&format!(
                "  {}: {} / {}\n    {:?}\n",
                c.name, c.expected, c.observed, c.message
            ));
            for e in &c.evidence {
                out.push_str(&format!(
                    "    [{:?} {}] {}\n",
                    e.source, e.provider, e.detail
                ));
            }
        }
    }
    out
}

fn case<'a>(result: &'a SuiteResult, name: &str) -> &'a CaseResult {
    result
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no case {name} in {:?}",
                result.cases.iter().map(|c| &c.name).collect::<Vec<_>>()
            )
        })
}

/// The bridges the run used, from its `add.succeeds` observations.
fn bridges(result: &SuiteResult) -> Vec<String> {
    let mut out: Vec<String> = result
        .cases
        .iter()
        .flat_map(|c| c.checks())
        .filter_map(|c| {
            let at = c.observed.find("host side: pcbr")?;
            let word = &c.observed[at + "host side: ".len()..];
            Some(word.trim_end_matches(')').to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Nothing of this process is left: namespaces, run dirs, node-network state, bridges.
fn assert_nothing_left(used_bridges: &[String]) {
    let pid = std::process::id();
    let ours = |dir: &str, prefix: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|es| {
                es.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&format!("{prefix}{pid}-")))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        ours("/run/netns", "pccni-"),
        Vec::<String>::new(),
        "namespaces left"
    );
    assert_eq!(
        ours("/run/podcheck", "cni-"),
        Vec::<String>::new(),
        "run dirs left"
    );
    if let Ok(es) = std::fs::read_dir("/run/podcheck/net") {
        for e in es.flatten() {
            let owner = std::fs::read_to_string(e.path().join("owner")).unwrap_or_default();
            assert!(
                owner.split_whitespace().next() != Some(&pid.to_string()),
                "node-network state left: {}",
                e.path().display()
            );
        }
    }
    for bridge in used_bridges {
        let link = Path::new("/sys/class/net").join(bridge);
        // Another process may have claimed the subnet (and made the bridge) since: then
        // its state dir names that process.
        if link.exists() {
            let owner =
                std::fs::read_to_string(Path::new("/run/podcheck/net").join(bridge).join("owner"))
                    .unwrap_or_default();
            assert!(
                !owner.is_empty() && owner.split_whitespace().next() != Some(&pid.to_string()),
                "bridge {bridge} left behind"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_with_bridge_and_ptp() {
    if !real_or_skip("the_suite_passes_with_bridge_and_ptp") {
        return;
    }
    let suite = suite();
    let began = Instant::now();
    let result = run(&suite, &CniOverrides::default())
        .await
        .expect("the suite runs");
    eprintln!(
        "suites/cni: {} cases in {:?}",
        result.cases.len(),
        began.elapsed()
    );
    assert_eq!(result.kind, "cni");
    let fails = failures(&result);
    assert!(fails.is_empty(), "failed cases:\n{fails}");
    assert_eq!(result.components.len(), 2, "{:?}", result.components);
    for (c, plugin) in result.components.iter().zip(["bridge", "ptp"]) {
        assert_eq!(c.component, "network");
        assert!(c.name.starts_with(&format!("{plugin}+host-local")), "{c:?}");
        assert!(c.version.contains("(CNI 0.1.0–1.0.0)"), "{c:?}");
    }
    for net in ["bridge", "ptp"] {
        for name in [
            "version",
            "add",
            "check",
            "del",
            "del-twice",
            "del-unknown",
            "malformed-json",
            "unknown-version",
            "missing-ipam",
            "distinct-addresses",
            "reach",
        ] {
            let c = case(&result, &format!("{name}-{net}"));
            assert!(
                c.checks().iter().any(|k| k.status == StageStatus::Passed),
                "{} passed nothing: {:?}",
                c.name,
                c.checks()
            );
        }
        // Debian's plugins list CNI 1.0.0 at most: STATUS and GC are not theirs.
        let status = case(&result, &format!("status-{net}"));
        assert_eq!(
            status.checks()[0].status,
            StageStatus::Skipped,
            "{status:?}"
        );
        let add = case(&result, &format!("add-{net}"));
        let addresses = add
            .checks()
            .iter()
            .find(|c| c.name == "add.netns-addresses")
            .unwrap();
        assert!(
            addresses
                .evidence
                .iter()
                .any(|e| e.source == Source::Netns && e.real)
        );
        let distinct = case(&result, &format!("distinct-addresses-{net}"));
        let d = distinct
            .checks()
            .iter()
            .find(|c| c.name == "distinctAddresses.distinct")
            .unwrap();
        assert!(d.observed.starts_with("50 distinct addresses"), "{d:?}");
        assert!(
            distinct
                .checks()
                .iter()
                .any(|c| c.name == "distinctAddresses.released")
        );
    }
    // One bridge per network; the second may reuse the first's subnet once it is released.
    let used = bridges(&result);
    assert!(!used.is_empty() && used.len() <= 2, "{used:?}");
    assert_nothing_left(&used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_conflist_fails_add_with_evidence() {
    if !real_or_skip("a_broken_conflist_fails_add_with_evidence") {
        return;
    }
    let suite = suite();
    let overrides = CniOverrides {
        bin_dir: None,
        conflist: Some(repo().join("fixtures/cni/conformance/broken.conflist")),
    };
    let result = run(&suite, &overrides).await.expect("the suite runs");
    assert_eq!(result.components.len(), 1);
    assert!(
        result.components[0].name.starts_with("host-local"),
        "{:?}",
        result.components
    );
    let add = case(&result, "add-broken");
    assert_eq!(add.verdict, Verdict::Failed, "{add:?}");
    let valid = add
        .checks()
        .iter()
        .find(|c| c.name == "add.result-valid")
        .unwrap();
    assert_eq!(
        valid.status,
        StageStatus::Passed,
        "the result itself is valid: {valid:?}"
    );
    let check = add
        .checks()
        .iter()
        .find(|c| c.name == "add.netns-addresses")
        .expect("add.netns-addresses");
    assert_eq!(check.status, StageStatus::Failed, "{check:?}");
    assert!(check.observed.contains("missing: 10.244."), "{check:?}");
    assert!(check.message.is_some() && check.hint.is_some());
    let cni = check
        .evidence
        .iter()
        .find(|e| e.source == Source::Cni)
        .expect("the plugin's answer");
    assert!(cni.detail.contains("\"ips\""), "{cni:?}");
    assert!(cni.provider.starts_with("host-local "), "{cni:?}");
    assert!(
        check.evidence.iter().any(|e| e.source == Source::Netns),
        "{check:?}"
    );
    // The version and bad-config cases hold regardless; reach cannot.
    assert_eq!(case(&result, "version-broken").verdict, Verdict::Passed);
    assert_eq!(case(&result, "reach-broken").verdict, Verdict::Failed);
    assert_nothing_left(&bridges(&result));
}

#[tokio::test]
async fn a_missing_plugin_dir_or_plugin_cannot_run_here() {
    if !real_or_skip("a_missing_plugin_dir_or_plugin_cannot_run_here") {
        return;
    }
    let overrides = CniOverrides {
        bin_dir: Some(PathBuf::from("/nonexistent/cni")),
        conflist: None,
    };
    match run(&suite(), &overrides).await {
        Err(e @ ConformanceError::CannotRunHere { .. }) => {
            assert!(e.to_string().contains("/nonexistent/cni"), "{e}")
        }
        other => panic!("expected CannotRunHere, got {other:?}"),
    }
    let empty = tempfile::tempdir().unwrap();
    let overrides = CniOverrides {
        bin_dir: Some(empty.path().to_path_buf()),
        conflist: None,
    };
    match run(&suite(), &overrides).await {
        Err(e @ ConformanceError::CannotRunHere { .. }) => {
            assert!(e.to_string().contains("bridge"), "{e}")
        }
        other => panic!("expected CannotRunHere, got {other:?}"),
    }
    assert_nothing_left(&[]);
}

#[tokio::test]
async fn a_conflist_that_is_no_template_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conflist");
    std::fs::write(
        &path,
        r#"{"name":"x","plugins":[{"type":"ptp","ipam":{"subnet":"{{podCidr}}"}}]}"#,
    )
    .unwrap();
    let overrides = CniOverrides {
        bin_dir: None,
        conflist: Some(path),
    };
    match run(&suite(), &overrides).await {
        Err(ConformanceError::Conflist { message, .. }) => {
            assert!(message.contains("{{podCidr}}"), "{message}")
        }
        Err(ConformanceError::CannotRunHere { .. })
            if std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1") => {}
        other => panic!("expected Conflist, got {other:?}"),
    }
}

/// A `--cni-conflist` that could touch the host's networks or IPAM is refused, saying why,
/// before any plugin runs.
#[tokio::test]
async fn a_conflist_reaching_the_host_is_refused() {
    let ptp =
        std::fs::read_to_string(repo().join("fixtures/cni/conformance/ptp.conflist")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (n, (from, to, why)) in [
        (r#""dataDir""#, r#""dataDirectory""#, "dataDir"),
        (r#""{{dataDir}}""#, r#""/var/lib/cni/networks""#, "dataDir"),
        (
            r#""subnet": "{{subnet}}""#,
            r#""subnet": "192.168.1.0/24""#,
            "192.168.1.0/24",
        ),
        (r#""ipMasq": false"#, r#""ipMasq": true"#, "ipMasq"),
        (
            r#""ipMasq": false"#,
            r#""isDefaultGateway": true"#,
            "isDefaultGateway",
        ),
        (r#""ipMasq": false"#, r#""master": "eth0""#, "master"),
        (r#""ipMasq": false"#, r#""bridge": "cni0""#, "cni0"),
    ]
    .into_iter()
    .enumerate()
    {
        let template = ptp.replace(from, to);
        assert_ne!(template, ptp, "{from}");
        let path = dir.path().join(format!("host{n}.conflist"));
        std::fs::write(&path, &template).unwrap();
        let overrides = CniOverrides {
            bin_dir: Some(PathBuf::from("/nonexistent/cni")),
            conflist: Some(path),
        };
        match run(&suite(), &overrides).await {
            Err(ConformanceError::Conflist { message, .. }) => {
                assert!(message.contains(why), "{why}: {message}")
            }
            other => panic!("{template}: expected Conflist, got {other:?}"),
        }
    }
}

/// A plugin that lists CNI 1.1.0 (`fixtures/cni/conformance/ptp11`: ptp underneath, STATUS
/// and GC of its own): every case runs at 1.0.0 and at 1.1.0, and STATUS and GC are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_1_plugin_gets_status_and_gc_and_both_versions() {
    if !real_or_skip("a_1_1_plugin_gets_status_and_gc_and_both_versions") {
        return;
    }
    if !["/usr/bin/python3", "/bin/python3"]
        .iter()
        .any(|p| Path::new(p).is_file())
    {
        assert_eq!(
            std::env::var("PODCHECK_SKIP_REAL").as_deref(),
            Ok("1"),
            "the 1.1 test plugin needs python3"
        );
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    for p in ["ptp", "host-local", "loopback"] {
        std::os::unix::fs::symlink(Path::new("/usr/lib/cni").join(p), bin.path().join(p)).unwrap();
    }
    let fixtures = repo().join("fixtures/cni/conformance");
    std::os::unix::fs::symlink(fixtures.join("ptp11"), bin.path().join("ptp11")).unwrap();
    let overrides = CniOverrides {
        bin_dir: Some(bin.path().to_path_buf()),
        conflist: Some(fixtures.join("ptp11.conflist")),
    };
    let result = run(&suite(), &overrides).await.expect("the suite runs");
    let fails = failures(&result);
    assert!(fails.is_empty(), "failed cases:\n{fails}");
    for name in [
        "status-ptp11",
        "gc-ptp11",
        "add-ptp11-1.0.0",
        "add-ptp11-1.1.0",
        "reach-ptp11-1.1.0",
    ] {
        let c = case(&result, name);
        assert!(
            c.checks().iter().all(|k| k.status == StageStatus::Passed),
            "{name}: {:?}",
            c.checks()
        );
    }
    let gc = case(&result, "gc-ptp11");
    assert!(
        gc.checks().iter().any(|c| c.name == "gc.releases-unlisted"),
        "{gc:?}"
    );
    let version = case(&result, "version-ptp11");
    let v11 = version
        .checks()
        .iter()
        .find(|c| c.name == "version.1.1.0")
        .unwrap();
    assert!(v11.observed.contains("listed by ptp11"), "{v11:?}");
    assert_nothing_left(&bridges(&result));
}

/// What a killed run leaves (its namespaces, its run dir) goes with the next run's sweep;
/// a live run's is kept.
#[test]
fn the_leftovers_of_a_dead_run_are_swept() {
    if !real_or_skip("the_leftovers_of_a_dead_run_are_swept") {
        return;
    }
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let ns = format!("pccni-{dead}-0");
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = Path::new("/run/podcheck").join(format!("cni-{dead}-0"));
    std::fs::create_dir_all(dir.join("bridge")).unwrap();
    let live = podcheck_host::owner::Owner::this().tag();
    let live_dir = Path::new("/run/podcheck").join(format!("cni-{live}-999999"));
    std::fs::create_dir_all(&live_dir).unwrap();

    let swept = podcheck_conformance::cni::host::sweep_stale();
    assert!(swept.contains(&format!("netns {ns}")), "{swept:?}");
    assert!(!Path::new("/run/netns").join(&ns).exists());
    assert!(!dir.exists());
    assert!(live_dir.exists(), "a live run's dir is not swept");
    std::fs::remove_dir(&live_dir).unwrap();
}

/// A chain (ptp, then tuning): each plugin gets the previous one's result as `prevResult`
/// on ADD and CHECK, DEL runs in reverse, and the suite passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_conflist_passes() {
    if !real_or_skip("a_chained_conflist_passes") {
        return;
    }
    let overrides = CniOverrides {
        bin_dir: None,
        conflist: Some(repo().join("fixtures/cni/conformance/ptp-tuning.conflist")),
    };
    let result = run(&suite(), &overrides).await.expect("the suite runs");
    let fails = failures(&result);
    assert!(fails.is_empty(), "failed cases:\n{fails}");
    assert!(
        result.components[0]
            .name
            .starts_with("ptp+tuning+host-local"),
        "{:?}",
        result.components
    );
    let add = case(&result, "add-ptp-tuning");
    let succeeded = &add.checks()[0];
    assert_eq!(succeeded.evidence.len(), 2, "{succeeded:?}");
    assert!(
        succeeded.evidence[1]
            .detail
            .starts_with("tuning CNI_COMMAND=ADD"),
        "{succeeded:?}"
    );
    let check = case(&result, "check-ptp-tuning");
    assert!(
        check
            .checks()
            .iter()
            .any(|c| c.name == "check.succeeds" && c.evidence.len() == 2),
        "{check:?}"
    );
    assert_nothing_left(&bridges(&result));
}
