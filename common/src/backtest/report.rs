//! The backtest report (SPEC §13.1 keys), built from the folds' answers.
//!
//! ```text
//! { "report_version": 1, "symbol", "years", "settings": {folds, horizon_days, end, parallelism,
//!   bootstrap}, "recipe": {…PipelineConfig},
//!   "folds":  [{fold, origin, test_start, test_end, n, train_start, train_end, n_train,
//!               epochs_run, seed}],
//!   "models": {"<name>": {n, hit_rate, …, vol_match, [coverage_80, coverage_95 (adaptive),
//!                          coverage_80_static, coverage_95_static],
//!                         "per_fold": [{n, hit_rate, …}]}},
//!   "ci":     {"<name>": {"hit_rate": [lo, hi], "brier": [lo, hi], "ic": [lo, hi]},
//!              "<model>_minus_best_baseline": {"hit_rate": [lo, hi], "brier": …, "ic": …}},
//!   "best_baseline": {"<model>": {"hit_rate": "<baseline>", "brier": …, "ic": …}},
//!   "difference":    {"<model>": {"hit_rate": model − best, …}},
//!   "days": {"date": […], "fold": […], "realised_return": […],
//!            "prob_up": {"<name>": […]}, "cum_return": {"<name>": […]}} }
//! ```
//! `<name>` is every reported model (`lstm`, and any entry [`super::forecast::model_answers`]
//! adds, e.g. `lstm_raw`) and every baseline. The best baseline of a metric is the one with the
//! best pooled value (highest hit rate and IC, lowest Brier), chosen again inside every bootstrap
//! resample for the difference's interval; the difference's interval comes
//! from the same resamples as the model's. No timing is in the report, so a seeded backtest's
//! report is reproducible byte for byte.
use serde_json::{json, Map, Value};

use crate::baselines::BASELINES;
use super::bootstrap::{intervals, Statistic};
use super::metrics::{brier, compute, hit_rate, pearson, up, Answers};
use super::run::FoldOutput;
use super::BacktestConfig;

/// Metrics that get intervals, and whether higher is better.
pub const CI_METRICS: [(&str, bool); 3] = [("hit_rate", true), ("brier", false), ("ic", true)];

/// Version of the report layout.
pub const REPORT_VERSION: u32 = 1;

/// Model and baseline answers pooled over the folds, in date order.
struct Pooled {
    names: Vec<String>,
    answers: Vec<Answers>,
    realised: Vec<f64>,
    up: Vec<bool>,
}

