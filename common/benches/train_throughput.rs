//! Training throughput of the real training step (tch), for `bench/run_train_bench.sh`.
//!
//! Trains `LSTMDualHeadEnhanced` (hidden 128) with the improved strategy's step exactly as
//! `common::training::fit::fit` runs it in production: seeded shuffle, augmentation
//! (x·U(0.98, 1.02) + N(0, 0.01)), forward, cross-entropy + `full` regression loss, backward,
//! grad-norm clip 1.0, AdamW (wd 0.01), cosine warm restarts per epoch, batch 32 — on
//! synthetic data of the production shape (`BENCH_SAMPLES` × 60 × 21), on the CPU with a fixed
//! number of intra-op threads.
//!
//! Environment: `BENCH_SAMPLES` (512), `BENCH_EPOCHS` (timed passes over the data, 3),
//! `BENCH_THREADS` (2), `BENCH_SEED` (0). Prints one JSON line with the result.
//!
//! Run: `cargo bench -p common --bench train_throughput` (or `bench/run_train_bench.sh`).

use std::time::Instant;

use common::features::{FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use common::model::{Architecture, Network};
use common::training::config::{ImprovedConfig, RegLossType};
use common::training::fit::{fit, FitOptions, TensorSet};
use common::training::pipeline::{ENHANCED_HIDDEN, PIPELINE_LR};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time (user + system, all threads) of this process so far, from `/proc/self/stat`
/// (Linux; `None` elsewhere). Less sensitive than wall time to other processes competing for
/// the cores, since time spent waiting for a core is not counted.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5), counting from 1; `after` starts at field 3.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    Some(ticks / hz)
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n: usize = env_or("BENCH_SAMPLES", 512);
    let epochs: u32 = env_or("BENCH_EPOCHS", 3);
    let threads: i32 = env_or("BENCH_THREADS", 2);
    let seed: u64 = env_or("BENCH_SEED", 0);
    tch::set_num_threads(threads);
    tch::set_num_interop_threads(1);
    tch::manual_seed(seed as i64);

    // Synthetic data with the production shapes: standardised inputs ~ N(0, 1), balanced
    // direction labels, magnitudes ~ N(0, 1) (daily returns × TARGET_SCALE are of that order).
    let set = TensorSet {
        x: Tensor::randn([n as i64, SEQ_LEN as i64, N_FEATURES as i64], (Kind::Float, Device::Cpu)),
        y_dir: Tensor::randint(2, [n as i64], (Kind::Int64, Device::Cpu)),
        y_mag: Tensor::randn([n as i64, FORECAST_DAYS as i64], (Kind::Float, Device::Cpu)),
        n,
    };
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &Architecture::enhanced(N_FEATURES as i64, ENHANCED_HIDDEN))?;
    let imp = ImprovedConfig::default();
    // The pipeline's improved fit, without early stopping (there is no validation set).
    let opts = |epochs: u32| FitOptions {
        patience: None,
        ..FitOptions::improved("bench", PIPELINE_LR, epochs, 32, RegLossType::Full, &imp)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cancel = CancellationToken::new();
    let mut no_events = |_e| {};

    // Warm-up: one pass (allocator, libtorch kernels, first-touch of the weights).
    fit(&vs, &net, &set, None, &opts(1), &mut rng, &mut no_events, &cancel)?;

    let cpu_started = process_cpu_seconds();
    let started = Instant::now();
    let report = fit(&vs, &net, &set, None, &opts(epochs), &mut rng, &mut no_events, &cancel)?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_started, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let samples = f64::from(epochs) * n as f64;
    println!(
        "{}",
        serde_json::json!({
            "impl": "rust-tch",
            "model": "LSTMDualHeadEnhanced(hidden=128)",
            "samples": n,
            "epochs": epochs,
            "batches": report.batches,
            "threads": threads,
            "seconds": seconds,
            "samples_per_s": samples / seconds,
            "cpu_seconds": cpu_seconds,
            "samples_per_cpu_s": cpu_seconds.map(|c| samples / c),
            "final_train_loss": report.final_train_loss,
        })
    );
    Ok(())
}
