//! Cross-validated grid search (seed 000 §3.2): sklearn `TimeSeriesSplit` folds, the base
//! network trained with plain Adam per combination and fold, score
//! `avg_f1 − 0.1·ln(1 + avg_mse)` (MSE of fractional returns), best combination wins (the first
//! one on ties).
use super::config::{ParamGrid, RegLossType};
use super::events::TrainEvent;
use super::fit::{evaluate, fit, FitOptions, OptimizerKind, TensorSet, TARGET_SCALE};
use crate::evaluation::{holdout_metrics, time_series_split, HoldoutMetrics};
use crate::features::{NormStats, Samples, FORECAST_DAYS, N_FEATURES};
use crate::model::{Architecture, Network};
use crate::Result;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::nn::VarStore;
use tch::Device;
use tokio_util::sync::CancellationToken;

/// Outcome of the grid search.
#[derive(Debug, Clone)]
pub struct CvOutcome {
    /// Best learning rate.
    pub best_lr: f64,
    /// Best hidden size.
    pub best_hidden_size: i64,
    /// Best epochs (as listed in the grid, before any `max_epochs` cap).
    pub best_epochs: u32,
    /// Score of the best combination.
    pub best_score: f64,
    /// Every combination's per-fold metrics, averages and score, plus the best parameters.
    pub report: serde_json::Value,
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

/// The CV score `avg_f1 − 0.1·ln(1 + avg_mse)`.
pub fn cv_score(avg_f1: f64, avg_mse: f64) -> f64 {
    avg_f1 - 0.1 * avg_mse.ln_1p()
}

/// Runs the grid search on `samples` (already without any holdout). Each fold standardises
/// with statistics fitted on its own training part. `max_epochs` caps every fit.
#[allow(clippy::too_many_arguments)]
pub fn grid_search(
    samples: &Samples,
    grid: &ParamGrid,
    n_splits: usize,
    reg_loss: RegLossType,
    max_epochs: Option<u32>,
    device: Device,
    rng: &mut ChaCha8Rng,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<CvOutcome> {
    grid.validate()?;
    let folds = time_series_split(samples.len(), n_splits)?;
    let combos = grid.combinations();
    let mut results = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    for (ci, &(lr, hidden, epochs)) in combos.iter().enumerate() {
        let run_epochs = max_epochs.map_or(epochs, |m| epochs.min(m));
        let (mut f1s, mut mses, mut fold_json) = (Vec::new(), Vec::new(), Vec::new());
        for (fi, (tr, te)) in folds.iter().enumerate() {
            let train = samples.subset(tr.clone());
            let test = samples.subset(te.clone());
            let norm = NormStats::fit(&train.x);
            let tset = TensorSet::new(&train, &norm, TARGET_SCALE, device);
            let vset = TensorSet::new(&test, &norm, TARGET_SCALE, device);
            let vs = VarStore::new(device);
            let net = Network::new(&vs.root(), &Architecture::base(N_FEATURES as i64, hidden))?;
            let opts = FitOptions {
                phase: "cv".into(),
                optimizer: OptimizerKind::Adam,
                lr,
                epochs: run_epochs,
                batch_size: grid.batch_size,
                schedule: None,
                grad_clip: None,
                patience: None,
                augmentation: None,
                reg_loss,
                w_cls: 1.0,
                w_reg: 1.0,
            };
            fit(&vs, &net, &tset, None, &opts, rng, events, cancel)?;
            let out = evaluate(&net, &vset, reg_loss, 1.0, 1.0)?;
            let m = metrics_of(&out.prob_up, &out.magnitudes, TARGET_SCALE, &test);
            events(TrainEvent::CvFold {
                combination: ci as u32 + 1,
                combinations: combos.len() as u32,
                fold: fi as u32 + 1,
                folds: folds.len() as u32,
                lr,
                hidden_size: hidden as u32,
                epochs,
                f1: m.f1,
                mse: m.mse,
                accuracy: m.accuracy,
            });
            f1s.push(m.f1);
            mses.push(m.mse);
            fold_json.push(json!({
                "fold": fi + 1, "train": [tr.start, tr.end], "test": [te.start, te.end],
                "f1": m.f1, "mse": m.mse, "accuracy": m.accuracy,
            }));
        }
        let avg_f1 = f1s.iter().sum::<f64>() / f1s.len() as f64;
        let avg_mse = mses.iter().sum::<f64>() / mses.len() as f64;
        let score = cv_score(avg_f1, avg_mse);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, ci));
        }
        results.push(json!({
            "lr": lr, "hidden_size": hidden, "epochs": epochs, "epochs_run": run_epochs,
            "folds": fold_json, "avg_f1": avg_f1, "avg_mse": avg_mse, "score": score,
        }));
    }
    let (best_score, bi) = best.expect("grid has at least one combination (validated)");
    let (best_lr, best_hidden_size, best_epochs) = combos[bi];
    events(TrainEvent::CvSummary {
        best_lr,
        best_hidden_size: best_hidden_size as u32,
        best_epochs,
        best_score,
    });
    Ok(CvOutcome {
        best_lr,
        best_hidden_size,
        best_epochs,
        best_score,
        report: json!({
            "method": "TimeSeriesSplit",
            "n_splits": folds.len(),
            "param_grid": grid,
            "scoring": "avg_f1 - 0.1 * ln(1 + avg_mse)",
            "results": results,
            "best_params": {"lr": best_lr, "hidden_size": best_hidden_size, "epochs": best_epochs, "batch_size": grid.batch_size},
            "best_score": best_score,
        }),
    })
}
