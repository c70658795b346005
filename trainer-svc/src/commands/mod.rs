//! One-shot subcommands: `import`, `features`, `train`, `spec`, `generate-bars`.
pub mod features;
pub mod features_cmd;
pub mod generate_bars;
pub mod import;
pub mod spec;
pub mod train;
