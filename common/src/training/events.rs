//! Progress events of a training run; mirrors the `oneof event` payloads of `lstm.v1.TrainEvent`
//! that the training engine produces (`StageChanged`, `CvFold`, `CvSummary`, `Epoch`,
//! `ValidationDecision`). The service adds run id, sequence number and timestamp.
use crate::baselines::BaselineScore;
use crate::calibration::ForecastQuality;
use crate::evaluation::HoldoutMetrics;
use serde::Serialize;

/// Stage names of `StageChanged` (proto comment): the ones the engine emits.
pub mod stage {
    /// Building samples (emitted by callers that build features).
    pub const FEATURES: &str = "features";
    /// Grid search.
    pub const CROSS_VALIDATION: &str = "cross_validation";
    /// Final fit (or incremental fine-tuning).
    pub const TRAINING: &str = "training";
    /// Calibration, conformal intervals and signal threshold.
    pub const CALIBRATION: &str = "calibration";
    /// Holdout comparison with the current model.
    pub const VALIDATION: &str = "validation";
    /// Feature importance.
    pub const IMPORTANCE: &str = "importance";
    /// PNG charts.
    pub const PLOTTING: &str = "plotting";
    /// Serialising the artifact.
    pub const SAVING: &str = "saving";
}

/// One progress event.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "snake_case")]
pub enum TrainEvent {
    /// The run entered a stage.
    Stage {
        /// One of [`stage`]'s names.
        stage: String,
        /// Human-readable detail (sizes, chosen hyper-parameters, ...).
        detail: String,
    },
    /// One fold of one grid combination finished.
    CvFold {
        /// 1-based combination index.
        combination: u32,
        /// Number of combinations.
        combinations: u32,
        /// 1-based fold index.
        fold: u32,
        /// Number of folds.
        folds: u32,
        /// Learning rate of the combination.
        lr: f64,
        /// Hidden size of the combination.
        hidden_size: u32,
        /// Epochs of the combination.
        epochs: u32,
        /// F1 on the fold's test part.
        f1: f64,
        /// Magnitude MSE (fractional returns) on the fold's test part.
        mse: f64,
        /// Direction accuracy on the fold's test part.
        accuracy: f64,
    },
    /// The grid search finished.
    CvSummary {
        /// Best learning rate.
        best_lr: f64,
        /// Best hidden size.
        best_hidden_size: u32,
        /// Best epochs.
        best_epochs: u32,
        /// `avg_f1 − 0.1·ln(1 + avg_mse)` of the best combination.
        best_score: f64,
    },
    /// One training epoch finished. Validation fields are NaN when the stage has no
    /// validation split (plain training, CV folds, incremental fine-tuning).
    Epoch {
        /// `training` | `cv` | `incremental`.
        phase: String,
        /// 1-based epoch.
        epoch: u32,
        /// Epoch cap of this stage.
        max_epochs: u32,
        /// Mean total training loss.
        train_loss: f64,
        /// Mean classification part.
        train_cls_loss: f64,
        /// Mean regression part.
        train_reg_loss: f64,
        /// Validation loss.
        val_loss: f64,
        /// Validation volatility match (higher is better).
        val_volatility_match: f64,
        /// Validation direction accuracy.
        val_accuracy: f64,
        /// Learning rate used in this epoch.
        lr: f64,
        /// Wall time of the epoch.
        seconds: f64,
        /// True when this epoch is the best so far (its weights are kept).
        improved: bool,
    },
    /// Holdout comparison and deploy decision.
    Validation {
        /// Candidate metrics on the holdout.
        candidate: HoldoutMetrics,
        /// Current model's metrics on the same holdout, if there is one.
        current: Option<HoldoutMetrics>,
        /// Whether the candidate should become current.
        deploy: bool,
        /// Why.
        reason: String,
        /// The candidate's holdout quality (served probabilities, base-rate baseline).
        quality: Option<ForecastQuality>,
        /// Base-rate and linear baselines on the same holdout.
        baselines: Vec<BaselineScore>,
        /// Whether the baseline gate decided.
        require_beats_baseline: bool,
    },
}

impl TrainEvent {
    /// Shorthand for a [`TrainEvent::Stage`].
    pub fn stage(stage: &str, detail: impl Into<String>) -> TrainEvent {
        TrainEvent::Stage { stage: stage.to_string(), detail: detail.into() }
    }
}
