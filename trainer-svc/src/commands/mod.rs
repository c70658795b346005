//! One-shot subcommands: `import`, `features`, `train`, `spec`, `backtest`.
pub mod backtest;
pub mod features;
pub mod features_cmd;
pub mod import;
pub mod spec;
pub mod train;
