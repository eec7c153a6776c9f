//! `podcheck learn watch`: the current lesson run once, then again each time one of its
//! files is saved; on a pass, the explanation, and the next lesson watched the same way.
//!
//! Saves are found by polling (every [`POLL`]) a fingerprint of each watched file: its
//! inode, length, mtime and a hash of its content. Editors save by writing in place or by
//! writing a new file and renaming it over the old one (vim, VS Code, JetBrains); both
//! change the fingerprint, and polling a lesson's two or three small files costs nothing.
//! (`notify` would be one more dependency whose inotify watch is lost on a rename and has
//! to be set again on the new file, for a latency the run dwarfs anyway.)
//!
//! A burst of writes (an editor's write, rename and chmod; a `cp` of several files) is one
//! save: the run starts once the fingerprints held still for [`QUIET`]. A save during a
//! run does not cancel it: the run finishes and is shown (it takes a second or two on the
//! simulated providers), then the save is seen and the lesson runs again at once. `q`, a
//! SIGINT (Ctrl-C) or a SIGTERM stops a run in flight (its embedded control plane shuts
//! down as it is dropped), restores the terminal and exits 0.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use podcheck_core::lesson::{self, Attempt, Lesson, State};
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use tokio::sync::mpsc;

use crate::error::UserError;
use crate::target::ProviderOptions;

/// How often the watched files are looked at.
pub const POLL: Duration = Duration::from_millis(100);
/// How long the files must hold still after a change before the lesson runs.
pub const QUIET: Duration = Duration::from_millis(100);

/// What `learn watch` works with: the lessons, the providers, the learner's progress.
pub(super) struct Watch<'a> {
    pub lessons: &'a [Lesson],
    pub providers: &'a ProviderOptions,
    /// The state file, its contents and this lessons directory's key in it.
    pub path: &'a Path,
    pub state: &'a mut State,
    pub key: &'a str,
}

/// A key the learner pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Quit,
    Hint,
    Run,
}

impl Key {
    /// The key of a byte read from the terminal, if it is one.
    pub fn of(byte: u8) -> Option<Key> {
        match byte {
            b'q' | b'Q' | 0x03 | 0x04 => Some(Key::Quit),
            b'h' | b'H' => Some(Key::Hint),
            b'r' | b'R' => Some(Key::Run),
            _ => None,
        }
    }
}

/// Runs `learn watch` until the learner quits or every lesson passes.
pub(super) async fn watch(mut w: Watch<'_>) -> Result<(), UserError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(UserError::NotATerminal);
    }
    let mut terminal = Terminal::enter().map_err(UserError::Terminal)?;
    // Listening from here on: a Ctrl-C at any moment stops the watch, not the process.
    let quit = super::super::Signals::listen().received();
    tokio::pin!(quit);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome: Result<(), UserError> = async {
        let mut then = Then::Run;
        loop {
            let Some(current) = w
                .state
                .dirs
                .entry(w.key.into())
                .or_default()
                .current(w.lessons)
            else {
                if then == Then::Run {
                    say("every lesson passes (`podcheck learn reset` starts again)\n");
                }
                return Ok(());
            };
            let files = current.watched_files();
            // Taken before the run, or before "watching" shows: a save after it is a change.
            let mut saves = Saves::new(fingerprint(&files));
            if then == Then::Introduce {
                say(&format!("\n{}", lesson::story_words(current)));
            } else {
                say(&format!(
                    "── {} · running lesson {} …\n",
                    clock(),
                    current.number()
                ));
                let suite = current.suite_path();
                let run = super::attempt(&suite, w.providers);
                tokio::pin!(run);
                let attempt = loop {
                    tokio::select! {
                        attempt = &mut run => break attempt,
                        key = terminal.key() => match key {
                            Some(Key::Hint) => hint(&mut w, current)?,
                            Some(Key::Run) => {}
                            Some(Key::Quit) | None => return Ok(()),
                        },
                        _ = &mut quit => return Ok(()),
                    }
                };
                match attempt {
                    Ok(Attempt::Passed) => {
                        let progress = w.state.dirs.entry(w.key.into()).or_default();
                        progress.passed(current);
                        let next = progress.current(w.lessons);
                        say(&lesson::passed_words(current, next));
                        super::write_state(w.path, w.state)?;
                        then = Then::Introduce;
                        continue;
                    }
                    Ok(attempt) => {
                        let shown = w.state.dirs.entry(w.key.into()).or_default();
                        let hints = shown.hints_shown(current);
                        say(&lesson::attempt_words(current, &attempt, hints));
                    }
                    // A suite the edit broke, a target that did not start: said, and watched.
                    Err(e) => say(&e.render()),
                }
            }
            say(&lesson::watching_words(current));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if saves.observe(fingerprint(&files), Instant::now()) {
                            break;
                        }
                    }
                    key = terminal.key() => match key {
                        Some(Key::Hint) => hint(&mut w, current)?,
                        Some(Key::Run) => break,
                        Some(Key::Quit) | None => return Ok(()),
                    },
                    _ = &mut quit => return Ok(()),
                }
            }
            then = Then::Run;
        }
    }
    .await;
    drop(terminal);
    say("podcheck: stopped watching\n");
    outcome
}

