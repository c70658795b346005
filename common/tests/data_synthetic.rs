//! The synthetic market: deterministic per seed, valid, realistic, and with a planted
//! reversal that is detectable when `signal > 0` and absent when `signal = 0`.
use chrono::{Datelike, Weekday};
use common::data::{generate, parse_csv, validate_bars, write_csv, Bar, Dialect, SyntheticConfig};

fn cfg(seed: u64, signal: f64) -> SyntheticConfig {
    SyntheticConfig {
        seed,
        signal,
        ..SyntheticConfig::default()
    }
}

/// Accuracy of the planted rule "after a 10-day rise the next 5 days fall, and vice versa":
/// predicted up iff `c_t / c_{t-10} - 1 < 0`, truth `c_{t+5} / c_t - 1 > 0`; days where either
/// return is exactly 0 are skipped.
fn reversal_accuracy(bars: &[Bar]) -> f64 {
    let c: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let (mut hit, mut total) = (0usize, 0usize);
    for t in 10..c.len() - 5 {
        let past = c[t] / c[t - 10] - 1.0;
        let future = c[t + 5] / c[t] - 1.0;
        if past == 0.0 || future == 0.0 {
            continue;
        }
        total += 1;
        hit += usize::from((past < 0.0) == (future > 0.0));
    }
    hit as f64 / total as f64
}

#[test]
fn same_seed_same_bars_other_seed_other_bars() {
    let a = generate(&cfg(11, 1.0));
    assert_eq!(a, generate(&cfg(11, 1.0)));
    assert_ne!(a, generate(&cfg(12, 1.0)));
    assert_eq!(a.len(), 2520);
}

#[test]
fn output_is_valid_weekday_only_and_survives_a_csv_round_trip() {
    for seed in 0..5 {
        let bars = generate(&cfg(seed, 1.0));
        let mut checked = bars.clone();
        validate_bars(&mut checked).unwrap();
        assert_eq!(checked, bars, "already sorted");
        assert!(bars
            .iter()
            .all(|b| !matches!(b.date.weekday(), Weekday::Sat | Weekday::Sun)));
        assert_eq!(parse_csv(&write_csv(&bars, Dialect::Plain)).unwrap(), bars);
    }
}

#[test]
fn looks_like_a_market() {
    let bars = generate(&cfg(5, 0.0));
    let r: Vec<f64> = bars
        .windows(2)
        .map(|w| w[1].close / w[0].close - 1.0)
        .collect();
    let m = r.iter().sum::<f64>() / r.len() as f64;
    let sd = (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / r.len() as f64).sqrt();
    assert!((0.008..0.03).contains(&sd), "daily vol {sd}");
    // Volatility clustering: |r| is positively autocorrelated.
    let a: Vec<f64> = r.iter().map(|x| x.abs()).collect();
    let am = a.iter().sum::<f64>() / a.len() as f64;
    let cov: f64 = a.windows(2).map(|w| (w[0] - am) * (w[1] - am)).sum();
    let var: f64 = a.iter().map(|x| (x - am) * (x - am)).sum();
    assert!(cov / var > 0.05, "|r| autocorrelation {}", cov / var);
    // Volume rises with |return|.
    let v: Vec<f64> = bars[1..].iter().map(|b| b.volume).collect();
    let vm = v.iter().sum::<f64>() / v.len() as f64;
    let cov_av: f64 = a.iter().zip(&v).map(|(x, y)| (x - am) * (y - vm)).sum();
    assert!(cov_av > 0.0);
    // Opens gap away from the previous close on most days.
    let gaps = bars.windows(2).filter(|w| w[1].open != w[0].close).count();
    assert!(gaps > bars.len() / 2);
}

#[test]
fn planted_signal_is_detectable_and_absent_without_it() {
    for seed in [1, 2, 3] {
        let with = reversal_accuracy(&generate(&cfg(seed, 1.0)));
        let without = reversal_accuracy(&generate(&cfg(seed, 0.0)));
        assert!(with > 0.6, "seed {seed}: accuracy with signal {with}");
        assert!(
            (0.44..0.56).contains(&without),
            "seed {seed}: accuracy without signal {without}"
        );
    }
}
