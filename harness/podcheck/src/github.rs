//! A run inside GitHub Actions: the Markdown summary appended to `$GITHUB_STEP_SUMMARY`,
//! and (with `GITHUB_ACTIONS=true`) an annotation per failure printed as a workflow
//! command. What the lines say is decided in `podcheck_core::report::github`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use podcheck_core::conformance::AnySuite;
use podcheck_core::report::{github, markdown};
use podcheck_core::result::RunResults;

/// What the runner's environment asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubEnv {
    /// `GITHUB_STEP_SUMMARY`: the file the job's summary page is made of.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_ACTIONS=true`: stdout is read for workflow commands.
    pub annotations: bool,
}

impl GithubEnv {
    pub fn from_env() -> GithubEnv {
        GithubEnv {
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            annotations: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
        }
    }
}

/// Appends the summary and prints the annotations, as `env` asks. A summary that cannot be
/// written is a warning: the run's verdicts do not depend on GitHub's page.
pub fn publish(env: &GithubEnv, results: &RunResults, suites: &[AnySuite]) {
    if let Some(path) = &env.step_summary
        && let Err(e) = append(path, &markdown::render(results))
    {
        eprintln!(
            "podcheck: warning: cannot append the summary to GITHUB_STEP_SUMMARY ({}): {e}",
            path.display()
        );
    }
    if env.annotations {
        for line in github::annotations(results, &github::CaseLines::of(suites)) {
            println!("{line}");
        }
    }
}

/// Appends, never truncates: other steps of the job write to the same file.
fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_appended_after_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary");
        std::fs::write(&path, "earlier step\n").unwrap();
        append(&path, "## podcheck\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier step\n## podcheck\n"
        );
    }

    #[test]
    fn an_unwritable_summary_is_an_error_for_the_caller_to_warn_about() {
        let dir = tempfile::tempdir().unwrap();
        assert!(append(&dir.path().join("no/such/dir/summary"), "x").is_err());
    }
}
