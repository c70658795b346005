//! The model key: a `(symbol, years)` pair and the one set of rules both services and the
//! registry check it by.
//!
//! A symbol is 1–[`MAX_SYMBOL_LEN`] characters of ASCII letters, digits, `.`, `-` and `_`
//! (`AAPL`, `600519.SH`, `BRK-B`); `years` is 1–[`MAX_YEARS`]. Request fields are trimmed before
//! the check ([`validate_symbol`]); the registry checks the exact string it is given
//! ([`check_symbol`]), so a key stored through any path obeys the same limits.
use std::fmt;

use crate::{Error, Result};

/// Longest symbol a key may have.
pub const MAX_SYMBOL_LEN: usize = 32;
/// Largest `years` a model key may have.
pub const MAX_YEARS: u32 = 10;

/// A validated model key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelKey {
    /// The ticker, as validated.
    pub symbol: String,
    /// Years of history the model is trained on.
    pub years: u32,
}

impl ModelKey {
    /// A key from request fields: the symbol trimmed, absent years meaning 1.
    pub fn parse(symbol: &str, years: Option<u32>) -> Result<ModelKey> {
        Ok(ModelKey { symbol: validate_symbol(symbol)?, years: validate_years(years)? })
    }
}

impl fmt::Display for ModelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}y", self.symbol, self.years)
    }
}

/// Checks a request's ticker against the key rules after trimming it; returns it trimmed.
pub fn validate_symbol(symbol: &str) -> Result<String> {
    let s = symbol.trim();
    if s.is_empty() {
        return Err(Error::invalid("symbol is required, e.g. \"AAPL\" or \"600519\""));
    }
    check_symbol(s)?;
    Ok(s.to_string())
}

/// Checks the `years` of a request: absent means 1; otherwise 1..=[`MAX_YEARS`].
pub fn validate_years(years: Option<u32>) -> Result<u32> {
    let y = years.unwrap_or(1);
    check_years(y)?;
    Ok(y)
}

/// Checks a symbol exactly as given (no trimming) against the key rules.
pub fn check_symbol(symbol: &str) -> Result<()> {
    let ok = !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL_LEN
        && symbol.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "symbol `{}` is invalid: use 1-{MAX_SYMBOL_LEN} letters, digits, '.', '-' or '_'",
        crate::text::clip(symbol)
    )))
}

/// Checks `years` is within 1..=[`MAX_YEARS`].
pub fn check_years(years: u32) -> Result<()> {
    if (1..=MAX_YEARS).contains(&years) {
        return Ok(());
    }
    Err(Error::invalid(format!("years must be between 1 and {MAX_YEARS}, got {years}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_set_for_requests_and_the_registry() {
        assert_eq!(validate_symbol("  600519.SH ").unwrap(), "600519.SH");
        assert!(check_symbol(" AAPL").is_err(), "the registry takes no untrimmed symbol");
        for bad in ["", "A B", "A/B", "Ä", &"X".repeat(MAX_SYMBOL_LEN + 1)] {
            assert!(check_symbol(bad).is_err(), "{bad:?}");
            assert!(validate_symbol(bad).is_err(), "{bad:?}");
        }
        assert!(check_symbol(&"X".repeat(MAX_SYMBOL_LEN)).is_ok());
        assert_eq!(validate_years(None).unwrap(), 1);
        assert!(validate_years(Some(0)).is_err() && check_years(MAX_YEARS + 1).is_err());
        let k = ModelKey::parse(" BRK-B", Some(3)).unwrap();
        assert_eq!((k.symbol.as_str(), k.years, k.to_string()), ("BRK-B", 3, "BRK-B/3y".to_string()));
    }
}
