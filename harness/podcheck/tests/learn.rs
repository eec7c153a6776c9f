//! `podcheck learn` as a learner and a maintainer run it: the binary, on the simulated
//! providers (learn's default), with its progress in a temporary state directory. The
//! lessons in the repository are never written to: the tests that edit one work on a copy.

mod support;

use support::{copy_tree, podcheck, text, workspace};

use std::path::Path;
use std::process::Output;

/// `podcheck learn ARGS…` with its progress under `state`.
fn learn(state: &Path, args: &[&str]) -> Output {
    podcheck()
        .arg("learn")
        .args(args)
        .env("PODCHECK_STATE_DIR", state)
        .output()
        .unwrap()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// What git says of the repository's lessons (empty when they are as committed): taken
/// before and after a test, which must leave it as it was.
fn lessons_status() -> String {
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all", "lessons"])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    String::from_utf8_lossy(&status.stdout).into_owned()
}

#[test]
fn every_lesson_fails_at_its_stage_and_passes_with_its_solution() {
    let before = lessons_status();
    let state = tempfile::tempdir().unwrap();
    let out = learn(state.path(), &["verify"]);
    let shown = text(&out);
    assert_eq!(code(&out), Some(0), "{shown}");
    let ok = shown.lines().filter(|l| l.starts_with("ok ")).count();
    // A lesson that needs real components (10's pod network) runs where they can run and
    // is skipped, with why, where they cannot.
    let skipped = shown.lines().filter(|l| l.starts_with("skip ")).count();
    assert!(ok + skipped >= 12, "{shown}");
    // Where the real runtime and network can run (root, the packages: CI), it ran.
    let real = podcheck()
        .args(["doctor", "--require-real", "runtime,network"])
        .output()
        .unwrap();
    let most = if real.status.success() { 0 } else { 1 };
    assert!(skipped <= most, "{shown}\n{}", text(&real));
    assert!(!shown.contains("FAIL"), "{shown}");
    let held = match skipped {
        0 => format!("{ok} of {ok} lessons hold ("),
        n => format!("{ok} of {ok} lessons hold, {n} skipped (they cannot run here)"),
    };
    assert!(shown.contains(&held), "{shown}");
    if skipped == 1 {
        assert!(
            shown.contains("skip  10-cni-conflist          teaches cniAttach: its CNI conflist"),
            "{shown}"
        );
    }
    assert_eq!(lessons_status(), before, "lessons/ changed");
}

#[test]
fn progress_advances_once_the_lesson_is_fixed_and_reset_forgets_it() {
    let before = lessons_status();
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let lessons = work.path().join("lessons");
    copy_tree(&workspace().join("lessons"), &lessons);
    let dir = lessons.to_str().unwrap();
    let n = std::fs::read_dir(&lessons)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("lesson.yaml").exists())
        .count();
    assert!(n >= 12, "{n} lessons");

    let list = learn(state.path(), &["--lessons", dir]);
    assert_eq!(code(&list), Some(0), "{}", text(&list));
    let shown = text(&list);
    assert!(
        shown.contains("→ 01-no-credentials        current  auth"),
        "{shown}"
    );
    assert!(shown.contains("  02-no-rbac               todo"), "{shown}");
    assert!(shown.contains(&format!("0 of {n} done")), "{shown}");

    let next = learn(state.path(), &["next", "--lessons", dir]);
    let shown = text(&next);
    assert_eq!(code(&next), Some(1), "{shown}");
    assert!(
        shown.contains("✗ broke at auth — the apiserver did not let the create in"),
        "{shown}"
    );
    assert!(shown.contains("evidence (api, "), "{shown}");
    assert!(shown.contains("401 Unauthorized"), "{shown}");
    assert!(shown.contains("3 hints: `podcheck learn hint`"), "{shown}");

    let hint = learn(state.path(), &["hint", "--lessons", dir]);
    assert!(
        text(&hint).contains("hint 1 of 3 (01-no-credentials)"),
        "{}",
        text(&hint)
    );
    learn(state.path(), &["hint", "--lessons", dir]);
    let last = learn(state.path(), &["hint", "--lessons", dir]);
    assert!(text(&last).contains("hint 3 of 3"), "{}", text(&last));
    assert!(
        text(&last).contains("that was the last hint"),
        "{}",
        text(&last)
    );
    let again = learn(state.path(), &["next", "--lessons", dir]);
    assert!(
        text(&again).contains("all 3 hints shown"),
        "{}",
        text(&again)
    );

    // An edit that breaks the suite file is named at its line, as `podcheck run` names it.
    let lesson = lessons.join("01-no-credentials");
    let suite = std::fs::read_to_string(lesson.join("suite.yaml")).unwrap();
    std::fs::write(
        lesson.join("suite.yaml"),
        suite.replace("identity: none", "identity: root"),
    )
    .unwrap();
    let broken = learn(state.path(), &["next", "--lessons", dir]);
    assert_eq!(code(&broken), Some(2), "{}", text(&broken));
    assert!(
        text(&broken).contains("suite.yaml:12:17"),
        "{}",
        text(&broken)
    );

    // The learner fixes the lesson: its solution, copied over the edited file.
    std::fs::copy(
        lesson.join("solution/suite.yaml"),
        lesson.join("suite.yaml"),
    )
    .unwrap();
    let passed = learn(state.path(), &["next", "--lessons", dir]);
    let shown = text(&passed);
    assert_eq!(code(&passed), Some(0), "{shown}");
    assert!(shown.contains("✓ all eight stages pass"), "{shown}");
    assert!(shown.contains("More: `podcheck explain auth`."), "{shown}");
    assert!(
        shown.contains("lesson 01 done. next: 02-no-rbac"),
        "{shown}"
    );

    let list = text(&learn(state.path(), &["--lessons", dir]));
    assert!(list.contains("✓ 01-no-credentials        done"), "{list}");
    assert!(
        list.contains("→ 02-no-rbac               current"),
        "{list}"
    );
    assert!(list.contains(&format!("1 of {n} done")), "{list}");

    // Progress is kept outside the lessons, keyed by their directory's absolute path.
    let saved = std::fs::read_to_string(state.path().join("learn.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let key = lessons.canonicalize().unwrap().display().to_string();
    assert_eq!(
        saved["dirs"][&key]["done"],
        serde_json::json!(["01-no-credentials"])
    );

    let unknown = learn(state.path(), &["reset", "99", "--lessons", dir]);
    assert_eq!(code(&unknown), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no lesson 99"),
        "{}",
        text(&unknown)
    );
    let reset = learn(state.path(), &["reset", "01", "--lessons", dir]);
    assert!(text(&reset).contains("reset: 01-no-credentials is to do again"));
    let list = text(&learn(state.path(), &["--lessons", dir]));
    assert!(
        list.contains("→ 01-no-credentials        current"),
        "{list}"
    );
    // Its hints are forgotten too.
    let hint = learn(state.path(), &["hint", "--lessons", dir]);
    assert!(text(&hint).contains("hint 1 of 3"), "{}", text(&hint));
    learn(state.path(), &["reset", "--lessons", dir]);
    assert!(text(&learn(state.path(), &["--lessons", dir])).contains(&format!("0 of {n} done")));
    assert_eq!(lessons_status(), before, "lessons/ changed");
}

#[test]
fn verify_names_the_lesson_that_does_not_hold() {
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let lesson = work.path().join("03-invalid-pod");
    copy_tree(&workspace().join("lessons/03-invalid-pod"), &lesson);
    // A "solution" that is as broken as the lesson.
    std::fs::copy(lesson.join("pod.yaml"), lesson.join("solution/pod.yaml")).unwrap();
    let out = learn(
        state.path(),
        &["verify", "--lessons", work.path().to_str().unwrap()],
    );
    let shown = text(&out);
    assert_eq!(code(&out), Some(1), "{shown}");
    assert!(
        shown.contains(
            "FAIL  03-invalid-pod           teaches auth: with solution/, it breaks at auth"
        ),
        "{shown}"
    );
    assert!(shown.contains("0 of 1 lessons hold"), "{shown}");
}

#[test]
fn a_bad_lesson_file_is_an_error_at_its_line() {
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let lesson = work.path().join("01-no-credentials");
    copy_tree(&workspace().join("lessons/01-no-credentials"), &lesson);
    let file = lesson.join("lesson.yaml");
    let text_of = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text_of.replace("teaches: auth", "teaches: scheduling"),
    )
    .unwrap();
    let out = learn(state.path(), &["--lessons", work.path().to_str().unwrap()]);
    let shown = text(&out);
    assert_eq!(code(&out), Some(2), "{shown}");
    assert!(
        shown.contains("lesson.yaml:3:10: unknown value `scheduling`"),
        "{shown}"
    );
    assert!(shown.contains("write one of: auth, etcdWrite"), "{shown}");
}

#[test]
fn the_lessons_are_not_among_the_suites_a_run_finds() {
    let out = podcheck().args(["list"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("lesson-"), "{}", text(&out));
    // Each lesson's suite is a valid suite of its own.
    let suites: Vec<String> = std::fs::read_dir(workspace().join("lessons"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("lesson.yaml").exists())
        .map(|e| e.path().join("suite.yaml").display().to_string())
        .collect();
    assert!(suites.len() >= 12, "{suites:?}");
    let out = podcheck().arg("validate").args(&suites).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_suite_with_its_own_conflist_is_skipped_where_the_real_network_cannot_run() {
    let reports = tempfile::tempdir().unwrap();
    let out = podcheck()
        .args([
            "run",
            "--runtime",
            "sim",
            "--snapshot",
            "ignore",
            "--report-dir",
        ])
        .arg(reports.path())
        .arg(workspace().join("lessons/10-cni-conflist/suite.yaml"))
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(code(&out), Some(0), "{shown}");
    assert!(
        shown.contains(
            "lesson-10-cni-conflist  skipped (1 case): its CNI conflist (network.conflist) \
             needs the real pod network (containerd, runc and the CNI plugins, as root): \
             --runtime sim simulates it"
        ),
        "{shown}"
    );
    assert!(shown.contains("1 skipped"), "{shown}");
    // Unless the real network is required: then it is an environment error.
    let out = podcheck()
        .args(["run", "--runtime", "sim", "--require-real", "network"])
        .args(["--snapshot", "ignore", "--report-dir"])
        .arg(reports.path())
        .arg(workspace().join("lessons/10-cni-conflist/suite.yaml"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", text(&out));
}

/// `podcheck learn ARGS…` as a user without root (`nobody` when the tests run as root),
/// with its progress under `state`.
fn learn_as_a_user(state: &Path, args: &[&str]) -> Output {
    let podcheck = env!("CARGO_BIN_EXE_podcheck");
    let mut c = if rustix::process::geteuid().is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(podcheck);
        c
    } else {
        std::process::Command::new(podcheck)
    };
    c.arg("learn")
        .args(args)
        .env("PODCHECK_STATE_DIR", state)
        .output()
        .unwrap()
}

#[test]
fn without_root_the_network_lesson_is_skipped_with_why_and_the_learner_goes_on() {
    let work = tempfile::tempdir().unwrap();
    let lessons = work.path().join("lessons");
    for l in ["10-cni-conflist", "11-service-name"] {
        copy_tree(&workspace().join("lessons").join(l), &lessons.join(l));
    }
    let state = work.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::process::Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(work.path())
        .status()
        .unwrap();
    let dir = lessons.to_str().unwrap();

    let next = learn_as_a_user(&state, &["next", "--lessons", dir]);
    let shown = text(&next);
    assert_eq!(code(&next), Some(0), "{shown}");
    assert!(
        shown.contains("- skipped here: lesson 10-cni-conflist cannot run on this machine"),
        "{shown}"
    );
    assert!(
        shown.contains("its CNI conflist (network.conflist) needs the real pod network"),
        "{shown}"
    );
    assert!(shown.contains("root"), "{shown}");
    assert!(
        shown.contains("`podcheck learn reset 10` and `podcheck learn next`"),
        "{shown}"
    );
    assert!(shown.contains("next: 11-service-name"), "{shown}");
    let list = text(&learn_as_a_user(&state, &["--lessons", dir]));
    assert!(
        list.contains("- 10-cni-conflist          skipped"),
        "{list}"
    );
    assert!(
        list.contains("→ 11-service-name          current"),
        "{list}"
    );
    assert!(list.contains("0 of 2 done, 1 skipped"), "{list}");

    let verify = learn_as_a_user(&state, &["verify", "--lessons", dir]);
    let shown = text(&verify);
    assert_eq!(code(&verify), Some(0), "{shown}");
    assert!(
        shown.contains("skip  10-cni-conflist          teaches cniAttach: its CNI conflist"),
        "{shown}"
    );
    assert!(
        shown.contains("1 of 1 lessons hold, 1 skipped (they cannot run here)"),
        "{shown}"
    );
}

#[test]
fn a_container_that_exits_breaks_at_status_update_with_its_exit_until_it_keeps_running() {
    let state = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let lesson = work.path().join("13-container-exits");
    copy_tree(&workspace().join("lessons/13-container-exits"), &lesson);
    let dir = work.path().to_str().unwrap();
    let broken = learn(state.path(), &["next", "--lessons", dir]);
    let shown = text(&broken);
    assert_eq!(code(&broken), Some(1), "{shown}");
    assert!(shown.contains("broke at statusUpdate"), "{shown}");
    assert!(
        shown.contains(
            "the pod did not stay Ready for 5s: container web exited (Error, exit code 1)"
        ),
        "{shown}"
    );
    // As kubectl describe pod shows it, on the simulated runtime too.
    assert!(
        shown.contains("container web: State Terminated (Error, exit code 1, finished "),
        "{shown}"
    );
    assert!(shown.contains("Ready False since "), "{shown}");
    assert!(shown.contains("ContainersNotReady"), "{shown}");
    std::fs::copy(lesson.join("solution/pod.yaml"), lesson.join("pod.yaml")).unwrap();
    let passed = learn(state.path(), &["next", "--lessons", dir]);
    let shown = text(&passed);
    assert_eq!(code(&passed), Some(0), "{shown}");
    assert!(shown.contains("all eight stages pass"), "{shown}");
}
