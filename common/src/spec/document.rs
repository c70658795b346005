//! The specification document: the JSON [`training_spec`] builds from the constants the code
//! uses, and the facts of the build that no other module owns (format, tch and libtorch
//! versions, feature definitions, the data-range rule).

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::evaluation::{DEPLOY_TOLERANCE, HOLDOUT_MAX, HOLDOUT_MIN, MAX_MSE_RATIO, MIN_F1_IMPROVEMENT, PURGE_GAP};
use crate::features::{FeatureConfig, FEATURES, FORECAST_DAYS, MIN_TRADING_DAYS, N_FEATURES, SEQ_LEN};
use crate::model::{Architecture, ModelKind, Network};
use crate::training::calibrate::{CALIBRATION_SHARE_PCT, MIN_INNER_VAL};
use crate::training::config::{ImprovedConfig, IncrementalConfig, ParamGrid, PipelineConfig};
use crate::training::cv::{CV_SPLITS, CV_SPLITS_FAST};
use crate::training::fit::TARGET_SCALE;
use crate::training::losses::{EPS, QUANTILES};
use crate::training::pipeline::{BASE_HIDDEN, ENHANCED_HIDDEN, IG_STEPS, PERMUTATION_REPEATS, PIPELINE_EPOCHS, PIPELINE_LR};
use crate::triggers::{DECAY_RATIO, DECAY_WINDOW, WEEKLY_MONTHS};

/// Version of the spec document's format (seed 001 §5 used "1.0"; 2.0 adds English names,
/// exact loss formulas, incremental training, triggers and the build section).
pub const SPEC_FORMAT_VERSION: &str = "2.0";
/// Version of the `tch` crate this build uses.
pub const TCH_VERSION: &str = "0.24";
/// libtorch version this build links. libtorch reports no version at run time through tch;
/// torch-sys 0.24's build script refuses to link any other version (unless
/// `LIBTORCH_BYPASS_VERSION_CHECK` is set), and scripts/setup.sh installs the `torch==2.11.0` wheel.
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// SPEC §3 definition of each feature, in SPEC order.
pub const FEATURE_DEFINITIONS: [&str; N_FEATURES] = [
    "close min-max normalised within the 60-day window (0.5 if flat)",
    "volume min-max normalised within the 60-day window (0.5 if flat)",
    "RSI(14), Wilder smoothing (first average = simple mean of the first 14 changes), /100; warm-up 0.5",
    "EMA12 - EMA26 minus its EMA9 (EMAs seeded with the first value, alpha = 2/(n+1)), divided by close, \
     then by the window's max abs value (0 if all 0)",
    "(close - SMA20) / (upper - lower), bands SMA20 +/- 2 * std20 (population std), clipped to [-1, 1]; warm-up 0",
    "sample std of r over 20 days * sqrt(252), clipped to [0, 2], /2; warm-up 0",
    "on-balance volume, min-max normalised within the window",
    "MFI(14) from typical price (h + l + c)/3 and volume, /100; warm-up 0.5",
    "Aroon-up(20): (20 - bars since the highest high of the last 21 bars) / 20",
    "r_t = c_t / c_{t-1} - 1 (0 on the first day)",
    "|r_t|",
    "sign(r_t) in {-1, 0, 1}",
    "(h - l) / c_{t-1}",
    "o / c_{t-1} - 1",
    "sample std of r over 5 days",
    "sample std of r over 20 days",
    "hv_5 / hv_20 clipped to [0, 5] (1 if hv_20 = 0)",
    "1 if r_t > big_move (default 0.03)",
    "1 if r_t < -big_move",
    "v_t / v_{t-1} - 1 clipped to [-1, 5] (0 if v_{t-1} = 0)",
    "1 if r_t and volume_change have opposite signs, else 0",
];

/// Number of base (classic indicator) features; the rest are the volatility-enhanced ones.
pub const N_BASE_FEATURES: usize = 9;

