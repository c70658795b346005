//! Training configuration: loss choice, device choice, CV grid, pipeline / incremental options
//! and the improved-strategy constants of seed 001 §4.1.
use crate::calibration::{CalibrationMethod, DEFAULT_TARGET_PRECISION};
use super::search::{SearchConfig, SearchMode};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The regression-head loss (SPEC §5); see [`super::losses`] for the exact formulas.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RegLossType {
    /// Mean squared error.
    Mse,
    /// Huber loss, delta 1.0.
    Huber,
    /// MSE + 0.2·relu(0.7 − std(pred)/std(true)).
    Volatility,
    /// MSE + volatility match + per-step volatility match + direction terms + pinball (default).
    #[default]
    Full,
}

impl RegLossType {
    /// The request spelling (`mse` | `huber` | `volatility` | `full`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RegLossType::Mse => "mse",
            RegLossType::Huber => "huber",
            RegLossType::Volatility => "volatility",
            RegLossType::Full => "full",
        }
    }
}

impl std::fmt::Display for RegLossType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RegLossType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mse" => Ok(RegLossType::Mse),
            "huber" => Ok(RegLossType::Huber),
            "volatility" => Ok(RegLossType::Volatility),
            "full" => Ok(RegLossType::Full),
            _ => Err(Error::invalid(format!(
                "reg_loss_type {:?} is not supported; use one of: mse, huber, volatility, full",
                crate::text::clip(s)
            ))),
        }
    }
}

/// Where to train: `auto` (CUDA 0 when available, else CPU) | `cpu` | `cuda:N`.
/// Parsing is case-insensitive; an empty string means `auto` and a bare `cuda` means `cuda:0`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl DeviceChoice {
    /// The tch device; `cuda:N` without such a device → [`Error::FailedPrecondition`].
    pub fn resolve(&self) -> Result<tch::Device> {
        match *self {
            DeviceChoice::Auto => Ok(tch::Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Cuda(n) => {
                let count = if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
                if n < count {
                    Ok(tch::Device::Cuda(n))
                } else {
                    Err(Error::FailedPrecondition(format!(
                        "device cuda:{n} is not available on this host ({count} CUDA device(s)); \
                         use device \"auto\" or \"cpu\""
                    )))
                }
            }
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "" | "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "device {:?} is not valid; use auto, cpu or cuda:N",
                        crate::text::clip(s)
                    ))
                }),
        }
    }
}

/// Hyper-parameter grid of the cross-validated search (seed 001 §4.2).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ParamGrid {
    /// Learning rates tried.
    pub lr: Vec<f64>,
    /// LSTM hidden sizes tried.
    pub hidden_size: Vec<i64>,
    /// Epoch counts tried.
    pub epochs: Vec<u32>,
    /// Mini-batch size.
    pub batch_size: usize,
}

impl Default for ParamGrid {
    /// `lr {1e-3, 5e-4} × hidden {32, 64} × epochs {30, 50}`, batch 32.
    fn default() -> Self {
        ParamGrid { lr: vec![1e-3, 5e-4], hidden_size: vec![32, 64], epochs: vec![30, 50], batch_size: 32 }
    }
}

impl ParamGrid {
    /// The CPU-friendly grid used with `fast_training`: `5e-4 / 32 / 25`, batch 32.
    pub fn fast() -> Self {
        ParamGrid { lr: vec![5e-4], hidden_size: vec![32], epochs: vec![25], batch_size: 32 }
    }

    /// Every `(lr, hidden_size, epochs)` combination, lr outermost.
    pub fn combinations(&self) -> Vec<(f64, i64, u32)> {
        let mut out = Vec::new();
        for &lr in &self.lr {
            for &h in &self.hidden_size {
                for &e in &self.epochs {
                    out.push((lr, h, e));
                }
            }
        }
        out
    }

    /// Rejects empty axes and out-of-range values.
    pub fn validate(&self) -> Result<()> {
        if self.lr.is_empty() || self.hidden_size.is_empty() || self.epochs.is_empty() {
            return Err(Error::invalid("param_grid: lr, hidden_size and epochs must each list at least one value"));
        }
        if let Some(lr) = self.lr.iter().find(|l| !(l.is_finite() && **l > 0.0 && **l < 1.0)) {
            return Err(Error::invalid(format!("param_grid: lr {lr} must be in (0, 1)")));
        }
        if let Some(h) = self.hidden_size.iter().find(|h| !(2..=1024).contains(*h)) {
            return Err(Error::invalid(format!("param_grid: hidden_size {h} must be in 2..=1024")));
        }
        if let Some(e) = self.epochs.iter().find(|e| !(1..=1000).contains(*e)) {
            return Err(Error::invalid(format!("param_grid: epochs {e} must be in 1..=1000")));
        }
        if !(1..=4096).contains(&self.batch_size) {
            return Err(Error::invalid(format!("param_grid: batch_size {} must be in 1..=4096", self.batch_size)));
        }
        Ok(())
    }
}

