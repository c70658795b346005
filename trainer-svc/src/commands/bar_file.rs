//! A bar file named on the command line (`import --csv`, `backtest --csv`): read, parsed with bad
//! rows refused or skipped (`--skip-bad-rows`), calendar fills dropped (unless
//! `--keep-repeated-bars`), and what was left out said on stderr.
use std::path::Path;

use chrono::NaiveDate;
use common::data::repeats::describe_dates;
use common::data::{drop_repeated_bars, read_csv, BadRow, Bar, OnBadRows};
use common::{Error, Result};

/// The bars of a file and what was left out of them.
#[derive(Debug)]
pub struct BarFile {
    /// Good bars, sorted by date.
    pub bars: Vec<Bar>,
    /// Dates of the calendar-fill rows dropped.
    pub dropped_repeats: Vec<NaiveDate>,
    /// Columns that were not read.
    pub ignored_columns: Vec<String>,
    /// Rows dropped as bad (with `skip_bad_rows`).
    pub bad_rows: Vec<BadRow>,
}

/// Reads `path` (any accepted dialect) and reports on stderr what was ignored, skipped or dropped.
pub fn read(path: &Path, skip_bad_rows: bool, keep_repeated_bars: bool) -> Result<BarFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    let on_bad_rows = if skip_bad_rows { OnBadRows::Skip } else { OnBadRows::Refuse };
    let import = read_csv(&text, on_bad_rows).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::invalid(format!("{}: {m}", path.display())),
        other => other,
    })?;
    let mut bars = import.bars;
    if !import.ignored_columns.is_empty() {
        eprintln!("ignored columns: {}", import.ignored_columns.join(", "));
    }
    if !import.bad_rows.is_empty() {
        eprintln!("skipped {} bad rows (--skip-bad-rows):", import.bad_rows.len());
        for b in import.bad_rows.iter().take(common::data::csv::LISTED_BAD_ROWS) {
            eprintln!("  row {}, field {}: {}", b.row, b.field, b.reason);
        }
        if import.bad_rows.len() > common::data::csv::LISTED_BAD_ROWS {
            eprintln!("  … and {} more", import.bad_rows.len() - common::data::csv::LISTED_BAD_ROWS);
        }
    }
    let dropped_repeats = if keep_repeated_bars { Vec::new() } else { drop_repeated_bars(&mut bars) };
    if !dropped_repeats.is_empty() {
        eprintln!(
            "dropped {} rows repeating the previous bar on a weekend or holiday ({}); keep them with --keep-repeated-bars",
            dropped_repeats.len(),
            describe_dates(&dropped_repeats, 8)
        );
    }
    Ok(BarFile { bars, dropped_repeats, ignored_columns: import.ignored_columns, bad_rows: import.bad_rows })
}
