//! Windows, samples and targets: shapes, SPEC §3 ranges (property tests), errors.
use chrono::{Days, NaiveDate};
use common::data::{generate, validate_bars, Bar, SyntheticConfig};
use common::features::{
    build_samples, col, indicator_table, latest_window, window_ending_at, FeatureConfig, NormStats,
    FORECAST_DAYS, N_FEATURES, SEQ_LEN,
};
use common::Error;
use proptest::prelude::*;

fn synthetic(days: usize, seed: u64) -> Vec<Bar> {
    generate(&SyntheticConfig {
        days,
        seed,
        ..SyntheticConfig::default()
    })
}

/// Any valid daily series: positive prices with OHLC consistency, volumes ≥ 0 (zeros and
/// repeated values included so flat windows and zero volumes occur).
fn valid_series(min_days: usize) -> impl Strategy<Value = Vec<Bar>> {
    let day = (
        -0.08f64..0.08, // close-to-close return
        -0.02f64..0.02, // open gap
        0.0f64..0.03,   // extra high
        0.0f64..0.03,   // extra low
        prop_oneof![3 => 0.0f64..5e6, 1 => Just(0.0), 1 => Just(1000.0)],
        prop::bool::weighted(0.1), // unchanged close
    );
    prop::collection::vec(day, min_days..min_days + 120).prop_map(|days| {
        let d0 = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let mut prev = 50.0;
        let mut bars = Vec::with_capacity(days.len());
        for (i, (r, g, up, dn, v, flat)) in days.into_iter().enumerate() {
            let close = if flat { prev } else { prev * (1.0 + r) };
            let open = prev * (1.0 + g);
            bars.push(Bar {
                date: d0 + Days::new(i as u64),
                open,
                high: open.max(close) * (1.0 + up),
                low: open.min(close) * (1.0 - dn),
                close,
                volume: v.round(),
                amount: None,
            });
            prev = close;
        }
        bars
    })
}

fn in_range(v: f32, lo: f32, hi: f32) -> bool {
    v.is_finite() && v >= lo && v <= hi
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_feature_is_finite_and_in_its_documented_range(bars in valid_series(65)) {
        let mut checked = bars.clone();
        prop_assert!(validate_bars(&mut checked).is_ok());
        let s = build_samples(&bars, &FeatureConfig::default()).unwrap();
        prop_assert_eq!(s.len(), bars.len() - 64);
        prop_assert_eq!(s.x.len(), s.len() * SEQ_LEN * N_FEATURES);
        for i in 0..s.len() {
            let w = s.window(i);
            for row in w.chunks(N_FEATURES) {
                prop_assert!(row.iter().all(|v| v.is_finite()));
                for c in [col::CLOSE_NORM, col::VOLUME_NORM, col::OBV_NORM, col::RSI, col::MFI,
                          col::AROON_UP, col::VOLATILITY] {
                    prop_assert!(in_range(row[c], 0.0, 1.0), "col {} = {}", c, row[c]);
                }
                prop_assert!(in_range(row[col::BB_POSITION], -1.0, 1.0));
                prop_assert!(in_range(row[col::MACD_HIST], -1.0, 1.0));
                prop_assert!(in_range(row[col::VOL_RATIO], 0.0, 5.0));
                prop_assert!(in_range(row[col::VOLUME_CHANGE], -1.0, 5.0));
                prop_assert!(row[col::ABS_RET] >= 0.0 && row[col::HV_5] >= 0.0 && row[col::HV_20] >= 0.0);
                prop_assert!(row[col::INTRADAY_RANGE] >= 0.0);
                prop_assert!([-1.0, 0.0, 1.0].contains(&row[col::RET_SIGN]));
                for c in [col::BIG_UP, col::BIG_DOWN, col::PV_DIVERGENCE] {
                    prop_assert!(row[c] == 0.0 || row[c] == 1.0);
                }
            }
            // Window-local min-max columns reach exactly 0 and 1, or are 0.5 throughout if flat.
            for c in [col::CLOSE_NORM, col::VOLUME_NORM, col::OBV_NORM] {
                let vals: Vec<f32> = w.chunks(N_FEATURES).map(|r| r[c]).collect();
                let flat = vals.iter().all(|&v| v == 0.5);
                prop_assert!(flat || (vals.contains(&0.0) && vals.contains(&1.0)), "col {} {:?}", c, vals);
            }
            // MACD scaling reaches ±1 unless the histogram is 0 throughout the window.
            let macd: Vec<f32> = w.chunks(N_FEATURES).map(|r| r[col::MACD_HIST]).collect();
            prop_assert!(macd.iter().all(|&v| v == 0.0) || macd.iter().any(|&v| v.abs() == 1.0));
            // Targets follow from the closes.
            let t = SEQ_LEN - 1 + i;
            prop_assert_eq!(s.end_dates[i], bars[t].date);
            let up = bars[t + 5].close / bars[t].close - 1.0 > 0.0;
            prop_assert_eq!(s.y_dir[i], i64::from(up));
        }
    }

    #[test]
    fn fewer_than_65_days_is_the_documented_error(bars in valid_series(1).prop_map(|mut b| { b.truncate(64); b })) {
        let n = bars.len();
        let err = build_samples(&bars, &FeatureConfig::default()).unwrap_err();
        prop_assert_eq!(err.to_string(), format!("insufficient data: need at least 65 trading days, got {n}"));
    }
}

