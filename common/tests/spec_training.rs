//! The training spec JSON has seed 001 §5's shape and carries the values the code uses; the
//! Markdown rendering carries the exact loss formulas.

use common::evaluation::{HOLDOUT_MAX, HOLDOUT_MIN, MAX_MSE_RATIO, MIN_F1_IMPROVEMENT, PURGE_GAP};
use common::features::{FEATURES, FORECAST_DAYS, MIN_TRADING_DAYS, N_FEATURES, SEQ_LEN};
use common::model::{Architecture, Network};
use common::spec::{training_spec, training_spec_markdown};
use common::training::config::{ImprovedConfig, IncrementalConfig, ParamGrid};
use common::training::pipeline::{BASE_HIDDEN, ENHANCED_HIDDEN, PIPELINE_EPOCHS, PIPELINE_LR};
use serde_json::{json, Value};

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |cur, key| {
        let next = &cur[key];
        assert!(!next.is_null(), "spec lacks {path} (at {key})");
        next
    })
}

#[test]
fn has_the_seed_001_sections_and_keys() {
    let s = training_spec();
    for path in [
        "version",
        "purpose",
        "data.input.sequence_length",
        "data.input.min_trading_days_required",
        "data.output.forecast_days",
        "data.output.direction",
        "data.output.magnitude",
        "data.features.count_total",
        "data.features.base_feature_names",
        "data.features.volatility_feature_names",
        "data.features.feature_names_full",
        "data.features.chinese_aliases",
        "data.features.definitions",
        "architecture.model_types",
        "architecture.LSTMDualHead.structure",
        "architecture.LSTMDualHeadEnhanced.fc_shared",
        "architecture.default_use_enhanced",
        "training.improved_strategy.config",
        "training.improved_strategy.scheduler",
        "training.cross_validation.default_param_grid",
        "training.cross_validation.cpu_friendly_param_grid",
        "training.cross_validation.scoring",
        "training.train_and_save_defaults",
        "training.incremental",
        "training.regression_loss_options.mse",
        "training.regression_loss_options.huber",
        "training.regression_loss_options.volatility",
        "training.regression_loss_options.full",
        "training.classification_loss",
        "training.loss_weights_default",
        "validation.post_training_holdout",
        "validation.deploy_rule",
        "validation.evaluate_metrics",
        "triggers.priority",
        "build.crate_version",
        "build.tch",
        "build.libtorch",
        "build.cuda_available",
    ] {
        at(&s, path);
    }
}

#[test]
fn data_and_features_match_the_constants() {
    let s = training_spec();
    assert_eq!(s["data"]["input"]["sequence_length"], json!(SEQ_LEN));
    assert_eq!(s["data"]["input"]["min_trading_days_required"], json!(MIN_TRADING_DAYS));
    assert_eq!(s["data"]["output"]["forecast_days"], json!(FORECAST_DAYS));
    let f = &s["data"]["features"];
    assert_eq!(f["count_total"], json!(21));
    assert_eq!(f["count_total"], json!(N_FEATURES));
    assert_eq!(f["count_base"], json!(9));
    assert_eq!(f["count_volatility"], json!(12));
    let names: Vec<&str> = FEATURES.iter().map(|x| x.name).collect();
    assert_eq!(f["feature_names_full"], json!(names));
    assert_eq!(f["base_feature_names"][0], "close_norm");
    assert_eq!(f["base_feature_names"][8], "aroon_up");
    assert_eq!(f["volatility_feature_names"][0], "ret_1d");
    assert_eq!(f["volatility_feature_names_zh"][0], "日收益率");
    assert_eq!(f["volatility_feature_names_zh"][11], "量价背离");
    assert_eq!(f["chinese_aliases"]["pv_divergence"], "量价背离");
    assert_eq!(f["chinese_aliases"].as_object().unwrap().len(), 12);
    let defs = f["definitions"].as_object().unwrap();
    assert_eq!(defs.len(), N_FEATURES);
    assert!(defs["rsi"].as_str().unwrap().contains("Wilder"));
    assert!(defs["vol_ratio"].as_str().unwrap().contains("[0, 5]"));
}

