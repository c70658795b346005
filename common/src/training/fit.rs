//! The epoch loop shared by every training mode: mini-batches in a seeded shuffled order,
//! optional augmentation, Adam / AdamW, cosine warm restarts, gradient clipping, validation,
//! early stopping on validation volatility match with best-weight restore, cancellation.
use super::config::{ImprovedConfig, RegLossType};
use super::events::TrainEvent;
use super::losses;
use crate::evaluation::TrainingCurves;
use crate::features::{NormStats, Samples, FORECAST_DAYS};
use crate::model::{prob_up, safetensors_io, standardised_windows, Network};
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::time::Instant;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use tokio_util::sync::CancellationToken;

/// Magnitude targets are multiplied by this inside training (daily returns become percent), so
/// MSE / Huber(δ = 1) work at a sensible scale; stored as `target_scale` in the
/// hyper-parameters and divided out by `LoadedModel::forecast`.
pub const TARGET_SCALE: f64 = 100.0;

/// Samples as device tensors: standardised inputs, direction labels, scaled magnitudes.
#[derive(Debug)]
pub struct TensorSet {
    /// `[n, 60, 21]` standardised inputs.
    pub x: Tensor,
    /// `[n]` int64 direction labels.
    pub y_dir: Tensor,
    /// `[n, 5]` magnitudes × target scale.
    pub y_mag: Tensor,
    /// Number of samples.
    pub n: usize,
}

impl TensorSet {
    /// Standardises `samples` with `norm`, scales magnitudes by `target_scale`, moves to `device`.
    pub fn new(samples: &Samples, norm: &NormStats, target_scale: f64, device: Device) -> TensorSet {
        let n = samples.len();
        let mags: Vec<f32> = samples
            .y_mag
            .iter()
            .flat_map(|m| m.iter().map(|v| (f64::from(*v) * target_scale) as f32))
            .collect();
        TensorSet {
            x: standardised_windows(&samples.x, n, norm, device),
            y_dir: Tensor::from_slice(&samples.y_dir).to_device(device),
            y_mag: Tensor::from_slice(&mags).reshape([n as i64, FORECAST_DAYS as i64]).to_device(device),
            n,
        }
    }

    /// The set with each window's member index appended (the input of a network with a symbol
    /// embedding: [`crate::model::with_symbol`]).
    pub fn with_member(mut self, member: usize) -> TensorSet {
        self.x = crate::model::with_symbol(&self.x, member);
        self
    }

    /// The sets one after another (a pooled run's members, each standardised on its own
    /// statistics); one set is returned as it is.
    pub fn concat(mut sets: Vec<TensorSet>) -> TensorSet {
        if sets.len() == 1 {
            return sets.remove(0);
        }
        let cat = |part: fn(&TensorSet) -> &Tensor| Tensor::cat(&sets.iter().map(part).collect::<Vec<_>>(), 0);
        TensorSet {
            x: cat(|s| &s.x),
            y_dir: cat(|s| &s.y_dir),
            y_mag: cat(|s| &s.y_mag),
            n: sets.iter().map(|s| s.n).sum(),
        }
    }
}

/// Which optimiser a stage uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `torch.optim.Adam` (β 0.9/0.999, no weight decay).
    Adam,
    /// `torch.optim.AdamW` with decoupled weight decay.
    AdamW {
        /// Weight decay.
        weight_decay: f64,
    },
}

/// `CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)` stepped once per epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineRestarts {
    /// First period in epochs.
    pub t_0: u32,
    /// Period multiplier after each restart.
    pub t_mult: u32,
    /// Minimum learning rate.
    pub eta_min: f64,
}

impl CosineRestarts {
    /// Learning rate of 0-based `epoch` for base rate `base`:
    /// `eta_min + (base − eta_min)·(1 + cos(π·T_cur/T_i))/2`, where `T_cur` counts epochs since
    /// the last restart and `T_i` is the current period (T_0, T_0·T_mult, ...).
    pub fn lr_at(&self, base: f64, epoch: u32) -> f64 {
        let mut t_i = u64::from(self.t_0.max(1));
        let mut t_cur = u64::from(epoch);
        while t_cur >= t_i {
            t_cur -= t_i;
            t_i *= u64::from(self.t_mult.max(1));
        }
        let cos = (std::f64::consts::PI * t_cur as f64 / t_i as f64).cos();
        self.eta_min + (base - self.eta_min) * (1.0 + cos) / 2.0
    }
}

