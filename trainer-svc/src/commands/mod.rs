//! One-shot subcommands: `import`, `features`, `train`, `spec`, `backtest`, `generate-bars`.
pub mod backtest;
pub mod features;
pub mod features_cmd;
pub mod generate_bars;
pub mod import;
pub mod spec;
pub mod train;
