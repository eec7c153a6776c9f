//! Cleaning up after a containerd: for one that was stopped, and for the leftovers of one
//! whose owner died (sweeping). Everything is found from the outside: shims by their command
//! line, pod processes by their cgroups, mounts from `/proc/self/mountinfo`, shim sockets
//! from `/proc/net/unix`. Every wait has a deadline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podcheck_host::process::{self, gone, processes, signal, wait_gone};
use podcheck_host::sweep;
use rustix::process::Signal;

/// The shim's executable name, as it appears in its command line.
const SHIM_NAME: &str = "containerd-shim-runc-v2";
/// Where containerd 1.6 puts its shims' sockets, whatever its state dir.
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";
/// Marks a directory as a podcheck containerd's and names its owner (`PID STARTTIME`).
pub(super) const OWNER_FILE: &str = "podcheck-containerd.owner";
/// The cgroup parent of the directory's containerd, for sweeping.
pub(super) const CGROUP_FILE: &str = "podcheck-containerd.cgroup";
/// Every cgroup parent starts so; nothing else is ever removed.
pub(super) const CGROUP_PREFIX: &str = "/podcheck-";
/// How long killed processes have to disappear, and cgroups to become removable.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills the shims and everything left in the cgroups, unmounts everything under `dir`,
/// removes the cgroups and `dir`. Bounded: each wait has a deadline.
pub(super) fn clean_up(dir: &Path, socket: &Path, cgroup_parent: &str) {
    let socket_text = socket.to_string_lossy().into_owned();
    let shims: Vec<i32> = processes()
        .filter(|(_, cmdline)| {
            cmdline.iter().any(|a| a.ends_with(SHIM_NAME))
                && cmdline
                    .iter()
                    .any(|a| a == &socket_text || a == &format!("unix://{socket_text}"))
        })
        .map(|(pid, _)| pid)
        .collect();
    // Their sockets live outside `dir`; a killed shim leaves its socket file behind.
    let shim_sockets = unix_sockets_of(&shims);
    let mut killed: BTreeSet<i32> = BTreeSet::new();
    for pid in &shims {
        signal(*pid, Signal::KILL);
        killed.insert(*pid);
    }
    // Anything else naming the directory (an orphaned containerd, a ctr).
    killed.extend(process::kill_naming(dir));
    if valid_cgroup_parent(cgroup_parent) {
        killed.extend(kill_cgroup_members(cgroup_parent));
    }
    wait_gone(&killed, REAP_TIMEOUT);
    for path in shim_sockets {
        if path.starts_with(SHIM_SOCKET_DIR) {
            let _ = std::fs::remove_file(&path);
        }
    }
    unmount_under(dir);
    if valid_cgroup_parent(cgroup_parent) {
        remove_cgroups(cgroup_parent);
    }
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        // A mount that came back busy: detach again and retry once.
        unmount_under(dir);
        if let Err(e) = std::fs::remove_dir_all(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "removing containerd's directory");
        }
    }
}

fn valid_cgroup_parent(parent: &str) -> bool {
    parent.starts_with(CGROUP_PREFIX)
        && parent.len() > CGROUP_PREFIX.len()
        && !parent[1..].contains('/')
        && !parent.contains("..")
}

/// The paths of the unix sockets the processes hold open (from `/proc/net/unix`).
fn unix_sockets_of(pids: &[i32]) -> Vec<PathBuf> {
    let mut inodes = BTreeSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(inode) = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode = fields.get(6)?;
            let path = fields.get(7)?;
            (inodes.contains(*inode) && path.starts_with('/')).then(|| PathBuf::from(path))
        })
        .collect()
}

/// The mount points of cgroup hierarchies (v1 controllers and the v2 unified one).
fn cgroup_mounts() -> Vec<PathBuf> {
    mountinfo()
        .into_iter()
        .filter(|(_, fstype)| fstype == "cgroup" || fstype == "cgroup2")
        .map(|(mount_point, _)| mount_point)
        .collect()
}

