//! Load generator for predictor-svc (not a test): a real server on loopback, tonic clients.
//!
//! Measures, in one run on one machine, with the default enhanced model (untrained weights:
//! speed does not depend on training):
//! 1. the raw in-process forward time of one window (`LoadedModel::forecast`, batch 1);
//! 2. Predict latency with 1 client (p50/p99) — goal: p50 ≤ 1.5 × raw forward;
//! 3. throughput with 64 concurrent clients — goal: ≥ 3 × the 1-client rate (batching);
//! 4. p99 of 8 clients with and without hot swaps (another version promoted mid-run, then rolled
//!    back) — goal: p99 during swaps ≤ 2 × normal p99.
//!
//! Run with `bench/run_predictor_bench.sh` (or `cargo bench -p predictor-svc --bench
//! predictor_load --profile dev -- [--quick]`). Bounded: a few tens of seconds in total.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use common::data::{generate, SyntheticConfig};
use common::features::{build_samples, latest_window, FeatureConfig, NormStats, FEATURES, N_FEATURES};
use common::model::{safetensors_io, Architecture, LoadedModel, ModelMetadata, Network, FORMAT_VERSION};
use common::pb::predictor_client::PredictorClient;
use common::pb::PredictRequest;
use common::registry::{NewVersion, Promotion, Registry};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn artifact(arch: Architecture, seed: i64, bars: &[common::data::Bar]) -> AnyResult<(ModelMetadata, Vec<u8>)> {
    let samples = build_samples(bars, &FeatureConfig::default())?;
    tch::manual_seed(seed);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _net = Network::new(&vs.root(), &arch)?;
    let weights = safetensors_io::to_safetensors(&vs)?;
    let md = ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: arch,
        feature_names: FEATURES.iter().map(|f| f.name.to_string()).collect(),
        norm: NormStats::fit(&samples.x),
        hyperparameters: serde_json::json!({ "bench": true }),
        metrics: BTreeMap::new(),
        diagnostics: serde_json::json!({}),
        feature_importance: Vec::new(),
        symbol: "BENCH".into(),
        years: 1,
        data_start: samples.end_dates.first().copied(),
        data_end: samples.end_dates.last().copied(),
        trained_at: Utc::now(),
        calibration: None,
    };
    Ok((md, weights))
}

