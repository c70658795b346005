//! Daily market data: the [`Bar`] type, CSV dialects, validation and a synthetic generator.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub mod csv;
pub mod synthetic;
pub mod validate;

pub use self::csv::{detect_dialect, parse_csv, write_csv, Dialect};
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
