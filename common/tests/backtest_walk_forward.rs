//! The walk-forward backtest end to end on small series: no look-ahead, baselines that find a
//! planted effect and none on noise. Base model, 1 epoch, 1-year keys, few folds: seconds each.
use chrono::{Days, NaiveDate};
use common::backtest::{run_backtest, BacktestConfig, BacktestEvent};
use common::data::{generate, Bar, SyntheticConfig};
use common::training::{DeviceChoice, PipelineConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn recipe(seed: u64) -> PipelineConfig {
    PipelineConfig {
        symbol: "TEST".into(),
        years: 1,
        use_enhanced_model: false,
        do_cv_tune: false,
        max_epochs: Some(1),
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        cpu_threads: Some(1),
        ..PipelineConfig::default()
    }
}

fn config(folds: usize, horizon: usize, seed: u64) -> BacktestConfig {
    BacktestConfig { folds, horizon_days: horizon, ..BacktestConfig::new(recipe(seed)) }
}

fn run(bars: &[Bar], cfg: &BacktestConfig) -> Value {
    run_backtest(bars, cfg, &|_| {}, &CancellationToken::new()).expect("backtest runs").report
}

/// Bars whose daily returns follow `r_t = phi · r_{t−1} + ε` (phi = 0: pure noise).
fn ar_market(phi: f64, days: usize, seed: u64) -> Vec<Bar> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 0.012).unwrap();
    let mut date = NaiveDate::from_ymd_opt(2018, 1, 2).unwrap();
    let (mut close, mut r) = (100.0f64, 0.0f64);
    let mut bars = Vec::with_capacity(days);
    while bars.len() < days {
        if !matches!(chrono::Datelike::weekday(&date), chrono::Weekday::Sat | chrono::Weekday::Sun) {
            r = phi * r + noise.sample(&mut rng);
            let open = close;
            close *= 1.0 + r;
            let vol = 1e6 * (1.0 + 0.2 * noise.sample(&mut rng).abs() * 50.0);
            bars.push(Bar {
                date,
                open,
                high: open.max(close) * 1.002,
                low: open.min(close) * 0.998,
                close,
                volume: vol,
                amount: None,
            });
        }
        date = date + Days::new(1);
    }
    bars
}

fn hit(report: &Value, model: &str) -> f64 {
    report["models"][model]["hit_rate"].as_f64().unwrap_or_else(|| panic!("{model} has a hit rate"))
}

