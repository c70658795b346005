//! A pooled version served by predictor-svc (SPEC §14.3, issue 25): every member it is current
//! for answers with the same `version_id` and its own forecast (its own normalisation and
//! calibration, equal to the model in process), a pinned pooled version serves its members
//! only, and rolling one member back leaves the others on the pooled version.
use std::collections::BTreeMap;

use common::features::{build_samples, latest_window, FeatureConfig, Samples};
use common::model::LoadedModel;
use common::pb;
use common::registry::{NewVersion, Promotion};
use common::training::pipeline::{run_pooled, PoolInput};
use common::training::{DeviceChoice, PipelineConfig};
use system_tests::predictor_harness::*;
use tonic::Code;

fn req(symbol: &str, version_id: &str) -> pb::PredictRequest {
    pb::PredictRequest { symbol: symbol.into(), years: Some(1), bars: Vec::new(), version_id: version_id.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_pool_share_its_version_and_get_their_own_forecasts() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let members = ["PLA", "PLB"];
    let bars: Vec<_> = [31u64, 32].iter().map(|s| market(*s, 330)).collect();
    for (m, b) in members.iter().zip(&bars) {
        reg.registry.upsert_bars(m, b).await?;
    }
    // An older single-symbol version of PLB to roll back to.
    store_version(&reg.registry, "plb-single", build_artifact("PLB", 1, tiny(8), 5, &bars[1])?, true).await?;

    let samples: Vec<Samples> = bars.iter().map(|b| build_samples(b, &FeatureConfig::default())).collect::<Result<_, _>>()?;
    let cfg = PipelineConfig {
        symbol: "PLA".into(),
        do_cv_tune: false,
        do_shap: false,
        do_plot: false,
        use_enhanced_model: false,
        seed: Some(9),
        device: DeviceChoice::Cpu,
        max_epochs: Some(1),
        ..PipelineConfig::default()
    };
    let pooled = tokio::task::spawn_blocking(move || {
        let inputs: Vec<PoolInput<'_>> =
            members.iter().zip(&samples).map(|(m, s)| PoolInput { symbol: m, samples: s, current: None }).collect();
        run_pooled(&inputs, &cfg, &mut |_| {}, &tokio_util::sync::CancellationToken::new())
    })
    .await??;
    let md = pooled.outcome.metadata.clone();
    let v = NewVersion {
        version_id: "pool-v1".into(),
        symbol: "PLA".into(),
        years: 1,
        model_kind: md.architecture.kind.to_string(),
        data_start: md.data_start.unwrap(),
        data_end: md.data_end.unwrap(),
        training_seconds: pooled.outcome.training_seconds,
        metadata_json: serde_json::to_string(&md)?,
        metrics: BTreeMap::new(),
        weights: pooled.outcome.weights.clone(),
        note: String::new(),
        pool_symbols: members.iter().map(|m| m.to_string()).collect(),
    };
    let promote = |m: &str| (m.to_string(), Promotion { actor: "test".into(), reason: "pooled".into() });
    reg.registry.save_pooled_version(v, vec![promote("PLA"), promote("PLB")], &[]).await?;

    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let mut answers = Vec::new();
    for (m, b) in members.iter().zip(&bars) {
        let p = c.predict(req(m, "")).await?.into_inner();
        assert_eq!(p.version_id, "pool-v1", "{m}");
        // The member's own statistics and calibration, exactly as in process.
        let direct = LoadedModel::from_artifact(&md.for_member(m)?, &pooled.outcome.weights, tch::Device::Cpu)?;
        let window = latest_window(&b[b.len() - predictor_svc::engine::HISTORY_BARS..], &FeatureConfig::default())?;
        let f = direct.forecast(&window, 1)?[0];
        assert!((p.prob_up_raw - f.prob_up).abs() < 1e-6, "{m}: {} vs {}", p.prob_up_raw, f.prob_up);
        let cal = direct.metadata().calibration.as_ref().expect("each member is calibrated");
        assert!((p.prob_up - cal.prob_up(f.prob_up)).abs() < 1e-6, "{m}: served {} vs {}", p.prob_up, cal.prob_up(f.prob_up));
        answers.push(p);
    }
    assert_ne!(answers[0].prob_up_raw, answers[1].prob_up_raw, "two members, two forecasts");
    assert_ne!(answers[0].last_close, answers[1].last_close);

    // Pinned: the pooled version serves its members, and refuses a non-member.
    assert_eq!(c.predict(req("PLB", "pool-v1")).await?.into_inner().version_id, "pool-v1");
    reg.registry.upsert_bars("PLZ", &bars[0]).await?;
    let e = c.predict(req("PLZ", "pool-v1")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Rolling PLB back leaves PLA on the pooled version.
    reg.registry.set_current("PLB", 1, "plb-single", "test", "rollback").await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let b = c.predict(req("PLB", "")).await?.into_inner();
        if b.version_id == "plb-single" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "PLB still serves {}", b.version_id);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(c.predict(req("PLA", "")).await?.into_inner().version_id, "pool-v1");
    server.stop().await?;
    Ok(())
}