/// Constants of the improved training strategy (seed 001 §4.1, `DEFAULT_IMPROVED_CONFIG`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ImprovedConfig {
    /// 初始学习率. The pipeline overrides it with 5e-4 (SPEC §6); kept for reference.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient-norm clip.
    pub grad_clip: f64,
    /// Early-stopping patience in epochs.
    pub patience: u32,
    /// Cosine schedule minimum learning rate.
    pub eta_min: f64,
    /// First cosine period in epochs.
    pub t_0: u32,
    /// Period multiplier after each restart.
    pub t_mult: u32,
    /// Whether to augment batches.
    pub augment: bool,
    /// Std of the additive Gaussian noise.
    pub noise_std: f64,
    /// Lower bound of the per-sample scale factor.
    pub scale_low: f64,
    /// Upper bound of the per-sample scale factor.
    pub scale_high: f64,
    /// Weight of the classification loss.
    pub weight_cls: f64,
    /// Weight of the regression loss.
    pub weight_reg: f64,
    /// Epoch cap.
    pub max_epochs: u32,
}

impl Default for ImprovedConfig {
    fn default() -> Self {
        ImprovedConfig {
            lr: 1e-3,
            weight_decay: 0.01,
            grad_clip: 1.0,
            patience: 20,
            eta_min: 1e-5,
            t_0: 50,
            t_mult: 2,
            augment: true,
            noise_std: 0.01,
            scale_low: 0.98,
            scale_high: 1.02,
            weight_cls: 1.0,
            weight_reg: 1.0,
            max_epochs: 60,
        }
    }
}

/// Options of one full training pipeline run (seed 000 §2.1 defaults).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    /// Symbol the model is for (metadata only).
    pub symbol: String,
    /// Years of history of the `(symbol, years)` key (metadata only).
    pub years: u32,
    /// Cross-validated search: the grid runs only when `use_improved_training` is false; TPE
    /// (`search.mode`) runs in either training mode and tunes the final fit.
    pub do_cv_tune: bool,
    /// Compute feature importance (permutation + integrated gradients).
    pub do_shap: bool,
    /// Render training-curve and holdout PNGs.
    pub do_plot: bool,
    /// 3 CV folds and the fast grid.
    pub fast_training: bool,
    /// AdamW + cosine restarts + early stopping + augmentation (default) instead of plain Adam.
    pub use_improved_training: bool,
    /// `LSTMDualHeadEnhanced` (default) instead of `LSTMDualHead`.
    pub use_enhanced_model: bool,
    /// Regression loss.
    pub reg_loss_type: RegLossType,
    /// CV grid; `None` → [`ParamGrid::default`] (or [`ParamGrid::fast`] with `fast_training`).
    /// With plain training and CV off, the first value of each axis sets the final fit.
    pub param_grid: Option<ParamGrid>,
    /// Leak-free holdout validation + deploy decision against the current model.
    pub do_post_training_validation: bool,
    /// Seed for repeatable CPU runs; `None` → random.
    pub seed: Option<u64>,
    /// Training device.
    pub device: DeviceChoice,
    /// Caps the epochs of every training stage (CV folds, final fit); for tests and demos.
    pub max_epochs: Option<u32>,
    /// Intra-op CPU threads for libtorch (`tch::set_num_threads`); `None` leaves the default.
    pub cpu_threads: Option<i32>,
    /// Calibration of the direction head, fitted on the calibration samples
    /// ([`crate::calibration`]); default [`crate::calibration::DEFAULT_CALIBRATION`].
    #[serde(default)]
    pub calibration: CalibrationMethod,
    /// Keep a candidate non-current when its holdout Brier is not below the best baseline's;
    /// `None` = the trainer's default (`--require-beats-baseline`, off unless set).
    #[serde(default)]
    pub require_beats_baseline: Option<bool>,
    /// Precision the signal threshold must reach on the calibration samples (issue 14).
    #[serde(default = "default_target_precision")]
    pub target_precision: f64,
    /// How CV picks hyper-parameters (grid by default, or TPE) and by which metric.
    #[serde(default)]
    pub search: SearchConfig,
    /// Pooled runs only: width of the learned symbol embedding (SPEC §14.3); 0 = none (default).
    #[serde(default)]
    pub symbol_embedding_dim: u32,
}

fn default_target_precision() -> f64 {
    DEFAULT_TARGET_PRECISION
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            symbol: String::new(),
            years: 1,
            do_cv_tune: true,
            do_shap: true,
            do_plot: true,
            fast_training: false,
            use_improved_training: true,
            use_enhanced_model: true,
            reg_loss_type: RegLossType::Full,
            param_grid: None,
            do_post_training_validation: true,
            seed: None,
            device: DeviceChoice::Auto,
            max_epochs: None,
            cpu_threads: None,
            calibration: CalibrationMethod::default(),
            require_beats_baseline: None,
            target_precision: DEFAULT_TARGET_PRECISION,
            search: SearchConfig::default(),
            symbol_embedding_dim: 0,
        }
    }
}

