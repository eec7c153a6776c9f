//! The runner's progress on stderr. On a terminal outside CI, a live view: a bar for the
//! suite and a line per case in flight with the stage it has reached (cases that did not
//! pass printed above them). In CI and when piped, a line per suite and per finished case,
//! and nothing that redraws. The lines are podcheck-core's.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use podcheck_core::report::terminal;
use podcheck_core::result::Verdict;

use crate::runner::Progress;

/// Where progress goes; the live view is cleared when this is dropped, so nothing printed
/// after a run (errors included) lands under a stale bar.
pub struct ProgressDisplay {
    view: View,
}

enum View {
    Live(Live),
    Lines(Mutex<Box<dyn Write + Send>>),
}

/// The live view: the suite's bar, then one line per case in flight.
struct Live {
    multi: MultiProgress,
    suite: ProgressBar,
    cases: Mutex<HashMap<(String, String), ProgressBar>>,
    /// Spinners animate on their own on a real terminal; a test's screen only changes on
    /// events, so that what it shows is the same every time.
    tick: bool,
}

impl ProgressDisplay {
    /// The live view if stderr is a terminal and this is not CI, else lines on stderr.
    pub fn new(ci: bool) -> Self {
        if std::io::stderr().is_terminal() && !ci {
            ProgressDisplay::live(ProgressDrawTarget::stderr(), true)
        } else {
            ProgressDisplay::lines(Box::new(std::io::stderr()))
        }
    }

    /// The live view, drawn on `target`.
    pub fn live(target: ProgressDrawTarget, tick: bool) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let suite = multi.add(ProgressBar::new(0));
        suite.set_style(
            ProgressStyle::with_template("{msg:<24} [{bar:30}] {pos}/{len} cases")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        ProgressDisplay {
            view: View::Live(Live {
                multi,
                suite,
                cases: Mutex::new(HashMap::new()),
                tick,
            }),
        }
    }

    /// A line per suite and per finished case, written to `out`.
    pub fn lines(out: Box<dyn Write + Send>) -> Self {
        ProgressDisplay {
            view: View::Lines(Mutex::new(out)),
        }
    }

    /// Shows one progress event.
    pub fn show(&self, p: Progress) {
        match &self.view {
            View::Live(live) => live.show(p),
            View::Lines(out) => {
                let line = match p {
                    Progress::SuiteStarted { suite, cases } => {
                        terminal::suite_started_line(&suite, cases)
                    }
                    Progress::CaseAt { .. } => return,
                    Progress::CaseFinished {
                        suite,
                        case,
                        verdict,
                        failed_stages,
                    } => {
                        terminal::case_finished_line(&suite, &case, verdict, &failed_stages, false)
                    }
                };
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// Removes the live view (once), so what follows is printed on a clean line.
    pub fn clear(&self) {
        if let View::Live(live) = &self.view {
            live.clear();
        }
    }
}

impl Live {
    fn show(&self, p: Progress) {
        match p {
            Progress::SuiteStarted { suite, cases } => {
                self.suite.set_message(suite);
                self.suite.set_length(cases as u64);
                self.suite.set_position(0);
            }
            Progress::CaseAt { suite, case, at } => {
                let mut cases = self.cases.lock().unwrap_or_else(|e| e.into_inner());
                let line = cases
                    .entry((suite, case.clone()))
                    .or_insert_with(|| self.case_line(&case));
                line.set_message(at.to_string());
            }
            Progress::CaseFinished {
                suite,
                case,
                verdict,
                failed_stages,
            } => {
                let line = self
                    .cases
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(suite.clone(), case.clone()));
                if let Some(line) = line {
                    line.finish_and_clear();
                    self.multi.remove(&line);
                }
                self.suite.inc(1);
                if verdict != Verdict::Passed {
                    let _ = self.multi.println(terminal::case_finished_line(
                        &suite,
                        &case,
                        verdict,
                        &failed_stages,
                        true,
                    ));
                }
            }
        }
    }

    /// A case's line in the live view: `⠋ NAME  STAGE`.
    fn case_line(&self, case: &str) -> ProgressBar {
        let line = self.multi.add(ProgressBar::new_spinner());
        line.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:<28} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        line.set_prefix(case.to_string());
        if self.tick {
            line.enable_steady_tick(Duration::from_millis(120));
        }
        line
    }

    fn clear(&self) {
        for (_, line) in self.cases.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            line.finish_and_clear();
        }
        if !self.suite.is_finished() {
            self.suite.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use indicatif::InMemoryTerm;
    use podcheck_core::progress::CaseAt;
    use podcheck_core::stage::Stage;

    use super::*;

    fn at(case: &str, at: CaseAt) -> Progress {
        Progress::CaseAt {
            suite: "pod-lifecycle".into(),
            case: case.into(),
            at,
        }
    }

    fn finished(case: &str, verdict: Verdict, failed: &[&str]) -> Progress {
        Progress::CaseFinished {
            suite: "pod-lifecycle".into(),
            case: case.into(),
            verdict,
            failed_stages: failed.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A run of three cases, two in flight at once: one passes, one fails at binding.
    fn events() -> Vec<Progress> {
        vec![
            Progress::SuiteStarted {
                suite: "pod-lifecycle".into(),
                cases: 3,
            },
            at("busybox-runs", CaseAt::Setup),
            at("busybox-runs", CaseAt::Stage(Stage::Auth)),
            at("gpu-unschedulable", CaseAt::Stage(Stage::Binding)),
            at("busybox-runs", CaseAt::Stage(Stage::CriLaunch)),
            at("busybox-runs", CaseAt::Probes),
            finished("busybox-runs", Verdict::Passed, &[]),
            at("gpu-unschedulable", CaseAt::Cleanup),
            finished("gpu-unschedulable", Verdict::Failed, &["binding"]),
            at("dns-resolves", CaseAt::Stage(Stage::Dns)),
        ]
    }

    #[test]
    fn the_live_view_shows_cases_in_flight_and_prints_failures_above() {
        let term = InMemoryTerm::new(12, 80);
        let display =
            ProgressDisplay::live(ProgressDrawTarget::term_like(Box::new(term.clone())), false);
        let mut screens = Vec::new();
        for (i, e) in events().into_iter().enumerate() {
            display.show(e);
            if [3, 5, 9].contains(&i) {
                screens.push(term.contents());
            }
        }
        insta::assert_snapshot!("live_view", screens.join("\n---\n"));
        drop(display);
        assert_eq!(
            term.contents().trim(),
            "✗ pod-lifecycle/gpu-unschedulable binding"
        );
    }

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn piped_output_is_a_line_per_finished_case_and_never_redraws() {
        let out = Captured::default();
        let display = ProgressDisplay::lines(Box::new(out.clone()));
        for e in events() {
            display.show(e);
        }
        drop(display);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        insta::assert_snapshot!("piped", text);
    }
}
