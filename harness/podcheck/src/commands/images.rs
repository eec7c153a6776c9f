//! `podcheck images`: what the embedded nodes can pull.

use std::path::PathBuf;

use podcheck_node::images::catalog::{Catalog, MIRRORED_REGISTRIES, builtin_references};

use crate::error::UserError;

/// Prints every image reference the registry of the embedded control plane serves, with
/// its manifest digest, the bytes a pull fetches, and where it came from.
pub fn images(archives: &[PathBuf]) -> Result<(), UserError> {
    let catalog = match Catalog::builtin() {
        Ok(c) => c,
        Err(e) => {
            // No static busybox here: a real node could not run, the simulated one still
            // knows the names.
            eprintln!(
                "podcheck: the built-in images cannot be built here ({}); simulated nodes know them by name: {}",
                podcheck_host::error_chain(&e),
                builtin_references().join(", ")
            );
            Catalog::default()
        }
    };
    for path in archives {
        let bytes = std::fs::read(path).map_err(|e| UserError::ImageArchive {
            message: format!("{}: {e}", path.display()),
        })?;
        catalog
            .add_archive(&bytes, &path.display().to_string())
            .map_err(|e| UserError::ImageArchive {
                message: e.to_string(),
            })?;
    }
    let entries = catalog.entries();
    let width = entries
        .iter()
        .map(|e| e.reference.len())
        .max()
        .unwrap_or(0)
        .max("REFERENCE".len());
    println!(
        "{:<width$}  {:<71}  {:>9}  SOURCE",
        "REFERENCE", "DIGEST", "SIZE"
    );
    for e in &entries {
        println!(
            "{:<width$}  {:<71}  {:>9}  {}",
            e.reference,
            e.digest,
            human_size(e.size),
            e.source
        );
    }
    println!(
        "# pulls of {} are served from these; every other registry is unreachable",
        MIRRORED_REGISTRIES.join(", ")
    );
    Ok(())
}

/// `1.1MB`, as `crictl images` shows sizes.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_crictl_shows_them() {
        assert_eq!(super::human_size(512), "512B");
        assert_eq!(super::human_size(1_126_400), "1.1MB");
        assert_eq!(super::human_size(2_000), "2.0kB");
    }
}
