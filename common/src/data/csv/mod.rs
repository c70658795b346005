//! The accepted CSV dialects (SPEC §2), auto-detected from the header, and the rules for bad rows.
//!
//! | dialect | header | date format |
//! |---|---|---|
//! | Yahoo / yfinance | `Date,Open,High,Low,Close[,Adj Close],Volume[,Dividends,Stock Splits,Capital Gains]` | `YYYY-MM-DD` or `M/D/YYYY` |
//! | akshare | `日期,开盘,收盘,最高,最低,成交量[,成交额,...]` | `YYYY-MM-DD` (or `YYYY/MM/DD`) |
//! | tushare | `ts_code,trade_date,open,high,low,close,...,vol[,amount]` | `YYYYMMDD`, any row order |
//! | plain | `date,open,high,low,close,volume[,amount]` | `YYYY-MM-DD` |
//! | pandas index | the Yahoo, akshare or plain price columns after a first column with an empty name (`,Open,High,Low,Close,Volume`) | that column, as its dialect |
//!
//! Columns are found by name, so their order and extra columns do not matter; the columns no
//! field is read from (Yahoo's `Adj Close`, yfinance's `Dividends` / `Stock Splits` /
//! `Capital Gains`, an integer index) are listed in [`CsvImport::ignored_columns`]. Amount comes
//! from akshare `成交额`, tushare `amount` or plain `amount`; tushare units (lots, thousands of CNY)
//! are kept as given. A UTF-8 BOM, blank lines and whitespace around fields are tolerated.
//!
//! Except in tushare files, a date may carry a time of day after a `T` or a space: `HH:MM`,
//! `HH:MM:SS`, fractional seconds, and a `Z` or `±HH:MM` offset (`2024-01-02 00:00:00-05:00`, as
//! yfinance writes). The bar's date is the calendar date as written — the exchange's local date —
//! and is never converted to UTC ([`datetime`]). The time is the bar's close time and may vary
//! (13:00 on a half-day session), but each date must occur once: several rows of one day are
//! intraday data, which a daily bar cannot hold, and are refused naming both rows.
//!
//! A bad row (a missing or unreadable value, an unparseable date, a price that is not positive,
//! a high below max(open, close) beyond rounding, …: [`crate::data::validate::check_bar`])
//! refuses the whole file by default, naming row, field and what was expected
//! ([`OnBadRows::Refuse`]); with [`OnBadRows::Skip`] such rows are dropped and reported instead.
//! A date that occurs twice always refuses the file: which of the two rows is right cannot be
//! told.
//!
//! Parsing keeps every good row; rows that only repeat the previous bar on a day without trading
//! are removed by [`super::repeats::drop_repeated_bars`] where bars are ingested.
use std::collections::HashMap;

use chrono::NaiveDate;

mod datetime;
mod dialect;
mod write;

use self::dialect::{detect, locate, ACCEPTED};
pub use self::dialect::{detect_dialect, Dialect};
pub use self::write::write_csv;
use super::validate::{check_bar, duplicate_error, row_error, snap_rounding};
use super::Bar;
use crate::{Error, Result};

/// What a bad row does to the file it is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBadRows {
    /// Refuse the whole file, naming the first bad row (the default: nothing is written).
    #[default]
    Refuse,
    /// Drop each bad row and report it ([`CsvImport::bad_rows`]).
    Skip,
}

impl OnBadRows {
    /// `""` or `refuse` → Refuse, `skip` → Skip (the protocol's `on_bad_rows`).
    pub fn parse(s: &str) -> Result<OnBadRows> {
        match s.trim() {
            "" | "refuse" => Ok(OnBadRows::Refuse),
            "skip" => Ok(OnBadRows::Skip),
            other => Err(Error::invalid(format!(
                "on_bad_rows `{}` is not known; use `refuse` (the default: a bad row refuses the file) or `skip`",
                crate::text::clip(other)
            ))),
        }
    }
}

