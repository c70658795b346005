//! Hyper-parameter search machinery behind [`super::cv`] (SPEC §13.3), free of tch so it can be
//! tested on cheap objectives:
//!
//! - [`config`]: the request options (`search`, `n_trials`, `cv_metric`, time budget);
//! - [`from_pb`]: those options from a request's protocol fields;
//! - [`space`]: the TPE search space and a sampled point;
//! - [`objective`]: `cv_metric` (`score` or `auc`) over fold scores;
//! - [`sampler`]: random start-up, then TPE (the `tpe` crate) per dimension;
//! - [`pruner`]: the median rule;
//! - [`study`]: the trial loop shared by the grid and TPE.
pub mod config;
pub mod from_pb;
pub mod objective;
pub mod pruner;
pub mod sampler;
pub mod space;
pub mod study;

pub use from_pb::SearchFields;
pub use config::{SearchConfig, SearchMode, DEFAULT_N_TRIALS, MAX_N_TRIALS};
pub use objective::{cv_score, CvMetric, FoldScores, UNDEFINED_FOLD_AUC};
pub use pruner::MedianPruner;
pub use sampler::{Dim, Sampler};
pub use space::{Interval, SearchSpace, TrialParams};
pub use study::{run_study, FoldEvaluator, Proposer, StopReason, StudyOptions, StudyOutcome, TrialRecord, TrialState};
