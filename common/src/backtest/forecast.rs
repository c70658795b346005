//! The model's answers on a fold's test days, made exactly as Predict makes them: for each test
//! day `t`, the prediction input of bars `..=t` ([`prediction_window`], indicators over the
//! predictor's last 200 bars) goes through [`LoadedModel::forecast`], the function the
//! predictor's model worker calls. Nothing after `t` is read for the forecast of `t`.
//!
//! Each day is forecast on its own (batch of one), so a day's answer cannot depend on which
//! other days share its batch.
//!
//! [`model_answers`] returns one named [`Answers`] per reported model: `lstm` is what Predict
//! serves ([`crate::calibration::serve`]: calibrated `prob_up`, the cumulative return of the 5
//! magnitudes, the normalised conformal intervals) and `lstm_raw` the uncalibrated softmax with
//! the same returns; the report, metrics, bootstrap and plots pick them up. Intervals are
//! reported twice (SPEC §14.2): `coverage_80` / `coverage_95` of the adaptive intervals — the
//! predictor's rule ([`crate::calibration::adaptive::simulate`]) run over the fold's test days,
//! starting at the nominal level as a new version does, each day using the misses of the days
//! 5 trading days before it — and `coverage_80_static` / `coverage_95_static` of the fixed
//! ones. To measure the step γ, `coverage_80_aci_<γ>` / `coverage_95_aci_<γ>` give the
//! adaptive coverage for each γ of [`ACI_GAMMA_GRID`] (the served γ is
//! [`DEFAULT_GAMMA`]). A level the fold model had too little calibration data for has no interval entry (its
//! coverage is then absent, never made up).
use crate::calibration::adaptive::{simulate, DEFAULT_GAMMA};
use crate::calibration::{serve, window_vol, Calibration, LEVELS};
use crate::data::Bar;
use crate::features::{prediction_window, FeatureConfig};
use crate::model::{Forecast, LoadedModel};
use crate::Result;

use super::metrics::Answers;

/// Name of the model's entry in the report.
pub const MODEL: &str = "lstm";

/// Steps γ whose adaptive coverage every backtest reports beside the served one.
pub const ACI_GAMMA_GRID: [f64; 5] = [0.002, 0.005, 0.01, 0.02, 0.05];

/// Raw prediction inputs of bars `test` (each from bars up to that day only).
pub fn test_windows(bars: &[Bar], test: std::ops::Range<usize>, cfg: &FeatureConfig) -> Result<Vec<Vec<f32>>> {
    test.map(|t| prediction_window(&bars[..=t], cfg)).collect()
}

/// Forecasts of `model` for each window, one call per window.
pub fn forecasts(model: &LoadedModel, windows: &[Vec<f32>]) -> Result<Vec<Forecast>> {
    let mut out = Vec::with_capacity(windows.len());
    for w in windows {
        out.extend(model.forecast(w, 1)?);
    }
    Ok(out)
}

/// `Π(1 + m_k) − 1` of a forecast's 5 daily returns (the Prediction's `cumulative_return`).
pub fn cumulative_return(f: &Forecast) -> f64 {
    f.magnitudes.iter().fold(1.0, |acc, r| acc * (1.0 + r)) - 1.0
}

/// Name of the uncalibrated model's entry.
pub const MODEL_RAW: &str = "lstm_raw";

/// The reported model entries derived from the raw forecasts of `windows` by a version with
/// `calibration`, on test days whose realised 5-day returns are `realised` (see the module docs).
pub fn model_answers(calibration: Option<&Calibration>, forecasts: &[Forecast], windows: &[Vec<f32>], realised: &[f64]) -> Vec<(String, Answers)> {
    let vols: Vec<f64> = windows.iter().map(|w| window_vol(w)).collect();
    let served: Vec<_> = forecasts.iter().zip(&vols).map(|(f, v)| serve(calibration, f, *v)).collect();
    let cum: Vec<f64> = forecasts.iter().map(cumulative_return).collect();
    let mut intervals = std::collections::BTreeMap::new();
    for (k, level) in LEVELS.iter().enumerate() {
        let bounds: Option<Vec<(f64, f64)>> = served.iter().map(|s| s.intervals.get(k).and_then(|i| i.bounds)).collect();
        if let Some(b) = bounds {
            let name = format!("coverage_{}", (level * 100.0).round() as u32);
            let ci = calibration.and_then(|c| c.intervals.as_ref());
            let adaptive = ci.and_then(|ci| simulate(ci, k, &cum, &vols, realised, DEFAULT_GAMMA));
            intervals.insert(name.clone(), adaptive.map_or_else(|| b.clone(), |s| s.adaptive_bounds));
            for gamma in ACI_GAMMA_GRID {
                if let Some(s) = ci.and_then(|ci| simulate(ci, k, &cum, &vols, realised, gamma)) {
                    intervals.insert(format!("{name}_aci_{gamma}"), s.adaptive_bounds);
                }
            }
            intervals.insert(format!("{name}_static"), b);
        }
    }
    vec![
        (
            MODEL.to_string(),
            Answers { prob_up: Some(served.iter().map(|s| s.prob_up).collect()), cum_return: Some(cum.clone()), intervals },
        ),
        (
            MODEL_RAW.to_string(),
            Answers { prob_up: Some(forecasts.iter().map(|f| f.prob_up).collect()), cum_return: Some(cum), intervals: Default::default() },
        ),
    ]
}
