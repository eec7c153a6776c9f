//! `podcheck learn`: lessons that fail on purpose at one stage, run on the embedded target
//! through the library runner; the learner's progress in a state file of their own.
//!
//! The decisions (the lesson format, where an attempt broke, progress, the words) are
//! `podcheck_core::lesson`'s; here are the runs, the temporary copies `verify` makes and
//! the state file.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use podcheck_controlplane::providers::RuntimeChoice;
use podcheck_core::conformance::AnySuite;
use podcheck_core::lesson::{self, Attempt, Lesson, State};

use crate::TargetChoice;
use crate::conformance::ConformanceOptions;
use crate::error::{Cleanup, UserError};
use crate::runner::{self, RunOptions};
use crate::target::ProviderOptions;

mod watch;

/// Where lessons are, unless `--lessons` says otherwise.
pub const DEFAULT_LESSONS: &str = "lessons";

/// What `podcheck learn` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnAction {
    /// The lessons with their progress.
    List,
    /// Run the current lesson.
    Next,
    /// The current lesson's next hint.
    Hint,
    /// Forget the progress of one lesson (its number or name), or of all.
    Reset(Option<String>),
    /// Every lesson fails unsolved at its stage and passes with its solution.
    Verify,
    /// Run the current lesson, and again at each save of its files (a terminal only).
    Watch,
}

/// A `podcheck learn` command line, as the library takes it.
#[derive(Debug, Clone)]
pub struct LearnRequest {
    pub action: LearnAction,
    /// The lessons directory.
    pub lessons: PathBuf,
    /// The embedded target's providers (simulated unless the flags say otherwise).
    pub providers: ProviderOptions,
}

/// Runs `podcheck learn …`.
pub async fn learn(request: LearnRequest) -> Result<(), UserError> {
    let lessons = load_lessons(&request.lessons)?;
    if request.action == LearnAction::Verify {
        return verify(&lessons, &request.providers).await;
    }
    let key = key_of(&request.lessons)?;
    let path = state_path();
    let mut state = read_state(&path)?;
    if request.action == LearnAction::Watch {
        return watch::watch(watch::Watch {
            lessons: &lessons,
            providers: &request.providers,
            path: &path,
            state: &mut state,
            key: &key,
        })
        .await;
    }
    let progress = state.dirs.entry(key).or_default();
    match &request.action {
        LearnAction::List => print!("{}", lesson::list_words(&lessons, progress)),
        LearnAction::Next => {
            let Some(current) = progress.current(&lessons) else {
                println!("every lesson passes (`podcheck learn reset` starts again)");
                return Ok(());
            };
            let attempt = interruptible(attempt(&current.suite_path(), &request.providers)).await?;
            if let Attempt::Skipped { .. } = attempt {
                progress.skip(current);
                let next = progress.current(&lessons);
                print!(
                    "lesson {}: {}\n{}",
                    current.id,
                    current.title,
                    lesson::skipped_words(current, &attempt, next)
                );
                write_state(&path, &state)?;
            } else if attempt == Attempt::Passed {
                progress.passed(current);
                let next = progress.current(&lessons);
                print!("{}", lesson::passed_words(current, next));
                write_state(&path, &state)?;
            } else {
                print!(
                    "{}",
                    lesson::attempt_words(current, &attempt, progress.hints_shown(current))
                );
                return Err(UserError::ExpectationsFailed);
            }
        }
        LearnAction::Hint => {
            let Some(current) = progress.current(&lessons) else {
                println!("every lesson passes: no hint to give");
                return Ok(());
            };
            if let Some(index) = progress.next_hint(current) {
                print!("{}", lesson::hint_words(current, index));
                write_state(&path, &state)?;
            }
        }
        LearnAction::Reset(key) => {
            let lesson = match key {
                None => None,
                Some(key) => Some(lessons.iter().find(|l| l.is_named(key)).ok_or_else(|| {
                    UserError::UnknownLesson {
                        key: key.clone(),
                        path: request.lessons.display().to_string(),
                    }
                })?),
            };
            progress.reset(lesson);
            write_state(&path, &state)?;
            match lesson {
                Some(l) => println!("reset: {} is to do again", l.id),
                None => println!("reset: every lesson is to do again"),
            }
        }
        LearnAction::Verify | LearnAction::Watch => unreachable!("handled above"),
    }
    Ok(())
}

/// `learn verify`: each lesson unsolved and, in a temporary copy with `solution/` laid
/// over it, solved; four lessons at a time, reported in order.
async fn verify(lessons: &[Lesson], providers: &ProviderOptions) -> Result<(), UserError> {
    let started = std::time::Instant::now();
    let checks = futures::stream::iter(lessons.iter().map(|l| verify_one(l, providers)))
        .buffered(4)
        .collect::<Vec<_>>();
    let checks = interruptible(async { Ok(checks.await) }).await?;
    let (mut failing, mut skipped) = (0, 0);
    for (lesson, check) in lessons.iter().zip(checks) {
        let problem = match check {
            Ok(Check::Skipped { reason, install }) => {
                skipped += 1;
                println!(
                    "{}",
                    lesson::verify_skip_line(lesson, &reason, install.as_deref())
                );
                continue;
            }
            Ok(Check::Ran(problem)) => problem,
            Err(e) => Some(format!("could not run: {}", podcheck_host::error_chain(&e))),
        };
        failing += usize::from(problem.is_some());
        println!("{}", lesson::verify_line(lesson, problem.as_deref()));
    }
    let ran = lessons.len() - skipped;
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", {n} skipped (they cannot run here)"),
    };
    println!(
        "{} of {ran} lessons hold{skipped} ({:.1} s)",
        ran - failing,
        started.elapsed().as_secs_f64()
    );
    if failing > 0 {
        return Err(UserError::LessonsDoNotHold { count: failing });
    }
    Ok(())
}

