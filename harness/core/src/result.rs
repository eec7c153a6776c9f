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
    /// Cases of suites that cannot run on this machine (see [`SuiteResult::skipped`]).
    #[serde(default)]
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "SuiteDocument")]
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
    /// Set when the suite could not run on this machine (its component is not installed,
    /// or it needs root): its cases are [`Verdict::Skipped`] and it has no snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SuiteSkip>,
    pub cases: Vec<CaseResult>,
}

/// Why a suite did not run here, and what would let it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteSkip {
    /// `containerd is not installed`, `needs root (network namespaces and bridges)`.
    pub reason: String,
    /// The command that installs what is missing (`apt-get install containerd runc`), when a
    /// package would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
}

fn pods_kind() -> String {
    "pods".into()
}

/// A suite as `results.json` holds it. A case with neither stages nor checks does not say
/// which it is; the suite's kind does.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuiteDocument {
    name: String,
    path: String,
    #[serde(default = "pods_kind")]
    kind: String,
    #[serde(default)]
    components: Vec<ComponentUnderTest>,
    #[serde(default)]
    skipped: Option<SuiteSkip>,
    cases: Vec<CaseResult>,
}

impl TryFrom<SuiteDocument> for SuiteResult {
    type Error = String;

    fn try_from(doc: SuiteDocument) -> Result<SuiteResult, String> {
        let pods = doc.kind == "pods";
        let mut cases = doc.cases;
        for case in &mut cases {
            match &case.kind {
                CaseKind::Pod { stages } if !pods && stages.is_empty() => {
                    case.kind = CaseKind::Conformance { checks: vec![] };
                }
                CaseKind::Pod { .. } | CaseKind::Load { .. } if pods => {}
                CaseKind::Conformance { .. } if !pods => {}
                CaseKind::Pod { .. } | CaseKind::Conformance { .. } | CaseKind::Load { .. } => {
                    return Err(format!(
                        "suite {}: case {} does not match the suite's kind {}",
                        doc.name, case.name, doc.kind
                    ));
                }
            }
        }
        Ok(SuiteResult {
            name: doc.name,
            path: doc.path,
            kind: doc.kind,
            components: doc.components,
            skipped: doc.skipped,
            cases,
        })
    }
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
    /// The case was not run: its suite cannot run on this machine (see
    /// [`SuiteResult::skipped`]). Neither a pass nor a failure.
    Skipped,
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
    /// A pod case's stages or a conformance case's checks (as `stages` and `checks`).
    #[serde(flatten)]
    pub kind: CaseKind,
    /// Everything observed, in the order it happened (ms from the create).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// A batch (`replicas` > 1): each copy's binding latency, so reports can draw the
    /// distribution rather than only quote its percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchResult>,
}

/// The copies of a batch, in the order they were created (the case's pod first, then
/// `POD-1`, `POD-2`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    /// Per copy: milliseconds from its create request to the first sight of it with a node;
    /// `null` for a copy that was never bound (or never created).
    pub binding_ms: Vec<Option<f64>>,
}

impl BatchResult {
    /// The latencies of the copies that were bound, fastest first.
    pub fn sorted_latencies(&self) -> Vec<f64> {
        let mut bound: Vec<f64> = self.binding_ms.iter().flatten().copied().collect();
        bound.sort_by(f64::total_cmp);
        bound
    }
}

/// The nearest-rank percentile of sorted values (`p` in 0..=100): the value at or below which
/// `p`% of them fall, always one of them.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What a case was made of: a pod walked through the stages, or a component's checks.
///
/// In `results.json` both spell as they did before this type existed: `stages` is always
/// present (an empty list for a conformance or load case), `checks` only when there are
/// any, `load` only in a load case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseKind {
    /// A pod case: its stages (none when the case could not be set up).
    Pod { stages: Vec<StageResult> },
    /// A conformance case: its checks, in the order they ran (none when it could not run).
    Conformance { checks: Vec<CheckResult> },
    /// A load case of a pod suite (`load:`): what the run measured, and its checks (every
    /// pod ran, each SLO held).
    Load {
        load: Box<crate::scale::case::LoadSummary>,
        checks: Vec<CheckResult>,
    },
}

impl Serialize for CaseKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        const NONE: &[StageResult] = &[];
        let mut s = serializer.serialize_struct("CaseKind", 3)?;
        match self {
            CaseKind::Pod { stages } => {
                s.serialize_field("stages", stages)?;
                s.skip_field("checks")?;
            }
            CaseKind::Conformance { checks } | CaseKind::Load { checks, .. } => {
                s.serialize_field("stages", NONE)?;
                if checks.is_empty() {
                    s.skip_field("checks")?;
                } else {
                    s.serialize_field("checks", checks)?;
                }
            }
        }
        match self {
            CaseKind::Load { load, .. } => s.serialize_field("load", load)?,
            _ => s.skip_field("load")?,
        }
        s.end()
    }
}

