//! `podcheck learn watch` as a learner meets it: the time from saving a lesson's file to
//! the verdict on the terminal (the poll, the quiet period, the run on the simulated
//! providers, the words), on a pseudo-terminal as tests/learn_watch.rs drives it.
//!
//! - a failing verdict: lesson 01's suite.yaml saved (renamed over) still broken,
//!   PODCHECK_BENCH_RUNS times (default 10), until `✗ broke at auth` shows;
//! - a passing one: each lesson's solution/ copied in, until `✓ all eight stages pass`.
//!
//! `cargo bench -p podcheck --bench learn_watch` (add `--profile dev` for a debug build).

#[path = "../tests/support/pty.rs"]
mod pty;

use std::path::Path;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn summary(what: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}: median {:.0} ms, min {:.0} ms, max {:.0} ms ({} saves)",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("PODCHECK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let lessons = work.path().join("lessons");
    copy_tree(&workspace.join("lessons"), &lessons);
    let mut term = pty::Pty::spawn(
        env!("CARGO_BIN_EXE_podcheck"),
        &["learn", "watch", "--lessons", lessons.to_str().unwrap()],
        |c| {
            c.current_dir(&workspace)
                .env("PODCHECK_STATE_DIR", &state)
                .env_remove("CI");
        },
    );
    let mut at = term.wait_for(0, "✗ broke at auth", DEADLINE);
    at = term.wait_for(at, "watching ", DEADLINE);

    let suite = lessons.join("01-no-credentials/suite.yaml");
    let broken = std::fs::read_to_string(&suite).unwrap();
    let mut failing = Vec::new();
    for i in 0..runs {
        let beside = suite.with_extension("yaml.new");
        std::fs::write(&beside, format!("{broken}# save {i}\n")).unwrap();
        let saved = Instant::now();
        std::fs::rename(&beside, &suite).unwrap();
        at = term.wait_for(at, "✗ broke at auth", DEADLINE);
        failing.push(saved.elapsed().as_secs_f64() * 1e3);
        at = term.wait_for(at, "watching ", DEADLINE);
    }

    let mut passing = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&lessons)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.join("lesson.yaml").is_file())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let saved = Instant::now();
        copy_tree(&dir.join("solution"), dir);
        at = term.wait_for(at, "✓ all eight stages pass", DEADLINE);
        passing.push(saved.elapsed().as_secs_f64() * 1e3);
        at = term.wait_for(at, " done", DEADLINE);
        if dir != dirs.last().unwrap() {
            at = term.wait_for(at, "watching ", DEADLINE);
        }
    }
    // Every lesson passes: the watch has nothing left to watch and ends by itself.
    term.wait_for(at, "every lesson passes", DEADLINE);
    assert!(term.wait_exit(Duration::from_secs(15)).success());

    println!(
        "podcheck learn watch, simulated providers ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    summary(
        "save → failing verdict (lesson 01, suite.yaml renamed over)",
        &mut failing,
    );
    summary(
        "save → passing verdict (each lesson's solution/ copied in)",
        &mut passing,
    );
}
