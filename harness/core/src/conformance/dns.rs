//! `kind: DnsSuite`. (Scaffolding: its owner replaces this with the suite's types.)

use std::path::{Path, PathBuf};

use crate::load::{ReadFile, SuiteError};

/// A dns conformance suite ready to run.
#[derive(Debug, Clone)]
pub struct DnsSuite {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
}

/// Parses and checks a `kind: DnsSuite` file whose text is `source`.
pub fn load(path: &Path, file: &str, source: &str, _read: ReadFile<'_>) -> Result<DnsSuite, SuiteError> {
    let _ = (file, source);
    Ok(DnsSuite { path: path.to_path_buf(), name: String::new(), description: String::new() })
}
