//! Each CSV dialect parses its fixture (common/tests/fixtures/) into the same bars.
use chrono::NaiveDate;
use common::data::{detect_dialect, parse_csv, write_csv, Bar, Dialect};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The five bars every dialect fixture holds (dates, OHLC, volume).
fn expected() -> Vec<(NaiveDate, [f64; 5])> {
    vec![
        (d("2024-01-02"), [10.00, 10.50, 9.80, 10.20, 120000.0]),
        (d("2024-01-03"), [10.20, 10.40, 10.00, 10.10, 98000.0]),
        (d("2024-01-04"), [10.10, 10.30, 9.90, 10.25, 105500.0]),
        (d("2024-01-05"), [10.25, 10.60, 10.20, 10.55, 150000.0]),
        (d("2024-01-08"), [10.55, 10.55, 10.30, 10.40, 87000.0]),
    ]
}

fn assert_bars(bars: &[Bar], amounts: Option<[f64; 5]>) {
    let want = expected();
    assert_eq!(bars.len(), want.len());
    for (i, (b, (date, v))) in bars.iter().zip(want).enumerate() {
        assert_eq!(b.date, date, "bar {i}");
        assert_eq!([b.open, b.high, b.low, b.close, b.volume], v, "bar {i}");
        assert_eq!(b.amount, amounts.map(|a| a[i]), "bar {i}");
    }
}

const AMOUNTS: [f64; 5] = [1224000.0, 989800.0, 1081375.0, 1582500.0, 904800.0];

#[test]
fn yahoo_with_bom_both_date_formats_and_extra_columns() {
    let text = fixture("yahoo.csv");
    assert!(text.starts_with('\u{feff}'), "fixture keeps its BOM");
    assert_bars(&parse_csv(&text).unwrap(), None);
}

#[test]
fn akshare_chinese_headers_with_turnover_as_amount() {
    assert_bars(&parse_csv(&fixture("akshare.csv")).unwrap(), Some(AMOUNTS));
}

#[test]
fn tushare_compact_dates_in_any_row_order() {
    assert_bars(&parse_csv(&fixture("tushare.csv")).unwrap(), Some(AMOUNTS));
}

#[test]
fn plain_with_whitespace_and_blank_lines() {
    assert_bars(&parse_csv(&fixture("plain.csv")).unwrap(), None);
}

#[test]
fn detection_reports_the_dialect() {
    let header = |name: &str| -> Vec<String> {
        fixture(name)
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        detect_dialect(&header("yahoo.csv")).unwrap(),
        Dialect::Yahoo
    );
    assert_eq!(
        detect_dialect(&header("akshare.csv")).unwrap(),
        Dialect::Akshare
    );
    assert_eq!(
        detect_dialect(&header("tushare.csv")).unwrap(),
        Dialect::Tushare
    );
    assert_eq!(
        detect_dialect(&header("plain.csv")).unwrap(),
        Dialect::Plain
    );
}

#[test]
fn unknown_header_names_the_accepted_dialects() {
    let err = parse_csv(&fixture("invalid_header.csv")).unwrap_err();
    assert!(matches!(err, common::Error::InvalidArgument(_)));
    let msg = err.to_string();
    for dialect in [
        "Yahoo",
        "akshare",
        "tushare",
        "plain",
        "Date,Open,High,Low,Close,Adj Close,Volume",
    ] {
        assert!(msg.contains(dialect), "{msg}");
    }
}

#[test]
fn written_csv_parses_back_identically() {
    let bars = parse_csv(&fixture("akshare.csv")).unwrap();
    for dialect in [Dialect::Akshare, Dialect::Tushare] {
        assert_eq!(
            parse_csv(&write_csv(&bars, dialect)).unwrap(),
            bars,
            "{dialect:?}"
        );
    }
    let no_amount: Vec<Bar> = bars.iter().map(|b| Bar { amount: None, ..*b }).collect();
    for dialect in [Dialect::Yahoo, Dialect::Plain] {
        assert_eq!(
            parse_csv(&write_csv(&bars, dialect)).unwrap(),
            no_amount,
            "{dialect:?}"
        );
    }
}