/// How many skipped rows a report lists one by one; the rest are counted.
pub const LISTED_BAD_ROWS: usize = 20;

/// A row dropped by [`OnBadRows::Skip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based data row (the header not counted), as in the refusal messages.
    pub row: usize,
    /// The column at fault, by its header name.
    pub field: String,
    /// What was wrong and what was expected.
    pub reason: String,
}

/// A parsed CSV file.
#[derive(Debug, Clone)]
pub struct CsvImport {
    /// The detected dialect.
    pub dialect: Dialect,
    /// The good rows' bars, sorted by date.
    pub bars: Vec<Bar>,
    /// Header columns that were not read (by name; `(unnamed)` for an empty name).
    pub ignored_columns: Vec<String>,
    /// Rows dropped as bad (only with [`OnBadRows::Skip`]), in file order.
    pub bad_rows: Vec<BadRow>,
}

impl CsvImport {
    /// The first [`LISTED_BAD_ROWS`] bad rows (a report lists these and counts the rest).
    pub fn listed_bad_rows(&self) -> &[BadRow] {
        &self.bad_rows[..self.bad_rows.len().min(LISTED_BAD_ROWS)]
    }
}

/// Parses CSV text in any accepted dialect (auto-detected), refusing the whole input at its first
/// bad row: [`read_csv`] with [`OnBadRows::Refuse`], bars only.
pub fn parse_csv(text: &str) -> Result<Vec<Bar>> {
    read_csv(text, OnBadRows::Refuse).map(|import| import.bars)
}

/// One row's failure: its field and what is wrong, with the date when it could be read.
struct RowFault {
    date: Option<String>,
    field: String,
    what: String,
}

/// Parses CSV text in any accepted dialect (auto-detected) and checks every row. With
/// [`OnBadRows::Refuse`] the first bad row rejects the whole input (1-based data row, header not
/// counted, and field named); with [`OnBadRows::Skip`] bad rows are dropped and listed. Either
/// way nothing partial is returned on error, and bars come back sorted by date with rounding in
/// high and low snapped ([`crate::data::validate::snap_rounding`]).
pub fn read_csv(text: &str, on_bad_rows: OnBadRows) -> Result<CsvImport> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = loop {
        match records.next() {
            None => {
                return Err(Error::invalid(format!(
                    "the CSV is empty: expected a header row; {ACCEPTED}"
                )))
            }
            Some(Err(e)) => {
                return Err(Error::invalid(format!("the CSV header is unreadable: {e}")))
            }
            Some(Ok(rec)) if rec.iter().all(|f| f.is_empty()) => continue,
            Some(Ok(rec)) => break rec.iter().map(str::to_string).collect(),
        }
    };
    let (dialect, index_dates) = detect(&header)?;
    let names = dialect.names();
    let cols = locate(&header, &names, index_dates);

    let mut bars = Vec::new();
    let mut bad_rows = Vec::new();
    // Rows with a time of day, by date (row, raw value): one row per date.
    let mut timed: HashMap<NaiveDate, (usize, String)> = HashMap::new();
    // Every date seen (row), for duplicates.
    let mut seen: HashMap<NaiveDate, usize> = HashMap::new();
    for (i, rec) in records.enumerate() {
        let row = i + 1;
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let fault = RowFault { date: None, field: "record".into(), what: format!("unreadable CSV record: {e}") };
                handle(on_bad_rows, row, fault, &mut bad_rows)?;
                continue;
            }
        };
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let (bar, time) = match read_row(&rec, dialect, &cols) {
            Ok(read) => read,
            Err(fault) => {
                handle(on_bad_rows, row, fault, &mut bad_rows)?;
                continue;
            }
        };
        if let Err((field, what)) = check_bar(&bar) {
            let fault = RowFault { date: Some(bar.date.to_string()), field: field.into(), what };
            handle(on_bad_rows, row, fault, &mut bad_rows)?;
            continue;
        }
        let raw_date = rec.get(cols.date).unwrap_or_default();
        if time.is_some() {
            if let Some((row0, raw0)) = timed.insert(bar.date, (row, raw_date.to_string())) {
                return Err(Error::invalid(format!(
                    "row {row} ({}), field {}: same day as row {row0} ({}); daily bars need one \
                     row per date (intraday data is not accepted)",
                    crate::text::clip(raw_date),
                    cols.date_name,
                    crate::text::clip(&raw0)
                )));
            }
        }
        if let Some(first) = seen.insert(bar.date, row) {
            return Err(duplicate_error(row, bar.date, first));
        }
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(Error::invalid(match bad_rows.len() {
            0 => "the CSV has a header but no data rows; add at least one bar".to_string(),
            n => format!(
                "every data row of the CSV is bad ({n} skipped; the first: row {}, field {}: {}); nothing to import",
                bad_rows[0].row, bad_rows[0].field, bad_rows[0].reason
            ),
        }));
    }
    bars.iter_mut().for_each(snap_rounding);
    bars.sort_by_key(|b| b.date);
    Ok(CsvImport { dialect, bars, ignored_columns: cols.ignored, bad_rows })
}

