//! One-shot subcommands: `import`, `features`, `train`, `spec`.
pub mod features;
pub mod features_cmd;
pub mod import;
pub mod spec;
pub mod train;
