//! The `forecast_quality` section of the training specification (`GetTrainingSpec`,
//! `trainer-svc spec`): calibration, conformal intervals, the signal and the baseline gate
//! exactly as built, read from this module's constants.
use super::conformal::{LEVELS, VOL_FLOOR_MIN, VOL_FLOOR_SHARE};
use super::direction::{CALIBRATION_ALPHA, DEFAULT_CALIBRATION, MAX_TEMPERATURE, MIN_CALIBRATION_SAMPLES};
use super::scores::{ECE_BINS, EPS};
use super::signal::{DEFAULT_TARGET_PRECISION, MIN_POSITIVES, TAU_MAX, TAU_MIN, TAU_STEP};
use crate::baselines::L2_PENALTY;
use crate::evaluation::PURGE_GAP;
use crate::training::calibrate::{CALIBRATION_SHARE_PCT, MIN_INNER_VAL, MIN_PLAIN_FIT};
use serde_json::{json, Value};

/// The section as JSON.
pub fn forecast_quality_spec() -> Value {
    json!({
        "calibration": {
            "request_field": "TrainRequest.calibration",
            "methods": {
                "temperature": "prob_up = sigmoid(z / T), z = logit_up - logit_down = ln(p_raw / (1 - p_raw)); T > 0 (1/T is the slope of a no-intercept logistic regression on z)",
                "platt": "prob_up = sigmoid(a * z + b) (logistic regression on z with intercept)",
                "none": "prob_up = the direction head's softmax",
            },
            "default": DEFAULT_CALIBRATION.as_str(),
            "default_status": "decided by the walk-forward quality report (QUALITY.md): temperature had the lower pooled Brier than platt on AMZN, NVDA and the S&P 500 (0.252 vs 0.344, 0.247 vs 0.293, 0.271 vs 0.282)",
            "fit": format!("minimise log loss with linfa-logistic (L-BFGS, L2 penalty {CALIBRATION_ALPHA} on the summed loss); T capped at {MAX_TEMPERATURE}; p clipped to [{EPS:e}, 1 - {EPS:e}] before the logit"),
            "min_samples": MIN_CALIBRATION_SAMPLES,
            "fallback": "fewer samples or one class only: served uncalibrated and the version's calibration.note says why",
            "calibration_data": {
                "improved_training": format!("its inner validation split: the last max({MIN_INNER_VAL}, n_train * {CALIBRATION_SHARE_PCT} // 100) samples before the holdout's purge gap (also used for early stopping, never trained on)"),
                "plain_or_cv_training": format!("a tail of max({MIN_INNER_VAL}, n_train * {CALIBRATION_SHARE_PCT} // 100) training samples after a {PURGE_GAP}-sample purge gap; the fit and the CV search use only the samples before the gap; with fewer than {MIN_PLAIN_FIT} fit samples left, no calibration data"),
                "incremental": format!("the last max({MIN_INNER_VAL}, n // 5) recent samples after a {PURGE_GAP}-sample gap, when at least 10 remain to fine-tune on; re-fitted with the base version's method"),
                "never": "holdout samples: calibration.data.start/end (sample indices) end before the holdout's purge gap",
            },
            "stored": "metadata JSON `calibration`: method, direction {method, temperature, a, b, before, after: {brier, log_loss, ece, n}}, intervals, signal, quality, data, note",
            "scores": format!("brier = mean (p - y)^2; log_loss = mean binary cross-entropy; ece over {ECE_BINS} equal-width bins of p"),
        },
        "intervals": {
            "field": "Prediction.intervals",
            "levels": LEVELS,
            "target": "5-day cumulative return prod(1 + r_k) - 1 (and the close on the 5th forecast day = last_close * (1 + bound))",
            "method": "split conformal on the calibration data: q = the ceil((n + 1) * level)-th smallest score",
            "served_score": format!("normalised: |y - y_hat| / s, s = max(sqrt(5) * hv_20 of the window's last day, floor), floor = max({VOL_FLOOR_MIN}, {VOL_FLOOR_SHARE} * median s on the calibration data); interval y_hat +/- q * s"),
            "measured_side_by_side": "absolute: |y - y_hat|, interval y_hat +/- q (holdout coverage in metrics holdout_coverage_80_absolute / _95_absolute)",
            "insufficient_data": "ceil((n + 1) * level) > n: the level's bounds are absent, available = false and note says how many samples it needs",
            "metrics": ["holdout_coverage_80", "holdout_coverage_95", "holdout_coverage_80_absolute", "holdout_coverage_95_absolute"],
        },
        "signal": {
            "fields": ["Prediction.signal", "signal_threshold", "signal_precision", "signal_recall"],
            "request_field": "TrainRequest.target_precision",
            "target_precision_default": DEFAULT_TARGET_PRECISION,
            "rule": format!("on the calibration data (served probabilities), the lowest tau in [{TAU_MIN}, {TAU_MAX}] in steps of {TAU_STEP} with precision(prob_up >= tau) >= target_precision and >= {MIN_POSITIVES} predicted positives; none qualifies -> no threshold"),
            "served": "UP when prob_up >= tau, else NONE (also NONE without a threshold)",
        },
        "quality": {
            "fields": ["Prediction.quality", "ModelStatus.quality"],
            "holdout": "the post-training validation holdout, served (calibrated) probabilities",
            "holdout_hit_rate": "share of holdout samples where prob_up >= 0.5 matches the realised direction",
            "holdout_brier": "mean (prob_up - y)^2",
            "holdout_auc": "ROC AUC (rank formula)",
            "baseline": "base rate: always the training part's up share, on the same holdout",
            "beats_baseline": "holdout_brier < baseline_brier",
            "old_versions": "versions trained before calibration: calibrated = false, n_holdout = 0, note says so",
        },
        "baselines": {
            "base_rate": "P(up) = share of up samples in the training part",
            "linear": format!("L2-regularised logistic regression (linfa-logistic, alpha {L2_PENALTY}) on the 21 raw features of each window's last day, standardised with the training part's mean/std"),
            "fitted_on": "the same training part as the candidate (everything before the holdout's purge gap)",
            "metrics": ["baseline_base_rate_brier", "baseline_linear_brier", "baseline_*_hit_rate", "baseline_*_auc", "baseline_*_log_loss"],
        },
        "baseline_gate": {
            "request_field": "TrainRequest.require_beats_baseline",
            "server_flag": "--require-beats-baseline / REQUIRE_BEATS_BASELINE (used when the request leaves it unset)",
            "default": false,
            "rule": "when set, a candidate whose holdout Brier is not strictly below the best baseline's (lowest of base_rate, linear) is kept non-current; the reason says by how much it lost. Otherwise the comparison is reported and the seed's deploy rule decides",
            "validation_rule_probabilities": "accuracy / f1 of the seed's deploy rule use the served (calibrated) prob_up of the candidate and of the current version",
        },
    })
}