/// What `verify` found of one lesson.
enum Check {
    /// It ran: why it does not hold, if it does not.
    Ran(Option<String>),
    /// Its suite cannot run on this machine.
    Skipped {
        reason: String,
        install: Option<String>,
    },
}

async fn verify_one(lesson: &Lesson, providers: &ProviderOptions) -> Result<Check, UserError> {
    let solved_dir = tempfile::Builder::new()
        .prefix("podcheck-lesson-")
        .tempdir()
        .map_err(|source| read_lessons_error(&lesson.dir, source))?;
    let copy = solved_dir.path().join(&lesson.id);
    copy_tree(&lesson.dir, &copy).map_err(|source| read_lessons_error(&lesson.dir, source))?;
    copy_tree(&lesson.dir.join(lesson::SOLUTION_DIR), &copy)
        .map_err(|source| read_lessons_error(&lesson.dir, source))?;
    let (unsolved_suite, solved_suite) = (lesson.suite_path(), copy.join(lesson::SUITE_FILE));
    let (unsolved, solved) = futures::join!(
        attempt(&unsolved_suite, providers),
        attempt(&solved_suite, providers)
    );
    let (unsolved, solved) = (unsolved?, solved?);
    if let Attempt::Skipped { reason, install } = unsolved {
        return Ok(Check::Skipped { reason, install });
    }
    Ok(Check::Ran(lesson::verify(
        lesson.teaches,
        &unsolved,
        &solved,
    )))
}

/// Runs a lesson's suite on the embedded target and says where its pod's path broke. A
/// suite with a CNI conflist of its own needs the real pod network: it runs on containerd
/// where that can run here, whatever `--runtime` says, and is skipped (with why) where it
/// cannot.
async fn attempt(suite: &Path, providers: &ProviderOptions) -> Result<Attempt, UserError> {
    let suites = crate::suites::load(&[suite.to_path_buf()])?;
    let needs_network = suites.iter().any(|s| match s {
        AnySuite::Pods(s) => s.cni_conflist.is_some(),
        _ => false,
    });
    let mut providers = providers.clone();
    if needs_network && providers.selection.runtime == RuntimeChoice::Sim {
        providers.selection.runtime = RuntimeChoice::Auto;
    }
    let opts = RunOptions {
        target: TargetChoice::Local(providers),
        jobs: 4,
        fail_fast: false,
        run_id: run_id(),
    };
    let results = runner::run_all(&suites, &opts, &ConformanceOptions::default(), &|_| {}).await?;
    Ok(Attempt::of_run(&results.suites))
}

/// Ctrl-C or SIGTERM stops the lesson's runs (the embedded control planes shut down as
/// they are dropped; nothing is left on any cluster).
async fn interruptible<T>(
    work: impl std::future::Future<Output = Result<T, UserError>>,
) -> Result<T, UserError> {
    tokio::select! {
        r = work => r,
        _ = super::signalled() => {
            eprintln!("podcheck: interrupted");
            Err(UserError::Interrupted(Cleanup::Deleted(0)))
        }
    }
}

/// The lessons of `dir`, each checked; every lesson's problems at once.
fn load_lessons(dir: &Path) -> Result<Vec<Lesson>, UserError> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|rd| {
            rd.map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .map_err(|source| read_lessons_error(dir, source))?;
    let read = |p: &Path| std::fs::read_to_string(p);
    let dirs = lesson::lesson_dirs(&entries, &read);
    if dirs.is_empty() {
        return Err(UserError::NoLessons {
            path: dir.display().to_string(),
        });
    }
    let mut lessons = Vec::new();
    let mut problems = Vec::new();
    for d in dirs {
        match lesson::load(&d, &read) {
            Ok(l) => lessons.push(l),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(lessons)
    } else {
        Err(UserError::InvalidSuites(problems))
    }
}

fn read_lessons_error(dir: &Path, source: std::io::Error) -> UserError {
    UserError::ReadLessons {
        path: dir.display().to_string(),
        source,
    }
}

/// Copies `from` into `to` (made if missing), files over files, recursively.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The key of a lessons directory's progress: its absolute path.
fn key_of(dir: &Path) -> Result<String, UserError> {
    std::fs::canonicalize(dir)
        .map(|p| p.display().to_string())
        .map_err(|source| read_lessons_error(dir, source))
}

/// `$PODCHECK_STATE_DIR/learn.json`, else `$XDG_STATE_HOME/podcheck/learn.json`, else
/// `~/.local/state/podcheck/learn.json`.
pub fn state_path() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("PODCHECK_STATE_DIR") {
        return dir.join("learn.json");
    }
    let base = var("XDG_STATE_HOME").unwrap_or_else(|| {
        var("HOME")
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/state")
    });
    base.join("podcheck").join("learn.json")
}

fn read_state(path: &Path) -> Result<State, UserError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => return Err(state_error("read", path, source)),
    };
    serde_json::from_str(&text).map_err(|e| {
        state_error(
            "read",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

/// Written whole to a temporary file beside it, then renamed over it.
fn write_state(path: &Path, state: &State) -> Result<(), UserError> {
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| state_error("write", path, source))
}

fn state_error(action: &'static str, path: &Path, source: std::io::Error) -> UserError {
    UserError::LearnState {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// A run id for a lesson's run (`learn-PID-N`): its namespaces' names carry it.
fn run_id() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "learn-{:04x}-{}",
        std::process::id() & 0xffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
