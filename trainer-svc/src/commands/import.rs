//! `trainer-svc import --symbol S --csv F`: parse, validate (all or nothing, or `--skip-bad-rows`),
//! drop calendar-fill rows (unless `--keep-repeated-bars`) and upsert bars.
use common::config::validate_symbol;
use common::Result;

use crate::config::ImportArgs;

/// Imports the CSV and prints the upsert statistics as JSON (the fields of `IngestBarsResponse`).
pub async fn run(args: ImportArgs) -> Result<()> {
    let symbol = validate_symbol(&args.symbol)?;
    let file = super::bar_file::read(&args.csv, args.skip_bad_rows, args.keep_repeated_bars)?;
    let bars = &file.bars;
    let registry = crate::open_registry(&args.registry).await?;
    let stats = registry.upsert_bars(&symbol, bars).await?;
    let listed: Vec<serde_json::Value> = file
        .bad_rows
        .iter()
        .take(common::data::csv::LISTED_BAD_ROWS)
        .map(|b| serde_json::json!({ "row": b.row, "field": b.field, "reason": b.reason }))
        .collect();
    let out = serde_json::json!({
        "symbol": symbol,
        "received": bars.len(),
        "inserted": stats.inserted,
        "updated": stats.updated,
        "first_date": bars.first().map(|b| b.date.to_string()),
        "last_date": bars.last().map(|b| b.date.to_string()),
        "total_bars": stats.total,
        "dropped_repeats": file.dropped_repeats.len(),
        "dropped_repeat_dates": file.dropped_repeats.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "ignored_columns": file.ignored_columns,
        "bad_rows": listed,
        "bad_rows_skipped": file.bad_rows.len(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    registry.close().await;
    Ok(())
}
