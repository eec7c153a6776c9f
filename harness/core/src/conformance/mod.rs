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

use crate::load::{self, Problem, ReadFile, Suite, SuiteError};

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
            cases: Vec::new(),
        }
    }
}

/// Only the `kind`, to pick the parser; everything else is left to it.
#[derive(Deserialize)]
struct KindOnly {
    kind: Option<Spanned<String>>,
}

/// Reads the suite at `path`, whatever its kind.
pub fn load_any(path: &Path, read: ReadFile<'_>) -> Result<AnySuite, SuiteError> {
    let file = path.display().to_string();
    let source = read(path).map_err(|e| {
        SuiteError(vec![Problem {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the suite: {e}"),
            rendered: format!("{file}: cannot read the suite: {e}"),
        }])
    })?;
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
