//! The report's model-minus-best-baseline intervals choose the best baseline inside every
//! bootstrap resample (issue 23.4): a model that copies one baseline is never "as good as the
//! best" on resamples where another baseline wins.
use chrono::{Days, NaiveDate};
use common::backtest::folds::Fold;
use common::backtest::{report, Answers, BacktestConfig, FoldOutput};
use common::training::PipelineConfig;

#[test]
fn the_best_baseline_is_chosen_again_in_every_resample() {
    // 200 days, up and down alternating in blocks of 10; baseline A is right on the first half,
    // B on the second: pooled, both hit 0.5 + a little, and the "model" copies A.
    let n = 200;
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let realised: Vec<f64> = (0..n).map(|i| if (i / 10) % 2 == 0 { 0.01 } else { -0.01 }).collect();
    let right = |i: usize| if realised[i] > 0.0 { 0.9 } else { 0.1 };
    let a: Vec<f64> = (0..n).map(|i| if i < n / 2 + 4 { right(i) } else { 1.0 - right(i) }).collect();
    let b: Vec<f64> = (0..n).map(|i| if i >= n / 2 { right(i) } else { 1.0 - right(i) }).collect();
    let answers = |p: &Vec<f64>| Answers { prob_up: Some(p.clone()), cum_return: Some(vec![0.0; n]), intervals: Default::default() };
    let mut named = vec![("lstm".to_string(), answers(&a))];
    for (name, p) in [("base_rate", &a), ("momentum_5d", &b), ("reversion_20d", &b), ("linear", &b)] {
        named.push((name.to_string(), answers(p)));
    }
    named.push(("zero_return".to_string(), Answers { prob_up: None, cum_return: Some(vec![0.0; n]), intervals: Default::default() }));
    let out = FoldOutput {
        fold: Fold { index: 0, origin: 0, test: 0..n, span_start_excl: start },
        origin: start,
        dates: (0..n).map(|i| start + Days::new(i as u64)).collect(),
        realised,
        answers: named,
        n_train: 100,
        train_dates: (start, start),
        n_fit: 80,
        fit_end: start,
        epochs_run: 1,
        seed: 1,
        seconds: 0.0,
    };
    let cfg = BacktestConfig::new(PipelineConfig { seed: Some(3), ..PipelineConfig::default() });
    let r = report::build(&cfg, &[out]);
    assert_eq!(r["best_baseline"]["lstm"]["hit_rate"], "base_rate", "pooled, A is the best");
    assert_eq!(r["difference"]["lstm"]["hit_rate"], 0.0);
    let iv = r["ci"]["lstm_minus_best_baseline"]["hit_rate"].as_array().unwrap();
    let (lo, hi) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
    // Held fixed, the difference would be exactly 0 in every resample: [0, 0].
    assert!(lo < -0.01, "resamples where B wins count against the model: [{lo}, {hi}]");
    assert!(hi <= 1e-12, "the model never beats the best of the resample: [{lo}, {hi}]");
}
