//! 60-day windows with window-local normalisation, and training samples with their targets.
use std::ops::Range;

use chrono::NaiveDate;

use super::{col, indicator_table, indicators::min_max_scaler, FeatureConfig};
use super::{FORECAST_DAYS, MIN_TRADING_DAYS, N_FEATURES, SEQ_LEN};
use crate::data::Bar;
use crate::{Error, Result};

/// Columns min-max normalised within each window.
const MIN_MAX_COLUMNS: [usize; 3] = [col::CLOSE_NORM, col::VOLUME_NORM, col::OBV_NORM];

/// The indicator table prepared for cutting many windows: every column cast to `f32` (row-major,
/// so a window is one contiguous copy) and the four window-local columns kept in `f64`, one
/// contiguous vector each, so they are normalised in f64 before the cast.
struct Table {
    as_f32: Vec<f32>,
    /// Raw close, volume, OBV (in [`MIN_MAX_COLUMNS`] order).
    min_max: [Vec<f64>; 3],
    /// MACD histogram / close.
    macd: Vec<f64>,
}

impl Table {
    fn new(bars: &[Bar], cfg: &FeatureConfig) -> Table {
        let raw = indicator_table(bars, cfg);
        let column = |c: usize| raw.iter().map(|r| r[c]).collect::<Vec<f64>>();
        Table {
            as_f32: raw.iter().flatten().map(|&v| v as f32).collect(),
            min_max: MIN_MAX_COLUMNS.map(column),
            macd: column(col::MACD_HIST),
        }
    }

    /// Writes the 60×21 window whose last row is table row `end` into `out` (row-major, f32).
    ///
    /// Window-local columns: close, volume and OBV are min-max normalised within the window (0.5
    /// when flat); the MACD histogram / close is divided by the window's largest absolute value
    /// (all 0 when that is 0). Every other column is copied.
    fn fill_window(&self, end: usize, out: &mut [f32]) {
        let start = end + 1 - SEQ_LEN;
        out.copy_from_slice(&self.as_f32[start * N_FEATURES..(end + 1) * N_FEATURES]);
        for (c, values) in MIN_MAX_COLUMNS.into_iter().zip(&self.min_max) {
            let values = &values[start..=end];
            let scale = min_max_scaler(values.iter().copied());
            for (v, dst) in values.iter().zip(out.chunks_exact_mut(N_FEATURES)) {
                dst[c] = scale(*v) as f32;
            }
        }
        let values = &self.macd[start..=end];
        let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (v, dst) in values.iter().zip(out.chunks_exact_mut(N_FEATURES)) {
            dst[col::MACD_HIST] = if max_abs > 0.0 {
                (v / max_abs) as f32
            } else {
                0.0
            };
        }
    }
}

/// Raw (un-standardised) 60×21 window ending at bar index `end`: row-major `f32`, oldest day
/// first, window-local columns normalised as SPEC §3 says.
///
/// Indicators see bars `0..=end` only. Errors: `end >= bars.len()` → InvalidArgument;
/// `end < 59` → InsufficientData `{ need: 60, got: end + 1 }`.
pub fn window_ending_at(bars: &[Bar], end: usize, cfg: &FeatureConfig) -> Result<Vec<f32>> {
    if end >= bars.len() {
        return Err(Error::invalid(format!(
            "window end index {end} is past the last bar (index {}); pick a bar inside the series",
            bars.len().saturating_sub(1)
        )));
    }
    if end + 1 < SEQ_LEN {
        return Err(Error::InsufficientData {
            need: SEQ_LEN,
            got: end + 1,
        });
    }
    let table = Table::new(&bars[..=end], cfg);
    let mut out = vec![0f32; SEQ_LEN * N_FEATURES];
    table.fill_window(end, &mut out);
    Ok(out)
}

/// Window ending at the last bar (the prediction input). Fewer than 60 bars →
/// InsufficientData `{ need: 60, got }`.
pub fn latest_window(bars: &[Bar], cfg: &FeatureConfig) -> Result<Vec<f32>> {
    if bars.len() < SEQ_LEN {
        return Err(Error::InsufficientData {
            need: SEQ_LEN,
            got: bars.len(),
        });
    }
    window_ending_at(bars, bars.len() - 1, cfg)
}

/// Bars a forecast computes its indicators over: the predictor reads the last 200 bars, so the
/// prediction input of a day depends on nothing older (and nothing later) than these.
pub const HISTORY_BARS: usize = 200;

