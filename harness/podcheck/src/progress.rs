//! The runner's progress on stderr: a bar on a terminal outside CI (cases that did not pass
//! printed above it), else a line per suite and case. The lines are podcheck-core's.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use podcheck_core::report::terminal;
use podcheck_core::result::Verdict;

use crate::runner::Progress;

/// Where progress goes; the bar is cleared when this is dropped, so nothing printed after a
/// run (errors included) lands under a stale bar.
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
}

impl ProgressDisplay {
    /// A bar over `total` cases if stderr is a terminal and this is not CI.
    pub fn new(total: usize, ci: bool) -> Self {
        let bar = (std::io::stderr().is_terminal() && !ci).then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        ProgressDisplay { bar }
    }

    /// Shows one progress event.
    pub fn show(&self, p: Progress) {
        match (&self.bar, p) {
            (Some(b), Progress::SuiteStarted { suite, .. }) => b.set_message(suite),
            (None, Progress::SuiteStarted { suite, cases }) => {
                eprintln!("{}", terminal::suite_started_line(&suite, cases))
            }
            (
                bar,
                Progress::CaseFinished {
                    suite,
                    case,
                    verdict,
                    failed_stages,
                },
            ) => {
                let line =
                    |bar| terminal::case_finished_line(&suite, &case, verdict, &failed_stages, bar);
                match bar {
                    Some(b) => {
                        b.inc(1);
                        if verdict != Verdict::Passed {
                            b.println(line(true));
                        }
                    }
                    None => eprintln!("{}", line(false)),
                }
            }
        }
    }
}

impl ProgressDisplay {
    /// Removes the bar (once), so what follows is printed on a clean line.
    pub fn clear(&self) {
        if let Some(b) = &self.bar
            && !b.is_finished()
        {
            b.finish_and_clear();
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.clear();
    }
}
