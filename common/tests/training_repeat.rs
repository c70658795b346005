//! Seeded CPU runs are bit-for-bit repeatable (one test per binary: libtorch's generator is
//! process-global, and the training session lock is what the product relies on).
use common::data::synthetic::{generate, SyntheticConfig};
use common::features::{build_samples, FeatureConfig};
use common::training::{run_pipeline, DeviceChoice, PipelineConfig};
use tokio_util::sync::CancellationToken;

#[test]
fn same_seed_gives_identical_weights_and_a_different_seed_does_not() {
    let bars = generate(&SyntheticConfig { seed: 3, days: 300, ..SyntheticConfig::default() });
    let s = build_samples(&bars, &FeatureConfig::default()).unwrap();
    let cfg = |seed| PipelineConfig {
        symbol: "REP".into(),
        use_enhanced_model: true,
        use_improved_training: true, // AdamW, augmentation, dropout, shuffling all seeded
        do_shap: false,
        do_plot: false,
        do_post_training_validation: true,
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        max_epochs: Some(2),
        param_grid: None,
        ..PipelineConfig::default()
    };
    let small = |seed| {
        let mut c = cfg(seed);
        c.use_enhanced_model = false;
        run_pipeline(&s, &c, None, &mut |_| {}, &CancellationToken::new()).unwrap()
    };
    let a = small(7);
    let b = small(7);
    let c = small(8);
    assert_eq!(a.weights, b.weights, "same seed must give the same weights");
    assert_ne!(a.weights, c.weights, "a different seed must give different weights");
    assert_eq!(a.validation.as_ref().unwrap().0.f1, b.validation.as_ref().unwrap().0.f1);
    // The enhanced network (inter-layer LSTM dropout, attention) as well.
    let enhanced = PipelineConfig { max_epochs: Some(1), ..cfg(9) };
    let e1 = run_pipeline(&s, &enhanced, None, &mut |_| {}, &CancellationToken::new()).unwrap();
    let e2 = run_pipeline(&s, &enhanced, None, &mut |_| {}, &CancellationToken::new()).unwrap();
    assert_eq!(e1.weights, e2.weights);
}
