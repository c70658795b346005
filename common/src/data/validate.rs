//! Validation of bars (SPEC §2): reject the whole input with a message naming row and field.
use std::collections::HashMap;

use super::Bar;
use crate::{Error, Result};

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

/// Checks every bar and sorts them by date, or rejects the whole input.
///
/// Rejected (Error::InvalidArgument, message `row R (DATE), field F: ...; fix or drop the row`,
/// rows numbered 1-based in input order): a non-finite or non-positive open / high / low / close,
/// a negative or non-finite volume (or amount, when present), `high < max(open, close)`,
/// `low > min(open, close)`, and a date that occurs twice (named on its second occurrence).
/// On error `bars` is left as it was; on success it is sorted by date.
#[allow(clippy::ptr_arg)] // `&mut Vec` is the signature the other crates call.
pub fn validate_bars(bars: &mut Vec<Bar>) -> Result<()> {
    let mut seen: HashMap<chrono::NaiveDate, usize> = HashMap::with_capacity(bars.len());
    for (i, b) in bars.iter().enumerate() {
        let row = i + 1;
        for (field, v) in [
            ("open", b.open),
            ("high", b.high),
            ("low", b.low),
            ("close", b.close),
        ] {
            if !v.is_finite() {
                return Err(row_error(
                    row,
                    b.date,
                    field,
                    &format!("{v} is not a finite number"),
                ));
            }
            if v <= 0.0 {
                return Err(row_error(
                    row,
                    b.date,
                    field,
                    &format!("{v} is not a positive price"),
                ));
            }
        }
        if !b.volume.is_finite() || b.volume < 0.0 {
            return Err(row_error(
                row,
                b.date,
                "volume",
                &format!("{} is not a finite non-negative number", b.volume),
            ));
        }
        if let Some(a) = b.amount {
            if !a.is_finite() || a < 0.0 {
                return Err(row_error(
                    row,
                    b.date,
                    "amount",
                    &format!("{a} is not a finite non-negative number"),
                ));
            }
        }
        let top = b.open.max(b.close);
        if b.high < top {
            return Err(row_error(
                row,
                b.date,
                "high",
                &format!("{} is below max(open, close) = {top}", b.high),
            ));
        }
        let bottom = b.open.min(b.close);
        if b.low > bottom {
            return Err(row_error(
                row,
                b.date,
                "low",
                &format!("{} is above min(open, close) = {bottom}", b.low),
            ));
        }
        if let Some(first) = seen.insert(b.date, row) {
            return Err(row_error(
                row,
                b.date,
                "date",
                &format!("duplicate of row {first}; each date may appear once"),
            ));
        }
    }
    bars.sort_by_key(|b| b.date);
    Ok(())
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
}
