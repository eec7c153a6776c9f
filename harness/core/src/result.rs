//! The results of a run: per case and stage, a verdict with its evidence. This is the
//! versioned document written as `results.json`; reports and snapshots derive from it.

use serde::{Deserialize, Serialize};

use crate::stage::Stage;

/// The schema identifier of `results.json`.
pub const RESULTS_SCHEMA: &str = "podcheck.dev/results/v1alpha1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResults {
    pub schema: String,
    pub run_id: String,
    /// RFC 3339.
    pub started_at: String,
    pub duration_ms: f64,
    pub target: TargetInfo,
    pub suites: Vec<SuiteResult>,
    pub summary: Summary,
}

/// Which cluster was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    /// `local` (the embedded control plane) or `kubeconfig`.
    pub kind: String,
    pub server: String,
    /// The apiserver's `/version` gitVersion.
    pub version: String,
    /// The implementations behind each component, where the target tells.
    pub providers: Vec<Provider>,
}

/// An implementation that produced evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// `store`, `runtime`, `network`, `dns`, `scheduler`, `apiserver`.
    pub component: String,
    /// `memory`, `etcd`, `sim`, `containerd`, `builtin`, …
    pub name: String,
    /// Whether a real component did the work (not a simulation).
    pub real: bool,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    /// Cases that could not be run (setup failed, deadline during setup).
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteResult {
    pub name: String,
    /// The suite file, relative to where podcheck was run.
    pub path: String,
    /// What the suite checks: `pods` (cases × the eight stages) or a component's
    /// conformance (`cni`, `cri`, `dns`: cases × checks).
    #[serde(default = "pods_kind")]
    pub kind: String,
    /// The components under test, the user's own (an external scheduler, a CNI plugin, a
    /// CRI runtime, a DNS server), with the version each reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentUnderTest>,
    pub cases: Vec<CaseResult>,
}

fn pods_kind() -> String {
    "pods".into()
}

/// A component a suite validates, as it identified itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentUnderTest {
    /// `scheduler`, `network`, `runtime` or `dns`.
    pub component: String,
    /// What the user named: the scheduler command, the CNI network and plugins, the CRI
    /// socket, the DNS server address.
    pub name: String,
    /// The version it reported (`--version`, the CNI VERSION answer, CRI Version, …);
    /// empty when it reports none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// Whether a case met its expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Passed,
    Failed,
    /// The case could not be run; see `error`.
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The namespace the case ran in (empty for conformance checks that need none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The pod's name (empty for conformance cases, which create no pod).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod: String,
    /// The identity that sent the create (empty for conformance cases).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identity: String,
    pub verdict: Verdict,
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A pod case's stages (always present, empty for conformance cases).
    #[serde(default)]
    pub stages: Vec<StageResult>,
    /// A conformance case's checks, in the order they ran (pod cases have stages instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// Everything observed, in the order it happened (ms from the create).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
}

/// One observation: a watch event on the pod, or an Event about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at_ms: f64,
    pub what: String,
}

/// A stage's status against the case's expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StageStatus {
    /// What was observed is what the case expects.
    Passed,
    /// It is not, or the deadline passed without the evidence.
    Failed,
    /// Not evaluated: the case says so, or an earlier stage ended the pod's path.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageResult {
    pub stage: Stage,
    pub status: StageStatus,
    /// What the case expects, in words (`pass`, `denied 401`, `unschedulable: …`).
    pub expected: String,
    /// What was observed, in words.
    pub observed: String,
    /// Milliseconds from the create request to the evidence that completed the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<f64>,
    /// Milliseconds since the previous stage completed (by real timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub evidence: Vec<Evidence>,
    /// Why it failed or was skipped, and what to look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// One check of a conformance case: a named requirement (of the CNI, CRI or Kubernetes
/// DNS specification) and what the component did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// A stable name, e.g. `add.result-valid`, `runPodSandbox.dns-config`, `srv.named-port`.
    pub name: String,
    pub status: StageStatus,
    /// What the specification requires, in words.
    pub expected: String,
    /// What was observed, in words.
    pub observed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Where a piece of evidence was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// The Kubernetes API (responses, watches, events).
    Api,
    /// A direct read of the store (etcd or the embedded store).
    Store,
    /// The container runtime over CRI.
    Cri,
    /// The pod's network namespace.
    Netns,
    /// A DNS lookup.
    Dns,
    /// A CNI plugin's answer (its stdout and exit status), called as the CNI spec says.
    Cni,
    /// A process the harness started (an external scheduler, a plugin's `--version`).
    Process,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub source: Source,
    /// Which implementation answered (`api` evidence names the apiserver).
    pub provider: String,
    /// Whether that implementation is real.
    pub real: bool,
    /// What was seen.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<f64>,
}

impl CaseResult {
    pub fn stage(&self, stage: Stage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// A conformance case: passed when every check passed; no checks is an error (nothing
    /// was shown).
    pub fn conformance(
        name: &str,
        description: &str,
        checks: Vec<CheckResult>,
        duration_ms: f64,
        error: Option<String>,
    ) -> CaseResult {
        let verdict = if error.is_some() || checks.is_empty() {
            Verdict::Error
        } else if checks.iter().all(|c| c.status != StageStatus::Failed) {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        CaseResult {
            name: name.into(),
            description: description.into(),
            tags: vec![],
            namespace: String::new(),
            pod: String::new(),
            identity: String::new(),
            verdict,
            duration_ms,
            error,
            stages: vec![],
            checks,
            timeline: vec![],
        }
    }
}

impl CheckResult {
    /// A check that passed, with what showed it.
    pub fn passed(
        name: &str,
        expected: &str,
        observed: impl Into<String>,
        evidence: Vec<Evidence>,
    ) -> CheckResult {
        CheckResult {
            name: name.into(),
            status: StageStatus::Passed,
            expected: expected.into(),
            observed: observed.into(),
            duration_ms: None,
            evidence,
            message: None,
            hint: None,
        }
    }

    /// A check that failed: what was seen, why it falls short, and what to look at.
    pub fn failed(
        name: &str,
        expected: &str,
        observed: impl Into<String>,
        evidence: Vec<Evidence>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> CheckResult {
        CheckResult {
            name: name.into(),
            status: StageStatus::Failed,
            expected: expected.into(),
            observed: observed.into(),
            duration_ms: None,
            evidence,
            message: Some(message.into()),
            hint,
        }
    }
}

impl RunResults {
    /// Recounts the summary from the cases.
    pub fn summarize(&mut self) {
        let mut s = Summary::default();
        for case in self.suites.iter().flat_map(|s| &s.cases) {
            s.cases += 1;
            match case.verdict {
                Verdict::Passed => s.passed += 1,
                Verdict::Failed => s.failed += 1,
                Verdict::Error => s.errors += 1,
            }
        }
        self.summary = s;
    }
}
