//! `trainer-svc import --symbol S --csv F`: parse, validate (all or nothing), drop calendar-fill
//! rows (unless `--keep-repeated-bars`) and upsert bars.
use common::config::validate_symbol;
use common::{Error, Result};

use crate::config::ImportArgs;

/// Imports the CSV and prints the upsert statistics as JSON.
pub async fn run(args: ImportArgs) -> Result<()> {
    let symbol = validate_symbol(&args.symbol)?;
    let text = std::fs::read_to_string(&args.csv)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", args.csv.display())))?;
    let mut bars = common::data::parse_csv(&text)?;
    let dropped = if args.keep_repeated_bars {
        Vec::new()
    } else {
        common::data::drop_repeated_bars(&mut bars)
    };
    if !dropped.is_empty() {
        eprintln!(
            "dropped {} rows repeating the previous bar on a weekend or holiday ({}); keep them with --keep-repeated-bars",
            dropped.len(),
            common::data::repeats::describe_dates(&dropped, 8)
        );
    }
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
        "dropped_repeats": dropped.len(),
        "dropped_repeat_dates": dropped.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    registry.close().await;
    Ok(())
}