/// Exact regression-loss formulas, as implemented in [`crate::training::losses`].
fn loss_formulas() -> Value {
    json!({
        "conventions": format!(
            "pred, target: [B, 5] magnitude head vs daily returns x {TARGET_SCALE} (percent); e = target - pred; \
             mean over all elements unless an axis is named; std = population std (divisor N) computed as \
             sqrt(var + 1e-12); std_k = std over the batch of forecast step k; eps = {EPS:e}"
        ),
        "mse": "mean(e^2)",
        "huber": "mean(h(e)), h(e) = 0.5*e^2 if |e| <= 1 else |e| - 0.5 (delta 1.0)",
        "volatility": "mse + 0.2*relu(0.7 - std(pred)/(std(target)+eps))",
        "full": "mse + 0.35*V + 0.15*V_step + 0.1*D + 0.1*D_seq + 0.05*Q",
        "full_terms": {
            "V": "|std(pred) - std(target)| / (std(target)+eps)  (overall volatility match, all B*5 values)",
            "V_step": "(1/5) * sum_k |std_k(pred) - std_k(target)| / (std_k(target)+eps)  (per-step volatility match)",
            "D": "mean(relu(-pred*target)) / (mean(target^2)+eps)  (direction agreement)",
            "D_seq": "mean(relu(-dpred*dtarget)) / (mean(dtarget^2)+eps), dx[:, k] = x[:, k+1] - x[:, k], k = 0..3  \
                      (within-sequence direction agreement)",
            "Q": format!(
                "(1/{}) * sum_q mean(max(q*e, (q-1)*e)), q in {:?}  (pinball / quantile loss)",
                QUANTILES.len(),
                QUANTILES
            ),
        },
    })
}

fn architecture_json(arch: &Architecture, params: i64) -> Value {
    let h = arch.hidden_size;
    match arch.kind {
        ModelKind::LstmDualHead => json!({
            "description": "base: single-layer unidirectional LSTM + Dropout + MLP + two heads",
            "input_size": arch.input_size,
            "hidden_size_default": h,
            "num_layers": arch.num_layers,
            "dropout": arch.dropout,
            "bidirectional": arch.bidirectional,
            "batch_first": true,
            "num_classes": 2,
            "n_magnitude_outputs": FORECAST_DAYS,
            "structure": [
                format!("LSTM({}, {h}, num_layers={}, batch_first=True)", arch.input_size, arch.num_layers),
                "last_h = lstm_out[:, -1]",
                format!("Dropout({}) -> Linear({h}, {h}) -> ReLU -> Dropout({})", arch.dropout, arch.dropout),
                format!("fc_direction: Linear({h}, 2)"),
                format!("fc_magnitude: Linear({h}, {FORECAST_DAYS})"),
            ],
            "parameter_count": params,
        }),
        ModelKind::LstmDualHeadEnhanced => json!({
            "description": "enhanced (default): bidirectional LSTM + sequence attention + skip connection + deeper MLP",
            "input_size": arch.input_size,
            "hidden_size": h,
            "num_layers": arch.num_layers,
            "dropout": arch.dropout,
            "bidirectional": arch.bidirectional,
            "batch_first": true,
            "hidden_out_per_direction": h,
            "lstm": format!(
                "LSTM({}, {h}, num_layers={}, dropout={}, bidirectional=True, batch_first=True) -> out [B, T, {}]",
                arch.input_size, arch.num_layers, arch.dropout, 2 * h
            ),
            "attention": format!("Linear({}, 1) over out, softmax over time, weighted sum of out -> [B, {}]", 2 * h, 2 * h),
            "skip_connection": format!("ReLU(Linear({}, {})) of the last input step", arch.input_size, 2 * h),
            "combined": format!("concat(attention_context, skip) -> [B, {}]", 4 * h),
            "fc_shared": format!(
                "Linear({}, {}) -> LayerNorm({}) -> ReLU -> Dropout({}) -> Linear({}, {h}) -> ReLU -> Dropout({}) -> Linear({h}, {}) -> ReLU",
                4 * h, 2 * h, 2 * h, arch.dropout, 2 * h, arch.dropout, h / 2
            ),
            "fc_direction": format!("Linear({}, 2)", h / 2),
            "fc_magnitude": format!("Linear({}, {FORECAST_DAYS})", h / 2),
            "init_weights": "LSTM: weight_ih xavier uniform, weight_hh orthogonal, biases 0; fc_shared/attention/skip: \
                             xavier uniform, bias 0; fc_direction/fc_magnitude: normal(0, 0.01), bias 0",
            "parameter_count": params,
        }),
    }
}

