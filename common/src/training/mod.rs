//! Training (SPEC §5–§6): losses, plain / improved / cross-validated / incremental training and
//! the end-to-end pipeline.
//!
//! - [`losses`]: the regression losses (`mse`, `huber`, `volatility`, `full`) with their exact
//!   formulas, cross-entropy, validation volatility match;
//! - [`config`]: request-level options ([`PipelineConfig`], [`IncrementalConfig`], grids);
//! - [`fit`]: the epoch loop (augmentation, AdamW + cosine restarts, clipping, early stopping);
//! - [`cv`]: TimeSeriesSplit grid or TPE search;
//! - [`search`]: the search machinery (space, TPE sampler, median pruner, trial loop);
//! - [`pipeline`] / [`incremental`]: what the trainer service calls ([`run_pooled`]: one network
//!   for a pool of symbols);
//! - [`events`]: progress events streamed to the caller.
//!
//! Choices where the seed is ambiguous: the pipeline trains the final model at lr 5e-4 (SPEC
//! §6 overrides the improved strategy's 1e-3) for at most 50 epochs (the pipeline's 50 caps the
//! strategy's 60); magnitude targets are scaled ×100 internally ([`fit::TARGET_SCALE`]);
//! augmentation acts on standardised inputs.
pub mod calibrate;
pub mod config;
pub mod cv;
pub mod events;
pub mod fit;
pub mod incremental;
pub mod losses;
pub mod pipeline;
pub mod search;
mod session;
pub(crate) use session::outside_seeded_runs;

pub use config::{DeviceChoice, ImprovedConfig, IncrementalConfig, ParamGrid, PipelineConfig, RegLossType};
pub use events::TrainEvent;
pub use search::{CvMetric, SearchConfig, SearchMode, SearchSpace};
pub use incremental::run_incremental;
pub use pipeline::{run_pipeline, run_pooled, CurrentModel, MemberOutcome, PipelineOutcome, PoolInput, PooledOutcome};
