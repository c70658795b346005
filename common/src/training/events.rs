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
    /// One fold of one grid combination or TPE trial finished.
    CvFold {
        /// 1-based combination (grid) or trial (TPE) number.
        combination: u32,
        /// Number of combinations, or `n_trials`.
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
        /// ROC AUC on the fold's test part; `None` when it holds one class only.
        auc: Option<f64>,
        /// Dropout of the trial.
        dropout: f64,
        /// Mini-batch size of the trial.
        batch_size: u32,
        /// Set on the trial's last fold (it completed, or the median rule pruned it here).
        trial: Option<CvTrialEnd>,
    },
    /// The CV search finished.
    CvSummary {
        /// Best learning rate.
        best_lr: f64,
        /// Best hidden size.
        best_hidden_size: u32,
        /// Best epochs.
        best_epochs: u32,
        /// `avg_f1 − 0.1·ln(1 + avg_mse)` of the best trial (whatever `cv_metric` chose it by).
        best_score: f64,
        /// `grid` | `tpe`.
        search: String,
        /// `score` | `auc`: what the search maximised.
        cv_metric: String,
        /// `cv_metric` of the best trial.
        best_objective: f64,
        /// Dropout of the best trial (TPE); `None` for the grid (the architecture's default).
        best_dropout: Option<f64>,
        /// Mini-batch size of the best trial.
        best_batch_size: u32,
        /// 1-based number of the best trial.
        best_trial: u32,
        /// Trials (combinations) that ran.
        trials_run: u32,
        /// Numbers of the trials the median rule stopped early.
        pruned_trials: Vec<u32>,
        /// `n_trials` | `time_budget`.
        stopped_by: String,
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

/// How a CV trial ended; rides on its last `CvFold` event.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct CvTrialEnd {
    /// True when the median rule stopped it after this fold.
    pub pruned: bool,
    /// `cv_metric` over the folds it ran.
    pub objective: f64,
    /// `cv_metric` of each fold it ran, alone.
    pub fold_objectives: Vec<f64>,
    /// Best objective of the complete trials so far (this one included); `None` before any.
    pub best_objective: Option<f64>,
    /// Number of the trial holding `best_objective`.
    pub best_trial: Option<u32>,
    /// Wall time of the trial.
    pub seconds: f64,
}

impl TrainEvent {
    /// Shorthand for a [`TrainEvent::Stage`].
    pub fn stage(stage: &str, detail: impl Into<String>) -> TrainEvent {
        TrainEvent::Stage { stage: stage.to_string(), detail: detail.into() }
    }
}
