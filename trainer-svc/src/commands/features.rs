//! The computation behind `trainer-svc features --csv F [--end DATE]` (SPEC §12): the raw
//! 60-day feature window of a CSV file, as CSV text.
use chrono::NaiveDate;
use common::data::parse_csv;
use common::features::{window_ending_at, FeatureConfig, FEATURES, N_FEATURES, SEQ_LEN};
use common::{Error, Result};

/// Parses `csv_text` (any accepted dialect), cuts the 60-day window ending at `end` (or at the
/// last bar) and returns it as CSV: header `date,` + the 21 English feature names in SPEC order,
/// then 60 rows, oldest first, each `YYYY-MM-DD` + 21 values with 8 decimals. Values are raw,
/// before standardisation (window-local columns normalised within the window, SPEC §3).
///
/// Errors: invalid CSV → InvalidArgument (row + field); `end` not a bar date → InvalidArgument
/// naming the file's date range; fewer than 60 bars up to `end` → InsufficientData.
pub fn features_csv(csv_text: &str, end: Option<NaiveDate>) -> Result<String> {
    let bars = parse_csv(csv_text)?;
    let (first, last) = match (bars.first(), bars.last()) {
        (Some(f), Some(l)) => (f.date, l.date),
        _ => return Err(Error::invalid("the CSV has no bars")),
    };
    let end_idx = match end {
        None => bars.len() - 1,
        Some(date) => bars.binary_search_by_key(&date, |b| b.date).map_err(|_| {
            Error::invalid(format!(
                "--end {date} is not a trading day in the file (it has {} bars from {first} to \
                 {last}); pick one of its dates",
                bars.len()
            ))
        })?,
    };
    let window = window_ending_at(&bars, end_idx, &FeatureConfig::default())?;
    let mut out = String::with_capacity((SEQ_LEN + 1) * (N_FEATURES * 12 + 12));
    out.push_str("date");
    for f in &FEATURES {
        out.push(',');
        out.push_str(f.name);
    }
    out.push('\n');
    for (bar, row) in bars[end_idx + 1 - SEQ_LEN..=end_idx]
        .iter()
        .zip(window.chunks(N_FEATURES))
    {
        out.push_str(&bar.date.format("%Y-%m-%d").to_string());
        for v in row {
            out.push_str(&format!(",{v:.8}"));
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::data::{generate, write_csv, Dialect, SyntheticConfig};

    fn bars() -> Vec<common::data::Bar> {
        generate(&SyntheticConfig {
            days: 90,
            seed: 4,
            ..SyntheticConfig::default()
        })
    }

    #[test]
    fn prints_60_rows_of_date_plus_21_features_ending_at_the_last_day() {
        let bars = bars();
        let out = features_csv(&write_csv(&bars, Dialect::Plain), None).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 61);
        assert!(lines[0].starts_with("date,close_norm,volume_norm,rsi,"));
        assert!(lines[0].ends_with(",volume_change,pv_divergence"));
        assert!(lines.iter().all(|l| l.split(',').count() == 22));
        assert!(lines[60].starts_with(&bars[89].date.to_string()));
        assert!(lines[1].starts_with(&bars[30].date.to_string()));
        // The values are the library's window, printed with 8 decimals.
        let w = window_ending_at(&bars, 89, &FeatureConfig::default()).unwrap();
        let last: Vec<f32> = lines[60]
            .split(',')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        for (a, b) in last.iter().zip(&w[59 * N_FEATURES..]) {
            assert!((a - b).abs() <= 1e-8 + 1e-6 * b.abs(), "{a} vs {b}");
        }
    }

    #[test]
    fn yahoo_and_akshare_files_of_the_same_bars_print_the_same_window() {
        let bars = bars();
        let end = Some(bars[70].date);
        let yahoo = features_csv(&write_csv(&bars, Dialect::Yahoo), end).unwrap();
        let akshare = features_csv(&write_csv(&bars, Dialect::Akshare), end).unwrap();
        assert_eq!(yahoo, akshare);
        assert!(yahoo
            .lines()
            .last()
            .unwrap()
            .starts_with(&bars[70].date.to_string()));
    }

    #[test]
    fn bad_end_dates_are_explained() {
        let bars = bars();
        let text = write_csv(&bars, Dialect::Plain);
        let saturday = NaiveDate::from_ymd_opt(2015, 1, 3).unwrap();
        let e = features_csv(&text, Some(saturday)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(
            e.to_string()
                .contains("is not a trading day in the file (it has 90 bars from 2015-01-02"),
            "{e}"
        );
        let e = features_csv(&text, Some(bars[10].date)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "insufficient data: need at least 60 trading days, got 11"
        );
        let e = features_csv("nope\n1\n", None).unwrap_err();
        assert!(e.to_string().contains("unrecognised CSV header"));
    }
}
