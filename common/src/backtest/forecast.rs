//! The model's answers on a fold's test days, made exactly as Predict makes them: for each test
//! day `t`, the prediction input of bars `..=t` ([`prediction_window`], indicators over the
//! predictor's last 200 bars) goes through [`LoadedModel::forecast`], the function the
//! predictor's model worker calls. Nothing after `t` is read for the forecast of `t`.
//!
//! Each day is forecast on its own (batch of one), so a day's answer cannot depend on which
//! other days share its batch.
//!
//! Extension point: [`model_answers`] returns one named [`Answers`] per reported model. Today
//! that is `lstm` (`prob_up`, cumulative return of the 5 magnitudes). A forecast that also
//! carries an uncalibrated probability or intervals adds `lstm_raw` and `lstm`'s `intervals`
//! (`coverage_80`, `coverage_95`) here; the report, metrics, bootstrap and plots pick them up.
use crate::data::Bar;
use crate::features::{prediction_window, FeatureConfig};
use crate::model::{Forecast, LoadedModel};
use crate::Result;

use super::metrics::Answers;

/// Name of the model's entry in the report.
pub const MODEL: &str = "lstm";

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

/// The reported model entries derived from the forecasts (see the module docs).
pub fn model_answers(forecasts: &[Forecast]) -> Vec<(String, Answers)> {
    vec![(
        MODEL.to_string(),
        Answers {
            prob_up: Some(forecasts.iter().map(|f| f.prob_up).collect()),
            cum_return: Some(forecasts.iter().map(cumulative_return).collect()),
            intervals: Default::default(),
        },
    )]
}
