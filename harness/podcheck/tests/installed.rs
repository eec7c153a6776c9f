//! An installed podcheck — the binary alone, copied away, run from another directory with the
//! source tree out of its reach — still runs `suites/pod-lifecycle` on real components: the
//! image recipes and the built-in conflist are compiled in. The source tree is hidden by a
//! tmpfs mounted over it in a mount namespace of the run's own (`unshare`), so a path into
//! it that the binary kept would fail the run.

mod support;

use std::path::Path;
use std::process::Command;

use support::{real_or_skip, text, workspace};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn an_installed_binary_runs_the_pod_lifecycle_suite_without_the_source_tree() {
    if !real_or_skip() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin/podcheck");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_podcheck"), &bin).unwrap();
    let suite = home.path().join("suites/pod-lifecycle");
    copy_dir(&workspace().join("suites/pod-lifecycle"), &suite);
    let reports = home.path().join("reports");

    // A private mount namespace: the tmpfs over the workspace is seen by this run alone.
    let script = r#"mount -t tmpfs podcheck-hides-the-source "$1" && shift && cd / && exec "$@""#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(workspace())
        .arg(&bin)
        .args([
            "run",
            "--require-real",
            "store,runtime,network,dns",
            "--snapshot",
            "check",
        ])
        .arg("--report-dir")
        .arg(&reports)
        .arg(&suite)
        .env_remove("CI")
        .output()
        .expect("unshare runs");
    let said = text(&out);
    assert!(
        out.status.success(),
        "the installed podcheck failed:\n{said}"
    );
    assert!(said.contains("3 passed, 0 failed"), "{said}");
    assert!(said.contains("runtime containerd"), "{said}");
    assert!(
        said.contains("suite.snap: unchanged"),
        "the same verdicts as from the source tree:\n{said}"
    );
    assert!(reports.join("results.json").is_file());
}
