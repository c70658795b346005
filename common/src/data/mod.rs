//! Daily market data: the [`Bar`] type, CSV dialects, validation, calendar-fill removal and a
//! synthetic generator.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub mod csv;
pub mod reference;
pub mod repeats;
pub mod synthetic;
pub mod validate;

pub use self::csv::{detect_dialect, parse_csv, read_csv, write_csv, BadRow, CsvImport, Dialect, OnBadRows};
pub use repeats::drop_repeated_bars;
pub use synthetic::{generate, SyntheticConfig};
pub use validate::validate_bars;

/// One trading day of OHLCV data for a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Trading date.
    pub date: NaiveDate,
    /// Opening price.
    pub open: f64,
    /// Highest price of the day.
    pub high: f64,
    /// Lowest price of the day.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Traded volume (shares or lots), `>= 0`.
    pub volume: f64,
    /// Traded amount (turnover), when the source has it.
    pub amount: Option<f64>,
}

/// Converts bars sent inline in a request (`lstm.v1.Bar`) and validates them as a whole with
/// [`validate_bars`] (sorted on success). A malformed date names both its 1-based row, like the
/// validation messages, and its index in the request's `bars` list.
pub fn bars_from_pb(bars: Vec<crate::pb::Bar>) -> crate::Result<Vec<Bar>> {
    let mut out = Vec::with_capacity(bars.len());
    for (i, b) in bars.into_iter().enumerate() {
        out.push(bar_from_pb(i, b)?);
    }
    validate_bars(&mut out)?;
    Ok(out)
}

/// [`bars_from_pb`] with a choice for bad bars: [`OnBadRows::Refuse`] is `bars_from_pb`;
/// [`OnBadRows::Skip`] drops each bar with a malformed date or one that fails
/// [`validate::check_bar`] and lists it (row = 1-based position in the request), as the CSV
/// reader does. A date sent twice still refuses the whole request.
pub fn read_pb_bars(bars: Vec<crate::pb::Bar>, on_bad_rows: OnBadRows) -> crate::Result<(Vec<Bar>, Vec<BadRow>)> {
    if on_bad_rows == OnBadRows::Refuse {
        return bars_from_pb(bars).map(|b| (b, Vec::new()));
    }
    let mut out = Vec::with_capacity(bars.len());
    let mut bad = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, b) in bars.into_iter().enumerate() {
        let row = i + 1;
        match bar_from_pb(i, b) {
            Err(e) => bad.push(BadRow { row, field: "date".into(), reason: e.to_string() }),
            Ok(bar) => match validate::check_bar(&bar) {
                Err((field, reason)) => bad.push(BadRow { row, field: field.into(), reason }),
                Ok(()) => {
                    if let Some(first) = seen.insert(bar.date, row) {
                        return Err(validate::duplicate_error(row, bar.date, first));
                    }
                    out.push(bar)
                }
            },
        }
    }
    if out.is_empty() {
        return Err(crate::Error::invalid(format!(
            "every bar of the request is bad ({} skipped; the first: row {}, field {}: {}); nothing to ingest",
            bad.len(),
            bad[0].row,
            bad[0].field,
            bad[0].reason
        )));
    }
    // Every kept bar passed check_bar and the duplicate check above: only snap and sort remain.
    out.iter_mut().for_each(validate::snap_rounding);
    out.sort_by_key(|b| b.date);
    Ok((out, bad))
}

fn bar_from_pb(i: usize, b: crate::pb::Bar) -> crate::Result<Bar> {
    let crate::pb::Bar { date, open, high, low, close, volume, amount } = b;
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
        crate::Error::invalid(format!(
            "row {} ({date}), field date: bars[{i}].date `{date}` is not a date; use YYYY-MM-DD",
            i + 1,
            date = crate::text::clip(&date)
        ))
    })?;
    Ok(Bar { date, open, high, low, close, volume, amount })
}