#[test]
fn samples_windows_equal_window_ending_at_and_targets_are_daily_returns() {
    let bars = synthetic(300, 7);
    let cfg = FeatureConfig::default();
    let s = build_samples(&bars, &cfg).unwrap();
    assert_eq!(s.len(), 236);
    for i in [0, 1, 117, 235] {
        let t = SEQ_LEN - 1 + i;
        assert_eq!(
            s.window(i),
            &window_ending_at(&bars, t, &cfg).unwrap()[..],
            "sample {i}"
        );
        for k in 0..FORECAST_DAYS {
            let want = (bars[t + k + 1].close / bars[t + k].close - 1.0) as f32;
            assert_eq!(s.y_mag[i][k], want);
        }
        assert_eq!(s.end_closes[i], bars[t].close);
    }
    // The window ending at the last day uses the last 60 bars; it is not a training sample.
    let last = latest_window(&bars, &cfg).unwrap();
    assert_eq!(last, window_ending_at(&bars, 299, &cfg).unwrap());
    let table = indicator_table(&bars, &cfg);
    // Non window-local columns are copied from the table (as f32).
    assert_eq!(
        last[59 * N_FEATURES + col::RSI],
        table[299][col::RSI] as f32
    );
    // close_norm of the last row: min-max of the last 60 closes.
    let closes: Vec<f64> = bars[240..].iter().map(|b| b.close).collect();
    let (lo, hi) = closes
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &c| (a.min(c), b.max(c)));
    assert_eq!(
        last[59 * N_FEATURES],
        ((bars[299].close - lo) / (hi - lo)) as f32
    );
}

#[test]
fn window_is_causal() {
    // Changing bars after `end` does not change the window ending at `end`.
    let cfg = FeatureConfig::default();
    let bars = synthetic(150, 3);
    let mut altered = bars.clone();
    for b in &mut altered[101..] {
        b.close *= 1.5;
        b.high *= 1.5;
        b.volume *= 3.0;
    }
    assert_eq!(
        window_ending_at(&bars, 100, &cfg).unwrap(),
        window_ending_at(&altered, 100, &cfg).unwrap()
    );
}

#[test]
fn subset_and_select_keep_samples_aligned() {
    let s = build_samples(&synthetic(120, 1), &FeatureConfig::default()).unwrap();
    let sub = s.subset(10..20);
    assert_eq!(sub.len(), 10);
    assert_eq!(sub.window(0), s.window(10));
    assert_eq!(sub.end_dates[9], s.end_dates[19]);
    let sel = s.select(&[5, 2, 40]);
    assert_eq!(sel.len(), 3);
    assert_eq!(sel.window(1), s.window(2));
    assert_eq!(
        (sel.y_dir[2], sel.y_mag[2], sel.end_closes[0]),
        (s.y_dir[40], s.y_mag[40], s.end_closes[5])
    );
    assert!(s.subset(3..3).is_empty());
}

#[test]
fn window_errors_say_what_is_missing() {
    let bars = synthetic(70, 2);
    let cfg = FeatureConfig::default();
    let e = window_ending_at(&bars, 58, &cfg).unwrap_err();
    assert!(
        matches!(e, Error::InsufficientData { need: 60, got: 59 }),
        "{e:?}"
    );
    let e = window_ending_at(&bars, 70, &cfg).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = latest_window(&bars[..10], &cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "insufficient data: need at least 60 trading days, got 10"
    );
    assert!(latest_window(&bars[..60], &cfg).is_ok());
    let e = build_samples(&bars[..64], &cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "insufficient data: need at least 65 trading days, got 64"
    );
    assert_eq!(build_samples(&bars[..65], &cfg).unwrap().len(), 1);
}

#[test]
fn norm_stats_round_trip_through_json_and_standardise_training_samples() {
    let s = build_samples(&synthetic(400, 9), &FeatureConfig::default()).unwrap();
    let stats = NormStats::fit(&s.x);
    let json = serde_json::to_string(&stats).unwrap();
    assert_eq!(serde_json::from_str::<NormStats>(&json).unwrap(), stats);
    let mut x = s.x.clone();
    stats.apply(&mut x);
    for c in 0..N_FEATURES {
        let vals: Vec<f64> = x.chunks(N_FEATURES).map(|r| f64::from(r[c])).collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let sd = (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64).sqrt();
        assert!(m.abs() < 1e-3, "feature {c} mean {m}");
        assert!((sd - 1.0).abs() < 1e-3 || sd == 0.0, "feature {c} std {sd}");
    }
}

#[test]
fn a_non_finite_feature_names_the_bar_date_and_the_feature() {
    // A bar that bypassed ingest validation (e.g. stored before it existed): close 1e300.
    let mut bars = synthetic(200, 5);
    bars[150].close = 1e300;
    bars[150].high = 1e300;
    let date = bars[150].date.to_string();
    let e = build_samples(&bars, &FeatureConfig::default()).unwrap_err().to_string();
    assert!(e.contains(&format!("of the bar on {date}")) && e.starts_with("feature "), "{e}");
    assert!(!e.contains("sample"), "{e}");
    let e = latest_window(&bars[..170], &FeatureConfig::default()).unwrap_err().to_string();
    assert!(e.contains("is not finite") && e.contains("feature "), "{e}");
}
