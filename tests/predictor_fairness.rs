//! Fair queueing per model (issue 12.8): while a 1 000-item PredictBatch runs on a model, another
//! client's Predict on the same model keeps its unloaded latency (p99 within 2×).
//!
//! Robust on a busy machine: the unloaded baseline is measured in the same test right before and
//! right after the loaded phase (the larger p99 counts), and the measurement is tried up to five
//! times. Before the bulk lane existed the loaded p99 was the time of ~16 full forward passes
//! (tens of times the baseline), so no retry could pass it.
use std::time::{Duration, Instant};

use common::features::N_FEATURES;
use common::model::Architecture;
use common::pb;
use system_tests::predictor_harness::*;
use tonic::transport::Channel;

type Client = pb::predictor_client::PredictorClient<Channel>;

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * 0.99).round() as usize]
}

/// `n` sequential Predicts: their latencies.
async fn sequential(c: &mut Client, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.predict(predict_request("FAIR", 1)).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_predict_batch_does_not_stall_another_clients_predicts() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(41, 300);
    reg.registry.upsert_bars("FAIR", &bars).await?;
    // The default network, narrower: a 64-window pass takes tens of ms, a single one ~1 ms.
    let art = build_artifact("FAIR", 1, Architecture::enhanced(N_FEATURES as i64, 32), 3, &bars)?;
    store_version(&reg.registry, "fair-v1", art, true).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut probe = server.client().await?;
    sequential(&mut probe, 20).await?; // load + warm-up

    let mut ratios = Vec::new();
    for attempt in 1..=5 {
        let before = p99(sequential(&mut probe, 150).await?);
        // 1 000-item calls back to back until the probe has 150 samples taken while one ran.
        let mut bulk = server.client().await?;
        let stop = tokio_util::sync::CancellationToken::new();
        let s = stop.clone();
        let batches = tokio::spawn(async move {
            let mut calls = Vec::new();
            while !s.is_cancelled() && calls.len() < 60 {
                let t = Instant::now();
                let items = vec![predict_request("FAIR", 1); 1000];
                let r = bulk.predict_batch(pb::PredictBatchRequest { requests: items }).await;
                calls.push((r.map(|r| r.into_inner().items), t.elapsed()));
            }
            calls
        });
        let mut during = Vec::new();
        while !batches.is_finished() && during.len() < 150 {
            let t = Instant::now();
            probe.predict(predict_request("FAIR", 1)).await?;
            if !batches.is_finished() {
                during.push(t.elapsed());
            }
        }
        stop.cancel();
        let calls = batches.await?;
        for (items, _) in &calls {
            let items = items.as_ref().map_err(|e| anyhow::anyhow!("PredictBatch failed: {e}"))?;
            assert_eq!(items.len(), 1000);
            assert!(
                items.iter().all(|i| matches!(i.outcome, Some(pb::predict_batch_item::Outcome::Prediction(_)))),
                "every item of the batch is answered"
            );
        }
        let after = p99(sequential(&mut probe, 150).await?);
        let baseline = before.max(after);
        let took: Vec<Duration> = calls.iter().map(|(_, t)| *t).collect();
        if during.len() < 50 {
            eprintln!("attempt {attempt}: the batches took only {took:?} ({} probes); trying again", during.len());
            continue;
        }
        let loaded = p99(during.clone());
        let ratio = loaded.as_secs_f64() / baseline.as_secs_f64();
        eprintln!(
            "attempt {attempt}: 1 000-item batches took {took:?}; probe p99 unloaded {before:?} / \
             {after:?}, during the batches {loaded:?} over {} requests = {ratio:.2}x",
            during.len()
        );
        ratios.push(ratio);
        if ratio <= 2.0 {
            break;
        }
    }
    assert!(
        ratios.iter().any(|r| *r <= 2.0),
        "another client's p99 during a 1 000-item PredictBatch was more than 2x its unloaded p99 in \
         every attempt: {ratios:?}"
    );
    let m = server.metrics_text().await?;
    let bulk_passes = metric_value(&m, "predictor_queue_wait_seconds_count", r#"lane="bulk""#);
    assert!(bulk_passes > 0.0, "the batch did not run on the bulk lane:\n{m}");
    server.stop().await
}
