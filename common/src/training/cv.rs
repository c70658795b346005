//! Cross-validated hyper-parameter search: sklearn `TimeSeriesSplit` folds with a 5-sample purge gap before each test fold, the base network
//! trained with plain Adam per trial and fold, and one of two searches (SPEC §13.3):
//!
//! - **grid** (seed 000 §3.2, the default): every `param_grid` combination, in order;
//! - **tpe** (seed 004): `n_trials` points of a [`SearchSpace`] proposed by TPE, hopeless
//!   trials pruned by the median rule.
//!
//! Both maximise `cv_metric` (`score` = `avg_f1 − 0.1·ln(1 + avg_mse)`, MSE of fractional
//! returns, or `auc` = mean fold ROC AUC); the first best trial wins ties. Every fold is a
//! `CvFold` event; a trial's last fold event carries the trial's result and the best so far.
use std::cell::RefCell;
use std::ops::Range;
use std::time::Duration;

use super::config::{ParamGrid, RegLossType};
use super::events::{CvTrialEnd, TrainEvent};
use super::fit::{evaluate, fit, FitOptions, TensorSet, TARGET_SCALE};
use super::search::{
    cv_score, run_study, CvMetric, Dim, FoldScores, MedianPruner, Proposer, Sampler, SearchConfig, SearchMode,
    SearchSpace, StudyOptions, StudyOutcome, TrialParams, TrialRecord, TrialState,
};
use crate::evaluation::{holdout_metrics, purged_time_series_split, HoldoutMetrics};
use crate::features::{NormStats, Samples, FORECAST_DAYS, N_FEATURES};
use crate::model::{Architecture, Network};
use crate::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tch::nn::VarStore;
use tch::Device;
use tokio_util::sync::CancellationToken;

/// Cross-validation folds (sklearn `TimeSeriesSplit`) of the default pipeline.
pub const CV_SPLITS: usize = 5;
/// Cross-validation folds with `fast_training`.
pub const CV_SPLITS_FAST: usize = 3;

/// The pipeline's number of folds: [`CV_SPLITS_FAST`] with `fast_training`, else [`CV_SPLITS`].
pub fn cv_splits(fast_training: bool) -> usize {
    if fast_training {
        CV_SPLITS_FAST
    } else {
        CV_SPLITS
    }
}

/// Outcome of a CV search.
#[derive(Debug, Clone)]
pub struct CvOutcome {
    /// Best learning rate.
    pub best_lr: f64,
    /// Best hidden size.
    pub best_hidden_size: i64,
    /// Best epochs (as proposed, before any `max_epochs` cap).
    pub best_epochs: u32,
    /// Best mini-batch size.
    pub best_batch_size: usize,
    /// Best dropout (TPE); `None` for the grid, which keeps the architecture's default.
    pub best_dropout: Option<f64>,
    /// `avg_f1 − 0.1·ln(1 + avg_mse)` of the best trial (whatever `cv_metric` chose it by).
    pub best_score: f64,
    /// `cv_metric` of the best trial.
    pub best_objective: f64,
    /// Every trial's per-fold metrics, averages and objective, plus the best parameters.
    pub report: Value,
}

/// What a CV search runs on and how it trains each fold.
#[derive(Debug, Clone, Copy)]
pub struct CvPlan<'a> {
    /// Grid or TPE, metric, trials, space.
    pub search: &'a SearchConfig,
    /// The grid (used when `search.mode` is grid).
    pub grid: &'a ParamGrid,
    /// TimeSeriesSplit folds.
    pub n_splits: usize,
    /// Regression loss of every fit.
    pub reg_loss: RegLossType,
    /// Caps the epochs of every fit.
    pub max_epochs: Option<u32>,
}

/// Holdout metrics of an evaluation whose magnitudes are scaled by `scale`.
pub(crate) fn metrics_of(prob_up: &[f32], scaled_mags: &[f32], scale: f64, samples: &Samples) -> HoldoutMetrics {
    let p: Vec<f64> = prob_up.iter().map(|v| f64::from(*v)).collect();
    let m: Vec<[f64; FORECAST_DAYS]> = scaled_mags
        .chunks_exact(FORECAST_DAYS)
        .map(|c| {
            let mut a = [0f64; FORECAST_DAYS];
            for (o, v) in a.iter_mut().zip(c) {
                *o = f64::from(*v) / scale;
            }
            a
        })
        .collect();
    holdout_metrics(&p, &m, &samples.y_dir, &samples.y_mag)
}