#[test]
fn architecture_matches_the_networks() {
    let s = training_spec();
    let a = &s["architecture"];
    assert_eq!(a["model_types"], json!(["LSTMDualHead", "LSTMDualHeadEnhanced"]));
    let e = &a["LSTMDualHeadEnhanced"];
    assert_eq!(e["hidden_size"], json!(ENHANCED_HIDDEN));
    assert_eq!(e["hidden_size"], json!(128));
    assert_eq!(e["num_layers"], json!(3));
    assert_eq!(e["bidirectional"], json!(true));
    assert_eq!(e["dropout"], json!(0.2));
    assert!(e["fc_shared"].as_str().unwrap().starts_with("Linear(512, 256) -> LayerNorm"), "{}", e["fc_shared"]);
    assert!(e["fc_shared"].as_str().unwrap().ends_with("Linear(128, 64) -> ReLU"), "{}", e["fc_shared"]);
    assert_eq!(e["fc_direction"], "Linear(64, 2)");
    assert_eq!(e["fc_magnitude"], "Linear(64, 5)");
    let b = &a["LSTMDualHead"];
    assert_eq!(b["hidden_size_default"], json!(BASE_HIDDEN));
    assert_eq!(b["num_layers"], json!(1));
    assert_eq!(b["dropout"], json!(0.3));

    // Parameter counts are those of the real networks.
    let count = |arch: Architecture| -> i64 {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _net = Network::new(&vs.root(), &arch).unwrap();
        vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    };
    assert_eq!(e["parameter_count"], json!(count(Architecture::enhanced(21, 128))));
    assert_eq!(b["parameter_count"], json!(count(Architecture::base(21, 64))));
    // bi-LSTM(21→128, 3 layers): 2·[4·128·(21+128) + 8·128] + 2·2·[4·128·(256+128) + 8·128]
    let lstm = 2 * (4 * 128 * (21 + 128) + 8 * 128) + 4 * (4 * 128 * (256 + 128) + 8 * 128);
    let rest = (256 + 1) + (21 * 256 + 256) + (512 * 256 + 256) + 2 * 256 + (256 * 128 + 128) + (128 * 64 + 64) + (64 * 2 + 2) + (64 * 5 + 5);
    assert_eq!(e["parameter_count"], json!(lstm + rest));
}

#[test]
fn training_values_match_the_training_config() {
    let s = training_spec();
    let t = &s["training"];
    let imp = ImprovedConfig::default();
    let c = &t["improved_strategy"]["config"];
    assert_eq!(c["lr"], json!(imp.lr));
    assert_eq!(c["weight_decay"], json!(0.01));
    assert_eq!(c["grad_clip"], json!(1.0));
    assert_eq!(c["patience"], json!(20));
    assert_eq!(c["eta_min"], json!(1e-5));
    assert_eq!(c["T_0"], json!(50));
    assert_eq!(c["T_mult"], json!(2));
    assert_eq!(c["noise_std"], json!(imp.noise_std));
    assert_eq!(c["scale_low"], json!(0.98));
    assert_eq!(c["scale_high"], json!(1.02));
    assert_eq!(c["max_epochs"], json!(60));
    assert_eq!(c["reg_loss_type"], "full");
    assert_eq!(
        t["improved_strategy"]["scheduler"],
        "CosineAnnealingWarmRestarts(T_0=50, T_mult=2, eta_min=1e-5), stepped per epoch"
    );
    let cv = &t["cross_validation"];
    assert_eq!(cv["method"], "TimeSeriesSplit (sklearn semantics)");
    assert_eq!((cv["default_n_splits"].clone(), cv["cpu_friendly_n_splits"].clone()), (json!(5), json!(3)));
    let g = ParamGrid::default();
    assert_eq!(cv["default_param_grid"], json!({"lr": g.lr, "hidden_size": g.hidden_size, "epochs": g.epochs, "batch_size": 32}));
    assert_eq!(cv["cpu_friendly_param_grid"], json!({"lr": [5e-4], "hidden_size": [32], "epochs": [25], "batch_size": 32}));
    let d = &t["train_and_save_defaults"];
    assert_eq!(d["lr"], json!(PIPELINE_LR));
    assert_eq!(d["lr"], json!(5e-4));
    assert_eq!(d["epochs"], json!(PIPELINE_EPOCHS));
    assert_eq!((d["hidden_size_enhanced"].clone(), d["hidden_size_base"].clone()), (json!(128), json!(64)));
    let inc = IncrementalConfig::default();
    assert_eq!(t["incremental"]["epochs"], json!(inc.epochs));
    assert_eq!(t["incremental"]["lr"], json!(1e-4));
    assert_eq!(t["incremental"]["batch_size"], json!(32));
    assert_eq!(t["incremental"]["reg_loss_type"], "full");
    assert_eq!(t["incremental"]["recent_data_months"], json!(6));
    assert_eq!(t["loss_weights_default"], json!({"weight_cls": 1.0, "weight_reg": 1.0}));
}

