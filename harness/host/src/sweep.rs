//! The one sweep of what dead runs left behind. Each thing podcheck makes on the host names
//! its owner — in its name ([`crate::run_dir::unique_name`]) or in an owner file inside it —
//! and the next podcheck finds those whose owner is gone ([`Owner::alive`]). What undoing
//! one takes (a netns to delete, a containerd's mounts and cgroups, a bridge) is the
//! caller's; finding them is here, once.

use std::path::{Path, PathBuf};

use crate::owner::Owner;

/// The entries of `dir` named `PREFIX` + owner + `…` whose owner is not running.
pub fn dead_by_name(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut dead: Vec<PathBuf> = entries(dir)
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            Owner::from_name(&name, prefix).is_some_and(|o| !o.alive())
        })
        .collect();
    dead.sort();
    dead
}

/// Whether `dir` holds an owner file `file` naming a process that is not running; an owner
/// file that cannot be parsed names no live process either. No owner file: not podcheck's.
pub fn owner_file_dead(dir: &Path, file: &str) -> bool {
    std::fs::read_to_string(dir.join(file))
        .is_ok_and(|contents| !Owner::parse(&contents).is_some_and(|o| o.alive()))
}

/// Writes `dir/file` naming this process as the owner of `dir`.
pub fn write_owner_file(dir: &Path, file: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(file), Owner::this().stamp())
}

/// Removes the run directories under `base` named `PREFIX` + owner whose owner is gone,
/// once whatever was inside them has been undone: only where nothing is mounted below them.
/// Returns what went.
pub fn remove_dead_run_dirs(base: &Path, prefix: &str) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    dead_by_name(base, prefix)
        .into_iter()
        .filter(|dir| {
            let below = format!("{}/", dir.display());
            !mounts.lines().any(|l| l.contains(&below))
        })
        .filter(|dir| std::fs::remove_dir_all(dir).is_ok())
        .inspect(|dir| tracing::debug!(dir = %dir.display(), "removed the run directory of a dead podcheck"))
        .collect()
}

fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::unique_name;

    #[test]
    fn only_dead_owners_are_swept() {
        let base = tempfile::tempdir().unwrap();
        let mine = base.path().join(unique_name("cp-"));
        let dead = base.path().join("cp-4194305-1-0");
        let reused = base.path().join(format!(
            "cp-{}-{}-0",
            std::process::id(),
            Owner::this().start_time.unwrap() + 1
        ));
        let other = base.path().join("notes");
        for d in [&mine, &dead, &reused, &other] {
            std::fs::create_dir_all(d.join("inside")).unwrap();
        }
        // A pid that runs again, but started at another time, is another process.
        let mut gone = vec![dead.clone(), reused.clone()];
        gone.sort();
        assert_eq!(dead_by_name(base.path(), "cp-"), gone);
        assert_eq!(remove_dead_run_dirs(base.path(), "cp-"), gone);
        assert!(!dead.exists() && !reused.exists() && mine.exists() && other.exists());
    }

    #[test]
    fn owner_files_name_live_and_dead_owners() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!owner_file_dead(dir.path(), "owner"), "no file: not ours");
        write_owner_file(dir.path(), "owner").unwrap();
        assert!(!owner_file_dead(dir.path(), "owner"));
        std::fs::write(dir.path().join("owner"), "4194305 1\n").unwrap();
        assert!(owner_file_dead(dir.path(), "owner"));
        std::fs::write(dir.path().join("owner"), "garbage").unwrap();
        assert!(owner_file_dead(dir.path(), "owner"));
    }
}
