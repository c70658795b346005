//! predictor-svc API behaviour as a client sees it: forecasts, errors and their status codes,
//! PredictBatch, status/list, health, metrics and the prediction log.
use std::time::{Duration, Instant};

use common::pb;
use system_tests::predictor_harness::*;
use tonic::Code;

fn req(symbol: &str, years: Option<u32>) -> pb::PredictRequest {
    pb::PredictRequest { symbol: symbol.into(), years, bars: Vec::new(), version_id: String::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_and_errors_as_a_client_sees_them() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(21, 300);
    seed_key(&reg.registry, "AAA", 2, "aaa-v2", &bars, 2).await?;
    // A non-current older version, for pinning.
    store_version(&reg.registry, "aaa-v1", build_artifact("AAA", 2, tiny(8), 1, &bars)?, false).await?;
    seed_key(&reg.registry, "OTH", 1, "oth-v1", &bars, 3).await?;
    let server = RunningPredictor::start(&reg.url, |c| c.model.holidays = String::new()).await?;
    let mut c = server.client().await?;

    // A forecast from the registry's bars.
    let p = c.predict(req("AAA", Some(2))).await?.into_inner();
    let last = bars.last().unwrap();
    assert_eq!((p.symbol.as_str(), p.years, p.version_id.as_str()), ("AAA", 2, "aaa-v2"));
    assert_eq!(p.as_of, last.date.format("%Y-%m-%d").to_string());
    assert_eq!(p.last_close, last.close);
    assert!((0.0..=1.0).contains(&p.prob_up));
    let up = if p.prob_up >= 0.5 { pb::Direction::Up } else { pb::Direction::Down };
    assert_eq!(p.direction, up as i32);
    assert_eq!(p.magnitudes.len(), 5);
    let cum = p.magnitudes.iter().fold(1.0, |a, m| a * (1.0 + m)) - 1.0;
    assert!((p.cumulative_return - cum).abs() < 1e-12);
    assert_eq!(p.predicted_closes.len(), 5);
    assert!((p.predicted_closes[4] - last.close * (1.0 + cum)).abs() < 1e-9);
    assert_eq!(p.forecast_dates.len(), 5);
    let cal = common::calendar::TradingCalendar::default();
    let expected: Vec<String> = cal.next_trading_days(last.date, 5).iter().map(|d| d.to_string()).collect();
    assert_eq!(p.forecast_dates, expected);
    // A version trained before calibration existed is still served, and says so.
    assert_eq!(p.prob_up_raw, p.prob_up);
    let q = p.quality.clone().expect("every answer carries quality");
    assert!(!q.calibrated && q.n_holdout == 0 && q.holdout_brier.is_none(), "{q:?}");
    assert!(q.note.contains("trained before calibration"), "{}", q.note);
    assert_eq!(p.intervals.iter().map(|i| i.level).collect::<Vec<_>>(), [0.8, 0.95]);
    for i in &p.intervals {
        assert!(!i.available && i.cumulative_return_lo.is_none() && i.close_hi.is_none(), "{i:?}");
        assert!(i.note.contains("no calibration data"), "{}", i.note);
    }
    assert_eq!(p.signal, pb::prediction::Signal::None as i32);
    assert_eq!(p.signal_threshold, None);

    // The same bars inline give the same forecast; years defaults to 1.
    let inline = pb::PredictRequest { bars: pb_bars(&bars), ..req("AAA", Some(2)) };
    let q = c.predict(inline).await?.into_inner();
    assert_eq!(q.magnitudes, p.magnitudes);
    assert_eq!(q.prob_up, p.prob_up);
    assert_eq!(c.predict(req("OTH", None)).await?.into_inner().version_id, "oth-v1");

    // Pinned versions.
    let pinned = pb::PredictRequest { version_id: "aaa-v1".into(), ..req("AAA", Some(2)) };
    let pv = c.predict(pinned).await?.into_inner();
    assert_eq!(pv.version_id, "aaa-v1");
    assert_ne!(pv.magnitudes, p.magnitudes, "a different version gives a different forecast");
    let wrong_key = pb::PredictRequest { version_id: "oth-v1".into(), ..req("AAA", Some(2)) };
    let e = c.predict(wrong_key).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("belongs to OTH/1y"), "{}", e.message());
    let unknown = pb::PredictRequest { version_id: "nope".into(), ..req("AAA", Some(2)) };
    assert_eq!(c.predict(unknown).await.unwrap_err().code(), Code::NotFound);

    // Errors.
    let e = c.predict(req("NOPE", Some(1))).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "no current model for NOPE/1y; train one with lstm.v1.Trainer/Train");
    let e = c.predict(req("AAA", Some(0))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("years must be between 1 and 10, got 0"), "{}", e.message());
    let e = c.predict(req("AAA", Some(11))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c.predict(req("DROP TABLE", Some(1))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("symbol"), "{}", e.message());
    let e = c.predict(req("", Some(1))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let few = pb::PredictRequest { bars: pb_bars(&bars[..40]), ..req("AAA", Some(2)) };
    let e = c.predict(few).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(e.message(), "insufficient data: need at least 60 trading days, got 40");
    let mut broken = pb_bars(&bars[..80]);
    broken[5].high = broken[5].low * 0.5;
    let e = c.predict(pb::PredictRequest { bars: broken, ..req("AAA", Some(2)) }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // PredictBatch: items succeed and fail independently, in order.
    let batch = pb::PredictBatchRequest {
        requests: vec![req("AAA", Some(2)), req("AAA", Some(42)), req("NOPE", Some(1)), req("OTH", Some(1))],
    };
    let items = c.predict_batch(batch).await?.into_inner().items;
    assert_eq!(items.len(), 4);
    use pb::predict_batch_item::Outcome;
    match &items[0].outcome {
        Some(Outcome::Prediction(x)) => assert_eq!(x.magnitudes, p.magnitudes),
        other => panic!("item 0: {other:?}"),
    }
    match &items[1].outcome {
        Some(Outcome::Error(e)) => {
            assert_eq!(e.code, "INVALID_ARGUMENT");
            assert!(e.message.contains("got 42"), "{}", e.message);
        }
        other => panic!("item 1: {other:?}"),
    }
    match &items[2].outcome {
        Some(Outcome::Error(e)) => assert_eq!(e.code, "NOT_FOUND"),
        other => panic!("item 2: {other:?}"),
    }
    match &items[3].outcome {
        Some(Outcome::Prediction(x)) => assert_eq!(x.version_id, "oth-v1"),
        other => panic!("item 3: {other:?}"),
    }

    // Status and listing.
    let s = c
        .get_model_status(pb::GetModelStatusRequest { symbol: "AAA".into(), years: Some(2) })
        .await?
        .into_inner();
    assert_eq!((s.state.as_str(), s.loaded_version_id.as_str(), s.current_version_id.as_str()), ("loaded", "aaa-v2", "aaa-v2"));
    assert_eq!(s.source, "registry");
    assert!(s.memory_bytes > 0 && !s.loaded_at.is_empty() && !s.last_used_at.is_empty());
    let e = c
        .get_model_status(pb::GetModelStatusRequest { symbol: "NOPE".into(), years: None })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let models = c.list_models(pb::ListModelsRequest {}).await?.into_inner().models;
    let keys: Vec<(String, u32, String, String)> = models
        .iter()
        .map(|m| (m.symbol.clone(), m.years, m.loaded_version_id.clone(), m.source.clone()))
        .collect();
    assert!(keys.contains(&("AAA".into(), 2, "aaa-v2".into(), "registry".into())), "{keys:?}");
    assert!(keys.contains(&("AAA".into(), 2, "aaa-v1".into(), "registry:pinned".into())), "{keys:?}");
    assert!(keys.contains(&("OTH".into(), 1, "oth-v1".into(), "registry".into())), "{keys:?}");

    // Metrics count outcomes per method.
    let m = server.metrics_text().await?;
    assert!(metric_value(&m, "predictor_requests_total", r#"method="Predict",outcome="ok""#) >= 4.0, "{m}");
    assert!(metric_value(&m, "predictor_requests_total", r#"method="Predict",outcome="not_found""#) >= 2.0);
    assert!(metric_value(&m, "predictor_requests_total", r#"method="Predict",outcome="invalid_argument""#) >= 5.0);
    assert!(metric_value(&m, "predictor_requests_total", r#"method="Predict",outcome="failed_precondition""#) >= 1.0);
    assert_eq!(metric_value(&m, "predictor_loaded_models", ""), 3.0, "{m}");
    assert!(m.contains("predictor_request_seconds_bucket"));
    assert!(m.contains("predictor_batch_size_bucket"));
    server.stop().await
}

/// A request tonic cannot decode is the client's input: INVALID_ARGUMENT, as on the trainer
/// (both use `common::server`), not tonic's INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_is_invalid_argument() -> anyhow::Result<()> {
    // Invalid UTF-8 in `symbol` (field 1 of PredictRequest).
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawPredict {
        #[prost(bytes = "vec", tag = "1")]
        symbol: Vec<u8>,
    }
    let reg = TestRegistry::new().await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))?.connect().await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let e = grpc
        .unary::<_, pb::Prediction, _>(
            tonic::Request::new(RawPredict { symbol: vec![b'A', 0xff, 0xfe] }),
            "/lstm.v1.Predictor/Predict".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("UTF-8"), "{e:?}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_serving_once_the_registry_answers() -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let reg = TestRegistry::new().await?;
    let server = RunningPredictor::start(&reg.url, |c| c.shutdown_grace_ms = 1500).await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))?
        .connect()
        .await?;
    let mut h = HealthClient::new(channel);
    for service in ["", "lstm.v1.Predictor"] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let st = h.check(HealthCheckRequest { service: service.into() }).await?.into_inner().status;
            if st == ServingStatus::Serving as i32 {
                break;
            }
            assert!(Instant::now() < deadline, "{service:?} never became SERVING ({st})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // On shutdown, health turns NOT_SERVING first while requests are still answered (grace).
    let mut c = server.client().await?;
    server.signal_stop();
    let deadline = Instant::now() + Duration::from_millis(900);
    loop {
        let st = h.check(HealthCheckRequest { service: "lstm.v1.Predictor".into() }).await?.into_inner().status;
        if st == ServingStatus::NotServing as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "health did not turn NOT_SERVING on shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let overall = h.check(HealthCheckRequest { service: String::new() }).await?.into_inner().status;
    assert_eq!(overall, ServingStatus::NotServing as i32);
    let e = c.predict(req("NOPE", Some(1))).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "still answering during the grace period: {e:?}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_forecasts_are_recorded_in_the_prediction_log() -> anyhow::Result<()> {
    let reg = TestRegistry::new().await?;
    let bars = market(22, 300);
    let (served, later) = bars.split_at(295);
    seed_key(&reg.registry, "LOG", 1, "log-v1", served, 1).await?;
    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let mut cums = Vec::new();
    for _ in 0..3 {
        cums.push(c.predict(req("LOG", Some(1))).await?.into_inner().cumulative_return);
    }
    // A rejected request is not logged.
    assert!(c.predict(req("LOG", Some(0))).await.is_err());
    // Shutdown flushes the log; then five more bars resolve the logged predictions.
    server.stop().await?;
    reg.registry.upsert_bars("LOG", later).await?;
    reg.registry.resolve_predictions("LOG").await?;
    let errors = reg.registry.resolved_errors("LOG", Some(1)).await?;
    assert_eq!(errors.len(), 3, "expected the 3 served forecasts in the log, found {errors:?}");
    let realised = later[4].close / served.last().unwrap().close - 1.0;
    for (e, cum) in errors.iter().zip(&cums) {
        assert!((e - (cum - realised).abs()).abs() < 1e-9, "logged error {e} vs |{cum} - {realised}|");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_trained_version_serves_the_same_numbers_as_the_model_in_process() -> anyhow::Result<()> {
    use common::features::{build_samples, latest_window, FeatureConfig};
    use common::model::LoadedModel;
    use common::training::{run_pipeline, DeviceChoice, PipelineConfig};
    let reg = TestRegistry::new().await?;
    let bars = market(23, 300);
    reg.registry.upsert_bars("TRN", &bars).await?;
    let samples = build_samples(&bars, &FeatureConfig::default())?;
    let cfg = PipelineConfig {
        symbol: "TRN".into(),
        years: 1,
        do_cv_tune: false,
        do_shap: false,
        do_plot: false,
        use_enhanced_model: false,
        seed: Some(7),
        device: DeviceChoice::Cpu,
        max_epochs: Some(1),
        ..PipelineConfig::default()
    };
    let outcome = tokio::task::spawn_blocking(move || {
        run_pipeline(&samples, &cfg, None, &mut |_| {}, &tokio_util::sync::CancellationToken::new())
    })
    .await??;
    let direct = LoadedModel::from_artifact(&outcome.metadata, &outcome.weights, tch::Device::Cpu)?;
    store_version(&reg.registry, "trn-v1", (outcome.metadata.clone(), outcome.weights.clone()), true).await?;

    let server = RunningPredictor::start(&reg.url, |_| {}).await?;
    let mut c = server.client().await?;
    let p = c.predict(req("TRN", Some(1))).await?.into_inner();
    let window = latest_window(&bars[bars.len() - predictor_svc::engine::HISTORY_BARS..], &FeatureConfig::default())?;
    let f = direct.forecast(&window, 1)?[0];
    assert_eq!(p.version_id, "trn-v1");
    // prob_up is the version's calibration of the raw softmax, served next to it.
    let calibration = outcome.metadata.calibration.as_ref().expect("a trained version is calibrated");
    assert!((p.prob_up_raw - f.prob_up).abs() < 1e-6, "{} vs {}", p.prob_up_raw, f.prob_up);
    assert!((p.prob_up - calibration.prob_up(f.prob_up)).abs() < 1e-6, "{} vs {}", p.prob_up, calibration.prob_up(f.prob_up));
    assert_ne!(p.prob_up, p.prob_up_raw, "the (default, temperature) calibration moves the probability");
    let up = if p.prob_up >= 0.5 { pb::Direction::Up } else { pb::Direction::Down };
    assert_eq!(p.direction, up as i32, "the direction follows the served probability");
    // Intervals for both levels around the predicted cumulative return, closes on day 5.
    assert_eq!(p.intervals.len(), 2);
    let last_close = p.last_close;
    for i in &p.intervals {
        assert!(i.available, "{i:?}");
        let (lo, hi) = (i.cumulative_return_lo.unwrap(), i.cumulative_return_hi.unwrap());
        assert!(lo < p.cumulative_return && p.cumulative_return < hi, "{i:?} vs {}", p.cumulative_return);
        assert!((i.close_lo.unwrap() - last_close * (1.0 + lo)).abs() < 1e-9);
        assert!((i.close_hi.unwrap() - last_close * (1.0 + hi)).abs() < 1e-9);
    }
    let width = |i: &pb::PredictionInterval| i.cumulative_return_hi.unwrap() - i.cumulative_return_lo.unwrap();
    assert!(width(&p.intervals[1]) > width(&p.intervals[0]), "the 95 % interval is wider");
    // Quality of the version's holdout, in the answer and in GetModelStatus.
    let q = p.quality.clone().unwrap();
    assert!(q.calibrated && q.n_holdout == 66 && q.holdout_brier.is_some() && q.baseline_brier.is_some(), "{q:?}");
    assert_eq!(q.beats_baseline, q.holdout_brier < q.baseline_brier);
    let status = c.get_model_status(pb::GetModelStatusRequest { symbol: "TRN".into(), years: Some(1) }).await?.into_inner();
    assert_eq!(status.quality, Some(q));
    // The signal follows the stored threshold.
    let signal = calibration.signal.unwrap();
    assert_eq!(p.signal_threshold, signal.threshold);
    let expect = if signal.is_up(p.prob_up) { pb::prediction::Signal::Up } else { pb::prediction::Signal::None };
    assert_eq!(p.signal, expect as i32);
    for k in 0..5 {
        assert!((p.magnitudes[k] - f.magnitudes[k]).abs() < 1e-6, "day {k}: {} vs {}", p.magnitudes[k], f.magnitudes[k]);
    }
    server.stop().await
}
