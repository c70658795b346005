//! Settings and request-field validation shared by both services.
use chrono::NaiveDate;

use crate::{Error, Result};

/// Registry used when neither `--database-url` nor `DATABASE_URL` is given (SPEC §12).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/registry.db";
/// Default gRPC address of trainer-svc.
pub const DEFAULT_TRAINER_ADDR: &str = "127.0.0.1:50051";
/// Default gRPC address of predictor-svc.
pub const DEFAULT_PREDICTOR_ADDR: &str = "127.0.0.1:50052";
/// Default Prometheus address of trainer-svc.
pub const DEFAULT_TRAINER_METRICS_ADDR: &str = "127.0.0.1:9090";
/// Default Prometheus address of predictor-svc.
pub const DEFAULT_PREDICTOR_METRICS_ADDR: &str = "127.0.0.1:9091";
pub use crate::key::{validate_symbol, validate_years, MAX_YEARS};

/// Parses an optional `YYYY-MM-DD` request field; empty means absent.
pub fn parse_optional_date(field: &str, value: &str) -> Result<Option<NaiveDate>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            Error::invalid(format!("{field} `{}` is not a date; use YYYY-MM-DD", crate::text::clip(v)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert_eq!(validate_symbol(" AAPL ").unwrap(), "AAPL");
        assert_eq!(validate_symbol("600519.SH").unwrap(), "600519.SH");
        assert!(validate_symbol("").unwrap_err().to_string().contains("required"));
        assert!(validate_symbol("DROP TABLE").unwrap_err().to_string().contains("invalid"));
    }

    #[test]
    fn years_and_dates() {
        assert_eq!(validate_years(None).unwrap(), 1);
        assert_eq!(validate_years(Some(3)).unwrap(), 3);
        assert!(validate_years(Some(0)).unwrap_err().to_string().contains("between 1 and 10, got 0"));
        assert_eq!(parse_optional_date("end", "").unwrap(), None);
        assert!(parse_optional_date("end", "2024-13-01").unwrap_err().to_string().contains("end `2024-13-01`"));
    }
}
