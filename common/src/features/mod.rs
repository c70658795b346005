//! The 21 features of SPEC §3, 60-day windows, targets and standardisation statistics.
//!
//! Pipeline: [`indicator_table`] computes every indicator over the whole series in date order
//! ([`indicators`]); [`window`] cuts 60-day windows and applies the window-local normalisations
//! (close / volume / OBV min-max, MACD max-abs scaling) and builds training [`Samples`];
//! [`norm`] holds the per-feature standardisation statistics stored with each model version.
use crate::data::Bar;

pub mod indicators;
pub mod norm;
pub mod window;

pub use norm::NormStats;
pub use window::{build_samples, latest_window, prediction_window, window_ending_at, Samples, HISTORY_BARS};

/// Days in one input window.
pub const SEQ_LEN: usize = 60;
/// Days forecast ahead.
pub const FORECAST_DAYS: usize = 5;
/// Fewest bars that give one sample (`SEQ_LEN + FORECAST_DAYS`).
pub const MIN_TRADING_DAYS: usize = 65;
/// Feature columns per day.
pub const N_FEATURES: usize = 21;

/// Trading days that `n` samples span: every sample's window plus its forecast horizon, one
/// sample per further day (`n + 64`; SPEC §3). The one conversion behind every
/// "insufficient data: … trading days, got N" message.
pub const fn days_for_samples(n: usize) -> usize {
    n + MIN_TRADING_DAYS - 1
}

/// [`crate::Error::InsufficientData`] for a stage that needs `need` samples and got `got`,
/// stated in trading days ([`days_for_samples`]).
pub fn insufficient_samples(need: usize, got: usize) -> crate::Error {
    crate::Error::InsufficientData { need: days_for_samples(need), got: days_for_samples(got) }
}

/// Cumulative return of consecutive daily returns, `Π(1 + r_k) − 1` (the 5-day target of
/// SPEC §3 and the predictor's `cumulative_return`).
pub fn cumulative_return(daily: &[f64]) -> f64 {
    daily.iter().fold(1.0, |acc, r| acc * (1.0 + r)) - 1.0
}

/// Column index of each feature (0-based, SPEC order).
pub mod col {
    /// close_norm (raw close in [`super::indicator_table`]).
    pub const CLOSE_NORM: usize = 0;
    /// volume_norm (raw volume in the table).
    pub const VOLUME_NORM: usize = 1;
    /// rsi.
    pub const RSI: usize = 2;
    /// macd_hist (histogram / close in the table, before window max-abs scaling).
    pub const MACD_HIST: usize = 3;
    /// bb_position.
    pub const BB_POSITION: usize = 4;
    /// volatility.
    pub const VOLATILITY: usize = 5;
    /// obv_norm (raw cumulative OBV in the table).
    pub const OBV_NORM: usize = 6;
    /// mfi.
    pub const MFI: usize = 7;
    /// aroon_up.
    pub const AROON_UP: usize = 8;
    /// ret_1d.
    pub const RET_1D: usize = 9;
    /// abs_ret.
    pub const ABS_RET: usize = 10;
    /// ret_sign.
    pub const RET_SIGN: usize = 11;
    /// intraday_range.
    pub const INTRADAY_RANGE: usize = 12;
    /// open_gap.
    pub const OPEN_GAP: usize = 13;
    /// hv_5.
    pub const HV_5: usize = 14;
    /// hv_20.
    pub const HV_20: usize = 15;
    /// vol_ratio.
    pub const VOL_RATIO: usize = 16;
    /// big_up.
    pub const BIG_UP: usize = 17;
    /// big_down.
    pub const BIG_DOWN: usize = 18;
    /// volume_change.
    pub const VOLUME_CHANGE: usize = 19;
    /// pv_divergence.
    pub const PV_DIVERGENCE: usize = 20;
}

/// Tunables of the feature computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// Threshold on `r_t` for the big_up / big_down flags (fraction; default 0.03 = 3 %).
    pub big_move: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig { big_move: 0.03 }
    }
}

/// Name of one feature column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureInfo {
    /// English name (SPEC §3, used in CSV headers, specs and importance reports).
    pub name: &'static str,
    /// Chinese alias from the seed, for features 10–21.
    pub alias: Option<&'static str>,
}

const fn f(name: &'static str) -> FeatureInfo {
    FeatureInfo { name, alias: None }
}
const fn fa(name: &'static str, alias: &'static str) -> FeatureInfo {
    FeatureInfo {
        name,
        alias: Some(alias),
    }
}

