//! Training (SPEC §5–§6): losses, plain / improved / cross-validated / incremental training and
//! the end-to-end pipeline.
pub mod config;
pub mod losses;

pub use config::{DeviceChoice, ImprovedConfig, IncrementalConfig, ParamGrid, PipelineConfig, RegLossType};
