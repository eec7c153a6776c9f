//! `podcheck schema`.

use crate::error::UserError;

/// Prints the JSON schema of suite files.
pub fn schema() -> Result<(), UserError> {
    print!("{}", podcheck_core::conformance::json_schema());
    Ok(())
}
