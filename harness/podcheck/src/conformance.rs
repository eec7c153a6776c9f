//! Runs conformance suites (`CniSuite`, `CriSuite`, `DnsSuite`): the component under test is
//! called directly by `podcheck-conformance`; this module picks what it is called with
//! (flags, or what the embedded target provides) and turns errors into results.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use podcheck_conformance::{ConformanceError, cni::CniOverrides};
use podcheck_controlplane::providers::Component;
use podcheck_core::conformance::AnySuite;
use podcheck_core::load::Suite;
use podcheck_core::result::{CaseResult, SuiteResult, SuiteSkip};
use podcheck_host::prerequisite;

use crate::target::Target;
use crate::{Error, TargetChoice};

/// What the user named as the component under test, by flag.
#[derive(Debug, Clone, Default)]
pub struct ConformanceOptions {
    /// `--cni-bin-dir` and `--cni-conflist`: the plugins and network a `CniSuite` checks.
    pub cni: CniOverrides,
    /// `--cri-socket`: the runtime a `CriSuite` checks (default: a containerd podcheck starts).
    pub cri_socket: Option<PathBuf>,
    /// `--dns-server`: the server a `DnsSuite` queries (default: the embedded target's).
    pub dns_server: Option<SocketAddr>,
    /// `--require-real`: a suite whose component is among these and cannot run here stops
    /// the run instead of being skipped.
    pub require_real: Vec<Component>,
}

/// Runs one conformance suite. A suite that cannot run at all (plugins missing, no runtime)
/// becomes a result whose cases are errors, so the report says why instead of the run
/// stopping; but one whose component is podcheck's own default and cannot run on this
/// machine (no root, a package not installed) is skipped, with the command that installs
/// what is missing, unless `--require-real` names its component (then the run stops).
pub async fn run_suite(
    suite: &AnySuite,
    target: &TargetChoice,
    opts: &ConformanceOptions,
    run_id: &str,
) -> Result<SuiteResult, Error> {
    let started = Instant::now();
    let outcome = match suite {
        AnySuite::Pods(_) => unreachable!("pod suites run through the runner"),
        AnySuite::Cni(s) => podcheck_conformance::cni::run(s, &opts.cni).await,
        AnySuite::Cri(s) => podcheck_conformance::cri::run(s, opts.cri_socket.as_deref()).await,
        AnySuite::Dns(s) => run_dns(s, target, opts, run_id).await,
    };
    let e = match outcome {
        Ok(result) => return Ok(result),
        Err(e) => e,
    };
    if let (ConformanceError::CannotRunHere { missing, .. }, Some(component)) =
        (&e, podchecks_own_component(suite, opts))
    {
        let reason = e.to_string();
        if opts.require_real.contains(&component) {
            return Err(Error::RequireReal(format!(
                "{}: {reason}",
                component.name()
            )));
        }
        let skip = SuiteSkip {
            reason,
            install: prerequisite::install_command(missing),
        };
        return Ok(SuiteResult::skipped(
            suite.name(),
            &suite.path().display().to_string(),
            suite.kind(),
            &suite.cases(),
            skip,
        ));
    }
    Ok(SuiteResult {
        name: suite.name().to_string(),
        path: suite.path().display().to_string(),
        kind: suite.kind().to_string(),
        components: Vec::new(),
        skipped: None,
        cases: vec![CaseResult::conformance(
            "setup",
            "the suite could not run",
            Vec::new(),
            started.elapsed().as_secs_f64() * 1e3,
            Some(podcheck_host::error_chain(&e)),
        )],
    })
}

/// The component a suite checks when it is podcheck's own choice (the plugins in the
/// default dir, podcheck's containerd), not one the user named by flag: only those are
/// skipped where they cannot run; what the user named and cannot run is an error.
fn podchecks_own_component(suite: &AnySuite, opts: &ConformanceOptions) -> Option<Component> {
    match suite {
        AnySuite::Cni(_) if opts.cni.bin_dir.is_none() && opts.cni.conflist.is_none() => {
            Some(Component::Network)
        }
        AnySuite::Cri(_) if opts.cri_socket.is_none() => Some(Component::Runtime),
        AnySuite::Pods(_) | AnySuite::Cni(_) | AnySuite::Cri(_) | AnySuite::Dns(_) => None,
    }
}

/// A DNS suite needs the Kubernetes API (for its Services and EndpointSlices) and a server to
/// ask: the embedded control plane and its DNS server, or the kubeconfig's cluster and
/// `--dns-server`.
async fn run_dns(
    suite: &podcheck_core::conformance::dns::DnsSuite,
    choice: &TargetChoice,
    opts: &ConformanceOptions,
    run_id: &str,
) -> Result<SuiteResult, ConformanceError> {
    let target = match choice {
        TargetChoice::Local(providers) => {
            Target::local(&Suite::empty(&suite.path), providers).await
        }
        TargetChoice::Kubeconfig(path) => Target::kubeconfig(path).await,
        TargetChoice::Kind(kind) => kind.connect().await,
    }
    .map_err(|e| ConformanceError::Unavailable {
        what: "the target".into(),
        why: podcheck_host::error_chain(&e),
    })?;
    let server = match opts.dns_server.or_else(|| target.dns_server()) {
        Some(s) => s,
        None => {
            target.shutdown().await;
            return Err(ConformanceError::Unavailable {
                what: "a DNS server to query".into(),
                why: "a kubeconfig target needs --dns-server ADDRESS:PORT (the cluster DNS, reachable from here)".into(),
            });
        }
    };
    // The shape of a pod case's namespace (`pc-SUITE-CASE-INDEX-HEX5`), so snapshots
    // normalise it the same way.
    let mut base = format!("pc-{}", suite.name);
    base.truncate(40);
    let namespace = format!(
        "{}-records-0-{}",
        base.trim_end_matches('-'),
        namespace_suffix(run_id)
    );
    let result = podcheck_conformance::dns::run(
        suite,
        target.admin.clone(),
        server,
        &namespace,
        &[
            ("app.kubernetes.io/managed-by", "podcheck"),
            (crate::observer::RUN_LABEL, run_id),
        ],
    )
    .await;
    target.shutdown().await;
    result
}

/// Five hex digits that differ between runs and between suites of one run.
fn namespace_suffix(run_id: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("{:05x}", RandomState::new().hash_one(run_id) & 0xfffff)
}
