//! The machine-readable training specification of this build (SPEC §9 `GetTrainingSpec`,
//! `trainer-svc spec`), in the shape of seed 001 §5, plus its Markdown rendering (seed 001 §1–§5).
//!
//! Every number is read from the constants the code actually uses (features, model
//! architectures, training configuration, evaluation and trigger constants), so the spec cannot
//! drift from the build. Loss formulas are the ones documented (and implemented) in
//! [`crate::training::losses`].
//!
//! - [`document`]: the JSON document ([`training_spec`]) and the build facts it states;
//! - [`markdown`]: its Markdown rendering ([`training_spec_markdown`]).

pub mod document;
pub mod markdown;

pub use document::{
    training_spec, DATA_RANGE_RULE, FEATURE_DEFINITIONS, LIBTORCH_VERSION, N_BASE_FEATURES, SPEC_FORMAT_VERSION,
    TCH_VERSION,
};
pub use markdown::training_spec_markdown;
