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

use std::sync::Arc;

use common::calendar::TradingCalendar;
use common::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::core::{Core, CoreSettings};

/// The core a command that trains runs on, without a server (`train`, `backtest`): the default
/// trading calendar, its own metrics, and a shutdown token that SIGINT / SIGTERM cancel.
pub(crate) fn cli_core(registry: Registry, settings: CoreSettings) -> (Arc<Core>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let core = Arc::new(Core::new(
        registry,
        TradingCalendar::default(),
        crate::metrics::Metrics::new(),
        settings,
        shutdown.clone(),
    ));
    let ctrl_c = shutdown.clone();
    tokio::spawn(async move {
        common::telemetry::shutdown_signal().await;
        ctrl_c.cancel();
    });
    (core, shutdown)
}
