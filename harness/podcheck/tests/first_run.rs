//! The README's main command, `podcheck run`, where the real components cannot run: as a
//! user without root, and as root on a machine without containerd, nftables and the CNI
//! plugins (hidden in a mount namespace of the test's own). A newcomer's first run ends
//! well: exit 0, the suites that cannot run skipped with why and what to install, and the
//! checkout as clean as before (no snapshot rewritten, no `.pending` file).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{text, workspace};

/// A git checkout of the project's suites, fixtures and .gitignore, committed, writable by
/// anyone: the run's working directory.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    };
    // The suites and the fixtures they name (conflists, schedulers, pods).
    for tree in ["suites", "fixtures"] {
        copy_tree(&workspace().join(tree), &dir.path().join(tree));
    }
    std::fs::copy(
        workspace().join(".gitignore"),
        dir.path().join(".gitignore"),
    )
    .unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "suites",
    ]);
    // `nobody` writes its reports and (were anything wrong) its pending files here.
    Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir.path())
        .status()
        .unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().ends_with(".pending") {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What the checkout's git sees changed, and any pending snapshot file in it.
fn changes(dir: &Path) -> Vec<String> {
    let status = Command::new("git")
        .args(["status", "--porcelain", "--ignored=no"])
        .current_dir(dir)
        .output()
        .unwrap();
    let mut changed: Vec<String> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let find = Command::new("find")
        .arg(dir.join("suites"))
        .args(["-name", "*.pending"])
        .output()
        .unwrap();
    changed.extend(
        String::from_utf8_lossy(&find.stdout)
            .lines()
            .map(str::to_string),
    );
    changed
}

/// How the tests become a user without root: `nobody`, or themselves when not root.
fn as_a_user() -> &'static [&'static str] {
    if rustix::process::geteuid().is_root() {
        &[
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
        ]
    } else {
        &[]
    }
}

/// `podcheck run ARGS` as the README says, with `CI` unset (a newcomer's terminal), run
/// through `wrap` (a command that runs the rest as another user, or in a namespace).
fn podcheck_run(dir: &Path, wrap: &[&str], args: &[&str]) -> Output {
    let podcheck = env!("CARGO_BIN_EXE_podcheck");
    let mut c = match wrap.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(podcheck);
            c
        }
        None => Command::new(podcheck),
    };
    c.arg("run")
        .args(args)
        .current_dir(dir)
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
}

fn assert_ends_well(out: &Output, dir: &Path, skipped: &[(&str, &str)]) {
    let said = text(out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_default();
    assert!(
        summary.contains("0 failed, 0 errors") && summary.contains("skipped"),
        "{said}"
    );
    for (suite, why) in skipped {
        let block = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{suite}  skipped")))
            .unwrap_or_else(|| panic!("no skipped block for {suite}:\n{said}"));
        assert!(block.contains(why), "{suite}: {block}\n{said}");
        assert!(
            stdout.contains("not compared, the suite did not run here")
                && stdout.contains(&format!("suites/{suite}/suite.snap")),
            "{said}"
        );
    }
    let closing = stdout
        .lines()
        .find(|l| l.starts_with("skipped: "))
        .unwrap_or_default();
    for (suite, _) in skipped {
        assert!(closing.contains(suite), "{closing}\n{said}");
    }
    assert_eq!(changes(dir), Vec::<String>::new(), "{said}");
}

#[test]
fn without_root_the_first_run_skips_what_needs_root_and_exits_0() {
    let dir = checkout();
    let out = podcheck_run(dir.path(), as_a_user(), &[]);
    assert_ends_well(&out, dir.path(), &[("cni", "root"), ("cri", "root")]);
}

#[test]
fn without_the_packages_the_first_run_names_what_to_install_and_exits_0() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("hiding the packages needs root (a mount namespace); covered as nobody above");
        return;
    }
    let dir = checkout();
    // Hide containerd, nft and the CNI plugins from the run, as on a machine without the
    // packages: bind mounts in a mount namespace only the run sees.
    let empty = tempfile::tempdir().unwrap();
    let hide = format!(
        "set -e; mount --make-rprivate /; \
         for f in /usr/bin/containerd /usr/sbin/nft; do [ -e $f ] && mount --bind /dev/null $f; done; \
         [ -d /usr/lib/cni ] && mount --bind {empty} /usr/lib/cni; \
         exec \"$@\"",
        empty = empty.path().display()
    );
    let out = podcheck_run(
        dir.path(),
        &["unshare", "--mount", "sh", "-c", &hide, "sh"],
        &[],
    );
    assert_ends_well(
        &out,
        dir.path(),
        &[("cni", "nftables"), ("cri", "containerd")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Each names every package it lacks: the CNI suite its plugins too.
    assert!(
        stdout.contains("to run it: apt-get install -y nftables containernetworking-plugins")
            && stdout.contains(
                "to run it: apt-get install -y containerd containernetworking-plugins nftables"
            ),
        "{}",
        text(&out)
    );
}

#[test]
fn require_real_keeps_a_suite_that_cannot_run_an_error() {
    let dir = checkout();
    let out = podcheck_run(
        dir.path(),
        as_a_user(),
        &["suites/cri", "--require-real", "runtime"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("runtime"), "{}", text(&out));
}