/// Input augmentation applied to each training batch (targets unchanged):
/// `x' = x · s_i + ε`, `s_i ~ U(scale_low, scale_high)` per sample, `ε ~ N(0, noise_std)` per
/// value (on the standardised inputs). Drawn from the run's seeded ChaCha RNG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Std of the additive noise.
    pub noise_std: f64,
    /// Lower bound of the per-sample scale.
    pub scale_low: f64,
    /// Upper bound of the per-sample scale.
    pub scale_high: f64,
}

/// Everything one call of [`fit`] needs to know.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// `training` | `cv` | `incremental` (Epoch events).
    pub phase: String,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f64,
    /// Epoch cap.
    pub epochs: u32,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Learning-rate schedule; `None` keeps `lr` constant.
    pub schedule: Option<CosineRestarts>,
    /// Gradient-norm clip.
    pub grad_clip: Option<f64>,
    /// Early-stopping patience on validation volatility match; best weights are restored at
    /// the end. Needs a validation set.
    pub patience: Option<u32>,
    /// Batch augmentation.
    pub augmentation: Option<Augmentation>,
    /// Regression loss.
    pub reg_loss: RegLossType,
    /// Weight of the classification loss.
    pub w_cls: f64,
    /// Weight of the regression loss.
    pub w_reg: f64,
}

impl FitOptions {
    /// Plain training (the plain pipeline, every CV fold, incremental fine-tuning): Adam at a
    /// constant `lr`, no clipping, no early stopping, no augmentation, both losses weighted 1.
    pub fn plain(phase: &str, lr: f64, epochs: u32, batch_size: usize, reg_loss: RegLossType) -> FitOptions {
        FitOptions {
            phase: phase.into(),
            optimizer: OptimizerKind::Adam,
            lr,
            epochs,
            batch_size,
            schedule: None,
            grad_clip: None,
            patience: None,
            augmentation: None,
            reg_loss,
            w_cls: 1.0,
            w_reg: 1.0,
        }
    }

    /// The improved strategy `imp` (SPEC §6) at `lr` for up to `epochs`: AdamW, cosine warm
    /// restarts, gradient clipping, early stopping, augmentation when `imp.augment`, its loss
    /// weights.
    pub fn improved(
        phase: &str,
        lr: f64,
        epochs: u32,
        batch_size: usize,
        reg_loss: RegLossType,
        imp: &ImprovedConfig,
    ) -> FitOptions {
        FitOptions {
            phase: phase.into(),
            optimizer: OptimizerKind::AdamW { weight_decay: imp.weight_decay },
            lr,
            epochs,
            batch_size,
            schedule: Some(CosineRestarts { t_0: imp.t_0, t_mult: imp.t_mult, eta_min: imp.eta_min }),
            grad_clip: Some(imp.grad_clip),
            patience: Some(imp.patience),
            augmentation: imp.augment.then_some(Augmentation {
                noise_std: imp.noise_std,
                scale_low: imp.scale_low,
                scale_high: imp.scale_high,
            }),
            reg_loss,
            w_cls: imp.weight_cls,
            w_reg: imp.weight_reg,
        }
    }
}

/// What happened in [`fit`].
#[derive(Debug, Clone, Default)]
pub struct FitReport {
    /// Per-epoch curves (validation entries NaN without a validation set).
    pub curves: TrainingCurves,
    /// Epochs actually run.
    pub epochs_run: u32,
    /// 1-based epoch whose weights were kept (best validation volatility match), if tracked.
    pub best_epoch: Option<u32>,
    /// Validation volatility match of that epoch.
    pub best_val_volatility_match: Option<f64>,
    /// True when patience ran out before the epoch cap.
    pub early_stopped: bool,
    /// Optimiser steps taken.
    pub batches: u64,
    /// Mean training loss of the last epoch.
    pub final_train_loss: f64,
}

/// Losses and predictions of a network on a [`TensorSet`] in eval mode.
#[derive(Debug, Clone)]
pub struct EvalOutput {
    /// Mean total loss (`w_cls·cls + w_reg·reg`, over the whole set at once).
    pub loss: f64,
    /// Classification part.
    pub cls_loss: f64,
    /// Regression part.
    pub reg_loss: f64,
    /// Volatility match of the scaled magnitudes.
    pub volatility_match: f64,
    /// Share of samples with `argmax == y_dir`.
    pub accuracy: f64,
    /// P(up) per sample.
    pub prob_up: Vec<f32>,
    /// Predicted magnitudes (scaled), `n × 5` row-major.
    pub magnitudes: Vec<f32>,
}

