//! Shrinkage toward the base rate through the whole pipeline (issue 23, SPEC §14.1): a model
//! trained on pure noise shows no skill out of sample, so its version answers exactly its base
//! rate; a model trained on a planted, learnable direction signal keeps a clear weight and its
//! served probabilities rank unseen days well above chance.
use common::baselines::BaseRate;
use common::data::synthetic::{generate, SyntheticConfig};
use common::evaluation::auc;
use common::features::{build_samples, FeatureConfig, Samples};
use common::model::LoadedModel;
use common::training::{run_pipeline, DeviceChoice, ParamGrid, PipelineConfig, RegLossType};
use tch::Device;
use tokio_util::sync::CancellationToken;

fn samples(signal: f64, seed: u64) -> Samples {
    let bars = generate(&SyntheticConfig { seed, days: 1100, signal, ..SyntheticConfig::default() });
    build_samples(&bars, &FeatureConfig::default()).unwrap()
}

fn cfg(seed: u64) -> PipelineConfig {
    PipelineConfig {
        symbol: "SHR".into(),
        do_cv_tune: false,
        do_shap: false,
        do_plot: false,
        use_improved_training: false,
        use_enhanced_model: false,
        reg_loss_type: RegLossType::Full,
        param_grid: Some(ParamGrid { lr: vec![2e-3], hidden_size: vec![32], epochs: vec![12], batch_size: 32 }),
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        ..PipelineConfig::default()
    }
}

/// Trains on the first 800 samples; returns the served and raw probabilities of the days after
/// a 5-sample gap, their labels, the stored shrinkage weight and base rate, and the training
/// span's up share.
fn served_out_of_sample(s: &Samples, seed: u64) -> (Vec<f64>, Vec<i64>, f64, f64, f64) {
    let train = s.subset(0..800);
    let test = s.subset(805..s.len());
    let out = run_pipeline(&train, &cfg(seed), None, &mut |_| {}, &CancellationToken::new()).unwrap();
    let cal = out.metadata.calibration.clone().expect("a calibrated version");
    let sh = cal.shrinkage.clone().expect("shrinkage fitted");
    let q = cal.quality.as_ref().expect("holdout quality");
    assert_eq!((q.base_rate, q.shrinkage_weight), (Some(sh.base_rate), Some(sh.weight)));
    assert!(q.n_calibration > 0 && q.n_calibration == sh.n, "{} vs {}", q.n_calibration, sh.n);
    let model = LoadedModel::from_artifact(&out.metadata, &out.weights, Device::Cpu).unwrap();
    let served: Vec<f64> = model.forecast(&test.x, test.len()).unwrap().iter().map(|f| cal.prob_up(f.prob_up)).collect();
    // The training part the pipeline kept before its purge gap and holdout: its up share.
    let d = &out.metadata.diagnostics;
    let n_part = train.len() - d["n_holdout"].as_u64().unwrap() as usize - d["purge_gap"].as_u64().unwrap() as usize;
    let up_share = BaseRate::fit(&train.y_dir[..n_part]).prob_up;
    eprintln!("seed {seed}: w = {:.3}, base rate {:.4} (n_calibration {}), note {:?}", sh.weight, sh.base_rate, sh.n, q.note);
    (served, test.y_dir.clone(), sh.weight, sh.base_rate, up_share)
}

#[test]
fn pure_noise_serves_its_base_rate() {
    let (served, _, w, base, up_share) = served_out_of_sample(&samples(0.0, 31), 31);
    assert_eq!(w, 0.0, "no skill on noise");
    assert!((base - up_share).abs() < 1e-12, "the base rate is the training span's up share: {base} vs {up_share}");
    for p in &served {
        assert!((p - base).abs() < 1e-6, "served {p}, base rate {base}");
    }
}

#[test]
fn a_planted_signal_keeps_its_weight_and_its_ranking() {
    let (served, y, w, _, _) = served_out_of_sample(&samples(2.0, 32), 32);
    let a = auc(&served, &y).expect("both classes");
    eprintln!("planted signal: w = {w:.3}, served AUC on {} unseen days {a:.3}", y.len());
    assert!(w > 0.3, "the weight of a model with skill: {w}");
    // ~290 unseen days: the standard error of an AUC near 0.5 is ~0.034, so 0.6 is ~3 sigma.
    assert!(a > 0.6, "served AUC {a}");
}
