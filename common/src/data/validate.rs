//! Validation of bars (SPEC §2): reject the whole input with a message naming row and field.
use std::collections::HashMap;

use chrono::{Days, NaiveDate, Utc};

use super::Bar;
use crate::{Error, Result};

/// Earliest accepted bar date.
pub const MIN_BAR_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};
/// Days after today (UTC) a bar date may lie (time zones, exchange calendars ahead of UTC).
pub const MAX_FUTURE_DAYS: u64 = 30;
/// Largest accepted open / high / low / close.
pub const MAX_PRICE: f64 = 1e9;
/// Largest accepted volume.
pub const MAX_VOLUME: f64 = 1e15;
/// Largest accepted amount (turnover).
pub const MAX_AMOUNT: f64 = 1e18;

/// Checks a bar is plausible for a daily market series: its date within [`MIN_BAR_DATE`] ..=
/// today + [`MAX_FUTURE_DAYS`] and its magnitudes at most [`MAX_PRICE`] / [`MAX_VOLUME`] /
/// [`MAX_AMOUNT`]. Returns the offending field and what is wrong with it.
pub fn check_plausible(b: &Bar) -> std::result::Result<(), (&'static str, String)> {
    let latest = Utc::now().date_naive() + Days::new(MAX_FUTURE_DAYS);
    if b.date < MIN_BAR_DATE || b.date > latest {
        return Err((
            "date",
            format!("{} is outside the plausible range {MIN_BAR_DATE}..={latest}", b.date),
        ));
    }
    for (field, v) in [("open", b.open), ("high", b.high), ("low", b.low), ("close", b.close)] {
        if v > MAX_PRICE {
            return Err((field, format!("{v:e} is above the largest plausible price {MAX_PRICE:e}")));
        }
    }
    if b.volume > MAX_VOLUME {
        return Err(("volume", format!("{:e} is above the largest plausible volume {MAX_VOLUME:e}", b.volume)));
    }
    if let Some(a) = b.amount.filter(|a| *a > MAX_AMOUNT) {
        return Err(("amount", format!("{a:e} is above the largest plausible amount {MAX_AMOUNT:e}")));
    }
    Ok(())
}

/// Error for input row `row` (1-based, input order) on `date`, field `field`.
pub(crate) fn row_error(
    row: usize,
    date: impl std::fmt::Display,
    field: &str,
    what: &str,
) -> Error {
    Error::invalid(format!(
        "row {row} ({date}), field {field}: {what}; fix or drop the row"
    ))
}

/// Relative tolerance of the OHLC consistency checks: a high below max(open, close) (or a low
/// above min(open, close)) by at most this share of the price is rounding (adjusted prices
/// written as `3395.852050781249` and `3395.85205078125`), not a bad bar.
pub const OHLC_TOLERANCE: f64 = 1e-9;

/// Checks one bar on its own: finite, positive prices; a finite non-negative volume (and amount);
/// high and low consistent with open and close up to [`OHLC_TOLERANCE`]; plausible
/// ([`check_plausible`]). Returns the offending field and what is wrong with it.
pub fn check_bar(b: &Bar) -> std::result::Result<(), (&'static str, String)> {
    for (field, v) in [("open", b.open), ("high", b.high), ("low", b.low), ("close", b.close)] {
        if !v.is_finite() {
            return Err((field, format!("{v} is not a finite number")));
        }
        if v <= 0.0 {
            return Err((field, format!("{v} is not a positive price")));
        }
    }
    if !b.volume.is_finite() || b.volume < 0.0 {
        return Err(("volume", format!("{} is not a finite non-negative number", b.volume)));
    }
    if let Some(a) = b.amount {
        if !a.is_finite() || a < 0.0 {
            return Err(("amount", format!("{a} is not a finite non-negative number")));
        }
    }
    check_plausible(b)?;
    let top = b.open.max(b.close);
    if b.high < top * (1.0 - OHLC_TOLERANCE) {
        return Err(("high", format!("{} is below max(open, close) = {top}", b.high)));
    }
    let bottom = b.open.min(b.close);
    if b.low > bottom * (1.0 + OHLC_TOLERANCE) {
        return Err(("low", format!("{} is above min(open, close) = {bottom}", b.low)));
    }
    Ok(())
}

/// Moves a high or low that [`check_bar`] let through as rounding onto max(open, close) or
/// min(open, close), so every stored bar has `low <= min(open, close)` and
/// `high >= max(open, close)` exactly.
pub fn snap_rounding(b: &mut Bar) {
    b.high = b.high.max(b.open.max(b.close));
    b.low = b.low.min(b.open.min(b.close));
}

/// Checks every bar and sorts them by date, or rejects the whole input.
///
/// Rejected (Error::InvalidArgument, message `row R (DATE), field F: ...; fix or drop the row`,
/// rows numbered 1-based in input order): a bar that fails [`check_bar`] (a non-finite or
/// non-positive open / high / low / close, a negative or non-finite volume or amount,
/// `high < max(open, close)` or `low > min(open, close)` beyond [`OHLC_TOLERANCE`], an
/// implausible date or magnitude) and a date that occurs twice (named on its second occurrence).
/// On error `bars` is left as it was; on success it is sorted by date and rounding is snapped
/// ([`snap_rounding`]).
#[allow(clippy::ptr_arg)] // `&mut Vec` is the signature the other crates call.
pub fn validate_bars(bars: &mut Vec<Bar>) -> Result<()> {
    let mut seen: HashMap<chrono::NaiveDate, usize> = HashMap::with_capacity(bars.len());
    for (i, b) in bars.iter().enumerate() {
        let row = i + 1;
        if let Err((field, what)) = check_bar(b) {
            return Err(row_error(row, b.date, field, &what));
        }
        if let Some(first) = seen.insert(b.date, row) {
            return Err(duplicate_error(row, b.date, first));
        }
    }
    bars.iter_mut().for_each(snap_rounding);
    bars.sort_by_key(|b| b.date);
    Ok(())
}

