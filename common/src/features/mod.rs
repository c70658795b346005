//! The 21 features of SPEC §3, 60-day windows, targets and standardisation statistics.

/// Days in one input window.
pub const SEQ_LEN: usize = 60;
/// Days forecast ahead.
pub const FORECAST_DAYS: usize = 5;
/// Fewest bars that give one sample (`SEQ_LEN + FORECAST_DAYS`).
pub const MIN_TRADING_DAYS: usize = 65;
/// Feature columns per day.
pub const N_FEATURES: usize = 21;
