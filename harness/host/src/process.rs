//! The processes podcheck starts itself (etcd, containerd) and those they leave: how they are
//! stopped, found by their command line, and waited for — every wait with a deadline.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// SIGTERM, up to `grace` to exit, then SIGKILL; always reaps the child.
pub fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    if let Some(pid) = pid
        && kill_process(pid, Signal::TERM).is_ok()
    {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `sig` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, sig);
    }
}

/// Every process with its command line (arguments split at NUL).
pub fn processes() -> impl Iterator<Item = (i32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
}

/// Whether an argument names `dir` or something under it (`DIR`, `--flag=DIR`,
/// `unix://DIR/sock`).
pub fn names_dir(arg: &str, dir: &Path) -> bool {
    let dir = dir.to_string_lossy();
    arg == dir || arg.ends_with(&format!("={dir}")) || arg.contains(&format!("{dir}/"))
}

/// SIGKILLs every other process whose command line names `dir` (an orphaned etcd or
/// containerd, a ctr) and returns their pids.
pub fn kill_naming(dir: &Path) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let mut killed = BTreeSet::new();
    for (pid, cmdline) in processes() {
        if pid != me && cmdline.iter().any(|a| names_dir(a, dir)) {
            signal(pid, Signal::KILL);
            killed.insert(pid);
        }
    }
    killed
}

/// Whether the process is gone or a zombie.
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
    }
}

/// Waits (up to `timeout`) until every one of `pids` is [`gone`].
pub fn wait_gone(pids: &BTreeSet<i32>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if pids.iter().all(|p| gone(*p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_a_dir_or_what_is_under_it() {
        let dir = Path::new("/run/podcheck/cp-1-2-3");
        assert!(names_dir("/run/podcheck/cp-1-2-3", dir));
        assert!(names_dir("--data-dir=/run/podcheck/cp-1-2-3", dir));
        assert!(names_dir(
            "unix:///run/podcheck/cp-1-2-3/containerd.sock",
            dir
        ));
        assert!(!names_dir("/run/podcheck/cp-1-2-33", dir));
        assert!(!names_dir("/run/podcheck", dir));
    }

    #[test]
    fn a_killed_child_is_gone_once_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(!gone(pid));
        terminate(&mut child, Duration::from_millis(500));
        assert!(gone(pid));
    }
}
