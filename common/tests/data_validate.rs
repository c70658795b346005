//! Each validation rule rejects its fixture with a message naming row and field; nothing partial
//! is returned (the result is an error, not a shorter list).
use common::data::parse_csv;
use common::Error;

/// What every refusal of a bad row adds: nothing was written, and how to skip such rows.
const HINT: &str = " (nothing was imported; on_bad_rows=skip or --skip-bad-rows drops bad rows and lists them)";

/// The message without [`HINT`], which a bad row's refusal must end with (a duplicate date,
/// which skipping cannot fix, has none).
fn without_hint(e: Error) -> String {
    let msg = e.to_string();
    let dup = msg.contains("duplicate of row");
    match msg.strip_suffix(HINT) {
        Some(m) if !dup => m.to_string(),
        None if dup => msg,
        _ => panic!("hint wrong in {msg}"),
    }
}

fn reject(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    match parse_csv(&text) {
        Err(e @ Error::InvalidArgument(_)) => without_hint(e),
        other => panic!("{name}: expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn high_below_max_open_close() {
    assert_eq!(
        reject("invalid_high.csv"),
        "row 3 (2024-01-04), field high: 10.2 is below max(open, close) = 10.25; fix or drop the row"
    );
}

#[test]
fn low_above_min_open_close() {
    assert_eq!(
        reject("invalid_low.csv"),
        "row 2 (2024-01-03), field low: 10.15 is above min(open, close) = 10.1; fix or drop the row"
    );
}

#[test]
fn non_positive_price() {
    assert_eq!(
        reject("invalid_nonpositive_price.csv"),
        "row 2 (2024-01-03), field open: 0 is not a positive price; fix or drop the row"
    );
}

#[test]
fn non_finite_price() {
    assert_eq!(
        reject("invalid_nonfinite_price.csv"),
        "row 2 (2024-01-03), field close: NaN is not a finite number; fix or drop the row"
    );
}

#[test]
fn negative_volume() {
    assert_eq!(
        reject("invalid_negative_volume.csv"),
        "row 2 (2024-01-03), field volume: -5 is not a finite non-negative number; fix or drop the row"
    );
}

#[test]
fn duplicate_date_names_both_rows() {
    assert_eq!(
        reject("invalid_duplicate_date.csv"),
        "row 3 (2024-01-03), field date: duplicate of row 1; each date may appear once; fix or drop the row"
    );
}

#[test]
fn unparseable_date() {
    assert_eq!(
        reject("invalid_date.csv"),
        "row 2 (2024-13-03), field date: unparseable date, expected YYYY-MM-DD, optionally followed by a time HH:MM[:SS[.fff]][Z|±HH:MM]; fix or drop the row"
    );
}

#[test]
fn non_numeric_field() {
    assert_eq!(
        reject("invalid_number.csv"),
        "row 2 (2024-01-03), field high: `ten` is not a number; fix or drop the row"
    );
}

#[test]
fn missing_value_and_short_rows() {
    let e = parse_csv("date,open,high,low,close,volume\n2024-01-02,1,1,1,1\n").unwrap_err();
    assert_eq!(without_hint(e), "row 1 (2024-01-02), field volume: value is missing; fix or drop the row");
    let e = parse_csv("Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,1,1,1,1,null\n")
        .unwrap_err();
    assert_eq!(without_hint(e), "row 1 (2024-01-02), field Volume: `null` is not a number; fix or drop the row");
}

#[test]
fn inline_bars_refuse_or_skip_bad_ones_like_the_csv_reader() {
    use common::data::{read_pb_bars, OnBadRows};
    let bar = |date: &str, high: f64| common::pb::Bar {
        date: date.into(),
        open: 10.0,
        high,
        low: 9.0,
        close: 10.5,
        volume: 100.0,
        amount: None,
    };
    let bars = vec![bar("2024-01-03", 11.0), bar("2024-01-02", 9.5), bar("not a date", 11.0), bar("2024-01-04", 10.5 * (1.0 - 1e-12))];
    // Refused by default (dates are read before the bars are checked, so the bad date is named).
    let e = read_pb_bars(bars.clone(), OnBadRows::Refuse).unwrap_err().to_string();
    assert!(e.starts_with("row 3 (not a date), field date"), "{e}");
    let e = read_pb_bars(vec![bar("2024-01-03", 11.0), bar("2024-01-02", 9.5)], OnBadRows::Refuse).unwrap_err().to_string();
    assert!(e.starts_with("row 2 (2024-01-02), field high"), "{e}");
    // Skipped and listed; the rest sorted, rounding snapped onto the close.
    let (kept, bad) = read_pb_bars(bars, OnBadRows::Skip).unwrap();
    let dates: Vec<String> = kept.iter().map(|b| b.date.to_string()).collect();
    assert_eq!(dates, ["2024-01-03", "2024-01-04"]);
    assert_eq!(kept[1].high, 10.5);
    assert_eq!(bad.iter().map(|b| (b.row, b.field.as_str())).collect::<Vec<_>>(), [(2, "high"), (3, "date")]);
    // A date sent twice refuses the request even when skipping.
    let dup = vec![bar("2024-01-02", 11.0), bar("2024-01-02", 11.0)];
    assert!(read_pb_bars(dup, OnBadRows::Skip).unwrap_err().to_string().contains("duplicate of row 1"));
    // Nothing good left: an error.
    assert!(read_pb_bars(vec![bar("x", 11.0)], OnBadRows::Skip).unwrap_err().to_string().contains("every bar of the request is bad"));
}