async fn store(reg: &Registry, id: &str, (md, weights): (ModelMetadata, Vec<u8>), promote: bool) -> AnyResult<()> {
    let d = |x: Option<NaiveDate>| x.unwrap_or(NaiveDate::MIN);
    reg.save_version(
        NewVersion {
            version_id: id.into(),
            symbol: md.symbol.clone(),
            years: md.years,
            model_kind: md.architecture.kind.to_string(),
            data_start: d(md.data_start),
            data_end: d(md.data_end),
            training_seconds: 0.0,
            metadata_json: serde_json::to_string(&md)?,
            metrics: BTreeMap::new(),
            weights,
            note: "benchmark model (untrained)".into(),
        },
        promote.then(|| Promotion { actor: "bench".into(), reason: "bench".into() }),
    )
    .await?;
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Run {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn p(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        pct(&l, p)
    }
}

/// `clients` concurrent clients, each on its own connection, for `duration` (or until each has
/// sent `max_per_client` requests). `during` runs alongside (e.g. promotions).
async fn load(
    url: &str,
    clients: usize,
    duration: Duration,
    max_per_client: usize,
    during: impl std::future::Future<Output = ()>,
) -> AnyResult<Run> {
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(PredictorClient::connect(url.to_string()).await?);
    }
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let lat = lat.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < end && mine.len() < max_per_client {
                    let t = Instant::now();
                    let r = c
                        .predict(PredictRequest {
                            symbol: "BENCH".into(),
                            years: Some(1),
                            bars: Vec::new(),
                            version_id: String::new(),
                        })
                        .await;
                    match r {
                        Ok(_) => mine.push(t.elapsed()),
                        Err(e) => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            eprintln!("request failed: {e}");
                        }
                    }
                }
                lat.lock().await.extend(mine);
            })
        })
        .collect();
    during.await;
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *lat.lock().await);
    Ok(Run { latencies, errors: errors.load(std::sync::atomic::Ordering::Relaxed), elapsed })
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    common::telemetry::init_tracing(common::telemetry::LogFormat::Text);
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 0.3 } else { 1.0 };
    let secs = |s: f64| Duration::from_secs_f64(s * scale);

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/registry.db", dir.path().display());
    let reg = Registry::connect(&url).await?.with_max_versions(10);
    let bars = generate(&SyntheticConfig { seed: 7, days: 400, ..SyntheticConfig::default() });
    reg.upsert_bars("BENCH", &bars).await?;
    let arch = Architecture::enhanced(N_FEATURES as i64, 128);
    let a1 = artifact(arch, 1, &bars)?;
    let a2 = artifact(arch, 2, &bars)?;
    let raw_model = LoadedModel::from_artifact(&a1.0, &a1.1, tch::Device::Cpu)?;
    store(&reg, "bench-v1", a1, true).await?;
    store(&reg, "bench-v2", a2, false).await?;

    // 1. Raw in-process forward of one window (features excluded, as the model sees it), on its
    //    own OS thread like a model worker; measured before and after the load phases, and the
    //    faster of the two is the reference (the machine is shared: be strict, not lucky).
    let window = latest_window(&bars[bars.len() - 200..], &FeatureConfig::default())?;
    let raw_budget = secs(5.0);
    let (raw_tx, raw_rx) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<Vec<Duration>>>();
    let raw_thread = std::thread::spawn(move || {
        for reply in raw_rx {
            let mut out = Vec::new();
            for _ in 0..20 {
                let _ = raw_model.forecast(&window, 1);
            }
            let deadline = Instant::now() + raw_budget;
            while out.len() < 300 && Instant::now() < deadline {
                let t = Instant::now();
                let _ = raw_model.forecast(&window, 1);
                out.push(t.elapsed());
            }
            out.sort();
            let _ = reply.send(out);
        }
    });
    let measure_raw = || -> AnyResult<Vec<Duration>> {
        let (tx, rx) = std::sync::mpsc::channel();
        raw_tx.send(tx)?;
        Ok(rx.recv()?)
    };
    let raw_before = measure_raw()?;

    // The server, in this process, on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = predictor_svc::Config::for_database(&url);
    let stop = CancellationToken::new();
    let s = stop.clone();
    let server = tokio::spawn(predictor_svc::serve_with_metrics(listener, None, config, async move {
        s.cancelled().await
    }));
    let grpc = format!("http://{addr}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Warm-up: loads the model, warms connections.
    load(&grpc, 4, secs(2.0), 50, async {}).await?;

    // 2. One client.
    let one = load(&grpc, 1, secs(8.0), 400, async {}).await?;
    // 3. 64 clients.
    let many = load(&grpc, 64, secs(8.0), usize::MAX, async {}).await?;
    // 4. p99 with 8 clients, without and with hot swaps.
    let normal = load(&grpc, 8, secs(6.0), usize::MAX, async {}).await?;
    let reg2 = reg.clone();
    let swap_every = secs(2.0);
    let swapped = load(&grpc, 8, secs(6.0), usize::MAX, async move {
        tokio::time::sleep(swap_every).await;
        let _ = reg2.set_current("BENCH", 1, "bench-v2", "bench", "swap").await;
        tokio::time::sleep(swap_every).await;
        let _ = reg2.set_current("BENCH", 1, "bench-v1", "bench", "swap back").await;
    })
    .await?;
    let mut status = PredictorClient::connect(grpc.clone()).await?;
    let st = status
        .get_model_status(common::pb::GetModelStatusRequest { symbol: "BENCH".into(), years: Some(1) })
        .await?
        .into_inner();
    stop.cancel();
    server.await??;
    let raw_after = measure_raw()?;
    drop(raw_tx);
    let _ = raw_thread.join();
    let raw = if pct(&raw_before, 0.5) <= pct(&raw_after, 0.5) { raw_before.clone() } else { raw_after.clone() };
    let raw_p50 = pct(&raw, 0.5);

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("machine: {cpu}, {cores} cores; model: LSTMDualHeadEnhanced hidden 128 (untrained)");
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| raw forward, 1 window, p50 before / after the load phases (p99 of the faster) | {:.2} ms / {:.2} ms ({:.2} ms) |",
        ms(pct(&raw_before, 0.5)),
        ms(pct(&raw_after, 0.5)),
        ms(pct(&raw, 0.99))
    );
    println!(
        "| Predict, 1 client (p50 / p99, rate) | {:.2} ms / {:.2} ms, {:.0} req/s |",
        ms(one.p(0.5)),
        ms(one.p(0.99)),
        one.rate()
    );
    println!(
        "| Predict, 64 clients (p50 / p99, rate) | {:.2} ms / {:.2} ms, {:.0} req/s |",
        ms(many.p(0.5)),
        ms(many.p(0.99)),
        many.rate()
    );
    println!("| Predict, 8 clients, no swap (p99) | {:.2} ms ({} requests) |", ms(normal.p(0.99)), normal.latencies.len());
    println!(
        "| Predict, 8 clients, 2 hot swaps (p99) | {:.2} ms ({} requests, reloads_ok {}) |",
        ms(swapped.p(0.99)),
        swapped.latencies.len(),
        st.reloads_ok
    );
    let r1 = ms(one.p(0.5)) / ms(raw_p50);
    let r2 = many.rate() / one.rate();
    let r3 = ms(swapped.p(0.99)) / ms(normal.p(0.99));
    let errors = one.errors + many.errors + normal.errors + swapped.errors;
    println!();
    println!("goal p50(1 client) <= 1.5 x raw forward: {r1:.2}x {}", if r1 <= 1.5 { "MET" } else { "MISSED" });
    println!("goal rate(64) >= 3 x rate(1): {r2:.2}x {}", if r2 >= 3.0 { "MET" } else { "MISSED" });
    println!("goal p99(swap) <= 2 x p99(normal): {r3:.2}x {}", if r3 <= 2.0 { "MET" } else { "MISSED" });
    println!("failed requests: {errors}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end (other processes share the machine): {}", load.trim());
    Ok(())
}
