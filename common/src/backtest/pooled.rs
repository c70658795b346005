//! The pooled walk-forward backtest (SPEC §14.3): fold origins are **dates**, planned on the
//! first member's bars; every member is cut at the same origin date and tested on the same
//! dates, one pooled network is trained per fold ([`crate::training::run_pooled`]), and each
//! member's test days are answered by the fold's version as served for that member (its own
//! normalisation and calibration), next to baselines fitted on that member's own training
//! samples. The report holds one ordinary backtest report per member and a `pooled` one over
//! every member's test days.
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::folds::{self, training_samples, Fold, FoldTraining};
use super::run::{answer_fold, fold_recipe, FoldOutput};
use super::{report, BacktestConfig, BacktestEvent, BacktestOutcome};
use crate::data::Bar;
use crate::features::{FeatureConfig, FORECAST_DAYS};
use crate::model::LoadedModel;
use crate::training::{run_pooled, PoolInput};
use crate::{Error, Result};

/// Runs the pooled backtest of `cfg` on `members` (symbol and sorted, validated bars; the first
/// is the pool's own symbol). Folds run one after another (each trains on every member).
pub fn run_pooled_backtest(
    members: &[(String, Vec<Bar>)],
    cfg: &BacktestConfig,
    events: &(dyn Fn(BacktestEvent) + Sync),
    cancel: &CancellationToken,
) -> Result<BacktestOutcome> {
    let started = Instant::now();
    cfg.validate()?;
    if members.len() < 2 {
        return Err(Error::invalid("a pooled backtest needs at least two member symbols"));
    }
    let first = &members[0].1;
    let plan = folds::plan(first, cfg.folds, cfg.horizon_days, cfg.end, cfg.recipe.years)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut outputs: Vec<Vec<FoldOutput>> = vec![Vec::new(); members.len()];
    for fold in &plan {
        let folds_m: Vec<Fold> =
            members.iter().map(|(s, bars)| member_fold(fold, first, s, bars)).collect::<Result<_>>()?;
        let fold_started = Instant::now();
        let trains: Vec<FoldTraining> = members
            .iter()
            .zip(&folds_m)
            .map(|((symbol, bars), f)| {
                training_samples(bars, f, &FeatureConfig::default())
                    .map_err(|e| Error::FailedPrecondition(format!("pool member {symbol}, fold {}: {e}", fold.index + 1)))
            })
            .collect::<Result<_>>()?;
        let k = fold.index as u32 + 1;
        events(BacktestEvent::FoldStarted {
            fold: k,
            folds: cfg.folds as u32,
            origin: first[fold.origin].date,
            test_start: first[fold.test.start].date,
            test_end: first[fold.test.end - 1].date,
            train_samples: trains.iter().map(|t| t.samples.len()).sum(),
        });
        let recipe = fold_recipe(&cfg.recipe, fold.index, Some(cores as i32));
        let inputs: Vec<PoolInput<'_>> = members
            .iter()
            .zip(&trains)
            .map(|((s, _), t)| PoolInput { symbol: s, samples: &t.samples, current: None })
            .collect();
        let pooled = run_pooled(&inputs, &recipe, &mut |event| events(BacktestEvent::Training { fold: k, event }), cancel)?;
        let out = &pooled.outcome;
        let epochs_run = out.metrics.get("epochs_run").copied().unwrap_or_default() as u32;
        let device = recipe.device.resolve()?;
        for (i, ((symbol, bars), f)) in members.iter().zip(&folds_m).enumerate() {
            let md = out.metadata.for_member(symbol)?;
            let model = crate::training::outside_seeded_runs(|| LoadedModel::from_artifact(&md, &out.weights, device))?;
            outputs[i].push(answer_fold(bars, f, &trains[i], &model, epochs_run, fold_started)?);
        }
        events(BacktestEvent::FoldCompleted { fold: k, folds: cfg.folds as u32, summary: outputs[0][fold.index].summary() });
    }
    let mut per_member = serde_json::Map::new();
    for ((symbol, _), out) in members.iter().zip(&outputs) {
        let mut c = cfg.clone();
        c.recipe.symbol = symbol.clone();
        per_member.insert(symbol.clone(), report::build(&c, out));
    }
    let all: Vec<FoldOutput> = outputs.iter().flatten().cloned().collect();
    let mut report = report::build(cfg, &all);
    report["pool_symbols"] = json!(members.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>());
    report["members"] = serde_json::Value::Object(per_member);
    report["pooled_note"] = json!(
        "top-level metrics pool every member's test days (the folds list repeats per member); \
         `members` holds each member's own report"
    );
    let plots = super::plots::render(&outputs[0])?;
    Ok(BacktestOutcome {
        report,
        plots,
        seconds: started.elapsed().as_secs_f64(),
        fold_seconds: outputs[0].iter().map(|o| o.seconds).collect(),
        parallelism: 1,
    })
}

/// `fold` of the first member's bars as the same dates of a member's `bars`: its origin is the
/// member's last bar on or before the origin date, its test days the member's bars from the
/// first to the last test date that have a realised outcome.
fn member_fold(fold: &Fold, first: &[Bar], symbol: &str, bars: &[Bar]) -> Result<Fold> {
    let date = |i: usize| first[i].date;
    let (origin_date, test_from, test_to): (NaiveDate, NaiveDate, NaiveDate) =
        (date(fold.origin), date(fold.test.start), date(fold.test.end - 1));
    let missing = || {
        Error::FailedPrecondition(format!(
            "pool member {symbol} has no bars around the fold origin {origin_date} (tests {test_from}..{test_to}); \
             import its history or leave it out of the pool"
        ))
    };
    let origin = bars.iter().rposition(|b| b.date <= origin_date).ok_or_else(missing)?;
    let start = bars.partition_point(|b| b.date < test_from);
    let end = bars.partition_point(|b| b.date <= test_to).min(bars.len().saturating_sub(FORECAST_DAYS));
    if start <= origin || start >= end {
        return Err(missing());
    }
    Ok(Fold { index: fold.index, origin, test: start..end, span_start_excl: fold.span_start_excl })
}