/// The 21 features in SPEC order.
pub const FEATURES: [FeatureInfo; N_FEATURES] = [
    f("close_norm"),
    f("volume_norm"),
    f("rsi"),
    f("macd_hist"),
    f("bb_position"),
    f("volatility"),
    f("obv_norm"),
    f("mfi"),
    f("aroon_up"),
    fa("ret_1d", "日收益率"),
    fa("abs_ret", "收益率绝对值"),
    fa("ret_sign", "收益率符号"),
    fa("intraday_range", "日内振幅"),
    fa("open_gap", "开盘缺口"),
    fa("hv_5", "历史波动率_5日"),
    fa("hv_20", "历史波动率_20日"),
    fa("vol_ratio", "波动率比"),
    fa("big_up", "大涨标记"),
    fa("big_down", "大跌标记"),
    fa("volume_change", "成交量变化率"),
    fa("pv_divergence", "量价背离"),
];

/// English feature names in SPEC order.
pub fn feature_names() -> Vec<String> {
    FEATURES.iter().map(|f| f.name.to_string()).collect()
}

/// Raw per-day indicator table over the whole series (`n` rows × 21), before window-local
/// normalisation.
///
/// Row `t` uses bars `0..=t` only. Columns follow SPEC order ([`col`]); the four window-local
/// columns hold their raw inputs here: close (`close_norm`), volume (`volume_norm`),
/// MACD histogram / close (`macd_hist`) and cumulative OBV (`obv_norm`). Every other column is
/// final. Choices where SPEC §3 is silent:
/// - `c_{t-1}` on day 0 is `c_0` (so `intraday_range_0 = (h_0 - l_0)/c_0`, `open_gap_0 = o_0/c_0 - 1`);
/// - `hv_5`, `hv_20` and `volatility` are 0 during warm-up (fewer than 5 / 20 returns, `r_0 = 0`
///   counting as a return), so `vol_ratio` is 1 there (`hv_20 = 0`);
/// - `aroon_up` is 0.5 during its warm-up (days 0..20) and ties go to the most recent high;
/// - `pv_divergence` is 1 only for strictly opposite signs (a zero on either side gives 0).
///
/// Bars are expected sorted and valid ([`crate::data::validate::validate_bars`]).
pub fn indicator_table(bars: &[Bar], cfg: &FeatureConfig) -> Vec<[f64; N_FEATURES]> {
    use indicators as ind;
    let n = bars.len();
    let open: Vec<f64> = bars.iter().map(|b| b.open).collect();
    let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let volume: Vec<f64> = bars.iter().map(|b| b.volume).collect();

    let r = ind::simple_returns(&close);
    let rsi = ind::rsi_wilder(&close, 14);
    let macd = ind::macd_hist(&close, 12, 26, 9);
    let bb = ind::bollinger_position(&close, 20, 2.0);
    let hv5 = ind::rolling_std_sample(&r, 5);
    let hv20 = ind::rolling_std_sample(&r, 20);
    let obv = ind::obv(&close, &volume);
    let mfi = ind::mfi(&high, &low, &close, &volume, 14);
    let aroon = ind::aroon_up(&high, 20);
    let vchg = ind::volume_change(&volume);

    let mut table = Vec::with_capacity(n);
    for t in 0..n {
        let prev_close = if t == 0 { close[0] } else { close[t - 1] };
        let rt = r[t];
        let sign = if rt > 0.0 {
            1.0
        } else if rt < 0.0 {
            -1.0
        } else {
            0.0
        };
        let vol_ratio = if hv20[t] == 0.0 {
            1.0
        } else {
            (hv5[t] / hv20[t]).clamp(0.0, 5.0)
        };
        let diverge = (rt > 0.0 && vchg[t] < 0.0) || (rt < 0.0 && vchg[t] > 0.0);
        table.push([
            close[t],
            volume[t],
            rsi[t],
            macd[t] / close[t],
            bb[t],
            (hv20[t] * 252f64.sqrt()).clamp(0.0, 2.0) / 2.0,
            obv[t],
            mfi[t],
            aroon[t],
            rt,
            rt.abs(),
            sign,
            (high[t] - low[t]) / prev_close,
            open[t] / prev_close - 1.0,
            hv5[t],
            hv20[t],
            vol_ratio,
            f64::from(u8::from(rt > cfg.big_move)),
            f64::from(u8::from(rt < -cfg.big_move)),
            vchg[t],
            f64::from(u8::from(diverge)),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_spec_order_with_aliases_from_ret_1d_on() {
        let names = feature_names();
        assert_eq!(names.len(), N_FEATURES);
        assert_eq!(names[0], "close_norm");
        assert_eq!(names[8], "aroon_up");
        assert_eq!(names[20], "pv_divergence");
        assert!(FEATURES[..9].iter().all(|f| f.alias.is_none()));
        assert!(FEATURES[9..].iter().all(|f| f.alias.is_some()));
        assert_eq!(FEATURES[col::VOLUME_CHANGE].name, "volume_change");
    }
}
