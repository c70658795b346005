//! Features benchmark: `build_samples` over 10 years (2 520 days) of synthetic bars → all 2 456
//! samples (60×21 each). Baseline: `bench/features_pandas.py`; `bench/run_features_bench.sh`
//! runs both and prints the ratio.
//!
//! With `FEATURES_BENCH_CSV=path` set, the bars are also written there (plain CSV) so the pandas
//! baseline times exactly the same input.
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::hint::black_box;

use common::data::{generate, write_csv, Dialect, SyntheticConfig};
use common::features::{build_samples, FeatureConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn features(c: &mut Criterion) {
    let bars = generate(&SyntheticConfig {
        days: 2520,
        seed: 42,
        ..SyntheticConfig::default()
    });
    if let Ok(path) = std::env::var("FEATURES_BENCH_CSV") {
        std::fs::write(&path, write_csv(&bars, Dialect::Plain)).expect("write FEATURES_BENCH_CSV");
    }
    let cfg = FeatureConfig::default();
    assert_eq!(build_samples(&bars, &cfg).expect("samples").len(), 2456);
    c.bench_function("build_samples_2520_days", |b| {
        b.iter(|| build_samples(black_box(&bars), &cfg).expect("samples"))
    });
}

criterion_group!(benches, features);
criterion_main!(benches);