/// Trainable parameters of `arch` (built once on the CPU and cached).
fn parameter_counts() -> (i64, i64) {
    static COUNTS: OnceLock<(i64, i64)> = OnceLock::new();
    *COUNTS.get_or_init(|| {
        let count = |arch: &Architecture| -> i64 {
            let vs = tch::nn::VarStore::new(tch::Device::Cpu);
            match Network::new(&vs.root(), arch) {
                Ok(_) => vs.trainable_variables().iter().map(|t| t.numel() as i64).sum(),
                Err(_) => -1,
            }
        };
        (
            count(&Architecture::base(N_FEATURES as i64, BASE_HIDDEN)),
            count(&Architecture::enhanced(N_FEATURES as i64, ENHANCED_HIDDEN)),
        )
    })
}

/// The `(symbol, years)` data rule of every training run (trainer-svc `core::data`).
pub const DATA_RANGE_RULE: &str = "bars in (end - years, end] (incremental: (end - months, end]); \
end = the last bar up to the request's end (default: the last bar); an explicit start replaces the \
lower bound (inclusive). Up to 60 earlier bars are loaded as indicator warm-up when they exist. A \
sample belongs to the model when its window ENDS inside the range, so windows reach up to 59 days \
into the warm-up (deliberate: every day of the range is a training day, and no day after end is \
read). 'insufficient data ... got N' counts the days the windows can span: the range plus up to 59 \
warm-up days, i.e. N - 64 samples, the same N at every stage";

