//! Conformance suites: one component checked directly, as its own specification says,
//! rather than through a pod's creation. `kind: CniSuite` calls CNI plugins in network
//! namespaces podcheck creates; `kind: CriSuite` speaks CRI v1 to a runtime's socket;
//! `kind: DnsSuite` queries a cluster DNS server for the records of the Kubernetes DNS
//! specification. Their cases produce checks ([`crate::result::CheckResult`]) instead of
//! stages; the runners live in the `podcheck-conformance` crate.

pub mod cni;
pub mod cri;
pub mod dns;

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::load::{self, ReadFile, Suite, SuiteError};

/// Any suite file, by its `kind`.
#[derive(Debug, Clone)]
pub enum AnySuite {
    /// `kind: Suite`: pods walked through the eight stages.
    Pods(Suite),
    Cni(cni::CniSuite),
    Cri(cri::CriSuite),
    Dns(dns::DnsSuite),
}

impl AnySuite {
    pub fn name(&self) -> &str {
        match self {
            AnySuite::Pods(s) => &s.name,
            AnySuite::Cni(s) => &s.name,
            AnySuite::Cri(s) => &s.name,
            AnySuite::Dns(s) => &s.name,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            AnySuite::Pods(s) => &s.path,
            AnySuite::Cni(s) => &s.path,
            AnySuite::Cri(s) => &s.path,
            AnySuite::Dns(s) => &s.path,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            AnySuite::Pods(s) => &s.description,
            AnySuite::Cni(s) => &s.description,
            AnySuite::Cri(s) => &s.description,
            AnySuite::Dns(s) => &s.description,
        }
    }

    /// The cases' names and descriptions, in order.
    pub fn cases(&self) -> Vec<(&str, &str)> {
        match self {
            AnySuite::Pods(s) => s
                .cases
                .iter()
                .map(|c| (c.name.as_str(), c.description.as_str()))
                .collect(),
            AnySuite::Cni(s) => s
                .cases
                .iter()
                .map(|c| (c.name.as_str(), c.description.as_str()))
                .collect(),
            AnySuite::Cri(s) => s
                .cases
                .iter()
                .map(|c| (c.name.as_str(), c.description.as_str()))
                .collect(),
            AnySuite::Dns(s) => s
                .cases
                .iter()
                .map(|c| (c.name.as_str(), c.description.as_str()))
                .collect(),
        }
    }

    /// Each case's name and the line of its `name:` in the suite file, in order.
    pub fn case_lines(&self) -> Vec<(&str, usize)> {
        match self {
            AnySuite::Pods(s) => s.cases.iter().map(|c| (c.name.as_str(), c.line)).collect(),
            AnySuite::Cni(s) => s.cases.iter().map(|c| (c.name.as_str(), c.line)).collect(),
            AnySuite::Cri(s) => s.cases.iter().map(|c| (c.name.as_str(), c.line)).collect(),
            AnySuite::Dns(s) => s.cases.iter().map(|c| (c.name.as_str(), c.line)).collect(),
        }
    }

    /// Keeps the cases with these names (all when `names` is empty) and, when `tags` is not
    /// empty, with one of these tags (conformance cases have none).
    pub fn retain_cases(&mut self, names: &[String], tags: &[String]) {
        let by_name = |n: &String| names.is_empty() || names.contains(n);
        match self {
            AnySuite::Pods(s) => s.cases.retain(|c| {
                by_name(&c.name) && (tags.is_empty() || c.tags.iter().any(|t| tags.contains(t)))
            }),
            AnySuite::Cni(s) => s.cases.retain(|c| by_name(&c.name) && tags.is_empty()),
            AnySuite::Cri(s) => s.cases.retain(|c| by_name(&c.name) && tags.is_empty()),
            AnySuite::Dns(s) => s.cases.retain(|c| by_name(&c.name) && tags.is_empty()),
        }
    }

    /// `pods`, `cni`, `cri` or `dns`, as results name it.
    pub fn kind(&self) -> &'static str {
        match self {
            AnySuite::Pods(_) => "pods",
            AnySuite::Cni(_) => "cni",
            AnySuite::Cri(_) => "cri",
            AnySuite::Dns(_) => "dns",
        }
    }
}

impl Suite {
    /// A pod suite with no cases and the default node: what a conformance suite that needs
    /// a cluster (the DNS suite) starts the embedded target with.
    pub fn empty(path: &Path) -> Suite {
        Suite {
            path: path.to_path_buf(),
            name: String::new(),
            description: String::new(),
            nodes: Vec::new(),
            require_real: Vec::new(),
            identities: Vec::new(),
            scheduler: None,
            images: Vec::new(),
            cni_conflist: None,
            cases: Vec::new(),
        }
    }
}

/// For the schema only: a suite file of any kind, told apart by `kind`.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum AnySuiteFile {
    Suite(crate::suite::SuiteFile),
    CniSuite(cni::CniSuiteFile),
    CriSuite(cri::CriSuiteFile),
    DnsSuite(dns::DnsSuiteFile),
}

/// The JSON schema of suite files of every kind (for the `yaml-language-server` comment).
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(AnySuiteFile);
    schema.insert("title".into(), "podcheck suite".into());
    schema.insert(
        "description".into(),
        "A podcheck suite: `kind: Suite` walks pods through the eight stages of their creation; `CniSuite`, `CriSuite` and `DnsSuite` check one component against its specification.".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Only the `kind`, to pick the parser; everything else is left to it.
#[derive(Deserialize)]
struct KindOnly {
    kind: Option<Spanned<String>>,
}

/// Reads the suite at `path`, whatever its kind.
pub fn load_any(path: &Path, read: ReadFile<'_>) -> Result<AnySuite, SuiteError> {
    let (file, source) = load::read_source(path, read)?;
    let kind: KindOnly = serde_saphyr::from_str(&source)
        .map_err(|e| SuiteError(vec![load::syntax_problem(&file, &source, &e)]))?;
    match kind.kind.as_ref().map(|k| k.value.as_str()) {
        Some("CniSuite") => cni::load(path, &file, &source, read).map(AnySuite::Cni),
        Some("CriSuite") => cri::load(path, &file, &source, read).map(AnySuite::Cri),
        Some("DnsSuite") => dns::load(path, &file, &source, read).map(AnySuite::Dns),
        // `Suite`, and anything else: the pod suite parser names the unknown kind.
        _ => load::load(path, read).map(AnySuite::Pods),
    }
}
