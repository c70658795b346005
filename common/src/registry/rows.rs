//! Decoding helpers that paper over backend differences of `AnyRow` values.
//!
//! MySQL reports `TEXT`/`LONGTEXT` columns as blobs through the `Any` driver, so text is read as
//! a string or, failing that, as UTF-8 bytes. Dates are `YYYY-MM-DD` text and timestamps are UTC
//! epoch milliseconds.
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Error, Result};

/// Text column (any backend).
pub(crate) fn text(row: &AnyRow, i: usize) -> Result<String> {
    match row.try_get::<String, _>(i) {
        Ok(s) => Ok(s),
        Err(_) => {
            let b: Vec<u8> = row.try_get(i)?;
            String::from_utf8(b)
                .map_err(|e| Error::Corrupt(format!("registry column {i} is not UTF-8: {e}")))
        }
    }
}

/// Nullable text column.
pub(crate) fn opt_text(row: &AnyRow, i: usize) -> Result<Option<String>> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(s) => Ok(s),
        Err(_) => {
            let b: Option<Vec<u8>> = row.try_get(i)?;
            b.map(|b| {
                String::from_utf8(b)
                    .map_err(|e| Error::Corrupt(format!("registry column {i} is not UTF-8: {e}")))
            })
            .transpose()
        }
    }
}

/// Integer column.
pub(crate) fn int(row: &AnyRow, i: usize) -> Result<i64> {
    Ok(row.try_get::<i64, _>(i)?)
}

/// Nullable integer column.
pub(crate) fn opt_int(row: &AnyRow, i: usize) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(i)?)
}

/// Floating-point column.
pub(crate) fn float(row: &AnyRow, i: usize) -> Result<f64> {
    Ok(row.try_get::<f64, _>(i)?)
}

/// Nullable floating-point column.
pub(crate) fn opt_float(row: &AnyRow, i: usize) -> Result<Option<f64>> {
    Ok(row.try_get::<Option<f64>, _>(i)?)
}

/// Blob column.
pub(crate) fn blob(row: &AnyRow, i: usize) -> Result<Vec<u8>> {
    Ok(row.try_get::<Vec<u8>, _>(i)?)
}

/// `years` column as `u32`.
pub(crate) fn years(row: &AnyRow, i: usize) -> Result<u32> {
    let y = int(row, i)?;
    u32::try_from(y).map_err(|_| Error::Corrupt(format!("stored years {y} is out of range")))
}

/// `YYYY-MM-DD` text column.
pub(crate) fn date(row: &AnyRow, i: usize) -> Result<NaiveDate> {
    parse_date(&text(row, i)?)
}

/// Parses a stored date.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| Error::Corrupt(format!("stored date '{s}' is not YYYY-MM-DD: {e}")))
}

/// Formats a date for storage.
pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Epoch-milliseconds column.
pub(crate) fn ts(row: &AnyRow, i: usize) -> Result<DateTime<Utc>> {
    from_ms(int(row, i)?)
}

/// Nullable epoch-milliseconds column.
pub(crate) fn opt_ts(row: &AnyRow, i: usize) -> Result<Option<DateTime<Utc>>> {
    opt_int(row, i)?.map(from_ms).transpose()
}

/// Epoch milliseconds to a UTC time.
pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Error::Corrupt(format!("stored timestamp {ms} ms is out of range")))
}

/// Now as UTC epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