impl PipelineConfig {
    /// Rejects impossible values before any work starts.
    pub fn validate(&self) -> Result<()> {
        if let Some(g) = &self.param_grid {
            g.validate()?;
        }
        if self.max_epochs == Some(0) {
            return Err(Error::invalid("max_epochs must be at least 1 when given"));
        }
        if !(self.target_precision.is_finite() && self.target_precision > 0.0 && self.target_precision <= 1.0) {
            return Err(Error::invalid(format!(
                "target_precision {} must be in (0, 1]; the default is {DEFAULT_TARGET_PRECISION}",
                self.target_precision
            )));
        }
        if i64::from(self.symbol_embedding_dim) > crate::model::MAX_SYMBOL_EMBEDDING_DIM {
            return Err(Error::invalid(format!(
                "symbol_embedding_dim {} must be at most {}",
                self.symbol_embedding_dim,
                crate::model::MAX_SYMBOL_EMBEDDING_DIM
            )));
        }
        if let Some(t) = self.cpu_threads {
            if !(1..=1024).contains(&t) {
                return Err(Error::invalid(format!("cpu_threads {t} must be in 1..=1024")));
            }
        }
        if self.search.mode == SearchMode::Tpe {
            if !self.do_cv_tune {
                return Err(Error::invalid(
                    "search \"tpe\" is a CV search but do_cv_tune is false; set do_cv_tune (or leave it unset) or use search \"grid\"",
                ));
            }
            self.search.validate()?;
        }
        Ok(())
    }

    /// Whether the run starts with a CV search: the grid only with plain training (seed 000),
    /// TPE in either training mode.
    pub fn runs_cv(&self) -> bool {
        self.do_cv_tune && (!self.use_improved_training || self.search.mode == SearchMode::Tpe)
    }

    /// The grid CV uses: the given one, else the fast or default grid.
    pub fn grid(&self) -> ParamGrid {
        match &self.param_grid {
            Some(g) => g.clone(),
            None if self.fast_training => ParamGrid::fast(),
            None => ParamGrid::default(),
        }
    }
}

/// Options of incremental fine-tuning (seed 000 §3.4).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IncrementalConfig {
    /// Fine-tuning epochs (15).
    pub epochs: u32,
    /// Adam learning rate (1e-4).
    pub lr: f64,
    /// Mini-batch size (32).
    pub batch_size: usize,
    /// Seed for repeatable CPU runs.
    pub seed: Option<u64>,
    /// Training device.
    pub device: DeviceChoice,
}

impl Default for IncrementalConfig {
    fn default() -> Self {
        IncrementalConfig { epochs: 15, lr: 1e-4, batch_size: 32, seed: None, device: DeviceChoice::Auto }
    }
}

impl IncrementalConfig {
    /// Rejects impossible values.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1000).contains(&self.epochs) {
            return Err(Error::invalid(format!("incremental epochs {} must be in 1..=1000", self.epochs)));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 1.0) {
            return Err(Error::invalid(format!("incremental lr {} must be in (0, 1)", self.lr)));
        }
        if !(1..=4096).contains(&self.batch_size) {
            return Err(Error::invalid(format!("incremental batch_size {} must be in 1..=4096", self.batch_size)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loss_and_device_and_rejects_others_with_the_allowed_values() {
        assert_eq!("FULL".parse::<RegLossType>().unwrap(), RegLossType::Full);
        assert_eq!("huber".parse::<RegLossType>().unwrap(), RegLossType::Huber);
        let e = "l1".parse::<RegLossType>().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(e.to_string().contains("mse, huber, volatility, full"), "{e}");
        assert_eq!("cuda:1".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(1));
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert!(matches!("gpu".parse::<DeviceChoice>(), Err(Error::InvalidArgument(_))));
        assert!(matches!("cuda:x".parse::<DeviceChoice>(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn missing_cuda_device_is_a_failed_precondition() {
        let e = DeviceChoice::Cuda(97).resolve().unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(_)), "{e}");
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), tch::Device::Cpu);
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = PipelineConfig::default();
        assert!(c.do_cv_tune && c.do_shap && c.do_plot && !c.fast_training);
        assert!(c.use_improved_training && c.use_enhanced_model && c.do_post_training_validation);
        assert_eq!(c.reg_loss_type, RegLossType::Full);
        assert_eq!(ParamGrid::default().combinations().len(), 8);
        assert_eq!(ParamGrid::fast().combinations(), vec![(5e-4, 32, 25)]);
        let bad = ParamGrid { lr: vec![], ..ParamGrid::default() };
        assert!(matches!(bad.validate(), Err(Error::InvalidArgument(_))));
        let inc = IncrementalConfig::default();
        assert_eq!((inc.epochs, inc.lr, inc.batch_size), (15, 1e-4, 32));
    }
}
