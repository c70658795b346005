//! Cost of live scoring (issue 24; a benchmark, not a test): 1 000 000 logged answers over 300
//! (symbol, years) keys — 667 trading days per key, 5 answers a day (the first counts) — scored
//! with `common::live::live_quality`, on SQLite and, when it answers, PostgreSQL.
//!
//! Per backend, in one run:
//! - the reference: fetching every logged row the scoring reads with one plain `SELECT` (sqlx,
//!   no scoring code): the database's and the driver's floor;
//! - scoring all 300 keys, one `live_quality` call per key as GetLiveQuality makes it, with its
//!   wall time as a ratio to the reference and the resident memory it adds (sampled every 10 ms);
//! - Predict latency of one client against a real predictor-svc on that registry, idle and while
//!   another client runs GetLiveQuality over all 300 keys back to back (p50 / p99, and their
//!   ratios).
//!
//! Run: `bash bench/run_live_scoring_bench.sh` (or `cargo bench -p predictor-svc --bench
//! live_scoring --profile dev`); `BENCH_LIVE_ROWS` scales the log (default 1 000 000). The PostgreSQL
//! part uses `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) to create
//! and drop a database of its own.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{generate, SyntheticConfig};
use common::model::Architecture;
use common::pb::predictor_client::PredictorClient;
use common::pb::{GetLiveQualityRequest, PredictRequest};
use common::registry::{NewVersion, Promotion, Registry};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

#[path = "support.rs"]
mod support;
use support::{artifact, loadavg, ms, pct, store, AnyResult};

const KEYS: usize = 300;
const ANSWERS_PER_DAY: usize = 5;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn symbol(k: usize) -> String {
    format!("LQ{k:03}")
}

