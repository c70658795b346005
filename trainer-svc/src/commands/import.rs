//! `trainer-svc import --symbol S --csv F`: parse, validate (all or nothing) and upsert bars.
use common::config::validate_symbol;
use common::{Error, Result};

use crate::config::ImportArgs;

/// Imports the CSV and prints the upsert statistics as JSON.
pub async fn run(args: ImportArgs) -> Result<()> {
    let symbol = validate_symbol(&args.symbol)?;
    let text = std::fs::read_to_string(&args.csv)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", args.csv.display())))?;
    let bars = common::data::parse_csv(&text)?;
    if bars.is_empty() {
        return Err(Error::invalid(format!(
            "{} has a header but no rows",
            args.csv.display()
        )));
    }
    let registry = crate::open_registry(&args.registry).await?;
    let stats = registry.upsert_bars(&symbol, &bars).await?;
    let out = serde_json::json!({
        "symbol": symbol,
        "received": bars.len(),
        "inserted": stats.inserted,
        "updated": stats.updated,
        "first_date": bars.first().map(|b| b.date.to_string()),
        "last_date": bars.last().map(|b| b.date.to_string()),
        "total_bars": stats.total,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    registry.close().await;
    Ok(())
}
