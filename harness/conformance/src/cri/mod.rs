//! A CRI v1 runtime checked over its socket, critest-style: what pod creation needs from it
//! (Version; RunPodSandbox with a hostname and DNS config; PodSandboxStatus with an IP;
//! CreateContainer, StartContainer, ContainerStatus; ExecSync with exit codes; List
//! filters; Stop and Remove, idempotent).
//!
//! [`run`] checks the runtime at a socket the user names, or starts podcheck's own
//! containerd (on a bridge and /24 of its own, as a node of the embedded control plane has)
//! and removes it, and everything it made, afterwards. Every CRI call has a deadline and
//! every case one from the suite; a call that fails is a failed check with the gRPC status
//! as its evidence.

mod environment;
mod scenario;

use std::path::Path;
use std::time::Instant;

use podcheck_core::conformance::cri::CriSuite;
use podcheck_core::result::{
    CaseResult, CheckResult, ComponentUnderTest, Evidence, Source, SuiteResult,
};
use podcheck_node::cri::CriError;
use podcheck_protos::cri::v1::VersionResponse;

use crate::ConformanceError;
pub use environment::RuntimeUnderTest;

/// The label every sandbox the suite creates carries, with the run's id: the cleanup after
/// each case (and after the run) removes what carries it.
pub const RUN_LABEL: &str = "podcheck.dev/cri-run";
/// The label naming the case that created a sandbox.
pub const CASE_LABEL: &str = "podcheck.dev/cri-case";

/// Runs the suite against the runtime at `socket`, or, with `None`, against a containerd
/// podcheck starts for the run (and stops, leaving nothing behind).
pub async fn run(suite: &CriSuite, socket: Option<&Path>) -> Result<SuiteResult, ConformanceError> {
    let runtime = match socket {
        Some(socket) => RuntimeUnderTest::connect(socket).await?,
        None => RuntimeUnderTest::start_own().await?,
    };
    let run_id = new_run_id();
    // Podcheck's own containerd takes everything with it when dropped; a user's runtime
    // keeps what this run made unless the guard removes it (Ctrl-C drops this future).
    let mut guard = LeftoverGuard {
        socket: socket.map(Path::to_path_buf),
        run_id: run_id.clone(),
    };
    let result = run_with_id(suite, &runtime, &run_id).await;
    guard.socket = None;
    runtime.shutdown().await;
    Ok(result)
}

/// Runs the suite against a runtime already set up (the caller shuts it down).
pub async fn run_on(suite: &CriSuite, runtime: &RuntimeUnderTest) -> SuiteResult {
    run_with_id(suite, runtime, &new_run_id()).await
}

fn new_run_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    )
}

/// Removes a run's sandboxes from a user's runtime when the run is dropped before its own
/// cleanup: on a thread of its own (the dropping runtime may be shutting down), bounded.
struct LeftoverGuard {
    socket: Option<std::path::PathBuf>,
    run_id: String,
}

/// How long the guard may take to remove a dropped run's sandboxes.
const GUARD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

impl Drop for LeftoverGuard {
    fn drop(&mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        let run_id = std::mem::take(&mut self.run_id);
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let _ = tokio::time::timeout(GUARD_DEADLINE, async {
                    if let Ok(runtime) = RuntimeUnderTest::connect(&socket).await {
                        scenario::Context::new(&runtime, "", &run_id)
                            .sweep_leftovers()
                            .await;
                        runtime.shutdown().await;
                    }
                })
                .await;
            });
        });
        let _ = cleanup.join();
    }
}

async fn run_with_id(suite: &CriSuite, runtime: &RuntimeUnderTest, run_id: &str) -> SuiteResult {
    let ctx = scenario::Context::new(runtime, &suite.image, run_id);
    let mut cases = Vec::new();
    for case in &suite.cases {
        cases.push(Box::pin(scenario::run_case(&ctx, case)).await);
    }
    ctx.remove_leftovers().await;
    SuiteResult {
        name: suite.name.clone(),
        path: suite.path.display().to_string(),
        kind: "cri".into(),
        components: vec![runtime.component()],
        skipped: None,
        cases,
    }
}

/// How a runtime names itself in evidence: `containerd 1.6.20~ds1`.
pub fn provider_name(version: &VersionResponse) -> String {
    format!("{} {}", version.runtime_name, version.runtime_version)
        .trim()
        .to_string()
}

/// The component under test, as its Version answer tells (`containerd`,
/// `1.6.20~ds1 (CRI v1)`), named by `name` (the socket).
pub fn component(name: &str, version: Option<&VersionResponse>) -> ComponentUnderTest {
    ComponentUnderTest {
        component: "runtime".into(),
        name: name.to_string(),
        version: version
            .map(|v| {
                format!(
                    "{} {} (CRI {})",
                    v.runtime_name, v.runtime_version, v.runtime_api_version
                )
                .trim()
                .to_string()
            })
            .unwrap_or_default(),
    }
}

/// A CRI error in words: the call, the gRPC status code and the runtime's message.
pub fn describe(e: &CriError) -> String {
    match e {
        CriError::Call {
            call,
            code,
            message,
        } => format!("{call} failed with gRPC {code:?}: {message}"),
        other => podcheck_host::error_chain(other),
    }
}

/// A case that could not reach the runtime at all: one failed check, `cri.connect`.
fn unreachable_case(case: &str, description: &str, socket: &str, why: &str) -> CaseResult {
    let check = CheckResult::failed(
        "cri.connect",
        "the socket answers CRI v1 (gRPC over a unix socket)",
        why.to_string(),
        vec![Evidence {
            source: Source::Cri,
            provider: socket.to_string(),
            real: true,
            detail: why.to_string(),
            at_ms: None,
        }],
        format!("the runtime at {socket} could not be reached over CRI: {why}"),
        Some(
            "is it a CRI v1 runtime's socket (containerd's CRI plugin, CRI-O), and is the \
             runtime running?"
                .into(),
        ),
    );
    CaseResult::conformance(case, description, vec![check], 0.0, None)
}

fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}
