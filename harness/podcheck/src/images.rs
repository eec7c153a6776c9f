//! The user's image archives, read at the edge: `--image-archive` and a suite's
//! `spec.images` are checked before any cluster starts, so that a file that is not an image
//! archive is a usage error, not a control plane that failed to start.

use std::path::Path;

use podcheck_node::images::archive::read_archive;

/// The full references of the images in the archive at `path`, or why it is not one.
pub fn check_archive(path: &Path) -> Result<Vec<String>, String> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let images = read_archive(&bytes, &shown).map_err(|e| e.to_string())?;
    Ok(images.into_iter().flat_map(|i| i.names).collect())
}