/// The prediction input for a forecast made at the close of the last bar of `bars`: the raw
/// window ending there, with indicators computed over the last [`HISTORY_BARS`] bars only —
/// what the predictor feeds the model (and what the backtest forecasts each test day with).
pub fn prediction_window(bars: &[Bar], cfg: &FeatureConfig) -> Result<Vec<f32>> {
    latest_window(&bars[bars.len().saturating_sub(HISTORY_BARS)..], cfg)
}

/// Training samples: inputs, targets and where each window ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Inputs, `len × 60 × 21` row-major f32, raw (before standardisation).
    pub x: Vec<f32>,
    /// Direction target: 1 if `c_{t+5} / c_t - 1 > 0`, else 0.
    pub y_dir: Vec<i64>,
    /// Daily returns of the 5 forecast days: `y_mag[k] = c_{t+k+1} / c_{t+k} - 1`.
    pub y_mag: Vec<[f32; FORECAST_DAYS]>,
    /// Date of the window's last bar (`t`).
    pub end_dates: Vec<NaiveDate>,
    /// Close of the window's last bar (`c_t`).
    pub end_closes: Vec<f64>,
}

const WINDOW: usize = SEQ_LEN * N_FEATURES;

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y_dir.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y_dir.is_empty()
    }

    /// The 60×21 input of sample `i` (panics if `i >= len()`, like slice indexing).
    pub fn window(&self, i: usize) -> &[f32] {
        &self.x[i * WINDOW..(i + 1) * WINDOW]
    }

    /// The contiguous samples `range` (panics when out of bounds, like slice indexing).
    pub fn subset(&self, range: Range<usize>) -> Samples {
        Samples {
            x: self.x[range.start * WINDOW..range.end * WINDOW].to_vec(),
            y_dir: self.y_dir[range.clone()].to_vec(),
            y_mag: self.y_mag[range.clone()].to_vec(),
            end_dates: self.end_dates[range.clone()].to_vec(),
            end_closes: self.end_closes[range].to_vec(),
        }
    }

    /// The samples at `idx`, in that order (panics on an index out of bounds).
    pub fn select(&self, idx: &[usize]) -> Samples {
        let mut s = Samples {
            x: Vec::with_capacity(idx.len() * WINDOW),
            ..Samples::default()
        };
        for &i in idx {
            s.x.extend_from_slice(self.window(i));
            s.y_dir.push(self.y_dir[i]);
            s.y_mag.push(self.y_mag[i]);
            s.end_dates.push(self.end_dates[i]);
            s.end_closes.push(self.end_closes[i]);
        }
        s
    }
}

/// All samples of a series: windows ending at `t = 59..=n-6`, so `n` bars give `n - 64` samples.
/// Fewer than 65 bars → InsufficientData `{ need: 65, got: n }`
/// ("insufficient data: need at least 65 trading days, got N").
pub fn build_samples(bars: &[Bar], cfg: &FeatureConfig) -> Result<Samples> {
    let n = bars.len();
    if n < MIN_TRADING_DAYS {
        return Err(Error::InsufficientData {
            need: MIN_TRADING_DAYS,
            got: n,
        });
    }
    let table = Table::new(bars, cfg);
    let count = n - (MIN_TRADING_DAYS - 1);
    let mut s = Samples {
        x: vec![0f32; count * WINDOW],
        y_dir: Vec::with_capacity(count),
        y_mag: Vec::with_capacity(count),
        end_dates: Vec::with_capacity(count),
        end_closes: Vec::with_capacity(count),
    };
    // One thread on purpose: measured on the 2-core dev box, splitting the windows over threads
    // was slower (1.6 vs 1.15 ms for 2 520 days) while other work shares the cores.
    for (i, out) in s.x.chunks_exact_mut(WINDOW).enumerate() {
        table.fill_window(SEQ_LEN - 1 + i, out);
    }
    for i in 0..count {
        let t = SEQ_LEN - 1 + i;
        let c = |k: usize| bars[k].close;
        s.y_dir
            .push(i64::from(c(t + FORECAST_DAYS) / c(t) - 1.0 > 0.0));
        let mut mag = [0f32; FORECAST_DAYS];
        for (k, m) in mag.iter_mut().enumerate() {
            *m = (c(t + k + 1) / c(t + k) - 1.0) as f32;
        }
        s.y_mag.push(mag);
        s.end_dates.push(bars[t].date);
        s.end_closes.push(c(t));
    }
    Ok(s)
}
