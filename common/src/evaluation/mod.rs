//! Post-training evaluation (SPEC §6): holdout metrics, the deploy rule, feature importance,
//! plots, and the chronological splits they are computed on.
//!
//! - [`metrics`]: accuracy, F1, MSE, MAE, RMSE, direction accuracy, ROC AUC on the holdout;
//! - [`deploy`]: should a candidate replace the current version;
//! - [`baseline_gate`]: must it also beat the base-rate / linear baselines;
//! - [`importance`]: permutation importance and integrated gradients per feature;
//! - [`plots`]: training-curve and holdout PNG charts;
//! - [`splits`]: sklearn `TimeSeriesSplit` and the purged holdout split.

pub mod baseline_gate;
pub mod deploy;
pub mod importance;
pub mod metrics;
pub mod plots;
pub mod splits;

pub use baseline_gate::{apply_baseline_gate, compare_with_baselines, BaselineComparison};
pub use deploy::{deploy_decision, DeployDecision, DEPLOY_TOLERANCE, MAX_MSE_RATIO, MIN_F1_IMPROVEMENT};
pub use importance::{importance_table, integrated_gradients, permutation_importance, FeatureImportance};
pub use metrics::{auc, holdout_metrics, try_holdout_metrics, HoldoutMetrics};
pub use plots::{plot_holdout, plot_training_curves, TrainingCurves};
pub use splits::{
    holdout_len, holdout_split, holdout_split_min, min_samples_for_holdout, purged_time_series_split, time_series_split,
    HOLDOUT_MAX, HOLDOUT_MIN, PURGE_GAP,
};
