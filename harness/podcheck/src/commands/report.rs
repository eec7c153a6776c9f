//! `podcheck report RUN_DIR`: the reports of a run drawn again from its `results.json` (after
//! an upgrade of podcheck, or to get `report.html` for a run made before it existed).

use std::path::Path;

use miette::{Diagnostic, NamedSource, SourceSpan};
use podcheck_core::report::terminal;
use podcheck_core::result::RunResults;

use crate::error::UserError;
use crate::output;

/// Reads `RUN_DIR/results.json` and writes junit.xml, summary.md and report.html beside it;
/// results.json stays as the run wrote it.
pub fn report(run_dir: &Path) -> Result<(), UserError> {
    let results = read_results(run_dir)?;
    let dir = if run_dir.is_file() {
        run_dir.parent().unwrap_or(Path::new("."))
    } else {
        run_dir
    };
    let written = output::write_derived_reports(&results, dir)?;
    println!("{}", terminal::reports_line(&written));
    Ok(())
}

/// The results of a run, or a diagnostic that says what is wrong with the file. The
/// results.json itself names its run directory too.
fn read_results(run_dir: &Path) -> Result<RunResults, UserError> {
    let path = if run_dir.ends_with("results.json") && run_dir.is_file() {
        run_dir.to_path_buf()
    } else {
        run_dir.join("results.json")
    };
    let text = std::fs::read_to_string(&path).map_err(|source| UserError::ReadResults {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| UserError::InvalidResults {
        rendered: invalid_results(&path.display().to_string(), text, &e),
    })
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path} is not a podcheck results document")]
#[diagnostic(help(
    "give the report directory of a `podcheck run` (reports/RUN_ID), whose results.json it wrote"
))]
struct InvalidResults {
    path: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{reason}")]
    span: SourceSpan,
    reason: String,
}

/// serde's error, pointed at in the file where it happened.
fn invalid_results(path: &str, text: String, e: &serde_json::Error) -> String {
    let offset = offset_of(&text, e.line(), e.column());
    let diag = InvalidResults {
        path: path.to_string(),
        src: NamedSource::new(path, text),
        span: SourceSpan::from(offset..offset),
        reason: strip_position(&e.to_string()),
    };
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    if handler.render_report(&mut out, &diag).is_err() {
        out = format!("error: {diag}: {}\n", diag.reason);
    }
    out
}

/// The byte offset of serde's 1-based line and column (column 0: the line's start).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

/// serde_json ends its messages with ` at line L column C`, which the label's place says.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_document_is_pointed_at() {
        let text = "{\n  \"schema\": \"podcheck.dev/results/v1alpha1\",\n  \"runId\": 7\n}\n";
        let e = serde_json::from_str::<RunResults>(text).unwrap_err();
        let rendered = invalid_results("r/results.json", text.to_string(), &e);
        assert!(
            rendered.contains("r/results.json is not a podcheck results document"),
            "{rendered}"
        );
        assert!(rendered.contains("r/results.json:3:"), "{rendered}");
        assert!(rendered.contains("invalid type: integer"), "{rendered}");
        assert!(
            rendered.contains("help: give the report directory"),
            "{rendered}"
        );
    }

    #[test]
    fn offsets_follow_lines_and_columns() {
        assert_eq!(offset_of("ab\ncd\n", 2, 2), 4);
        assert_eq!(offset_of("ab\ncd\n", 1, 0), 0);
        assert_eq!(offset_of("ab", 9, 9), 2);
    }
}