/// What the watch does with the current lesson first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Run it (the first lesson, or a save).
    Run,
    /// Show its story and wait for a save (the lesson before it just passed).
    Introduce,
}

/// `h`: the next hint, as `learn hint` shows it, counted in the progress.
fn hint(w: &mut Watch<'_>, current: &Lesson) -> Result<(), UserError> {
    let progress = w.state.dirs.entry(w.key.into()).or_default();
    if let Some(index) = progress.next_hint(current) {
        say(&lesson::hint_words(current, index));
        super::write_state(w.path, w.state)?;
    }
    Ok(())
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The wall clock's `HH:MM:SS` (UTC), to tell one run's output from the next.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// What a watched file looks like now: `None` while it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
    content: u64,
}

/// The watched files' states, in order.
pub type Fingerprint = Vec<Option<FileState>>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            let content = std::fs::read(f).ok()?;
            let mut hash = DefaultHasher::new();
            content.hash(&mut hash);
            Some(FileState {
                inode: meta.ino(),
                len: meta.len(),
                modified: meta.modified().ok(),
                content: hash.finish(),
            })
        })
        .collect()
}

/// When a change of the watched files is a save to run: the debounce, without I/O.
#[derive(Debug)]
pub struct Saves<F> {
    /// What the last run (or the start) saw.
    ran: F,
    /// A change not yet run: what it looked like and since when.
    pending: Option<(F, Instant)>,
}

impl<F: PartialEq> Saves<F> {
    pub fn new(ran: F) -> Self {
        Saves { ran, pending: None }
    }

    /// The files look like `now_seen` at `now`: whether to run the lesson. A change runs
    /// once it held still for [`QUIET`]; a change undone before that runs nothing.
    pub fn observe(&mut self, seen: F, now: Instant) -> bool {
        match self.pending.take() {
            Some((pending, since)) if pending == seen => {
                if now.duration_since(since) >= QUIET {
                    self.ran = seen;
                    return true;
                }
                self.pending = Some((pending, since));
            }
            _ if seen == self.ran => {}
            _ => self.pending = Some((seen, now)),
        }
        false
    }
}

/// The terminal in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still sends
/// SIGINT), read by a thread that stops within 100 ms of being told to; restored on drop.
struct Terminal {
    saved: Termios,
    keys: mpsc::UnboundedReceiver<Key>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    fn enter() -> std::io::Result<Terminal> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut cbreak = saved.clone();
        cbreak
            .local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO);
        // A read returns after 100 ms with nothing, so the reader can see it is to stop.
        cbreak.special_codes[SpecialCodeIndex::VMIN] = 0;
        cbreak.special_codes[SpecialCodeIndex::VTIME] = 1;
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &cbreak)?;
        let (send, keys) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let reader = std::thread::Builder::new()
            .name("learn-watch-keys".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut buf = [0u8; 64];
                while !stopping.load(Ordering::Relaxed) {
                    match rustix::io::read(stdin.as_fd(), &mut buf) {
                        Ok(n) => {
                            for key in buf[..n].iter().filter_map(|b| Key::of(*b)) {
                                if send.send(key).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(rustix::io::Errno::INTR) => {}
                        // The terminal is gone: the channel closes, and the watch ends.
                        Err(_) => return,
                    }
                }
            });
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &saved);
                return Err(e);
            }
        };
        Ok(Terminal {
            saved,
            keys,
            stop,
            reader: Some(reader),
        })
    }

    /// The next key; `None` once the terminal cannot be read.
    async fn key(&mut self) -> Option<Key> {
        self.keys.recv().await
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_runs_once_it_held_still() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut saves = Saves::new("a");
        assert!(!saves.observe("a", at(100)), "nothing changed");
        assert!(
            !saves.observe("b", at(200)),
            "changed: wait for it to hold still"
        );
        assert!(!saves.observe("c", at(300)), "still changing");
        assert!(saves.observe("c", at(400)), "held still for QUIET");
        assert!(!saves.observe("c", at(500)), "one run per burst");
        assert!(!saves.observe("d", at(600)));
        assert!(
            !saves.observe("c", at(700)),
            "undone: what the last run saw"
        );
        assert!(!saves.observe("c", at(900)));
    }

    #[test]
    fn a_save_during_a_run_runs_again_after_it() {
        // The fingerprint is taken before the run; the poll after it sees the save.
        let t0 = Instant::now();
        let mut saves = Saves::new("before the run");
        let after = t0 + Duration::from_secs(2);
        assert!(!saves.observe("saved during the run", after));
        assert!(saves.observe("saved during the run", after + POLL));
    }

    #[test]
    fn keys() {
        assert_eq!(Key::of(b'q'), Some(Key::Quit));
        assert_eq!(Key::of(0x03), Some(Key::Quit));
        assert_eq!(Key::of(b'h'), Some(Key::Hint));
        assert_eq!(Key::of(b'r'), Some(Key::Run));
        assert_eq!(Key::of(b'x'), None);
    }
}
