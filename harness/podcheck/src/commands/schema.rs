//! `podcheck schema`.

use crate::error::UserError;

/// Prints the JSON schema of suite files, or of `lesson.yaml` (`lesson`).
pub fn schema(lesson: bool) -> Result<(), UserError> {
    if lesson {
        print!("{}", podcheck_core::lesson::json_schema());
    } else {
        print!("{}", podcheck_core::conformance::json_schema());
    }
    Ok(())
}
