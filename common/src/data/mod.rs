//! Daily market data: the [`Bar`] type, CSV dialects, validation, calendar-fill removal and a
//! synthetic generator.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub mod csv;
pub mod reference;
pub mod repeats;
pub mod synthetic;
pub mod validate;

pub use self::csv::{detect_dialect, parse_csv, write_csv, Dialect};
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
        let crate::pb::Bar { date, open, high, low, close, volume, amount } = b;
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
            crate::Error::invalid(format!(
                "row {} ({date}), field date: bars[{i}].date `{date}` is not a date; use YYYY-MM-DD",
                i + 1
            ))
        })?;
        out.push(Bar { date, open, high, low, close, volume, amount });
    }
    validate_bars(&mut out)?;
    Ok(out)
}