/// The training specification of this build as JSON (shape of seed 001 §5, English keys and
/// values, Chinese aliases kept for the volatility features).
pub fn training_spec() -> Value {
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let aliases: serde_json::Map<String, Value> = FEATURES
        .iter()
        .filter_map(|f| f.alias.map(|a| (f.name.to_string(), Value::from(a))))
        .collect();
    let definitions: serde_json::Map<String, Value> = FEATURES
        .iter()
        .zip(FEATURE_DEFINITIONS)
        .map(|(f, d)| (f.name.to_string(), Value::from(d)))
        .collect();
    let base_sources: serde_json::Map<String, Value> =
        definitions.iter().take(N_BASE_FEATURES).map(|(k, v)| (k.clone(), v.clone())).collect();

    let base = Architecture::base(N_FEATURES as i64, BASE_HIDDEN);
    let enhanced = Architecture::enhanced(N_FEATURES as i64, ENHANCED_HIDDEN);
    let (base_params, enhanced_params) = parameter_counts();
    let imp = ImprovedConfig::default();
    let pipe = PipelineConfig::default();
    let inc = IncrementalConfig::default();
    let grid = |g: ParamGrid| {
        json!({ "lr": g.lr, "hidden_size": g.hidden_size, "epochs": g.epochs, "batch_size": g.batch_size })
    };
    let cuda = tch::Cuda::is_available();

    json!({
        "version": SPEC_FORMAT_VERSION,
        "purpose": "LSTM training and architecture specification of this build, for documentation and automated analysis",
        "data": {
            "input": {
                "sequence_length": SEQ_LEN,
                "n_features": N_FEATURES,
                "description": format!("the last {SEQ_LEN} trading days of daily bars, {N_FEATURES} features per day"),
                "min_trading_days_required": MIN_TRADING_DAYS,
                "data_range": DATA_RANGE_RULE,
                "standardisation": "per-feature mean/std over the training samples, stored with the model version and applied at prediction time",
            },
            "output": {
                "forecast_days": FORECAST_DAYS,
                "direction": format!("binary 0/1 (down/up): 1 if c[t+{FORECAST_DAYS}]/c[t] - 1 > 0"),
                "magnitude": format!("regression: the next {FORECAST_DAYS} daily returns c[t+k+1]/c[t+k] - 1, shape (batch, {FORECAST_DAYS}); API values are fractional returns"),
                "samples": format!("n days give n - {} samples (windows ending on day t = {} .. n-{})", MIN_TRADING_DAYS - 1, SEQ_LEN - 1, FORECAST_DAYS + 1),
            },
            "features": {
                "count_total": N_FEATURES,
                "count_base": N_BASE_FEATURES,
                "count_volatility": N_FEATURES - N_BASE_FEATURES,
                "base_feature_names": &names[..N_BASE_FEATURES],
                "volatility_feature_names": &names[N_BASE_FEATURES..],
                "volatility_feature_names_zh": FEATURES[N_BASE_FEATURES..].iter().map(|f| f.alias.unwrap_or(f.name)).collect::<Vec<_>>(),
                "feature_names_full": names,
                "chinese_aliases": aliases,
                "definitions": definitions,
                "base_feature_sources": base_sources,
                "big_move_default": FeatureConfig::default().big_move,
                "returns": "r_t = c_t / c_{t-1} - 1 (0 on the first day)",
            }
        },
        "architecture": {
            "model_types": [ModelKind::LstmDualHead.as_str(), ModelKind::LstmDualHeadEnhanced.as_str()],
            "LSTMDualHead": architecture_json(&base, base_params),
            "LSTMDualHeadEnhanced": architecture_json(&enhanced, enhanced_params),
            "default_use_enhanced": pipe.use_enhanced_model,
            "weights_format": "safetensors with PyTorch state_dict parameter names",
        },
        "training": {
            "default_optimizer": "AdamW (improved strategy) or Adam (plain, cross-validation, incremental)",
            "plain_strategy": {
                "optimizer": "Adam",
                "batch_size": grid(ParamGrid::default())["batch_size"],
                "epochs": "fixed (from the CV grid, or the pipeline default)",
            },
            "improved_strategy": {
                "name": "improved training strategy (default)",
                "config": {
                    "lr": imp.lr,
                    "weight_decay": imp.weight_decay,
                    "grad_clip": imp.grad_clip,
                    "patience": imp.patience,
                    "eta_min": imp.eta_min,
                    "T_0": imp.t_0,
                    "T_mult": imp.t_mult,
                    "use_augmentation": imp.augment,
                    "noise_std": imp.noise_std,
                    "scale_low": imp.scale_low,
                    "scale_high": imp.scale_high,
                    "reg_loss_type": pipe.reg_loss_type.as_str(),
                    "weight_cls": imp.weight_cls,
                    "weight_reg": imp.weight_reg,
                    "max_epochs": imp.max_epochs,
                },
                "optimizer": format!("AdamW(lr, weight_decay={})", imp.weight_decay),
                "scheduler": format!("CosineAnnealingWarmRestarts(T_0={}, T_mult={}, eta_min={:e}), stepped per epoch", imp.t_0, imp.t_mult, imp.eta_min),
                "early_stopping_metric": format!("validation volatility match = 1 - |std(pred) - std(true)| / std(true) (higher is better), patience {}, best weights restored", imp.patience),
                "data_augmentation": format!("per batch: x * U({}, {}) per sample + N(0, {}) noise per value, on standardised inputs; targets unchanged", imp.scale_low, imp.scale_high, imp.noise_std),
                "gradient_clip": format!("clip_grad_norm(max_norm={:?})", imp.grad_clip),
                "inner_split": format!("chronological: validation = the last max({MIN_INNER_VAL}, n_train * {CALIBRATION_SHARE_PCT} // 100) training samples, after a {PURGE_GAP}-sample purge gap the fit does not train on"),
                "target_scale": TARGET_SCALE,
            },
            "cross_validation": {
                "method": "TimeSeriesSplit (sklearn semantics)",
                "when": "only when do_cv_tune and not use_improved_training",
                "model": ModelKind::LstmDualHead.as_str(),
                "default_n_splits": CV_SPLITS,
                "cpu_friendly_n_splits": CV_SPLITS_FAST,
                "default_param_grid": grid(ParamGrid::default()),
                "cpu_friendly_param_grid": grid(ParamGrid::fast()),
                "scoring": "score = avg_f1 - 0.1 * log1p(avg_mse)",
            },
            "train_and_save_defaults": {
                "lr": PIPELINE_LR,
                "hidden_size_enhanced": ENHANCED_HIDDEN,
                "hidden_size_base": BASE_HIDDEN,
                "epochs": PIPELINE_EPOCHS,
                "batch_size": grid(ParamGrid::default())["batch_size"],
                "use_enhanced_model": pipe.use_enhanced_model,
                "reg_loss_type": pipe.reg_loss_type.as_str(),
                "use_improved_training": pipe.use_improved_training,
                "note": "with improved training the pipeline skips CV and uses these values",
            },
            "incremental": {
                "epochs": inc.epochs,
                "lr": inc.lr,
                "batch_size": inc.batch_size,
                "optimizer": "Adam",
                "reg_loss_type": "full",
                "recent_data_months": WEEKLY_MONTHS,
                "requires": "a current version; otherwise FAILED_PRECONDITION \"no current model for incremental training: SYMBOL/Ny\"",
                "normalisation": "the current version's statistics and target scale are kept",
            },
            "regression_loss_options": loss_formulas(),
            "classification_loss": "CrossEntropyLoss (mean) on direction logits [B, 2]",
            "total_loss": "weight_cls * classification + weight_reg * regression",
            "loss_weights_default": { "weight_cls": imp.weight_cls, "weight_reg": imp.weight_reg },
        },
        "validation": {
            "post_training_holdout": format!("last min({HOLDOUT_MAX}, max({HOLDOUT_MIN}, n // 3)) samples"),
            "holdout_min": HOLDOUT_MIN,
            "holdout_max": HOLDOUT_MAX,
            "purge_gap": PURGE_GAP,
            "leak_free": format!("the candidate is trained without the holdout and without the {PURGE_GAP} samples before it"),
            "deploy_rule": format!("deploy iff there is no current version, or f1 gain >= {MIN_F1_IMPROVEMENT}, or mse <= {MAX_MSE_RATIO} x current mse (tolerance {DEPLOY_TOLERANCE:e}); non-finite candidate metrics never deploy"),
            "min_f1_improvement": MIN_F1_IMPROVEMENT,
            "min_mse_ratio": MAX_MSE_RATIO,
            "evaluate_metrics": ["accuracy", "f1", "mse", "mae", "rmse", "direction_accuracy", "auc"],
            "metric_definitions": {
                "accuracy": "share of samples with (prob_up > 0.5) == y_dir",
                "f1": "binary F1 of class 1 (sklearn f1_score); 0 when undefined",
                "mse": "mean squared error over all 5 x n daily magnitudes (fractional returns)",
                "mae": "mean absolute error over all 5 x n daily magnitudes",
                "rmse": "sqrt(mse)",
                "direction_accuracy": "share of samples with sign(sum predicted magnitudes) == sign(sum true magnitudes)",
                "auc": "ROC AUC of prob_up against y_dir (rank formula, ties count 1/2); null when the holdout holds one class only",
            },
            "feature_importance": {
                "permutation": format!("per feature, mean loss increase when its 60-step slices are shuffled across holdout samples ({PERMUTATION_REPEATS} seeded repeats)"),
                "integrated_gradients": format!("zero baseline (= training mean), {IG_STEPS} midpoint steps; mean over samples of sum over time of |x * avg_grad|"),
            },
        },
        "forecast_quality": crate::calibration::spec::forecast_quality_spec(),
        "triggers": {
            "priority": ["monthly", "quarterly", "performance_decay", "weekly"],
            "weekly": format!("Friday trading day -> incremental training on the last {WEEKLY_MONTHS} months"),
            "monthly": "last trading day of the month -> full pipeline (CV + validation + importance + plots)",
            "quarterly": "last trading day of Mar/Jun/Sep/Dec -> full pipeline",
            "performance_decay": format!("mean abs error of the last {DECAY_WINDOW} resolved predictions > {DECAY_RATIO} x the historical mean -> full pipeline"),
            "trading_days": "weekdays minus a configurable holiday list",
        },
        "build": {
            "crate_version": env!("CARGO_PKG_VERSION"),
            "tch": TCH_VERSION,
            "libtorch": LIBTORCH_VERSION,
            "cuda_available": cuda,
            "cuda_device_count": if cuda { tch::Cuda::device_count() } else { 0 },
            "mixed_precision": "CUDA only",
        },
    })
}