/// Trains the base network with `p` on `train` (standardised with its own statistics) and
/// scores it on `test`.
#[allow(clippy::too_many_arguments)]
fn train_fold(
    samples: &Samples,
    (train, test): (Range<usize>, Range<usize>),
    p: &TrialParams,
    plan: &CvPlan<'_>,
    device: Device,
    rng: &mut ChaCha8Rng,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<FoldScores> {
    let train = samples.subset(train);
    let test = samples.subset(test);
    let norm = NormStats::fit(&train.x);
    let tset = TensorSet::new(&train, &norm, TARGET_SCALE, device);
    let vset = TensorSet::new(&test, &norm, TARGET_SCALE, device);
    let vs = VarStore::new(device);
    let arch = Architecture { dropout: p.dropout, ..Architecture::base(N_FEATURES as i64, p.hidden_size) };
    let net = Network::new(&vs.root(), &arch)?;
    let epochs = plan.max_epochs.map_or(p.epochs, |m| p.epochs.min(m));
    let opts = FitOptions::plain("cv", p.lr, epochs, p.batch_size, plan.reg_loss);
    fit(&vs, &net, &tset, None, &opts, rng, events, cancel)?;
    let out = evaluate(&net, &vset, plan.reg_loss, 1.0, 1.0)?;
    Ok(FoldScores::from(&metrics_of(&out.prob_up, &out.magnitudes, TARGET_SCALE, &test)))
}

/// The grid's combinations, in order.
struct GridPoints {
    points: Vec<TrialParams>,
    next: usize,
}

impl Proposer for GridPoints {
    type Point = TrialParams;
    fn ask(&mut self) -> TrialParams {
        let p = self.points[self.next.min(self.points.len() - 1)];
        self.next += 1;
        p
    }
    fn tell(&mut self, _: &TrialParams, _: f64) -> Result<()> {
        Ok(())
    }
}

/// TPE over a [`SearchSpace`]: lr log-uniform, hidden and batch as choices, epochs as an
/// integer, dropout uniform.
struct SpaceSampler {
    space: SearchSpace,
    sampler: Sampler,
}

impl SpaceSampler {
    fn new(space: &SearchSpace, startup: usize, seed: u64) -> Result<SpaceSampler> {
        let s = space;
        let dims = [
            Dim::Float { lo: s.lr.lo, hi: s.lr.hi, log: true },
            Dim::Choice(s.hidden_size.len()),
            Dim::Int { lo: i64::from(s.epochs.lo), hi: i64::from(s.epochs.hi) },
            Dim::Float { lo: s.dropout.lo, hi: s.dropout.hi, log: false },
            Dim::Choice(s.batch_size.len()),
        ];
        Ok(SpaceSampler { space: space.clone(), sampler: Sampler::new(&dims, startup, seed)? })
    }
}

impl Proposer for SpaceSampler {
    type Point = TrialParams;
    fn ask(&mut self) -> TrialParams {
        let v = self.sampler.ask();
        TrialParams {
            lr: v[0],
            hidden_size: self.space.hidden_size[v[1] as usize],
            epochs: v[2] as u32,
            dropout: v[3],
            batch_size: self.space.batch_size[v[4] as usize],
        }
    }
    fn tell(&mut self, p: &TrialParams, objective: f64) -> Result<()> {
        let idx = |pos: Option<usize>| pos.unwrap_or(0) as f64;
        let point = [
            p.lr,
            idx(self.space.hidden_size.iter().position(|h| *h == p.hidden_size)),
            f64::from(p.epochs),
            p.dropout,
            idx(self.space.batch_size.iter().position(|b| *b == p.batch_size)),
        ];
        self.sampler.tell(&point, objective)
    }
}

/// Random start-up trials of a TPE search of `n_trials`: a quarter of them, 3 to 10 (Optuna
/// starts with 10).
pub fn startup_trials(n_trials: usize) -> usize {
    (n_trials / 4).clamp(3, 10)
}

/// Runs the search `plan` asks for on `samples` (already without any holdout).
pub fn cv_search(
    samples: &Samples,
    plan: &CvPlan<'_>,
    device: Device,
    rng: &mut ChaCha8Rng,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<CvOutcome> {
    let search = plan.search;
    let _span = tracing::info_span!("cv_search", search = %search.mode, cv_metric = %search.metric).entered();
    let folds = purged_time_series_split(samples.len(), plan.n_splits)?;
    let (n_trials, pruner, budget) = match search.mode {
        SearchMode::Grid => {
            plan.grid.validate()?;
            (plan.grid.combinations().len(), None, None)
        }
        SearchMode::Tpe => {
            search.validate()?;
            let budget = search.time_budget_seconds.map(|s| Duration::from_secs(u64::from(s)));
            (search.n_trials as usize, Some(MedianPruner::default()), budget)
        }
    };
    let opts = StudyOptions { n_trials, time_budget: budget, n_folds: folds.len(), pruner, metric: search.metric };
    // One draw from the run's generator seeds the sampler, so a seeded run repeats exactly (the
    // grid draws nothing: its runs repeat those of earlier versions).
    let sampler_seed: u64 = if search.mode == SearchMode::Tpe { rng.random() } else { 0 };
    // Fits (epoch events) and the study (fold events) take turns with the event sink.
    let events = RefCell::new(events);
    let mut eval = |_: usize, p: &TrialParams, fold: usize| {
        train_fold(samples, folds[fold].clone(), p, plan, device, rng, &mut **events.borrow_mut(), cancel)
    };
    let mut on_fold = |t: &TrialRecord<TrialParams>| {
        (events.borrow_mut())(fold_event(t, n_trials, folds.len(), search.metric));
    };
    let outcome = match search.mode {
        SearchMode::Grid => {
            let dropout = Architecture::base(N_FEATURES as i64, 1).dropout;
            let points = plan
                .grid
                .combinations()
                .into_iter()
                .map(|(lr, hidden_size, epochs)| TrialParams {
                    lr,
                    hidden_size,
                    epochs,
                    dropout,
                    batch_size: plan.grid.batch_size,
                })
                .collect();
            run_study(&mut GridPoints { points, next: 0 }, &opts, &mut eval, &mut on_fold)?
        }
        SearchMode::Tpe => {
            let mut sampler = SpaceSampler::new(&search.space, startup_trials(n_trials), sampler_seed)?;
            run_study(&mut sampler, &opts, &mut eval, &mut on_fold)?
        }
    };
    let events = events.into_inner();
    let best = outcome.best_trial();
    let p = best.params;
    let best_score = CvMetric::Score.objective(&best.folds);
    events(TrainEvent::CvSummary {
        best_lr: p.lr,
        best_hidden_size: p.hidden_size as u32,
        best_epochs: p.epochs,
        best_score,
        search: search.mode.as_str().into(),
        cv_metric: search.metric.as_str().into(),
        best_objective: best.objective,
        best_dropout: (search.mode == SearchMode::Tpe).then_some(p.dropout),
        best_batch_size: p.batch_size as u32,
        best_trial: best.number as u32,
        trials_run: outcome.trials.len() as u32,
        pruned_trials: outcome.pruned().into_iter().map(|n| n as u32).collect(),
        stopped_by: serde_json::to_value(outcome.stopped_by).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
    });
    let report = match search.mode {
        SearchMode::Grid => grid_report(&outcome, plan, &folds),
        SearchMode::Tpe => tpe_report(&outcome, plan, &folds, startup_trials(n_trials)),
    };
    Ok(CvOutcome {
        best_lr: p.lr,
        best_hidden_size: p.hidden_size,
        best_epochs: p.epochs,
        best_batch_size: p.batch_size,
        best_dropout: (search.mode == SearchMode::Tpe).then_some(p.dropout),
        best_score,
        best_objective: best.objective,
        report,
    })
}

/// The `CvFold` event of trial `t`'s latest fold; the trial's result rides on its last one.
fn fold_event(t: &TrialRecord<TrialParams>, n_trials: usize, n_folds: usize, metric: CvMetric) -> TrainEvent {
    let f = t.folds.last().copied().unwrap_or(FoldScores { f1: f64::NAN, mse: f64::NAN, accuracy: f64::NAN, auc: None });
    let trial = (t.state != TrialState::Running).then(|| CvTrialEnd {
        pruned: t.state == TrialState::Pruned,
        objective: t.objective,
        fold_objectives: t.folds.iter().map(|f| metric.objective(std::slice::from_ref(f))).collect(),
        best_objective: t.best_so_far,
        best_trial: t.best_trial.map(|n| n as u32),
        seconds: t.seconds,
    });
    TrainEvent::CvFold {
        combination: t.number as u32,
        combinations: n_trials as u32,
        fold: t.folds.len() as u32,
        folds: n_folds as u32,
        lr: t.params.lr,
        hidden_size: t.params.hidden_size as u32,
        epochs: t.params.epochs,
        f1: f.f1,
        mse: f.mse,
        accuracy: f.accuracy,
        auc: f.auc,
        dropout: t.params.dropout,
        batch_size: t.params.batch_size as u32,
        trial,
    }
}

/// Per-fold JSON of a trial: ranges and scores.
fn folds_json(t: &TrialRecord<TrialParams>, folds: &[(Range<usize>, Range<usize>)]) -> Vec<Value> {
    t.folds
        .iter()
        .zip(folds)
        .enumerate()
        .map(|(i, (f, (tr, te)))| {
            json!({
                "fold": i + 1, "train": [tr.start, tr.end], "test": [te.start, te.end],
                "f1": f.f1, "mse": f.mse, "accuracy": f.accuracy, "auc": f.auc,
            })
        })
        .collect()
}

/// Averages of a trial's folds.
fn averages(t: &TrialRecord<TrialParams>) -> (f64, f64, f64) {
    let n = t.folds.len() as f64;
    let f1 = t.folds.iter().map(|f| f.f1).sum::<f64>() / n;
    let mse = t.folds.iter().map(|f| f.mse).sum::<f64>() / n;
    (f1, mse, CvMetric::Auc.objective(&t.folds))
}

/// The grid report: seed 000's keys (`results`, `best_params`, `best_score`) plus AUC and the
/// metric the best combination was chosen by.
fn grid_report(
    outcome: &StudyOutcome<TrialParams>,
    plan: &CvPlan<'_>,
    folds: &[(Range<usize>, Range<usize>)],
) -> Value {
    let results: Vec<Value> = outcome
        .trials
        .iter()
        .map(|t| {
            let p = t.params;
            let (avg_f1, avg_mse, avg_auc) = averages(t);
            json!({
                "lr": p.lr, "hidden_size": p.hidden_size, "epochs": p.epochs,
                "epochs_run": plan.max_epochs.map_or(p.epochs, |m| p.epochs.min(m)),
                "folds": folds_json(t, folds), "avg_f1": avg_f1, "avg_mse": avg_mse,
                "score": cv_score(avg_f1, avg_mse), "avg_auc": avg_auc, "objective": t.objective,
            })
        })
        .collect();
    let best = outcome.best_trial();
    let p = best.params;
    json!({
        "method": "TimeSeriesSplit",
        "purge_gap": crate::evaluation::PURGE_GAP,
        "search": "grid",
        "n_splits": folds.len(),
        "param_grid": plan.grid,
        "scoring": CvMetric::Score.formula(),
        "cv_metric": plan.search.metric.as_str(),
        "objective": plan.search.metric.formula(),
        "results": results,
        "best_params": {"lr": p.lr, "hidden_size": p.hidden_size, "epochs": p.epochs, "batch_size": p.batch_size},
        "best_score": CvMetric::Score.objective(&best.folds),
        "best_objective": best.objective,
    })
}

/// The TPE report: every trial (params, folds, objective, complete or pruned, best so far), the
/// pruned trials, the sampler and pruner settings, and the best trial.
fn tpe_report(
    outcome: &StudyOutcome<TrialParams>,
    plan: &CvPlan<'_>,
    folds: &[(Range<usize>, Range<usize>)],
    startup: usize,
) -> Value {
    let search = plan.search;
    let trials: Vec<Value> = outcome
        .trials
        .iter()
        .map(|t| {
            let p = t.params;
            let (avg_f1, avg_mse, avg_auc) = averages(t);
            json!({
                "trial": t.number,
                "params": p,
                "epochs_run": plan.max_epochs.map_or(p.epochs, |m| p.epochs.min(m)),
                "state": t.state,
                "folds_run": t.folds.len(),
                "folds": folds_json(t, folds),
                "avg_f1": avg_f1, "avg_mse": avg_mse, "avg_auc": avg_auc,
                "score": cv_score(avg_f1, avg_mse),
                "objective": t.objective,
                "best_so_far": t.best_so_far,
                "best_trial_so_far": t.best_trial,
                "seconds": t.seconds,
            })
        })
        .collect();
    let best = outcome.best_trial();
    json!({
        "method": "TimeSeriesSplit",
        "purge_gap": crate::evaluation::PURGE_GAP,
        "search": "tpe",
        "n_splits": folds.len(),
        "cv_metric": search.metric.as_str(),
        "objective": search.metric.formula(),
        "search_space": search.space,
        "n_trials": search.n_trials,
        "time_budget_seconds": search.time_budget_seconds,
        "trials_run": outcome.trials.len(),
        "stopped_by": outcome.stopped_by,
        "sampler": {
            "name": "TPE (tpe crate, one estimator per parameter)",
            "startup_random_trials": startup,
            "gamma": 0.1,
            "candidates": 24,
        },
        "pruner": {
            "rule": "median: stop when the objective so far is below the median of the complete trials' after the same fold",
            "startup_trials": MedianPruner::default().startup_trials,
            "min_folds": MedianPruner::default().min_folds,
        },
        "pruned_trials": outcome.pruned(),
        "trials": trials,
        "best_trial": best.number,
        "best_params": best.params,
        "best_objective": best.objective,
        "best_score": CvMetric::Score.objective(&best.folds),
    })
}
