//! `podcheck explain STAGE`.

use podcheck_core::stage::Stage;

use crate::error::UserError;

/// Prints what happens at a stage, what podcheck checks there and what commonly breaks.
pub fn explain(stage: &str) -> Result<(), UserError> {
    let Some(s) = Stage::parse(stage) else {
        let known: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        return Err(UserError::UnknownStage {
            stage: stage.to_string(),
            known: known.join(", "),
        });
    };
    print!("{}", podcheck_core::explain::explain(s));
    Ok(())
}