/// The two lists as `results.json` holds them.
#[derive(Deserialize)]
struct CaseLists {
    #[serde(default)]
    stages: Vec<StageResult>,
    #[serde(default)]
    checks: Vec<CheckResult>,
    #[serde(default)]
    load: Option<Box<crate::scale::case::LoadSummary>>,
}

impl<'de> Deserialize<'de> for CaseKind {
    /// Checks make a conformance case; a case with neither list reads as a pod case, which a
    /// conformance suite's [`SuiteResult`] turns back into a conformance case.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let lists = CaseLists::deserialize(deserializer)?;
        if let Some(load) = lists.load {
            if !lists.stages.is_empty() {
                return Err(serde::de::Error::custom(
                    "a load case has checks, not stages",
                ));
            }
            return Ok(CaseKind::Load {
                load,
                checks: lists.checks,
            });
        }
        match (lists.stages.is_empty(), lists.checks.is_empty()) {
            (_, true) => Ok(CaseKind::Pod {
                stages: lists.stages,
            }),
            (true, false) => Ok(CaseKind::Conformance {
                checks: lists.checks,
            }),
            (false, false) => Err(serde::de::Error::custom(
                "a case has stages (a pod case) or checks (a conformance case), not both",
            )),
        }
    }
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
    /// The image registry the nodes pulled from (the embedded target's).
    Registry,
    /// A fault the case injected into the embedded control plane.
    Fault,
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
        self.stages().iter().find(|s| s.stage == stage)
    }

    /// A pod case's stages; none for a conformance case.
    pub fn stages(&self) -> &[StageResult] {
        match &self.kind {
            CaseKind::Pod { stages } => stages,
            CaseKind::Conformance { .. } | CaseKind::Load { .. } => &[],
        }
    }

    /// A conformance case's checks; none for a pod case.
    pub fn checks(&self) -> &[CheckResult] {
        match &self.kind {
            CaseKind::Pod { .. } => &[],
            CaseKind::Conformance { checks } | CaseKind::Load { checks, .. } => checks,
        }
    }

    /// What a load case measured; `None` for other cases.
    pub fn load(&self) -> Option<&crate::scale::case::LoadSummary> {
        match &self.kind {
            CaseKind::Load { load, .. } => Some(load),
            _ => None,
        }
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
            kind: CaseKind::Conformance { checks },
            timeline: vec![],
            batch: None,
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

impl SuiteResult {
    /// A suite that cannot run here: each of its cases (named in `cases`, with their
    /// descriptions) is skipped, with the suite's reason as its error.
    pub fn skipped(
        name: &str,
        path: &str,
        kind: &str,
        cases: &[(&str, &str)],
        skip: SuiteSkip,
    ) -> SuiteResult {
        let cases = cases
            .iter()
            .map(|&(case, description)| {
                let mut c = CaseResult::conformance(case, description, vec![], 0.0, None);
                c.verdict = Verdict::Skipped;
                c.error = Some(skip.reason.clone());
                if kind == "pods" {
                    c.kind = CaseKind::Pod { stages: vec![] };
                }
                c
            })
            .collect();
        SuiteResult {
            name: name.into(),
            path: path.into(),
            kind: kind.into(),
            components: vec![],
            skipped: Some(skip),
            cases,
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
                Verdict::Skipped => s.skipped += 1,
            }
        }
        self.summary = s;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn case(kind: CaseKind) -> CaseResult {
        CaseResult {
            name: "c".into(),
            description: String::new(),
            tags: vec![],
            namespace: String::new(),
            pod: String::new(),
            identity: String::new(),
            verdict: Verdict::Passed,
            duration_ms: 2.5,
            error: None,
            kind,
            timeline: vec![],
            batch: None,
        }
    }

    fn auth_passed() -> StageResult {
        StageResult {
            stage: Stage::Auth,
            status: StageStatus::Passed,
            expected: "pass".into(),
            observed: "201".into(),
            at_ms: None,
            duration_ms: None,
            evidence: vec![],
            message: None,
            hint: None,
        }
    }

    fn pod_case() -> CaseResult {
        case(CaseKind::Pod {
            stages: vec![auth_passed()],
        })
    }

    fn conformance_case() -> CaseResult {
        CaseResult::conformance(
            "c",
            "",
            vec![CheckResult::passed(
                "add.succeeds",
                "exit 0",
                "exit 0",
                vec![],
            )],
            2.5,
            None,
        )
    }

    fn suite(kind: &str, cases: Vec<CaseResult>) -> SuiteResult {
        SuiteResult {
            name: "s".into(),
            path: "s.yaml".into(),
            kind: kind.into(),
            components: vec![],
            skipped: None,
            cases,
        }
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
        serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
    }

    #[test]
    fn a_pod_case_has_stages_and_no_checks() {
        assert_eq!(
            serde_json::to_value(pod_case()).unwrap(),
            json!({
                "name": "c",
                "verdict": "passed",
                "durationMs": 2.5,
                "stages": [{
                    "stage": "auth",
                    "status": "passed",
                    "expected": "pass",
                    "observed": "201",
                    "evidence": []
                }]
            })
        );
    }

    #[test]
    fn a_conformance_case_has_checks_and_empty_stages() {
        assert_eq!(
            serde_json::to_value(conformance_case()).unwrap(),
            json!({
                "name": "c",
                "verdict": "passed",
                "durationMs": 2.5,
                "stages": [],
                "checks": [{
                    "name": "add.succeeds",
                    "status": "passed",
                    "expected": "exit 0",
                    "observed": "exit 0",
                    "evidence": []
                }]
            })
        );
    }

    #[test]
    fn cases_without_stages_or_checks_keep_stages_present() {
        let expected = json!({
            "name": "c",
            "verdict": "error",
            "durationMs": 0.0,
            "error": "setup failed",
            "stages": []
        });
        let failed = CaseResult::conformance("c", "", vec![], 0.0, Some("setup failed".into()));
        assert_eq!(serde_json::to_value(&failed).unwrap(), expected);
        let pod = CaseResult {
            verdict: Verdict::Error,
            duration_ms: 0.0,
            error: Some("setup failed".into()),
            ..case(CaseKind::Pod { stages: vec![] })
        };
        assert_eq!(serde_json::to_value(&pod).unwrap(), expected);
    }

    #[test]
    fn each_kind_of_case_round_trips() {
        assert_eq!(round_trip(&pod_case()), pod_case());
        assert_eq!(round_trip(&conformance_case()), conformance_case());
        let pods = suite(
            "pods",
            vec![pod_case(), case(CaseKind::Pod { stages: vec![] })],
        );
        assert_eq!(round_trip(&pods), pods);
    }

    fn load_case() -> CaseResult {
        let load = crate::scale::case::LoadSummary {
            pods: 3,
            in_flight: 64,
            qps: None,
            wall_ms: 120.0,
            timed_out: false,
            progress: Default::default(),
            metrics: vec![],
            throughput: crate::scale::stats::Throughput {
                bins: vec![3],
                average_per_second: None,
                peak_per_second: 3,
            },
            slos: vec![],
        };
        let checks = conformance_case().checks().to_vec();
        case(CaseKind::Load {
            load: Box::new(load),
            checks,
        })
    }

    #[test]
    fn a_load_case_has_checks_empty_stages_and_its_load() {
        let v = serde_json::to_value(load_case()).unwrap();
        assert_eq!(v["stages"], json!([]));
        assert_eq!(v["checks"][0]["name"], "add.succeeds");
        assert_eq!(v["load"]["pods"], 3);
        let pods = suite("pods", vec![pod_case(), load_case()]);
        assert_eq!(round_trip(&pods), pods);
        assert_eq!(pods.cases[1].load().map(|l| l.pods), Some(3));
        let cni = serde_json::to_value(suite("cni", vec![load_case()])).unwrap();
        assert!(serde_json::from_value::<SuiteResult>(cni).is_err());
    }

    #[test]
    fn a_conformance_case_without_checks_reads_back_by_its_suites_kind() {
        let failed = CaseResult::conformance("c", "", vec![], 0.0, Some("no plugin".into()));
        let cni = suite("cni", vec![conformance_case(), failed]);
        let back = round_trip(&cni);
        assert_eq!(back, cni);
        assert!(matches!(
            back.cases[1].kind,
            CaseKind::Conformance { ref checks } if checks.is_empty()
        ));
    }

    #[test]
    fn a_mix_of_stages_and_checks_is_rejected() {
        let mut both = serde_json::to_value(pod_case()).unwrap();
        both["checks"] = serde_json::to_value(conformance_case().checks()).unwrap();
        let err = serde_json::from_value::<CaseResult>(both).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");

        let wrong_suite = serde_json::to_value(suite("pods", vec![conformance_case()])).unwrap();
        let err = serde_json::from_value::<SuiteResult>(wrong_suite).unwrap_err();
        assert!(err.to_string().contains("suite's kind pods"), "{err}");
        let wrong_suite = serde_json::to_value(suite("cri", vec![pod_case()])).unwrap();
        assert!(serde_json::from_value::<SuiteResult>(wrong_suite).is_err());
    }
}