/// Bars, a version per key (the first one a real untrained model the predictor can serve) and
/// the log, written in multi-row INSERTs (setup, not measured).
async fn fill(url: &str, reg: &Registry, rows: usize) -> AnyResult<()> {
    let days = rows.div_ceil(KEYS * ANSWERS_PER_DAY);
    let bars = generate(&SyntheticConfig { seed: 5, days: days + 10, ..SyntheticConfig::default() });
    let mut pool = sqlx::AnyConnection::connect(url).await?;
    for k in 0..KEYS {
        let sym = symbol(k);
        reg.upsert_bars(&sym, &bars).await?;
        let id = format!("{sym}-v1");
        if k == 0 {
            let (mut md, weights) = artifact(Architecture::enhanced(common::features::N_FEATURES as i64, 128), 1, &bars)?;
            md.symbol = sym.clone();
            store(reg, &id, (md, weights), true).await?;
        } else {
            let mut metrics = std::collections::BTreeMap::new();
            metrics.insert("base_rate".to_string(), 0.55);
            let v = NewVersion {
                version_id: id.clone(),
                symbol: sym.clone(),
                years: 1,
                model_kind: "LSTMDualHeadEnhanced".into(),
                data_start: bars[0].date,
                data_end: bars[bars.len() - 1].date,
                training_seconds: 0.0,
                metadata_json: "{}".into(),
                metrics,
                weights: vec![0; 16],
                note: "live-scoring benchmark".into(),
                pool_symbols: Vec::new(),
            };
            reg.save_version(v, Some(Promotion { actor: "bench".into(), reason: "bench".into() })).await?;
        }
        let mut tx = pool.begin().await?;
        let mut values = Vec::new();
        let mut n = 0usize;
        for (d, b) in bars.iter().take(days).enumerate() {
            for a in 0..ANSWERS_PER_DAY {
                if k * days * ANSWERS_PER_DAY + n >= rows {
                    break;
                }
                let p = 0.3 + 0.4 * (((d * 7 + a * 3 + k) % 11) as f64 / 10.0);
                let pred = (p - 0.5) / 10.0;
                values.push(format!(
                    "('{sym}-{d}-{a}', '{sym}', 1, '{id}', '{}', {pred}, {p}, '[]', {}, 0, {}, {}, {}, {})",
                    b.date,
                    1_700_000_000_000i64 + (d * ANSWERS_PER_DAY + a) as i64,
                    pred - 0.05,
                    pred + 0.05,
                    pred - 0.09,
                    pred + 0.09
                ));
                n += 1;
            }
            if values.len() >= 1000 || d + 1 == days {
                if !values.is_empty() {
                    let q = format!(
                        "INSERT INTO predictions (entry_id, symbol, years, version_id, as_of, predicted_cumulative_return, \
                         prob_up, magnitudes_json, created_at_ms, inline_bars, lo80, hi80, lo95, hi95) VALUES {}",
                        values.join(", ")
                    );
                    sqlx::query(&q).execute(&mut *tx).await?;
                    values.clear();
                }
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

async fn predict_latencies(client: &mut PredictorClient<tonic::transport::Channel>, window: Duration) -> AnyResult<Vec<Duration>> {
    let req = PredictRequest { symbol: symbol(0), years: Some(1), bars: Vec::new(), version_id: String::new() };
    let mut out = Vec::new();
    let end = Instant::now() + window;
    while Instant::now() < end {
        let t = Instant::now();
        client.predict(req.clone()).await?;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

async fn backend(label: &str, url: &str, rows: usize) -> AnyResult<()> {
    let reg = Registry::connect(url).await?;
    let t = Instant::now();
    fill(url, &reg, rows).await?;
    println!("[{label}] filled {rows} logged answers over {KEYS} keys in {:.1} s", t.elapsed().as_secs_f64());

    // Reference: the rows scoring reads, fetched with one plain SELECT.
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let t = Instant::now();
    let fetched = sqlx::query(
        "SELECT id, version_id, as_of, prob_up, predicted_cumulative_return, lo80, hi80, lo95, hi95, inline_bars FROM predictions",
    )
    .fetch_all(&mut conn)
    .await?
    .len();
    let reference = t.elapsed();

    // Scoring every key, with resident memory sampled meanwhile.
    let before = rss_kb();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let t = Instant::now();
    let mut scored = 0usize;
    for k in 0..KEYS {
        let q = common::live::live_quality(&reg, &symbol(k), 1, 60, None, common::calibration::adaptive::DEFAULT_GAMMA).await?;
        scored += q.iter().map(|v| v.n_scored + v.n_pending).sum::<usize>();
    }
    let scoring = t.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().ok();
    let extra_mb = (peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / 1024.0;
    println!(
        "[{label}] reference: SELECT of {fetched} rows {:.2} s | scoring {KEYS} keys ({scored} scored + pending days in their windows): {:.2} s = {:.2} x the reference, \
         {:.1} ms per key, +{extra_mb:.1} MB resident at peak | load {}",
        reference.as_secs_f64(),
        scoring.as_secs_f64(),
        scoring.as_secs_f64() / reference.as_secs_f64(),
        scoring.as_secs_f64() * 1e3 / KEYS as f64,
        loadavg()
    );

    // Predict latency, idle and while GetLiveQuality runs over every key.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let mut config = predictor_svc::Config::for_database(url);
    config.model.holidays = String::new();
    let s = stop.clone();
    let server = tokio::spawn(predictor_svc::serve_with_metrics(listener, None, config, async move { s.cancelled().await }));
    let mut client = loop {
        if let Ok(c) = PredictorClient::connect(format!("http://{addr}")).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    predict_latencies(&mut client, Duration::from_millis(500)).await?; // load the model, warm up
    let idle = predict_latencies(&mut client, Duration::from_secs(3)).await?;
    let scoring_stop = Arc::new(AtomicBool::new(false));
    let loop_task = {
        let stop = scoring_stop.clone();
        let mut c = PredictorClient::connect(format!("http://{addr}")).await?;
        tokio::spawn(async move {
            let mut rounds = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for k in 0..KEYS {
                    let r = GetLiveQualityRequest { symbol: symbol(k), years: Some(1), ..Default::default() };
                    if c.get_live_quality(r).await.is_err() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                rounds += 1;
            }
            rounds
        })
    };
    let busy = predict_latencies(&mut client, Duration::from_secs(3)).await?;
    scoring_stop.store(true, Ordering::Relaxed);
    let rounds = loop_task.await?;
    println!(
        "[{label}] Predict, 1 client: idle p50 {:.2} ms p99 {:.2} ms ({} calls) | while GetLiveQuality scores all keys ({rounds} rounds started): \
         p50 {:.2} ms p99 {:.2} ms ({} calls) = {:.2} x / {:.2} x idle | load {}",
        ms(pct(&idle, 0.5)),
        ms(pct(&idle, 0.99)),
        idle.len(),
        ms(pct(&busy, 0.5)),
        ms(pct(&busy, 0.99)),
        busy.len(),
        ms(pct(&busy, 0.5)) / ms(pct(&idle, 0.5)),
        ms(pct(&busy, 0.99)) / ms(pct(&idle, 0.99)),
        loadavg()
    );
    stop.cancel();
    let _ = server.await;
    reg.close().await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> AnyResult<()> {
    sqlx::any::install_default_drivers();
    let rows: usize = std::env::var("BENCH_LIVE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    println!("machine: {} cores, load average {} at start", std::thread::available_parallelism()?.get(), loadavg());
    let dir = tempfile::tempdir()?;
    backend("sqlite", &format!("sqlite://{}/live.db", dir.path().display()), rows).await?;

    let server = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("lq_bench_{}", std::process::id());
    match sqlx::AnyConnection::connect(&server).await {
        Err(e) => println!("NOTICE: PostgreSQL at {server} does not answer ({e}): its part is skipped"),
        Ok(mut admin) => {
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            let result = backend("postgres", &format!("{base}/{name}"), rows).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
            result?;
        }
    }
    Ok(())
}