#[test]
fn loss_formulas_are_exact() {
    let s = training_spec();
    let l = &s["training"]["regression_loss_options"];
    assert_eq!(l["volatility"], "mse + 0.2*relu(0.7 - std(pred)/(std(target)+eps))");
    assert_eq!(l["full"], "mse + 0.35*V + 0.15*V_step + 0.1*D + 0.1*D_seq + 0.05*Q");
    assert!(l["huber"].as_str().unwrap().contains("delta 1.0"));
    assert!(l["full_terms"]["V"].as_str().unwrap().starts_with("|std(pred) - std(target)| / (std(target)+eps)"));
    assert!(l["full_terms"]["D"].as_str().unwrap().starts_with("mean(relu(-pred*target)) / (mean(target^2)+eps)"));
    assert!(l["full_terms"]["Q"].as_str().unwrap().contains("[0.1, 0.5, 0.9]"));
    assert!(l["conventions"].as_str().unwrap().contains("eps = 1e-8"));
}

#[test]
fn validation_matches_the_deploy_constants() {
    let s = training_spec();
    let v = &s["validation"];
    assert_eq!(v["min_f1_improvement"], json!(MIN_F1_IMPROVEMENT));
    assert_eq!(v["min_mse_ratio"], json!(MAX_MSE_RATIO));
    assert_eq!(v["purge_gap"], json!(PURGE_GAP));
    assert_eq!(v["purge_gap"], json!(5));
    assert_eq!((v["holdout_min"].clone(), v["holdout_max"].clone()), (json!(HOLDOUT_MIN), json!(HOLDOUT_MAX)));
    assert_eq!(v["post_training_holdout"], "last min(66, max(10, n // 3)) samples");
    assert_eq!(v["evaluate_metrics"], json!(["accuracy", "f1", "mse", "mae", "rmse", "direction_accuracy"]));
    assert_eq!(s["triggers"]["priority"], json!(["monthly", "quarterly", "performance_decay", "weekly"]));
    assert_eq!(s["build"]["tch"], "0.24");
    assert_eq!(s["build"]["libtorch"], "2.11.0");
    assert_eq!(s["build"]["crate_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["build"]["cuda_available"], json!(tch::Cuda::is_available()));
}

#[test]
fn markdown_has_sections_formulas_and_the_json() {
    let md = training_spec_markdown();
    for needle in [
        "## 1. Data",
        "## 2. Features",
        "## 3. Model architecture",
        "## 4. Training",
        "## 5. Full specification JSON",
        "| 21 | pv_divergence | 量价背离 |",
        "Linear(512, 256) -> LayerNorm(256)",
        "CosineAnnealingWarmRestarts(T_0=50, T_mult=2, eta_min=1e-5)",
        "mse + 0.2*relu(0.7 - std(pred)/(std(target)+eps))",
        "mse + 0.35*V + 0.15*V_step + 0.1*D + 0.1*D_seq + 0.05*Q",
        "mean(relu(-dpred*dtarget)) / (mean(dtarget^2)+eps)",
        "score = avg_f1 - 0.1 * log1p(avg_mse)",
        "last min(66, max(10, n // 3)) samples",
        "f1 gain >= 0.05",
    ] {
        assert!(md.contains(needle), "markdown lacks {needle:?}");
    }
    // The embedded JSON block parses back to the spec (up to the run-time CUDA flag, identical here).
    let start = md.find("```json\n{\n  \"architecture\"").expect("full JSON block") + "```json\n".len();
    let end = start + md[start..].find("\n```").unwrap();
    let parsed: Value = serde_json::from_str(&md[start..end]).unwrap();
    assert_eq!(parsed, training_spec());
}

#[test]
fn forecast_quality_section_documents_calibration_intervals_signal_and_gate() {
    let spec = common::spec::training_spec();
    let q = &spec["forecast_quality"];
    assert_eq!(q["calibration"]["default"], common::calibration::DEFAULT_CALIBRATION.as_str());
    assert_eq!(q["intervals"]["levels"], serde_json::json!([0.8, 0.95]));
    assert_eq!(q["signal"]["target_precision_default"], 0.6);
    assert_eq!(q["baseline_gate"]["default"], false);
    assert!(q["calibration"]["calibration_data"]["never"].as_str().unwrap().contains("holdout"));
    let md = common::spec::training_spec_markdown();
    assert!(md.contains("### 4.6 Calibration, intervals, signal and the baseline gate"), "{md}");
    assert!(md.contains("- baseline gate: when set, a candidate whose holdout Brier"));
}