/// Refuses the file (`Refuse`) or records the row as skipped (`Skip`).
fn handle(on_bad_rows: OnBadRows, row: usize, fault: RowFault, bad_rows: &mut Vec<BadRow>) -> Result<()> {
    match on_bad_rows {
        OnBadRows::Refuse => {
            let e = match &fault.date {
                Some(date) => row_error(row, date, &fault.field, &fault.what),
                None => Error::invalid(format!("row {row}, field {}: {}; fix or drop the row", fault.field, fault.what)),
            };
            Err(Error::invalid(format!(
                "{e} (nothing was imported; on_bad_rows=skip or --skip-bad-rows drops bad rows and lists them)"
            )))
        }
        OnBadRows::Skip => {
            bad_rows.push(BadRow { row, field: fault.field, reason: fault.what });
            Ok(())
        }
    }
}

/// Reads one record's date (and time of day) and numbers.
fn read_row(
    rec: &::csv::StringRecord,
    dialect: Dialect,
    cols: &dialect::Columns,
) -> std::result::Result<(Bar, Option<chrono::NaiveTime>), RowFault> {
    let get = |idx: usize, name: &str, date: Option<&NaiveDate>| match rec.get(idx) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(RowFault {
            date: date.map(|d| d.to_string()),
            field: name.to_string(),
            what: "value is missing".to_string(),
        }),
    };
    let raw_date = get(cols.date, cols.date_name, None)?;
    let (date, time) = dialect.parse_date_time(raw_date).ok_or_else(|| RowFault {
        date: Some(crate::text::clip(raw_date)),
        field: cols.date_name.to_string(),
        what: format!("unparseable date, expected {}", dialect.date_format()),
    })?;
    let num = |idx: usize, name: &str| -> std::result::Result<f64, RowFault> {
        let s = get(idx, name, Some(&date))?;
        s.parse::<f64>().map_err(|_| RowFault {
            date: Some(date.to_string()),
            field: name.to_string(),
            what: format!("`{}` is not a number", crate::text::clip(s)),
        })
    };
    let names = dialect.names();
    let amount = match cols.amount {
        Some(idx) if rec.get(idx).is_some_and(|v| !v.is_empty()) => Some(num(idx, "amount")?),
        _ => None,
    };
    let bar = Bar {
        date,
        open: num(cols.open, names.open)?,
        high: num(cols.high, names.high)?,
        low: num(cols.low, names.low)?,
        close: num(cols.close, names.close)?,
        volume: num(cols.volume, names.volume)?,
        amount,
    };
    Ok((bar, time))
}

#[cfg(test)]
mod tests;
