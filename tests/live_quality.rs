//! Live quality (SPEC §14.2) as an operator sees it: a real series of the data package
//! (Amazon.csv) replayed day by day — a bar ingested through the trainer, then Predict on the
//! predictor (several times on some days, once on inline bars) — and `GetLiveQuality`,
//! `ModelStatus.live`, the `predictor_live_*` gauges and a restarted predictor all agree with an
//! independent computation in this test from the answers it received and the realised closes.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use common::data::reference::real_csv;
use common::data::{parse_csv, Bar};
use common::pb;
use system_tests::predictor_harness::{metric_value, predict_request, RunningPredictor};
use system_tests::trainer_harness::{collect, completed, pb_bars, quick_train, TrainerHarness};

const SYMBOL: &str = "AMZN";
/// Bars the model is trained on before the replay starts.
const TRAIN_BARS: usize = 330;
/// Days replayed.
const REPLAY_DAYS: usize = 24;

/// The answers the test received, by day: the first one is what scoring must count.
#[derive(Default)]
struct Answers {
    first: HashMap<NaiveDate, pb::Prediction>,
    order: Vec<NaiveDate>,
}

impl Answers {
    fn add(&mut self, p: pb::Prediction) {
        let day: NaiveDate = p.as_of.parse().unwrap();
        if !self.first.contains_key(&day) {
            self.order.push(day);
            self.first.insert(day, p);
        }
    }
}

/// The independent computation: scored days, pending days, hit rate, Brier, base-rate Brier,
/// 80 % and 95 % coverage, and the adaptive 80 % / 95 % levels after every scored miss
/// (α_{t+1} = α_t + γ(α − miss_t)).
fn expected(answers: &Answers, bars: &[Bar], base_rate: f64) -> (usize, usize, [f64; 7]) {
    let (mut n, mut pending) = (0usize, 0usize);
    let (mut hits, mut brier, mut base, mut in80, mut in95) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let gamma = common::calibration::adaptive::DEFAULT_GAMMA;
    let (mut alpha80, mut alpha95) = (0.2, 0.05);
    for day in &answers.order {
        let p = &answers.first[day];
        let t = bars.iter().position(|b| b.date == *day).expect("answers are on stored days");
        let Some(target) = bars.get(t + 5) else {
            pending += 1;
            continue;
        };
        let realised = target.close / bars[t].close - 1.0;
        let y = if realised > 0.0 { 1.0 } else { 0.0 };
        n += 1;
        hits += if (p.prob_up >= 0.5) == (realised > 0.0) { 1.0 } else { 0.0 };
        brier += (p.prob_up - y).powi(2);
        base += (base_rate - y).powi(2);
        let inside = |level: f64| {
            let i = p.intervals.iter().find(|i| (i.level - level).abs() < 1e-9).unwrap();
            (i.cumulative_return_lo.unwrap() <= realised && realised <= i.cumulative_return_hi.unwrap()) as u8 as f64
        };
        in80 += inside(0.8);
        in95 += inside(0.95);
        alpha80 += gamma * (0.2 - (1.0 - inside(0.8)));
        alpha95 += gamma * (0.05 - (1.0 - inside(0.95)));
    }
    let k = n as f64;
    (n, pending, [hits / k, brier / k, base / k, in80 / k, in95 / k, 1.0 - alpha80, 1.0 - alpha95])
}

async fn live(server: &RunningPredictor) -> anyhow::Result<pb::LiveQuality> {
    let req = pb::GetLiveQualityRequest { symbol: SYMBOL.into(), years: Some(1), ..Default::default() };
    let mut versions = server.client().await?.get_live_quality(req).await?.into_inner().versions;
    anyhow::ensure!(versions.len() == 1, "one version served: {versions:?}");
    Ok(versions.remove(0))
}