/// Evaluates `net` on `set` without gradients, in chunks of 512 samples.
pub fn evaluate(net: &Network, set: &TensorSet, reg: RegLossType, w_cls: f64, w_reg: f64) -> Result<EvalOutput> {
    if set.n == 0 {
        return Err(Error::invalid("cannot evaluate on an empty sample set"));
    }
    let (logits, mags) = net.predict(&set.x);
    tch::no_grad(|| {
        let cls = losses::classification(&logits, &set.y_dir).double_value(&[]);
        let regv = losses::regression(reg, &mags, &set.y_mag).double_value(&[]);
        let correct = logits.argmax(-1, false).eq_tensor(&set.y_dir).to_kind(Kind::Float).mean(Kind::Float);
        let prob_up = Vec::<f32>::try_from(prob_up(&logits).to_device(Device::Cpu))?;
        let magnitudes = Vec::<f32>::try_from(mags.to_device(Device::Cpu).contiguous().view(-1))?;
        let truth = Vec::<f32>::try_from(set.y_mag.to_device(Device::Cpu).contiguous().view(-1))?;
        Ok(EvalOutput {
            loss: w_cls * cls + w_reg * regv,
            cls_loss: cls,
            reg_loss: regv,
            volatility_match: losses::volatility_match(&magnitudes, &truth),
            accuracy: correct.double_value(&[]),
            prob_up,
            magnitudes,
        })
    })
}

fn build_optimizer(vs: &VarStore, kind: OptimizerKind, lr: f64) -> Result<nn::Optimizer> {
    Ok(match kind {
        OptimizerKind::Adam => nn::Adam::default().build(vs, lr)?,
        OptimizerKind::AdamW { weight_decay } => nn::AdamW { wd: weight_decay, ..Default::default() }.build(vs, lr)?,
    })
}

fn augment(xb: &Tensor, aug: &Augmentation, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let size = xb.size();
    let b = size[0] as usize;
    let per = (size[1] * size[2]) as usize;
    let scales: Vec<f32> = (0..b).map(|_| rng.random_range(aug.scale_low..=aug.scale_high) as f32).collect();
    let normal = Normal::new(0.0f32, aug.noise_std as f32).map_err(|e| Error::invalid(format!("noise_std: {e}")))?;
    let noise: Vec<f32> = (0..b * per).map(|_| normal.sample(rng)).collect();
    let dev = xb.device();
    let s = Tensor::from_slice(&scales).reshape([b as i64, 1, 1]).to_device(dev);
    let e = Tensor::from_slice(&noise).reshape(size.as_slice()).to_device(dev);
    Ok(xb * s + e)
}

