//! How far a version's forecasts can be trusted (issue 11, SPEC §13.2), fitted after training on
//! data the fit did not train on and the holdout never sees, and stored with the version
//! (`ModelMetadata::calibration`, i.e. the `calibration` object of the metadata JSON):
//!
//! - [`direction`]: temperature / Platt scaling of the direction head;
//! - [`conformal`]: split-conformal intervals for the 5-day cumulative return;
//! - [`signal`]: the precision-constrained `UP` / `NONE` signal (issue 14);
//! - [`shrinkage`]: the calibrated probability shrunk toward the base rate (issue 23);
//! - [`quality`]: holdout quality next to the base-rate baseline;
//! - [`scores`]: Brier, log loss, ECE, hit rate.
//!
//! [`serve`] turns a raw forecast into what the predictor answers.
pub mod adaptive;
pub mod conformal;
pub mod direction;
pub mod quality;
pub mod scores;
pub mod shrinkage;
pub mod signal;
pub mod spec;

pub use conformal::{coverage, window_vol, ConformalIntervals, ConformalScore, Interval, LevelQuantiles, LEVELS};
pub use direction::{CalibrationMethod, DirectionCalibration, DEFAULT_CALIBRATION, MIN_CALIBRATION_SAMPLES};
pub use quality::ForecastQuality;
pub use scores::ProbabilityScores;
pub use shrinkage::Shrinkage;
pub use signal::{precision_threshold, SignalThreshold, DEFAULT_TARGET_PRECISION};

use crate::features::{cumulative_return, Samples, N_FEATURES, SEQ_LEN};
use crate::model::Forecast;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Which samples a calibration was fitted on (indices into the run's chronological samples,
/// half-open), so anyone can check that they are disjoint from the fit and the holdout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CalibrationData {
    /// `inner_validation` (improved training), `purged_training_tail` (plain / CV training,
    /// a 5-sample purge gap after the fit's samples) or `purged_recent_tail` (incremental).
    pub source: String,
    /// First sample index.
    pub start: usize,
    /// One past the last sample index.
    pub end: usize,
    /// End date of the first calibration window.
    pub first_date: Option<NaiveDate>,
    /// End date of the last calibration window.
    pub last_date: Option<NaiveDate>,
}

/// Everything a version stores about trusting its forecasts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Calibration {
    /// The method asked for.
    pub method: CalibrationMethod,
    /// The fitted direction calibration; `None` = `prob_up` is served raw (see `note`).
    pub direction: Option<DirectionCalibration>,
    /// Conformal intervals; `None` when there was no calibration data at all.
    pub intervals: Option<ConformalIntervals>,
    /// Precision-constrained signal threshold.
    pub signal: Option<SignalThreshold>,
    /// Holdout quality (filled by post-training validation).
    pub quality: Option<ForecastQuality>,
    /// The calibration samples.
    pub data: Option<CalibrationData>,
    /// Shrinkage toward the base rate (issue 23); `None` for versions trained before it existed,
    /// which serve the calibrated probability unshrunk.
    #[serde(default)]
    pub shrinkage: Option<Shrinkage>,
    /// Why something is missing (fewer samples than needed, one class, `none` asked).
    pub note: String,
}

/// The realised 5-day cumulative return of every sample.
pub fn realised_cumulative(s: &Samples) -> Vec<f64> {
    s.y_mag.iter().map(|m| cumulative_return(&m.map(f64::from))).collect()
}

/// [`window_vol`] of every sample's raw window.
pub fn sample_vols(s: &Samples) -> Vec<f64> {
    let w = SEQ_LEN * N_FEATURES;
    (0..s.len()).map(|i| window_vol(&s.x[i * w..(i + 1) * w])).collect()
}

impl Calibration {
    /// Fits the direction calibration (`method`), the conformal intervals and the signal
    /// threshold on `cal` (samples the fit did not train on) and the model's raw forecasts of
    /// them, and the [`Shrinkage`] toward `base_rate` (the training span's up share). The signal
    /// threshold is chosen on the served (shrunk) probabilities. Never fails: what the data
    /// cannot support is left out and said in `note`.
    pub fn fit(
        method: CalibrationMethod,
        target_precision: f64,
        cal: &Samples,
        raw: &[Forecast],
        data: CalibrationData,
        base_rate: f64,
    ) -> Calibration {
        let raw_prob: Vec<f64> = raw.iter().map(|f| f.prob_up).collect();
        let mut notes = Vec::new();
        let direction = match DirectionCalibration::fit(method, &raw_prob, &cal.y_dir) {
            Ok(d) => d,
            Err(e) => {
                notes.push(format!("prob_up is served uncalibrated: {e}"));
                None
            }
        };
        if method == CalibrationMethod::None {
            notes.push("calibration \"none\" requested: prob_up is the raw softmax".into());
        }
        let fit_method = if direction.is_some() { method } else { CalibrationMethod::None };
        let shrinkage = Shrinkage::fit(fit_method, &raw_prob, &cal.y_dir, base_rate);
        let served: Vec<f64> =
            raw_prob.iter().map(|p| shrinkage.apply(direction.as_ref().map_or(*p, |d| d.apply(*p)))).collect();
        let pred: Vec<f64> = raw.iter().map(|f| cumulative_return(&f.magnitudes)).collect();
        let intervals = ConformalIntervals::fit(&pred, &realised_cumulative(cal), &sample_vols(cal));
        for l in intervals.levels.iter().filter(|l| l.normalized.is_none()) {
            notes.push(format!(
                "insufficient calibration data for the {} interval: {} samples, need {}",
                l.level, intervals.n_calibration, l.min_samples
            ));
        }
        Calibration {
            method,
            direction,
            intervals: Some(intervals),
            signal: Some(precision_threshold(&served, &cal.y_dir, target_precision)),
            quality: None,
            data: Some(data),
            shrinkage: Some(shrinkage),
            note: notes.join("; "),
        }
    }

