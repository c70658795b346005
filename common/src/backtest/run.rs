//! One fold end to end (train the recipe, fit the baselines, answer the test days), and the
//! pool of worker threads that runs the folds concurrently.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use crate::baselines::{fit_all, DayFeatures};
use super::folds::{training_samples, Fold, FoldTraining};
use super::forecast::{forecasts, model_answers, test_windows};
use super::metrics::{compute, Answers};
use super::FoldSummary;
use super::{BacktestConfig, BacktestEvent};
use crate::data::Bar;
use crate::features::{FeatureConfig, FORECAST_DAYS};
use crate::model::LoadedModel;
use crate::training::{run_pipeline, PipelineConfig};
use crate::{Error, Result};

/// What one fold produced.
#[derive(Debug, Clone)]
pub struct FoldOutput {
    /// The fold.
    pub fold: Fold,
    /// Its origin's date.
    pub origin: NaiveDate,
    /// Test days' dates.
    pub dates: Vec<NaiveDate>,
    /// Realised 5-day cumulative return of each test day.
    pub realised: Vec<f64>,
    /// Answers per model name (the model's entries first, then the baselines).
    pub answers: Vec<(String, Answers)>,
    /// Training samples of the fold.
    pub n_train: usize,
    /// First and last training window end dates.
    pub train_dates: (NaiveDate, NaiveDate),
    /// Training samples the fold's network and the baselines were both fitted on (the pipeline
    /// holds its holdout and purge gap back from the network; the baselines get the same span).
    pub n_fit: usize,
    /// End date of the last of them.
    pub fit_end: NaiveDate,
    /// Epochs the final fit ran.
    pub epochs_run: u32,
    /// Seed of the fold's training (recorded so the fold can be repeated).
    pub seed: u64,
    /// Wall time of the fold.
    pub seconds: f64,
}

impl FoldOutput {
    /// The fold's dates, size, timing and metrics of every model, for progress events.
    pub fn summary(&self) -> FoldSummary {
        FoldSummary {
            origin: self.origin,
            test_start: self.dates[0],
            test_end: self.dates[self.dates.len() - 1],
            n: self.dates.len(),
            n_train: self.n_train,
            epochs_run: self.epochs_run,
            seconds: self.seconds,
            metrics: self.answers.iter().map(|(name, a)| (name.clone(), compute(a, &self.realised))).collect(),
        }
    }
}

/// The recipe of fold `k`: importance and plots off (not reported), the fold's seed, the
/// thread count chosen for the pool.
pub(super) fn fold_recipe(recipe: &PipelineConfig, k: usize, cpu_threads: Option<i32>) -> PipelineConfig {
    PipelineConfig {
        do_shap: false,
        do_plot: false,
        seed: recipe.seed.map(|s| s.wrapping_add(k as u64)),
        cpu_threads: recipe.cpu_threads.or(cpu_threads),
        ..recipe.clone()
    }
}

fn run_fold(
    bars: &[Bar],
    fold: &Fold,
    cfg: &BacktestConfig,
    cpu_threads: Option<i32>,
    events: &(dyn Fn(BacktestEvent) + Sync),
    cancel: &CancellationToken,
) -> Result<FoldOutput> {
    let started = Instant::now();
    let features = FeatureConfig::default();
    let train = training_samples(bars, fold, &features)?;
    let s = &train.samples;
    let (k, folds) = (fold.index as u32 + 1, cfg.folds as u32);
    events(BacktestEvent::FoldStarted {
        fold: k,
        folds,
        origin: bars[fold.origin].date,
        test_start: bars[fold.test.start].date,
        test_end: bars[fold.test.end - 1].date,
        train_samples: s.len(),
    });
    let recipe = fold_recipe(&cfg.recipe, fold.index, cpu_threads);
    let outcome = run_pipeline(s, &recipe, None, &mut |event| events(BacktestEvent::Training { fold: k, event }), cancel)?;
    let device = recipe.device.resolve()?;
    // Building the network draws initial weights from libtorch's global generator: keep that
    // out of the way of a concurrent fold's seeded training.
    let model = crate::training::outside_seeded_runs(|| LoadedModel::from_artifact(&outcome.metadata, &outcome.weights, device))?;
    let epochs_run = outcome.metrics.get("epochs_run").copied().unwrap_or_default() as u32;
    answer_fold(bars, fold, &train, &model, epochs_run, started)
}

