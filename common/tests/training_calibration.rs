//! The pipeline's calibration stage (issue 11): which samples calibrate (never the holdout, never
//! trained on), what the version stores, the holdout quality and baselines, and the baseline gate.
use common::calibration::{CalibrationMethod, ProbabilityScores};
use common::data::synthetic::{generate, SyntheticConfig};
use common::features::{build_samples, FeatureConfig, Samples};
use common::model::LoadedModel;
use common::training::{run_pipeline, DeviceChoice, PipelineConfig};
use tch::Device;
use tokio_util::sync::CancellationToken;

fn samples(cfg: SyntheticConfig) -> Samples {
    build_samples(&generate(&cfg), &FeatureConfig::default()).unwrap()
}

fn quick(seed: u64) -> PipelineConfig {
    PipelineConfig {
        symbol: "CAL".into(),
        do_shap: false,
        do_plot: false,
        use_enhanced_model: false,
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        max_epochs: Some(1),
        ..PipelineConfig::default()
    }
}

// 300 days → 236 samples: holdout 66 (170..236), purge gap 5, training part 0..165.
const N: usize = 236;
const TRAIN_END: usize = 165;
const HOLDOUT_START: usize = 170;

#[test]
fn improved_training_calibrates_on_its_inner_validation_split_and_never_on_the_holdout() {
    let s = samples(SyntheticConfig { seed: 5, days: 300, ..SyntheticConfig::default() });
    assert_eq!(s.len(), N);
    let out = run_pipeline(&s, &quick(5), None, &mut |_| {}, &CancellationToken::new()).unwrap();
    let md = &out.metadata;
    let cal = md.calibration.as_ref().expect("stored with the version");
    assert_eq!(cal.method, CalibrationMethod::Temperature, "the default");
    let data = cal.data.as_ref().unwrap();
    // inner validation = last max(20, 25 % of 165) = 41 training samples, after a 5-sample purge
    // that the fit does not train on (issue 23): no calibration target shares a daily return with
    // a trained one.
    assert_eq!((data.source.as_str(), data.start, data.end), ("inner_validation", TRAIN_END - 41, TRAIN_END));
    let fit_end = md.diagnostics["n_train"].as_u64().unwrap() as usize;
    assert_eq!(fit_end, TRAIN_END - 41 - 5, "the fit trains on 0..{fit_end}");
    assert!(fit_end + 5 <= data.start, "trained targets reach the calibration samples");
    assert!(data.end + 5 <= HOLDOUT_START, "calibration indices {}..{} reach the holdout", data.start, data.end);
    assert!(data.last_date.unwrap() < s.end_dates[HOLDOUT_START]);
    assert_eq!(md.diagnostics["n_calibration"], 41);

    // The before-scores are exactly the raw model's on those samples: nothing else was used.
    let model = LoadedModel::from_artifact(md, &out.weights, Device::Cpu).unwrap();
    let c = s.subset(data.start..data.end);
    let raw: Vec<f64> = model.forecast(&c.x, c.len()).unwrap().iter().map(|f| f.prob_up).collect();
    let direction = cal.direction.as_ref().expect("41 samples with both classes are enough");
    let before = ProbabilityScores::of(&raw, &c.y_dir);
    assert!((direction.before.log_loss - before.log_loss).abs() < 1e-9);
    assert!(direction.after.log_loss <= direction.before.log_loss + 1e-9, "{direction:?}");

    // Intervals for both levels (41 ≥ 19), the signal threshold, the holdout quality.
    let ci = cal.intervals.as_ref().unwrap();
    assert_eq!(ci.n_calibration, 41);
    assert!(ci.levels.iter().all(|l| l.normalized.is_some() && l.absolute.is_some()));
    assert_eq!(cal.signal.unwrap().n, 41);
    let q = cal.quality.as_ref().unwrap();
    assert_eq!((q.n_holdout, q.calibrated, q.calibration.as_str()), (66, true, "temperature"));
    assert_eq!(q.beats_baseline, q.holdout_brier.unwrap() < q.baseline_brier.unwrap());
    for k in [
        "holdout_brier", "holdout_brier_raw", "holdout_ece", "holdout_hit_rate", "baseline_base_rate_brier",
        "baseline_linear_brier", "beats_baseline", "holdout_coverage_80", "holdout_coverage_95",
        "holdout_coverage_80_absolute", "holdout_coverage_95_absolute", "calibration_log_loss_after",
    ] {
        assert!(out.metrics.get(k).is_some_and(|v| v.is_finite()), "metric {k} missing: {:?}", out.metrics.keys());
    }
    assert_eq!(out.baselines.len(), 2);
    // PyTorch users find it in the metadata JSON.
    let json: serde_json::Value = serde_json::to_value(md).unwrap();
    assert_eq!(json["calibration"]["direction"]["method"], "temperature");
    assert!(json["calibration"]["intervals"]["levels"][1]["normalized"].is_number());
}

#[test]
fn plain_training_calibrates_on_a_purged_tail_it_did_not_fit() {
    let s = samples(SyntheticConfig { seed: 6, days: 300, ..SyntheticConfig::default() });
    let cfg = PipelineConfig { use_improved_training: false, do_cv_tune: false, calibration: CalibrationMethod::Temperature, ..quick(6) };
    let out = run_pipeline(&s, &cfg, None, &mut |_| {}, &CancellationToken::new()).unwrap();
    let md = &out.metadata;
    let cal = md.calibration.as_ref().unwrap();
    let data = cal.data.as_ref().unwrap();
    assert_eq!((data.source.as_str(), data.start, data.end), ("purged_training_tail", TRAIN_END - 41, TRAIN_END));
    // the fit trained on 0..119: a 5-sample gap before the calibration tail
    assert_eq!(md.diagnostics["n_train"], TRAIN_END - 41 - 5);
    assert!(cal.direction.as_ref().unwrap().temperature.unwrap() > 0.0);
}

#[test]
fn the_gate_keeps_a_candidate_worse_than_the_base_rate_only_when_required() {
    // A market that rises 1 % a day: almost every 5-day window is up, so the base rate is hard
    // to beat for a one-epoch model served raw.
    let s = samples(SyntheticConfig { seed: 7, days: 300, drift: 0.01, ..SyntheticConfig::default() });
    let cfg = PipelineConfig { calibration: CalibrationMethod::None, ..quick(7) };
    let free = run_pipeline(&s, &cfg, None, &mut |_| {}, &CancellationToken::new()).unwrap();
    let q = free.metadata.calibration.as_ref().unwrap().quality.clone().unwrap();
    assert!(!q.beats_baseline && !q.calibrated, "{q:?}");
    assert!(free.deploy.deploy, "without require_beats_baseline the seed's rule decides: {}", free.deploy.reason);
    assert!(free.deploy.reason.contains("baseline gate off") && free.deploy.reason.contains("lost by"), "{}", free.deploy.reason);

    let gated = PipelineConfig { require_beats_baseline: Some(true), ..cfg };
    let kept = run_pipeline(&s, &gated, None, &mut |_| {}, &CancellationToken::new()).unwrap();
    assert!(!kept.deploy.deploy);
    let r = &kept.deploy.reason;
    assert!(r.starts_with("require_beats_baseline: holdout brier") && r.contains("lost by"), "{r}");
}
