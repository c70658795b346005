//! One-shot subcommands: `import`, `features`, `train`, `spec`, `backtest`, `generate-bars`; `bar_file`
//! reads the CSV files they name.
pub mod backtest;
pub mod bar_file;
pub mod features;
pub mod features_cmd;
pub mod generate_bars;
pub mod import;
pub mod spec;
pub mod train;