/// The fold's answers once its network is trained: `model` (the fold's version, as served for
/// this symbol) forecasts every test day, and the baselines, fitted on the samples the network
/// trained on, answer the same days.
pub(super) fn answer_fold(
    bars: &[Bar],
    fold: &Fold,
    train: &FoldTraining,
    model: &LoadedModel,
    epochs_run: u32,
    started: Instant,
) -> Result<FoldOutput> {
    let features = FeatureConfig::default();
    let s = &train.samples;
    let md = model.metadata();
    let seed = md.hyperparameters["seed"].as_u64().unwrap_or_default();
    let windows = test_windows(bars, fold.test.clone(), &features)?;
    let realised: Vec<f64> = fold.test.clone().map(|t| bars[t + FORECAST_DAYS].close / bars[t].close - 1.0).collect();
    let mut answers = model_answers(md.calibration.as_ref(), &forecasts(model, &windows)?, &windows, &realised);

    // The baselines are fitted on the span the network trained on, not on the later samples
    // its pipeline held back as holdout and gap (issue 23.4): both see the same days.
    let n_fit = md.data_end.map_or(s.len(), |end| s.end_dates.partition_point(|d| *d <= end)).max(1);
    let train_days: Vec<DayFeatures> =
        train.end_index[..n_fit].iter().enumerate().map(|(i, &t)| DayFeatures::new(bars, t, s.window(i))).collect();
    let y_dir: Vec<bool> = s.y_dir[..n_fit].iter().map(|y| *y == 1).collect();
    let y_mag: Vec<[f64; FORECAST_DAYS]> = s.y_mag[..n_fit].iter().map(|m| m.map(f64::from)).collect();
    let test_days: Vec<DayFeatures> =
        fold.test.clone().zip(&windows).map(|(t, w)| DayFeatures::new(bars, t, w)).collect();
    for b in fit_all(&train_days, &y_dir, &y_mag) {
        let (prob_up, cum) = b.answer(&test_days);
        answers.push((b.name.to_string(), Answers { prob_up, cum_return: Some(cum), intervals: Default::default() }));
    }
    Ok(FoldOutput {
        fold: fold.clone(),
        origin: bars[fold.origin].date,
        dates: fold.test.clone().map(|t| bars[t].date).collect(),
        realised,
        answers,
        n_train: s.len(),
        train_dates: (s.end_dates[0], s.end_dates[s.len() - 1]),
        n_fit,
        fit_end: s.end_dates[n_fit - 1],
        epochs_run,
        seed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs `plan`'s folds on `workers` threads (each takes the next fold not yet started). The
/// first failure cancels the other folds; a cancelled run returns [`Error::Cancelled`].
pub fn run_folds(
    bars: &[Bar],
    plan: &[Fold],
    cfg: &BacktestConfig,
    workers: usize,
    cpu_threads: Option<i32>,
    events: &(dyn Fn(BacktestEvent) + Sync),
    cancel: &CancellationToken,
) -> Result<Vec<FoldOutput>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FoldOutput>>>> = Mutex::new((0..plan.len()).map(|_| None).collect());
    let stop = cancel.child_token();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, plan.len().max(1)) {
            scope.spawn(|| loop {
                if stop.is_cancelled() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(fold) = plan.get(i) else { break };
                let r = run_fold(bars, fold, cfg, cpu_threads, events, &stop);
                if let Err(e) = &r {
                    if !matches!(e, Error::Cancelled(_)) {
                        tracing::warn!(fold = i + 1, error = %e, "backtest fold failed; stopping the others");
                    }
                    stop.cancel();
                }
                if let Ok(out) = &r {
                    events(BacktestEvent::FoldCompleted { fold: i as u32 + 1, folds: plan.len() as u32, summary: out.summary() });
                }
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    if cancel.is_cancelled() {
        return Err(Error::Cancelled("backtest cancelled; no report was made".into()));
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // The first real failure explains the run better than the cancellations it caused.
    let mut out = Vec::with_capacity(plan.len());
    let mut cancelled = None;
    for r in results {
        match r {
            Some(Ok(f)) => out.push(f),
            Some(Err(Error::Cancelled(m))) => cancelled = Some(Error::Cancelled(m)),
            Some(Err(e)) => return Err(e),
            None => cancelled = cancelled.or(Some(Error::Cancelled("backtest stopped before every fold ran".into()))),
        }
    }
    match cancelled {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
