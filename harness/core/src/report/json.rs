//! `results.json`: the [`RunResults`] document itself, for tools and for later diffs.

use crate::result::RunResults;

/// Renders `results` as pretty-printed JSON with a trailing newline (so the file ends like a
/// text file and diffs cleanly).
pub fn render(results: &RunResults) -> String {
    // Serializing can only fail on non-string map keys or a failing `Serialize` impl; the
    // results model has neither, so a failure here is a bug in the model, not bad input.
    let mut out = serde_json::to_string_pretty(results)
        .expect("RunResults has only derived Serialize impls and no maps");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture()));
    }

    #[test]
    fn round_trips() {
        let results = fixture();
        let json = render(&results);
        assert!(json.ends_with("}\n"));
        let back: RunResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, results);
    }
}