/// Waits until the prediction log holds `days` distinct days (its writer is asynchronous).
async fn settled(server: &RunningPredictor, days: usize) -> anyhow::Result<pb::LiveQuality> {
    // Liveness guard only: the log's writer catches up within milliseconds on an idle machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let q = live(server).await?;
        if (q.n_scored + q.n_pending) as usize == days || Instant::now() > deadline {
            return Ok(q);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Predict until the answer is computed on `day`'s bar (the predictor's bar copy refreshes on its
/// poll), recording every answer received.
async fn predict_on(server: &RunningPredictor, day: NaiveDate, answers: &mut Answers) -> anyhow::Result<pb::Prediction> {
    let mut c = server.client().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = c.predict(predict_request(SYMBOL, 1)).await?.into_inner();
        answers.add(p.clone());
        if p.as_of == day.to_string() {
            return Ok(p);
        }
        anyhow::ensure!(Instant::now() < deadline, "the predictor did not see the bar of {day}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn close(a: f64, b: Option<f64>, what: &str) {
    let b = b.unwrap_or_else(|| panic!("{what} is absent"));
    assert!((a - b).abs() < 1e-9, "{what}: expected {a}, served {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_real_series_is_scored_like_an_independent_computation() -> anyhow::Result<()> {
    let Some(path) = real_csv("Amazon.csv") else { return Ok(()) };
    let all = parse_csv(&std::fs::read_to_string(path)?)?;
    let bars: Vec<Bar> = all[all.len() - (TRAIN_BARS + REPLAY_DAYS)..].to_vec();
    let trainer = TrainerHarness::start().await?;
    let mut t = trainer.client().await?;
    let ingest = |bars: &[Bar]| pb::IngestBarsRequest { symbol: SYMBOL.into(), bars: pb_bars(bars), ..Default::default() };
    t.ingest_bars(ingest(&bars[..TRAIN_BARS])).await?;
    let (events, status) = collect(t.train(quick_train(SYMBOL)).await).await;
    let result = completed(&events).unwrap_or_else(|| panic!("training failed: {status:?}"));
    assert!(result.deployed, "the first version of a key is deployed");

    let start = |url: String| async move {
        RunningPredictor::start(&url, |c| {
            c.model.holidays = String::new();
            c.live_poll_ms = 200;
        })
        .await
    };
    let mut server = start(trainer.db_url.clone()).await?;
    let mut answers = Answers::default();
    let mut base_rate = None;
    for k in 0..REPLAY_DAYS {
        let day = bars[TRAIN_BARS + k].date;
        t.ingest_bars(ingest(&bars[TRAIN_BARS + k..=TRAIN_BARS + k])).await?;
        let p = predict_on(&server, day, &mut answers).await?;
        base_rate = p.quality.as_ref().and_then(|q| q.base_rate);
        if k % 3 == 0 {
            // The same day asked again: later answers of a day do not count.
            for _ in 0..2 {
                let again = server.client().await?.predict(predict_request(SYMBOL, 1)).await?.into_inner();
                assert_eq!(again.as_of, day.to_string());
            }
        }
        if k % 4 == 1 {
            // An answer on inline bars (here: the stored bars with the last close moved) is never scored.
            let mut inline = bars[..=TRAIN_BARS + k].to_vec();
            inline.last_mut().unwrap().close *= 1.01;
            inline.last_mut().unwrap().high = inline.last().unwrap().high.max(inline.last().unwrap().close);
            let req = pb::PredictRequest { bars: pb_bars(&inline), ..predict_request(SYMBOL, 1) };
            server.client().await?.predict(req).await?;
        }
        if k == REPLAY_DAYS / 2 {
            // A restart mid-replay: the numbers are the registry's, so they continue unchanged.
            let before = settled(&server, answers.order.len()).await?;
            server.stop().await?;
            server = start(trainer.db_url.clone()).await?;
            assert_eq!(live(&server).await?, before, "a restarted predictor reports the same live quality");
            // ... and its first answer already uses the adaptive levels the log implies.
            let p = server.client().await?.predict(predict_request(SYMBOL, 1)).await?.into_inner();
            let level80 = p.intervals.iter().find(|i| i.level == 0.8).unwrap().effective_level;
            assert!((level80 - before.effective_level_80).abs() < 1e-12, "{level80} vs {}", before.effective_level_80);
        }
    }
    let base_rate = base_rate.expect("a trained version carries its base rate");
    let q = settled(&server, answers.order.len()).await?;
    let (n, pending, [hit, brier, base, c80, c95, level80, level95]) = expected(&answers, &bars, base_rate);
    assert_eq!(q.version_id, result.version_id);
    assert_eq!((q.n_scored as usize, q.n_pending as usize), (n, pending));
    assert_eq!(pending, 5, "the last 5 days wait for their outcome");
    assert!(n >= REPLAY_DAYS - 5, "{n} scored days");
    close(hit, q.hit_rate, "hit_rate");
    close(brier, q.brier, "brier");
    close(base, q.base_rate_brier, "base_rate_brier");
    close(1.0 - brier / base, q.brier_skill, "brier_skill");
    close(c80, q.coverage_80, "coverage_80");
    close(c95, q.coverage_95, "coverage_95");
    close(level80, Some(q.effective_level_80), "effective_level_80");
    close(level95, Some(q.effective_level_95), "effective_level_95");
    assert_eq!(q.last_as_of, answers.order[answers.order.len() - 6].to_string());

    // ModelStatus.live is the same, and the gauges follow on the next poll.
    let status = server
        .client()
        .await?
        .get_model_status(pb::GetModelStatusRequest { symbol: SYMBOL.into(), years: Some(1) })
        .await?
        .into_inner();
    assert_eq!(status.live.as_ref(), Some(&q));
    let labels = format!(r#"symbol="{SYMBOL}",years="1""#);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = server.metrics_text().await?;
        if metric_value(&text, "predictor_live_scored", &labels) == n as f64 {
            close(metric_value(&text, "predictor_live_brier_skill", &labels), q.brier_skill, "the brier_skill gauge");
            let c80_gauge = metric_value(&text, "predictor_live_coverage", &format!(r#"level="0.8",{labels}"#));
            close(c80_gauge, q.coverage_80, "the coverage gauge");
            break;
        }
        assert!(Instant::now() < deadline, "predictor_live_scored never reached {n}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The trainer's trigger check reads the same numbers.
    let check = t
        .check_triggers(pb::CheckTriggersRequest { symbol: SYMBOL.into(), as_of: String::new(), years: Some(1) })
        .await?
        .into_inner();
    assert_eq!(check.live_n_scored as usize, n);
    close(check.live_brier_skill.unwrap(), q.brier_skill, "CheckTriggers' live_brier_skill");
    assert_eq!(check.live_quality, n >= 20 && q.brier_skill.unwrap() < 0.0, "{}", check.live_reason);
    println!("live quality of the replay: {q:?}; trigger: {}", check.live_reason);

    // A bad request is refused with the reason.
    let bad = pb::GetLiveQualityRequest { symbol: SYMBOL.into(), years: Some(1), window_days: Some(0), ..Default::default() };
    let e = server.client().await?.get_live_quality(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    server.stop().await?;
    trainer.stop().await
}
