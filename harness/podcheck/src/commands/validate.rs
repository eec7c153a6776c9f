//! `podcheck validate PATHS…`.

use std::path::PathBuf;

use crate::error::UserError;

/// Loads the suites without running them: one `ok:` line each.
pub fn validate(paths: &[PathBuf]) -> Result<(), UserError> {
    for s in &crate::suites::load(paths)? {
        println!(
            "ok: {} ({} cases) {}",
            s.name(),
            s.cases().len(),
            s.path().display()
        );
    }
    Ok(())
}
