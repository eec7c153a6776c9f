//! Finds suite files on disk and loads them, of every kind.

use std::path::{Path, PathBuf};

use podcheck_core::conformance::AnySuite;
use podcheck_core::load::{self, SuiteError};

use crate::error::UserError;

/// Loads every suite in `paths` (files, or directories searched recursively); any problem
/// in any file fails the whole load, with every file's diagnostics.
pub fn load(paths: &[PathBuf]) -> Result<Vec<AnySuite>, UserError> {
    let read = |p: &Path| std::fs::read_to_string(p);
    let files =
        load::suite_files(paths, &list_tree, &read).map_err(|source| UserError::ReadSuites {
            paths: shown(paths),
            source,
        })?;
    if files.is_empty() {
        return Err(UserError::NoSuites {
            paths: shown(paths),
        });
    }
    let mut suites = Vec::new();
    let mut problems = Vec::new();
    for f in files {
        match podcheck_core::conformance::load_any(&f, &read) {
            Ok(AnySuite::Pods(s)) => match check_images(&s) {
                Ok(()) => suites.push(AnySuite::Pods(s)),
                Err(e) => problems.push(e),
            },
            Ok(s) => suites.push(s),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(suites)
    } else {
        Err(UserError::InvalidSuites(problems))
    }
}

/// A suite's image archives are read now, so that one that is not an archive is a
/// diagnostic at its line, before any cluster starts.
fn check_images(suite: &podcheck_core::load::Suite) -> Result<(), SuiteError> {
    for image in &suite.images {
        crate::images::check_archive(&image.path).map_err(|message| {
            image.problem(
                message,
                Some("name an OCI image layout tar (skopeo copy … oci-archive:FILE) or a docker save tar".into()),
            )
        })?;
    }
    Ok(())
}

/// Every file under a directory, recursively.
fn list_tree(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

fn shown(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