fn pool(outputs: &[FoldOutput]) -> Pooled {
    let names: Vec<String> = outputs.first().map(|o| o.answers.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
    let mut answers = vec![Answers::default(); names.len()];
    for (j, a) in answers.iter_mut().enumerate() {
        let parts: Vec<&Answers> = outputs.iter().map(|o| &o.answers[j].1).collect();
        let cat = |f: fn(&Answers) -> Option<&Vec<f64>>| -> Option<Vec<f64>> {
            parts.iter().map(|p| f(p).cloned()).collect::<Option<Vec<_>>>().map(|v| v.concat())
        };
        a.prob_up = cat(|p| p.prob_up.as_ref());
        a.cum_return = cat(|p| p.cum_return.as_ref());
        if let Some(first) = parts.first() {
            for level in first.intervals.keys() {
                if let Some(v) = parts.iter().map(|p| p.intervals.get(level).cloned()).collect::<Option<Vec<_>>>() {
                    a.intervals.insert(level.clone(), v.concat());
                }
            }
        }
    }
    let realised: Vec<f64> = outputs.iter().flat_map(|o| o.realised.iter().copied()).collect();
    let up = realised.iter().map(|r| up(*r)).collect();
    Pooled { names, answers, realised, up }
}

/// A metric of `CI_METRICS` on the days `idx` of one model.
fn stat(metric: &str, a: &Answers, realised: &[f64], y: &[bool], idx: &[usize]) -> Option<f64> {
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let ys: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
    match metric {
        "hit_rate" => a.prob_up.as_ref().and_then(|p| hit_rate(&pick(p), &ys)),
        "brier" => a.prob_up.as_ref().and_then(|p| brier(&pick(p), &ys)),
        "ic" => a.cum_return.as_ref().and_then(|c| pearson(&pick(c), &pick(realised))),
        _ => None,
    }
}

fn is_baseline(name: &str) -> bool {
    BASELINES.contains(&name)
}

/// Builds the report JSON of `outputs` (one per fold, in fold order).
pub fn build(cfg: &BacktestConfig, outputs: &[FoldOutput]) -> Value {
    let p = pool(outputs);
    let all: Vec<usize> = (0..p.realised.len()).collect();
    let pooled_stat = |j: usize, metric: &str| stat(metric, &p.answers[j], &p.realised, &p.up, &all);

    // Best baseline per metric, for each reported (non-baseline) model.
    let mut best = Map::new();
    let mut best_idx: Vec<(usize, &str, bool)> = Vec::new(); // (model, metric, higher is better)
    let mut difference = Map::new();
    for (m, name) in p.names.iter().enumerate().filter(|(_, n)| !is_baseline(n)) {
        let mut b_names = Map::new();
        let mut diffs = Map::new();
        for (metric, higher) in CI_METRICS {
            let candidates = p.names.iter().enumerate().filter(|(_, n)| is_baseline(n));
            let chosen = candidates
                .filter_map(|(j, _)| pooled_stat(j, metric).map(|v| (j, v)))
                .max_by(|a, b| if higher { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) });
            if let Some((j, v)) = chosen {
                b_names.insert(metric.into(), json!(p.names[j]));
                diffs.insert(metric.into(), json!(pooled_stat(m, metric).map(|mv| mv - v)));
                best_idx.push((m, metric, higher));
            }
        }
        best.insert(name.clone(), Value::Object(b_names));
        difference.insert(name.clone(), Value::Object(diffs));
    }

    // Intervals: every model's metrics, and each model-minus-best difference.
    let baselines: Vec<usize> = p.names.iter().enumerate().filter(|(_, n)| is_baseline(n)).map(|(j, _)| j).collect();
    let mut keys: Vec<(String, &str)> = Vec::new();
    let mut stats: Vec<Statistic<'_>> = Vec::new();
    for (j, name) in p.names.iter().enumerate() {
        for (metric, _) in CI_METRICS {
            keys.push((name.clone(), metric));
            let (a, r, y) = (&p.answers[j], &p.realised, &p.up);
            stats.push(Box::new(move |idx: &[usize]| stat(metric, a, r, y, idx)));
        }
    }
    // The best baseline is chosen again inside every resample (the pooled choice held fixed
    // would let the resamples where another baseline wins look better for the model than they are).
    for &(m, metric, higher) in &best_idx {
        keys.push((format!("{}_minus_best_baseline", p.names[m]), metric));
        let (am, r, y, p, baselines) = (&p.answers[m], &p.realised, &p.up, &p, baselines.as_slice());
        stats.push(Box::new(move |idx: &[usize]| {
            let best = baselines
                .iter()
                .filter_map(|&b| stat(metric, &p.answers[b], r, y, idx))
                .max_by(|a, b| if higher { a.total_cmp(b) } else { b.total_cmp(a) })?;
            Some(stat(metric, am, r, y, idx)? - best)
        }));
    }
    let cis = intervals(p.realised.len(), &cfg.bootstrap, &mut stats);
    let mut ci = Map::new();
    for ((name, metric), iv) in keys.into_iter().zip(cis) {
        let entry = ci.entry(name).or_insert_with(|| Value::Object(Map::new()));
        entry[metric] = json!(iv);
    }

    let mut models = Map::new();
    for (j, name) in p.names.iter().enumerate() {
        let mut m = serde_json::to_value(compute(&p.answers[j], &p.realised)).unwrap_or(Value::Null);
        let per_fold: Vec<Value> = outputs
            .iter()
            .map(|o| serde_json::to_value(compute(&o.answers[j].1, &o.realised)).unwrap_or(Value::Null))
            .collect();
        m["per_fold"] = Value::Array(per_fold);
        models.insert(name.clone(), m);
    }

    let folds: Vec<Value> = outputs
        .iter()
        .map(|o| {
            json!({
                "fold": o.fold.index + 1,
                "origin": o.origin,
                "test_start": o.dates[0],
                "test_end": o.dates[o.dates.len() - 1],
                "n": o.dates.len(),
                "train_start": o.train_dates.0,
                "train_end": o.train_dates.1,
                "n_train": o.n_train,
                "fit_end": o.fit_end,
                "n_fit": o.n_fit,
                "epochs_run": o.epochs_run,
                "seed": o.seed,
            })
        })
        .collect();
    let column = |f: &dyn Fn(&Answers) -> Option<Vec<f64>>| -> Map<String, Value> {
        p.names.iter().zip(&p.answers).map(|(n, a)| (n.clone(), json!(f(a)))).collect()
    };
    let days = json!({
        "date": outputs.iter().flat_map(|o| o.dates.iter().map(|d| d.to_string())).collect::<Vec<_>>(),
        "fold": outputs.iter().flat_map(|o| std::iter::repeat_n(o.fold.index + 1, o.dates.len())).collect::<Vec<_>>(),
        "realised_return": p.realised,
        "prob_up": column(&|a| a.prob_up.clone()),
        "cum_return": column(&|a| a.cum_return.clone()),
    });
    json!({
        "report_version": REPORT_VERSION,
        "symbol": cfg.recipe.symbol,
        "years": cfg.recipe.years,
        "settings": {
            "folds": cfg.folds,
            "horizon_days": cfg.horizon_days,
            "end": cfg.end,
            "parallelism": cfg.parallelism,
            "bootstrap": cfg.bootstrap,
        },
        "recipe": cfg.recipe,
        "folds": folds,
        "models": models,
        "ci": ci,
        "best_baseline": best,
        "difference": difference,
        "days": days,
    })
}