    /// A version that has no calibration data at all (too few samples), saying why.
    pub fn unavailable(method: CalibrationMethod, note: impl Into<String>) -> Calibration {
        Calibration {
            method,
            direction: None,
            intervals: None,
            signal: None,
            quality: None,
            data: None,
            shrinkage: None,
            note: note.into(),
        }
    }

    /// The served probability of a raw one: calibrated, then shrunk toward the base rate.
    pub fn prob_up(&self, raw: f64) -> f64 {
        let c = self.prob_up_unshrunk(raw);
        self.shrinkage.as_ref().map_or(c, |s| s.apply(c))
    }

    /// The calibrated probability of a raw one, before shrinkage.
    pub fn prob_up_unshrunk(&self, raw: f64) -> f64 {
        self.direction.as_ref().map_or(raw, |d| d.apply(raw))
    }

    /// `q` with this version's shrinkage fields (base rate, weight, `n_calibration`, the note).
    pub fn described(&self, q: ForecastQuality) -> ForecastQuality {
        let s = self.shrinkage.as_ref();
        q.with_shrinkage(s.map(|s| s.base_rate), s.map(|s| s.weight), self.n_calibration())
    }

    /// Out-of-sample forecasts the calibration, intervals and signal threshold were fitted on.
    pub fn n_calibration(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.end.saturating_sub(d.start))
    }

    /// `temperature` | `platt` when a direction calibration is applied, else `none`.
    pub fn applied_method(&self) -> &'static str {
        self.direction.as_ref().map_or("none", |d| d.method.as_str())
    }
}

/// A forecast as served: calibrated probability, the raw one, intervals and signal.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ServedForecast {
    /// Calibrated `prob_up` (the raw one when the version has no calibration).
    pub prob_up: f64,
    /// The direction head's softmax.
    pub prob_up_raw: f64,
    /// Whether `prob_up` is calibrated.
    pub calibrated: bool,
    /// Normalised conformal intervals of the 5-day cumulative return, levels 0.8 and 0.95;
    /// bounds `None` when the version had too little (or no) calibration data for a level.
    pub intervals: Vec<Interval>,
    /// Why an interval is missing, if one is.
    pub intervals_note: String,
    /// The version's signal threshold (with its precision / recall); `None` for old versions.
    pub signal: Option<SignalThreshold>,
    /// The holdout quality of the version.
    pub quality: ForecastQuality,
}

/// What the answers of a version trained before calibration existed say about it.
pub const UNCALIBRATED_VERSION_NOTE: &str = "this version was trained before calibration existed: prob_up is \
     uncalibrated and it has no calibration data for intervals; retrain it to get them";

/// The quality a version's answers carry (`ModelStatus.quality` too).
pub fn serve_quality(calibration: Option<&Calibration>) -> ForecastQuality {
    match calibration {
        None => ForecastQuality::unknown("none", UNCALIBRATED_VERSION_NOTE),
        Some(c) => c.described(c.quality.clone().unwrap_or_else(|| {
            ForecastQuality::unknown(c.applied_method(), "no post-training validation ran for this version")
        })),
    }
}

/// What the predictor answers for `raw` (the model's forecast of a window whose
/// [`window_vol`] is `vol`) from a version with `calibration` — `None` for versions trained
/// before calibration existed, which are served raw and say so.
pub fn serve(calibration: Option<&Calibration>, raw: &Forecast, vol: f64) -> ServedForecast {
    serve_at(calibration, raw, vol, None)
}

/// [`serve`] with the intervals at adaptive levels (`effective[k]` for `LEVELS[k]`,
/// [`adaptive`]); `None` = the nominal levels.
pub fn serve_at(calibration: Option<&Calibration>, raw: &Forecast, vol: f64, effective: Option<[f64; 2]>) -> ServedForecast {
    let pred = cumulative_return(&raw.magnitudes);
    let none = || LEVELS.iter().map(|&level| Interval { level, effective_level: level, bounds: None }).collect::<Vec<_>>();
    let Some(c) = calibration else {
        return ServedForecast {
            prob_up: raw.prob_up,
            prob_up_raw: raw.prob_up,
            calibrated: false,
            intervals: none(),
            intervals_note: UNCALIBRATED_VERSION_NOTE.into(),
            signal: None,
            quality: serve_quality(None),
        };
    };
    let intervals = c.intervals.as_ref().map_or_else(none, |ci| match effective {
        Some(levels) => ci.intervals_at(pred, vol, levels),
        None => ci.intervals(ConformalScore::Normalized, pred, vol),
    });
    let intervals_note = if intervals.iter().any(|i| i.bounds.is_none()) { c.note.clone() } else { String::new() };
    ServedForecast {
        prob_up: c.prob_up(raw.prob_up),
        prob_up_raw: raw.prob_up,
        calibrated: c.direction.is_some(),
        intervals,
        intervals_note,
        signal: c.signal,
        quality: serve_quality(Some(c)),
    }
}
