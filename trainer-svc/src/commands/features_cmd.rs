//! `trainer-svc features --csv F [--end DATE]`: reads the file and prints the window's features
//! (the computation lives in [`super::features`]).
use common::{Error, Result};

use crate::config::FeaturesArgs;

/// Prints the CSV of the 60-day window ending at `--end` (or the last day).
pub fn run(args: FeaturesArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.csv)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", args.csv.display())))?;
    let out = super::features::features_csv(&text, args.end)?;
    print!("{out}");
    Ok(())
}