/// Error for a date seen a second time, on row `row`, first on row `first`.
pub(crate) fn duplicate_error(row: usize, date: NaiveDate, first: usize) -> Error {
    row_error(row, date, "date", &format!("duplicate of row {first}; each date may appear once"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn bar(day: u32, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar {
            date: NaiveDate::from_ymd_opt(2024, 3, day).unwrap(),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
            amount: None,
        }
    }

    #[test]
    fn impossible_dates_are_refused_with_row_and_field() {
        let good = bar(1, 10.0, 11.0, 9.0, 10.5, 100.0);
        for (date, shown) in [(NaiveDate::MIN, "row 2"), (NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(), "row 2")] {
            let mut bars = vec![good, Bar { date, ..good }];
            let e = validate_bars(&mut bars).unwrap_err().to_string();
            assert!(e.starts_with(shown) && e.contains("field date") && e.contains("plausible range"), "{e}");
        }
        let mut ok = vec![Bar { date: NaiveDate::from_ymd_opt(1900, 1, 2).unwrap(), ..good }, good];
        validate_bars(&mut ok).unwrap();
    }

    #[test]
    fn sorts_valid_input() {
        let mut bars = vec![
            bar(5, 10.0, 11.0, 9.0, 10.5, 100.0),
            bar(4, 10.0, 10.0, 10.0, 10.0, 0.0),
        ];
        validate_bars(&mut bars).unwrap();
        assert_eq!(bars[0].date.to_string(), "2024-03-04");
    }

    #[test]
    fn messages_name_row_and_field() {
        let good = bar(1, 10.0, 11.0, 9.0, 10.5, 100.0);
        let cases = [
            (bar(5, 10.0, 9.5, 9.0, 10.1, 1.0), "row 2 (2024-03-05), field high: 9.5 is below max(open, close) = 10.1; fix or drop the row"),
            (bar(5, 10.0, 11.0, 10.05, 10.1, 1.0), "row 2 (2024-03-05), field low: 10.05 is above min(open, close) = 10"),
            (bar(5, f64::NAN, 11.0, 9.0, 10.1, 1.0), "row 2 (2024-03-05), field open: NaN is not a finite number"),
            (bar(5, 10.0, 11.0, 9.0, 0.0, 1.0), "row 2 (2024-03-05), field close: 0 is not a positive price"),
            (bar(5, 10.0, 11.0, -9.0, 10.0, 1.0), "row 2 (2024-03-05), field low: -9 is not a positive price"),
            (bar(5, 10.0, 11.0, 9.0, 10.0, -1.0), "row 2 (2024-03-05), field volume: -1 is not"),
            (bar(5, 10.0, 11.0, 9.0, 10.0, f64::INFINITY), "row 2 (2024-03-05), field volume: inf is not"),
            (bar(1, 10.0, 11.0, 9.0, 10.0, 1.0), "row 2 (2024-03-01), field date: duplicate of row 1"),
            (bar(5, 10.0, 1e300, 9.0, 10.0, 1.0), "row 2 (2024-03-05), field high: 1e300 is above the largest plausible price 1e9"),
            (bar(5, 10.0, 11.0, 9.0, 10.0, 1e300), "row 2 (2024-03-05), field volume: 1e300 is above"),
            (Bar { amount: Some(1e19), ..good }, "row 2 (2024-03-01), field amount: 1e19 is above"),
        ];
        for (b, want) in cases {
            let mut bars = vec![good, b];
            let err = validate_bars(&mut bars).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)));
            assert!(err.to_string().starts_with(want), "{err} !~ {want}");
            let dates: Vec<_> = bars.iter().map(|x| x.date).collect();
            assert_eq!(
                dates,
                vec![good.date, b.date],
                "input left untouched on error"
            );
        }
    }

    #[test]
    fn rounding_is_not_a_bad_bar_but_beyond_it_is() {
        // The pair from a real yfinance export of adjusted prices.
        let b = bar(5, 3390.0, 3395.852050781249, 3380.0, 3395.85205078125, 1.0);
        let mut bars = vec![b];
        validate_bars(&mut bars).unwrap();
        assert_eq!(bars[0].high, 3395.85205078125, "snapped onto the close");
        let low = bar(5, 3390.0, 3400.0, 3390.0 * (1.0 + 1e-12), 3395.0, 1.0);
        let mut bars = vec![low];
        validate_bars(&mut bars).unwrap();
        assert_eq!(bars[0].low, 3390.0);
        let beyond = bar(5, 3390.0, 3395.0 * (1.0 - 1e-8), 3380.0, 3395.0, 1.0);
        let e = validate_bars(&mut vec![beyond]).unwrap_err().to_string();
        assert!(e.contains("field high") && e.contains("below max(open, close)"), "{e}");
    }
}