/// Trains `net` (whose variables live in `vs`) on `train`, validating on `val` after every
/// epoch when given. Emits one [`TrainEvent::Epoch`] per epoch. Checks `cancel` before every
/// batch and returns [`Error::Cancelled`] (saying how many batches ran) when it fires.
#[allow(clippy::too_many_arguments)] // each argument is a distinct collaborator of the loop
pub fn fit(
    vs: &VarStore,
    net: &Network,
    train: &TensorSet,
    val: Option<&TensorSet>,
    opts: &FitOptions,
    rng: &mut ChaCha8Rng,
    events: &mut dyn FnMut(TrainEvent),
    cancel: &CancellationToken,
) -> Result<FitReport> {
    if train.n == 0 {
        return Err(Error::invalid("no training samples"));
    }
    if opts.batch_size == 0 || opts.epochs == 0 {
        return Err(Error::invalid("batch_size and epochs must be at least 1"));
    }
    if opts.patience.is_some() && val.is_none() {
        return Err(Error::internal("early stopping needs a validation set"));
    }
    let mut opt = build_optimizer(vs, opts.optimizer, opts.lr)?;
    let mut report = FitReport::default();
    let mut order: Vec<i64> = (0..train.n as i64).collect();
    let device = train.x.device();
    let mut best: Option<(f64, u32, std::collections::HashMap<String, Tensor>)> = None;
    let mut since_best = 0u32;
    for epoch in 0..opts.epochs {
        let started = Instant::now();
        let lr = opts.schedule.map_or(opts.lr, |s| s.lr_at(opts.lr, epoch));
        opt.set_lr(lr);
        order.shuffle(rng);
        let (mut sum, mut sum_cls, mut sum_reg, mut seen) = (0.0, 0.0, 0.0, 0usize);
        for chunk in order.chunks(opts.batch_size) {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled(format!(
                    "training cancelled in epoch {} after {} batches",
                    epoch + 1,
                    report.batches
                )));
            }
            let idx = Tensor::from_slice(chunk).to_device(device);
            let mut xb = train.x.index_select(0, &idx);
            if let Some(aug) = &opts.augmentation {
                xb = augment(&xb, aug, rng)?;
            }
            let yd = train.y_dir.index_select(0, &idx);
            let ym = train.y_mag.index_select(0, &idx);
            let (logits, mags) = net.forward_t(&xb, true);
            let cls = losses::classification(&logits, &yd);
            let reg = losses::regression(opts.reg_loss, &mags, &ym);
            let loss = &cls * opts.w_cls + &reg * opts.w_reg;
            opt.zero_grad();
            loss.backward();
            if let Some(c) = opts.grad_clip {
                opt.clip_grad_norm(c);
            }
            opt.step();
            let b = chunk.len();
            let lv = loss.double_value(&[]);
            if !lv.is_finite() {
                return Err(Error::internal(format!(
                    "training diverged: loss {lv} in epoch {}; try a lower learning rate",
                    epoch + 1
                )));
            }
            sum += lv * b as f64;
            sum_cls += cls.double_value(&[]) * b as f64;
            sum_reg += reg.double_value(&[]) * b as f64;
            seen += b;
            report.batches += 1;
        }
        let nseen = seen as f64;
        let train_loss = sum / nseen;
        let (val_loss, vm, acc) = match val {
            Some(v) => {
                let e = evaluate(net, v, opts.reg_loss, opts.w_cls, opts.w_reg)?;
                (e.loss, e.volatility_match, e.accuracy)
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        let mut improved = false;
        if opts.patience.is_some() {
            // A NaN metric (degenerate validation set) never counts as an improvement.
            let score = if vm.is_nan() { f64::NEG_INFINITY } else { vm };
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, epoch + 1, safetensors_io::snapshot(vs)));
                since_best = 0;
                improved = true;
            } else {
                since_best += 1;
            }
        }
        report.curves.epochs.push(epoch + 1);
        report.curves.train_loss.push(train_loss);
        report.curves.val_loss.push(val_loss);
        report.curves.val_volatility_match.push(vm);
        report.curves.lr.push(lr);
        report.epochs_run = epoch + 1;
        report.final_train_loss = train_loss;
        events(TrainEvent::Epoch {
            phase: opts.phase.clone(),
            epoch: epoch + 1,
            max_epochs: opts.epochs,
            train_loss,
            train_cls_loss: sum_cls / nseen,
            train_reg_loss: sum_reg / nseen,
            val_loss,
            val_volatility_match: vm,
            val_accuracy: acc,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            improved,
        });
        if let Some(p) = opts.patience {
            if since_best >= p && epoch + 1 < opts.epochs {
                report.early_stopped = true;
                break;
            }
        }
    }
    if let Some((vm, ep, snap)) = best {
        safetensors_io::restore(vs, &snap);
        report.best_epoch = Some(ep);
        report.best_val_volatility_match = Some(vm);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_restarts_follow_pytorch() {
        let s = CosineRestarts { t_0: 50, t_mult: 2, eta_min: 1e-5 };
        assert!((s.lr_at(1e-3, 0) - 1e-3).abs() < 1e-15);
        let mid = 1e-5 + (1e-3 - 1e-5) * 0.5;
        assert!((s.lr_at(1e-3, 25) - mid).abs() < 1e-12);
        // restart at 50, new period 100 → epoch 100 is halfway through it
        assert!((s.lr_at(1e-3, 50) - 1e-3).abs() < 1e-15);
        assert!((s.lr_at(1e-3, 100) - mid).abs() < 1e-12);
        assert!((s.lr_at(1e-3, 150) - 1e-3).abs() < 1e-15);
        assert!(s.lr_at(1e-3, 49) < 2e-5);
    }
}
