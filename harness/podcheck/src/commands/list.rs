//! `podcheck list PATHS…`.

use std::path::PathBuf;

use podcheck_core::conformance::AnySuite;

use crate::error::UserError;

/// Prints each suite, then its cases (a pod case with its tags).
pub fn list(paths: &[PathBuf]) -> Result<(), UserError> {
    for s in &crate::suites::load(paths)? {
        println!("{}  {}  {}", s.name(), s.path().display(), s.description());
        if let AnySuite::Pods(s) = s {
            for c in &s.cases {
                let tags = if c.tags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.tags.join(", "))
                };
                println!("  {}{tags}  {}", c.name, c.description);
            }
        } else {
            for (name, description) in s.cases() {
                println!("  {name}  {description}");
            }
        }
    }
    Ok(())
}
