//! Fair queueing per model (issue 12.8): while 1 000-item PredictBatch calls run on a model,
//! another client's Predicts on the same model are served *between* the batch's passes, not after
//! it. That is behaviour, checked here without any clock bound: probes sent after a batch call
//! started are answered before that call ends, the bulk lane's metric counts the batch's passes,
//! and every item of every batch is answered.
//!
//! The speed target (the probe's p99 during the batches within 2x of its p99 alone) is a
//! benchmark, not a test: `bench/predictor_load.rs` (goal "p99(1 client during 1 000-item
//! batches) <= 2 x ..."), results in BENCHMARKS.md. A timed bound here failed CI on idle 2-core
//! machines (issue 30).
use std::time::Instant;

use common::features::N_FEATURES;
use common::model::Architecture;
use common::pb;
use system_tests::predictor_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_predict_batch_does_not_stall_another_clients_predicts() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(41, 300);
    reg.registry.upsert_bars("FAIR", &bars).await?;
    // The default network, narrower: a 64-window pass takes tens of ms, a single one ~1 ms, so a
    // 1 000-item call is ~16 bulk passes.
    let art = build_artifact("FAIR", 1, Architecture::enhanced(N_FEATURES as i64, 32), 3, &bars)?;
    store_version(&reg.registry, "fair-v1", art, true).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut probe = server.client().await?;
    for _ in 0..20 {
        probe.predict(predict_request("FAIR", 1)).await?; // load + warm-up
    }

    // Three 1 000-item calls back to back, each timed by (sent, answered); the probe runs
    // sequential Predicts meanwhile, each recorded as (sent, answered).
    let mut bulk = server.client().await?;
    let batches = tokio::spawn(async move {
        let mut calls = Vec::new();
        for _ in 0..3 {
            let sent = Instant::now();
            let items = vec![predict_request("FAIR", 1); 1000];
            let r = bulk.predict_batch(pb::PredictBatchRequest { requests: items }).await;
            calls.push((sent, Instant::now(), r.map(|r| r.into_inner().items)));
        }
        calls
    });
    let mut probes = Vec::new();
    while !batches.is_finished() {
        let sent = Instant::now();
        probe.predict(predict_request("FAIR", 1)).await?;
        probes.push((sent, Instant::now()));
    }
    let calls = batches.await?;

    for (_, _, items) in &calls {
        let items = items.as_ref().map_err(|e| anyhow::anyhow!("PredictBatch failed: {e}"))?;
        assert_eq!(items.len(), 1000);
        assert!(
            items.iter().all(|i| matches!(i.outcome, Some(pb::predict_batch_item::Outcome::Prediction(_)))),
            "every item of the batch is answered"
        );
    }
    // A probe sent while a batch call was in flight and answered before that call ended was
    // served between the call's passes. Behind a FIFO of the call's 1 000 windows a probe could
    // at most share the call's last pass; here the probe gets through again and again inside
    // one call. The count depends on neither the machine's speed nor its load: each call lasts
    // ~16 passes, and the interactive lane is taken before each of them.
    let inside = |start: Instant, end: Instant| probes.iter().filter(|(s, a)| *s > start && *a < end).count();
    let per_call: Vec<usize> = calls.iter().map(|(s, e, _)| inside(*s, *e)).collect();
    eprintln!("probes answered inside each 1 000-item call: {per_call:?} ({} probes in all)", probes.len());
    assert!(
        per_call.iter().any(|&n| n >= 3),
        "another client's Predicts waited for whole 1 000-item calls: answered inside them {per_call:?}"
    );
    let m = server.metrics_text().await?;
    let bulk_passes = metric_value(&m, "predictor_queue_wait_seconds_count", r#"lane="bulk""#);
    assert!(bulk_passes >= 3.0 * 1000.0 / 64.0, "the batches did not run on the bulk lane in passes:\n{m}");
    server.stop().await
}
