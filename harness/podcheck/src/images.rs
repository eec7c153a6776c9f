//! The user's image archives, read at the edge: `--image-archive` and a suite's
//! `spec.images` are checked before any cluster starts, so that a file that is not an image
//! archive is a usage error, not a control plane that failed to start.

use std::path::Path;

use podcheck_node::images::archive::read_archive;

/// Whether the file at `path` is an image archive podcheck can serve, and why not.
pub fn check_archive(path: &Path) -> Result<(), String> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    read_archive(&bytes, &shown)
        .map(drop)
        .map_err(|e| e.to_string())
}
