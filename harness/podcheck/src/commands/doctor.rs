//! `podcheck doctor`.

use podcheck_controlplane::providers;

use crate::error::UserError;
use crate::target::ProviderOptions;

/// Prints which provider each component of the embedded target would use, real or simulated,
/// and why; fails if one `--require-real` names is simulated.
pub fn doctor(options: &ProviderOptions) -> Result<(), UserError> {
    let choices = providers::choose(&options.selection);
    for c in &choices {
        let kind = if c.real { "real" } else { "simulated" };
        println!(
            "{:<8} {:<18} {:<10} {}",
            c.component.name(),
            c.provider,
            kind,
            c.why
        );
    }
    let missing = providers::missing_real(&choices, &options.require_real);
    if missing.is_empty() {
        Ok(())
    } else {
        let names = missing.iter().map(|c| c.component.name().to_string());
        Err(UserError::Simulated(names.collect()))
    }
}
