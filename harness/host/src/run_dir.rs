//! Where podcheck keeps what it makes on the host, and names that say who made it.
//!
//! Everything podcheck leaves on the host while it runs sits under [`RUN_ROOT`] (tmpfs), in
//! a directory or under a name that carries its owner ([`unique_name`]), so that the next
//! podcheck can tell what a dead one left behind ([`crate::sweep`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::owner::Owner;

/// Where podcheck keeps its runtime files.
pub const RUN_ROOT: &str = "/run/podcheck";

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// `PREFIX` + this process's [`Owner::tag`] + `-N`: unique on this machine, and naming its
/// owner for [`Owner::from_name`].
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}-{}",
        Owner::this().tag(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory of this run under [`RUN_ROOT`] (`PREFIX` + owner + `-N`); removed on drop.
#[derive(Debug)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn create(prefix: &str) -> std::io::Result<RunDir> {
        RunDir::create_in(Path::new(RUN_ROOT), prefix)
    }

    /// The same under another base directory (tests).
    pub fn create_in(base: &Path, prefix: &str) -> std::io::Result<RunDir> {
        let dir = base.join(unique_name(prefix));
        std::fs::create_dir_all(&dir)?;
        Ok(RunDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "removing a run dir");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_name_this_process() {
        let a = unique_name("pccni-");
        let b = unique_name("pccni-");
        assert_ne!(a, b);
        assert_eq!(Owner::from_name(&a, "pccni-"), Some(Owner::this()));
    }

    #[test]
    fn run_dirs_go_with_their_guard() {
        let base = tempfile::tempdir().unwrap();
        let dir = RunDir::create_in(base.path(), "cni-").unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.is_dir());
        assert_eq!(
            Owner::from_name(&path.file_name().unwrap().to_string_lossy(), "cni-"),
            Some(Owner::this())
        );
        drop(dir);
        assert!(!path.exists());
    }
}