/// Every cgroup directory under the parent, in every hierarchy, deepest first.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for mount in cgroup_mounts() {
        let top = mount.join(parent.trim_start_matches('/'));
        if top.is_dir() {
            collect_dirs(&top, &mut dirs);
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

/// SIGKILLs every process in the cgroups under the parent (thawing frozen ones) until none
/// is left or the deadline; returns the pids signalled.
fn kill_cgroup_members(parent: &str) -> BTreeSet<i32> {
    let mut killed = BTreeSet::new();
    let deadline = Instant::now() + REAP_TIMEOUT;
    loop {
        let mut found = false;
        for dir in cgroup_dirs(parent) {
            // A frozen task cannot die.
            if dir.join("freezer.state").exists() {
                let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            }
            if dir.join("cgroup.freeze").exists() {
                let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            }
            let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                continue;
            };
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if gone(pid) {
                    continue;
                }
                found = true;
                signal(pid, Signal::KILL);
                killed.insert(pid);
            }
        }
        if !found || Instant::now() >= deadline {
            return killed;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes the parent's cgroup directories in every hierarchy, deepest first, retrying
/// while they are still busy (up to the deadline).
fn remove_cgroups(parent: &str) {
    let deadline = Instant::now() + REAP_TIMEOUT;
    loop {
        let dirs = cgroup_dirs(parent);
        if dirs.is_empty() {
            return;
        }
        let mut failed = None;
        for dir in &dirs {
            if let Err(e) = std::fs::remove_dir(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                failed = Some((dir.clone(), e));
            }
        }
        let Some((dir, e)) = failed else {
            return;
        };
        if Instant::now() >= deadline {
            tracing::warn!(cgroup = %dir.display(), error = %e, "removing a cgroup");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The mount points and filesystem types of this process's mount namespace.
fn mountinfo() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            Some((
                PathBuf::from(unescape_mount(mount_point)),
                fstype.to_string(),
            ))
        })
        .collect()
}

/// Decodes the octal escapes (`\040` for a space) of `/proc/self/mountinfo`.
fn unescape_mount(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches every mount strictly under `dir`, deepest first (a few rounds, for stacked
/// mounts).
fn unmount_under(dir: &Path) {
    for _ in 0..4 {
        let mut points: Vec<PathBuf> = mountinfo()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.starts_with(dir) && p != dir)
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        points.dedup();
        for point in points {
            if let Err(e) = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH) {
                tracing::debug!(mount = %point.display(), error = %e, "unmounting");
            }
        }
    }
}

/// How far up from a containerd's directory the sweep looks for leftovers.
const SWEEP_LEVELS: usize = 3;

/// Removes the leftovers of podcheck containerds whose owner is gone, recognised by their
/// owner file: directories at the same depth as `dir` under its parent (`../*`), its
/// grandparent (`../../*/*`) and, when that is not a top-level directory such as `/run` or
/// `/tmp`, its great-grandparent (`../../../*/*/*`). So with containerds in
/// `/run/podcheck/RUN/NODE/containerd`, a later start finds those of every dead run.
/// Directories left empty between a swept one and the scanned ancestor are removed too.
pub(super) fn sweep_stale(dir: &Path) {
    for (levels, ancestor) in dir.ancestors().enumerate().skip(1).take(SWEEP_LEVELS) {
        let depth = ancestor
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count();
        // Never the root; the deepest scan only under a directory of its own.
        if depth == 0 || (levels == SWEEP_LEVELS && depth < 2) {
            break;
        }
        let mut layer = vec![ancestor.to_path_buf()];
        for _ in 0..levels {
            layer = layer.iter().flat_map(|d| subdirs(d)).collect();
        }
        for candidate in layer {
            if !sweep::owner_file_dead(&candidate, OWNER_FILE) {
                continue;
            }
            let cgroup_parent = std::fs::read_to_string(candidate.join(CGROUP_FILE))
                .unwrap_or_default()
                .trim()
                .to_string();
            tracing::info!(dir = %candidate.display(), "removing the leftovers of a containerd whose owner is gone");
            clean_up(
                &candidate,
                &candidate.join("containerd.sock"),
                &cgroup_parent,
            );
            // Emptied directories between it and the ancestor (remove_dir fails on others).
            for empty in candidate.ancestors().skip(1) {
                if empty == ancestor || std::fs::remove_dir(empty).is_err() {
                    break;
                }
            }
        }
    }
}

/// The subdirectories of `dir` (not following symbolic links).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use podcheck_host::owner::Owner;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/x\\134y"), "/x\\y");
        assert_eq!(unescape_mount("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn cgroup_parents_are_checked() {
        assert!(valid_cgroup_parent("/podcheck-0123abcd"));
        assert!(!valid_cgroup_parent("/"));
        assert!(!valid_cgroup_parent("/podcheck-"));
        assert!(!valid_cgroup_parent("/podcheck-a/b"));
        assert!(!valid_cgroup_parent("/system.slice"));
    }

    #[test]
    fn sweeping_finds_dead_owners_three_levels_up() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join("run-a/node-9/containerd");
        let alive = base.path().join("run-c/node-1/containerd");
        for (dir, stamp) in [
            (&dead, "4194305 1".to_string()),
            (&alive, Owner::this().stamp()),
        ] {
            std::fs::create_dir_all(dir.join("root/sub")).unwrap();
            std::fs::write(dir.join(OWNER_FILE), stamp).unwrap();
        }
        let unrelated = base.path().join("run-a/notes");
        std::fs::create_dir_all(&unrelated).unwrap();
        sweep_stale(&base.path().join("run-b/node-1/containerd"));
        assert!(!dead.exists());
        assert!(
            !base.path().join("run-a/node-9").exists(),
            "emptied, so removed"
        );
        assert!(unrelated.exists(), "not emptied, so kept");
        assert!(alive.join("root/sub").exists(), "a live owner's is kept");
    }
}