#[test]
fn report_has_the_spec_keys_and_no_look_ahead() {
    let bars = generate(&SyntheticConfig { days: 420, seed: 5, ..SyntheticConfig::default() });
    // Last test day well inside the series; the cut keeps exactly its 5 outcome bars.
    let last = bars.len() - 40;
    let cfg = BacktestConfig { end: Some(bars[last].date), ..config(2, 20, 11) };
    let events = std::sync::Mutex::new(Vec::new());
    let full = run_backtest(&bars, &cfg, &|e| events.lock().unwrap().push(e), &CancellationToken::new()).unwrap();
    let cut = run(&bars[..=last + 5], &cfg);
    assert_eq!(full.report, cut, "bars after the last outcome changed the report");

    let r = &full.report;
    for name in ["lstm", "base_rate", "momentum_5d", "reversion_20d", "linear", "zero_return"] {
        let m = &r["models"][name];
        assert_eq!(m["n"], 40, "{name}");
        assert_eq!(m["per_fold"].as_array().unwrap().len(), 2, "{name}");
        for metric in ["hit_rate", "balanced_accuracy", "auc", "brier", "log_loss", "ece", "ic", "rank_ic", "mae_cum", "rmse_cum", "vol_match"] {
            assert!(m.get(metric).is_some(), "{name}.{metric} missing");
        }
    }
    assert!(r["models"]["zero_return"]["hit_rate"].is_null() && r["models"]["zero_return"]["mae_cum"].is_number());
    let ci = r["ci"]["lstm"]["hit_rate"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= hit(r, "lstm") && hit(r, "lstm") <= ci[1].as_f64().unwrap());
    assert!(r["ci"]["lstm_minus_best_baseline"]["brier"].is_array());
    let folds = r["folds"].as_array().unwrap();
    assert_eq!(folds[1]["test_end"], bars[last].date.to_string());
    assert_eq!(folds[0]["n"], 20);
    // The network and the baselines are fitted on the same span: the fold's samples less the
    // pipeline's holdout and gap (validation is on in this recipe).
    for f in folds {
        assert!(f["fit_end"].as_str().unwrap() < f["train_end"].as_str().unwrap(), "{f}");
        assert!(f["n_fit"].as_u64().unwrap() < f["n_train"].as_u64().unwrap(), "{f}");
    }
    assert!(folds[0]["origin"].as_str().unwrap() < folds[0]["test_start"].as_str().unwrap());
    assert_eq!(full.plots.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["reliability.png", "rolling.png", "predicted_vs_realised.png"]);
    assert!(full.plots.iter().all(|p| p.1.starts_with(b"\x89PNG")));
    let ev = events.into_inner().unwrap();
    assert_eq!(ev.iter().filter(|e| matches!(e, BacktestEvent::FoldCompleted { .. })).count(), 2);
    assert!(ev.iter().any(|e| matches!(e, BacktestEvent::Training { event: common::training::TrainEvent::Epoch { .. }, .. })));

    // Changing a bar after test day t changes nothing forecast on days up to t (and does change
    // the forecast on the changed day itself, so this comparison can fail).
    let t = last - 8;
    let mut changed = bars.clone();
    changed[t + 1].close *= 1.05;
    changed[t + 1].high = changed[t + 1].high.max(changed[t + 1].close);
    let other = run(&changed, &cfg);
    // The raw softmax: the served probability may be the base rate on every day (no skill
    // measured, issue 23), which no bar can move.
    let day = |rep: &Value, model: &str, i: usize| rep["days"]["prob_up"][model][i].as_f64().unwrap();
    let dates = r["days"]["date"].as_array().unwrap();
    let idx_t = dates.iter().position(|d| d == &Value::from(bars[t].date.to_string())).unwrap();
    for model in ["lstm", "lstm_raw"] {
        for i in 0..=idx_t {
            assert_eq!(day(r, model, i), day(&other, model, i), "{model} forecast on {} changed", dates[i]);
        }
    }
    assert_ne!(day(r, "lstm_raw", idx_t + 1), day(&other, "lstm_raw", idx_t + 1), "the changed day's own forecast must differ");
}

#[test]
fn momentum_baseline_finds_planted_momentum() {
    // Two years of training per fold: the baselines are fitted on the network's span (the fold
    // less the pipeline's holdout and gap), which on one year leaves ~190 samples.
    let bars = ar_market(0.5, 820, 3);
    let cfg = BacktestConfig { recipe: PipelineConfig { years: 2, ..recipe(1) }, ..config(3, 60, 1) };
    let r = run(&bars, &cfg);
    let (m, b) = (hit(&r, "momentum_5d"), hit(&r, "base_rate"));
    assert!(m > b + 0.05, "momentum {m} vs base rate {b}");
    let brier = |name: &str| r["models"][name]["brier"].as_f64().unwrap();
    assert!(brier("momentum_5d") < brier("base_rate"), "momentum's probabilities are better too");
    assert!(r["models"]["momentum_5d"]["ic"].as_f64().unwrap() > 0.1, "and its returns correlate");
}

#[test]
fn on_pure_noise_no_baseline_interval_excludes_the_base_rate() {
    let bars = ar_market(0.0, 560, 4);
    let r = run(&bars, &config(3, 60, 2));
    let b = hit(&r, "base_rate");
    for name in ["momentum_5d", "reversion_20d", "linear"] {
        let ci = r["ci"][name]["hit_rate"].as_array().unwrap();
        let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(lo <= b && b <= hi, "{name}: [{lo}, {hi}] excludes the base rate {b}");
    }
}

#[test]
fn bad_sizes_and_cancellation() {
    let bars = generate(&SyntheticConfig { days: 300, seed: 6, ..SyntheticConfig::default() });
    let e = run_backtest(&bars, &config(6, 60, 1), &|_| {}, &CancellationToken::new()).unwrap_err();
    assert!(matches!(e, common::Error::FailedPrecondition(_)), "{e}");
    assert!(e.to_string().contains("trading days are missing"), "{e}");
    let e = run_backtest(&bars, &config(0, 60, 1), &|_| {}, &CancellationToken::new()).unwrap_err();
    assert!(matches!(e, common::Error::InvalidArgument(_)), "{e}");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let e = run_backtest(&bars, &config(1, 20, 1), &|_| {}, &cancel).unwrap_err();
    assert!(matches!(e, common::Error::Cancelled(_)), "{e}");
}
