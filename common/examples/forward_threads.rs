//! Inference forward time of the default network at a given libtorch thread count and batch
//! size: the probe behind the predictor's `--torch-threads` default (docs/deployment.md,
//! "Sizing the predictor"; BENCHMARKS.md).
//!
//! `cargo run -p common --example forward_threads -- THREADS BATCH ITERS` (defaults 1 1 200);
//! run it with and without `OMP_WAIT_POLICY=PASSIVE` to see the OpenMP wait policy's effect.
//! Prints p50 / p99 of `Network::predict` + softmax + the copies back to host vectors, on
//! LSTMDualHeadEnhanced (hidden 128, random weights) over N(0, 1) windows.
use std::time::{Duration, Instant};

use common::features::{N_FEATURES, SEQ_LEN};
use common::model::{prob_up, Architecture, Network};
use tch::{Kind, Tensor};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let arg = |i: usize, default: usize| -> usize {
        std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    let (threads, batch, iters) = (arg(1, 1), arg(2, 1), arg(3, 200).max(1));
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = match Network::new(&vs.root(), &Architecture::enhanced(N_FEATURES as i64, 128)) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("forward_threads: cannot build the network: {e}");
            std::process::exit(1);
        }
    };
    let x = Tensor::randn([batch as i64, SEQ_LEN as i64, N_FEATURES as i64], (Kind::Float, tch::Device::Cpu));
    let run = || -> Result<(), tch::TchError> {
        let (logits, mags) = net.predict(&x);
        let _: Vec<f32> = Vec::try_from(prob_up(&logits))?;
        let _: Vec<f32> = Vec::try_from(mags.contiguous().view(-1))?;
        Ok(())
    };
    let mut times = Vec::with_capacity(iters);
    for i in 0..iters + 10 {
        let t = Instant::now();
        if let Err(e) = run() {
            eprintln!("forward_threads: forward failed: {e}");
            std::process::exit(1);
        }
        if i >= 10 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    let policy = std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "unset".into());
    println!(
        "threads {threads}, batch {batch}, OMP_WAIT_POLICY {policy}: p50 {:.3} ms, p99 {:.3} ms ({iters} passes)",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}
