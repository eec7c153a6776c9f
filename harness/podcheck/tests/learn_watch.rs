//! `podcheck learn watch` on a terminal, as a learner uses it: the binary on a
//! pseudo-terminal of its own (tests/support/pty.rs), on a copy of lessons/ with its
//! progress in a temporary state directory, on the simulated providers (learn's default).
//! Files are saved as editors save them: written in place, or written beside and renamed
//! over. Every wait has a deadline.

#[path = "support/pty.rs"]
mod pty;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pty::Pty;
use support::{copy_tree, podcheck, text, workspace};

/// A lesson run: the first starts the embedded control plane's pieces from cold on a
/// machine that may be busy building; later ones take a second or two.
const RUN: Duration = Duration::from_secs(90);
/// Quitting: the watch stops its reader (100 ms) and a run in flight.
const QUIT: Duration = Duration::from_secs(15);

/// A copy of the repository's lessons.
fn lessons_copy() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let lessons = work.path().join("lessons");
    copy_tree(&workspace().join("lessons"), &lessons);
    (work, lessons)
}

/// `podcheck learn watch --lessons LESSONS` on a terminal, its progress under `state`.
fn watch(state: &Path, lessons: &Path) -> Pty {
    Pty::spawn(
        env!("CARGO_BIN_EXE_podcheck"),
        &["learn", "watch", "--lessons", lessons.to_str().unwrap()],
        |c| {
            c.current_dir(workspace())
                .env("PODCHECK_STATE_DIR", state)
                .env_remove("CI")
                .env_remove("GITHUB_STEP_SUMMARY")
                .env_remove("GITHUB_ACTIONS");
        },
    )
}

/// Saves `text` as vim and most editors do: a new file beside, renamed over the old one.
fn save_by_rename(file: &Path, text: &str) {
    let beside = file.with_extension("yaml.new");
    std::fs::write(&beside, text).unwrap();
    std::fs::rename(&beside, file).unwrap();
}

#[test]
fn watch_reruns_the_lesson_at_each_save_and_moves_on_once_it_passes() {
    let state = tempfile::tempdir().unwrap();
    let (_work, lessons) = lessons_copy();
    let lesson = lessons.join("01-no-credentials");
    let suite = lesson.join("suite.yaml");
    let mut term = watch(state.path(), &lessons);

    // The first run, at once: the story, then where it broke, in `learn next`'s words.
    let at = term.wait_for(0, "lesson 01-no-credentials: ", RUN);
    let at = term.wait_for(
        at,
        "✗ broke at auth — the apiserver did not let the create in",
        RUN,
    );
    let at = term.wait_for(at, "401 Unauthorized", RUN);
    let at = term.wait_for(at, "watching ", RUN);
    let at = term.wait_for(at, "(suite.yaml): save to run 01 again", RUN);

    // A wrong edit: the suite no longer loads. Said at its line, and still watched.
    let broken = std::fs::read_to_string(&suite)
        .unwrap()
        .replace("identity: none", "identity: root");
    save_by_rename(&suite, &broken);
    let at = term.wait_for(at, "running lesson 01", RUN);
    let at = term.wait_for(at, "suite.yaml:12:17", RUN);
    let at = term.wait_for(at, "watching ", RUN);

    // `h`: the first hint, counted as `learn hint` counts it.
    term.send(b"h");
    let at = term.wait_for(at, "hint 1 of 3 (01-no-credentials):", QUIT);

    // Still broken, another way than before, in a burst of three writes (an editor's
    // write, rename and touch): one run, the same stage said again.
    let still = broken.replace("identity: root", "identity: none  # still nobody");
    let burst = term.mark();
    std::fs::write(&suite, &still).unwrap();
    save_by_rename(&suite, &still);
    std::fs::write(&suite, format!("{still}\n")).unwrap();
    let at = term.wait_for(at, "running lesson 01", RUN);
    let at = term.wait_for(at, "✗ broke at auth", RUN);
    let at = term.wait_for(at, "2 more hints: `podcheck learn hint`", RUN);
    let at = term.wait_for(at, "watching ", RUN);
    std::thread::sleep(Duration::from_millis(500));
    let runs = term.screen()[burst..].matches("running lesson 01").count();
    assert_eq!(runs, 1, "a burst of writes is one save:\n{}", term.screen());

    // The fix, copied over the file in place: the pass, the explanation, the next lesson.
    std::fs::copy(lesson.join("solution/suite.yaml"), &suite).unwrap();
    let at = term.wait_for(at, "running lesson 01", RUN);
    let at = term.wait_for(at, "✓ all eight stages pass", RUN);
    let at = term.wait_for(at, "More: `podcheck explain auth`.", RUN);
    let at = term.wait_for(at, "lesson 01 done. next: 02-no-rbac", RUN);
    let at = term.wait_for(at, "lesson 02-no-rbac: ", RUN);
    let at = term.wait_for(at, "save to run 02 again", RUN);

    // Progress is saved as `learn next` saves it.
    let saved = std::fs::read_to_string(state.path().join("learn.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let key = lessons.canonicalize().unwrap().display().to_string();
    assert_eq!(
        saved["dirs"][&key]["done"],
        serde_json::json!(["01-no-credentials"]),
        "{saved}"
    );
    assert_eq!(saved["dirs"][&key]["hints"]["01-no-credentials"], 1);

    // Lesson 02 is watched now: saving its file runs it. (Its 403 shows only after its
    // case's 8 s timeout, in case RBAC is yet to catch up: `q` stops that run.)
    let rbac = lessons.join("02-no-rbac/suite.yaml");
    let text_of = std::fs::read_to_string(&rbac).unwrap();
    save_by_rename(&rbac, &format!("{text_of}# saved\n"));
    let at = term.wait_for(at, "running lesson 02", RUN);

    term.send(b"q");
    let status = term.wait_exit(QUIT);
    assert!(status.success(), "{status}:\n{}", term.screen());
    term.wait_for(at, "stopped watching", QUIT);
    assert!(term.in_line_mode(), "the terminal was not restored");
}

#[test]
fn ctrl_c_stops_a_run_in_flight_and_restores_the_terminal() {
    let state = tempfile::tempdir().unwrap();
    let (_work, lessons) = lessons_copy();
    let mut term = watch(state.path(), &lessons);
    let at = term.wait_for(0, "running lesson 01", RUN);
    // Ctrl-C, through the terminal, while the first run is under way (or just over).
    term.send(&[0x03]);
    let status = term.wait_exit(QUIT);
    assert!(status.success(), "{status}:\n{}", term.screen());
    term.wait_for(at, "stopped watching", QUIT);
    assert!(term.in_line_mode(), "the terminal was not restored");
    // Nothing passed: no progress.
    assert!(!state.path().join("learn.json").exists());
}

#[test]
fn watch_without_a_terminal_says_to_run_learn_next() {
    let state = tempfile::tempdir().unwrap();
    let out = podcheck()
        .args(["learn", "watch"])
        .env("PODCHECK_STATE_DIR", state.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("error: `podcheck learn watch` needs a terminal"),
        "{shown}"
    );
    assert!(shown.contains("run `podcheck learn next`"), "{shown}");
}
