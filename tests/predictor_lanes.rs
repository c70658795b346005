//! One hot model on several threads (issue 26): concurrent Predicts on one model are answered by
//! more than one thread of its interactive lane (seen in `predictor_forward_passes_total`), and
//! the answers equal those of a one-thread predictor to 1e-6. A hot swap under multi-thread load
//! is covered by `predictor_hot_reload.rs`, which runs its promotion with three threads. Each
//! answer's stages are observed once in `predictor_predict_stage_seconds`.
use common::features::N_FEATURES;
use common::model::Architecture;
use common::pb;
use system_tests::predictor_harness::*;

const THREADS: usize = 3;

/// The interactive passes each thread of the lane ran, from the metrics text.
fn passes_by_thread(metrics: &str) -> Vec<f64> {
    (0..THREADS)
        .map(|t| metric_value(metrics, "predictor_forward_passes_total", &format!(r#"lane="interactive",thread="{t}""#)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_predicts_on_one_model_use_several_threads_and_answer_as_one_thread_does() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(43, 300);
    reg.registry.upsert_bars("LANE", &bars).await?;
    // A narrow default network: a pass takes a few ms, long enough for passes to overlap.
    let art = build_artifact("LANE", 1, Architecture::enhanced(N_FEATURES as i64, 32), 4, &bars)?;
    store_version(&reg.registry, "lane-v1", art, true).await?;

    let single = RunningPredictor::start(&reg.url, |c| c.forward_threads = 1).await?;
    let reference = single.client().await?.predict(predict_request("LANE", 1)).await?.into_inner();
    single.stop().await?;

    let server = RunningPredictor::start(&reg.url, |c| c.forward_threads = THREADS).await?;
    server.client().await?.predict(predict_request("LANE", 1)).await?; // load
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = server.client().await?;
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..40 {
                answers.push(c.predict(predict_request("LANE", 1)).await.map(|r| r.into_inner()));
            }
            answers
        }));
    }
    let mut answers: Vec<pb::Prediction> = Vec::new();
    for c in clients {
        for a in c.await? {
            answers.push(a.map_err(|e| anyhow::anyhow!("a Predict failed under multi-thread load: {e:?}"))?);
        }
    }
    assert_eq!(answers.len(), 320);
    for a in &answers {
        assert_eq!(a.version_id, reference.version_id);
        assert!((a.prob_up - reference.prob_up).abs() < 1e-6, "{} vs {}", a.prob_up, reference.prob_up);
        assert!((a.prob_up_raw - reference.prob_up_raw).abs() < 1e-6);
        assert_eq!(a.magnitudes.len(), reference.magnitudes.len());
        for (x, y) in a.magnitudes.iter().zip(&reference.magnitudes) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }
    let m = server.metrics_text().await?;
    let by_thread = passes_by_thread(&m);
    eprintln!("interactive passes by thread: {by_thread:?}");
    assert!(
        by_thread.iter().filter(|&&n| n > 0.0).count() > 1,
        "one thread ran every pass of 8 concurrent clients: {by_thread:?}\n{m}"
    );
    // Every answer's time is broken down by stage (predictor_predict_stage_seconds): the load
    // and the 320 answers, each observed once per stage.
    for stage in ["model", "bars", "features", "queue", "forward", "calibration", "assemble"] {
        let n = metric_value(&m, "predictor_predict_stage_seconds_count", &format!(r#"stage="{stage}""#));
        assert_eq!(n, 321.0, "stage {stage} observed {n} times for 321 answers");
    }
    server.stop().await
}
