//! `trainer-svc spec`: prints the machine-readable training specification of this build.
use common::Result;

/// Prints the spec JSON.
pub fn run() -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&common::spec::training_spec())?
    );
    Ok(())
}
