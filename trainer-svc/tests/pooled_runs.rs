//! Pooled training runs through the service core (SPEC §14.3, issue 25): one version stored for
//! the pool and made current for every member whose holdout passes, progress that names the
//! members, and two pools with the same members listed in opposite orders both completing (the
//! leases are taken in sorted order, so neither holds one the other waits for).
use std::sync::Arc;
use std::time::Duration;

use common::calendar::TradingCalendar;
use common::data::{generate, SyntheticConfig};
use common::pb::{self, train_event::Event};
use common::registry::Registry;
use tokio_util::sync::CancellationToken;
use trainer_svc::core::{Core, CoreSettings, RunSpec};
use trainer_svc::metrics::Metrics;
use trainer_svc::requests::TrainJob;

async fn core_with(symbols: &[&str]) -> (tempfile::TempDir, Registry, Arc<Core>) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::connect(&format!("sqlite://{}/registry.db", dir.path().display())).await.unwrap();
    for (i, s) in symbols.iter().enumerate() {
        let cfg = SyntheticConfig { seed: 40 + i as u64, days: 420, start_price: 10f64.powi(i as i32 + 1), ..SyntheticConfig::default() };
        registry.upsert_bars(s, &generate(&cfg)).await.unwrap();
    }
    let core = Arc::new(Core::new(
        registry.clone(),
        TradingCalendar::default(),
        Metrics::new(),
        CoreSettings::default(),
        CancellationToken::new(),
    ));
    (dir, registry, core)
}

fn pooled(symbol: &str, pool: &[&str]) -> RunSpec {
    let job = TrainJob::try_from(pb::TrainRequest {
        symbol: symbol.into(),
        years: Some(1),
        pool_symbols: pool.iter().map(|s| s.to_string()).collect(),
        use_enhanced_model: Some(false),
        use_improved_training: Some(false),
        do_cv_tune: Some(false),
        do_shap: Some(false),
        do_plot: Some(false),
        max_epochs: Some(2),
        seed: Some(3),
        device: "cpu".into(),
        lease_timeout_seconds: Some(120),
        ..Default::default()
    })
    .unwrap();
    RunSpec::train(&job, 1, "train", "test")
}

/// Runs `spec` to its end, returning its events.
async fn run(core: Arc<Core>, spec: RunSpec) -> (Vec<pb::TrainEvent>, common::Result<pb::TrainResult>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let task = tokio::spawn(async move { core.run(spec, Some(tx), CancellationToken::new()).await });
    let mut events = Vec::new();
    while let Some(ev) = rx.recv().await {
        events.push(ev.unwrap());
    }
    (events, task.await.unwrap().result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_run_stores_one_version_current_for_every_member() {
    let (_dir, registry, core) = core_with(&["PA", "PB", "PC"]).await;
    let (events, result) = run(core, pooled("PA", &["PC", "PB", "PA"])).await;
    let result = result.unwrap();
    let members: Vec<&str> = result.pool_members.iter().map(|m| m.symbol.as_str()).collect();
    assert_eq!(members, ["PA", "PB", "PC"], "the request's symbol first, then the others sorted");
    assert!(result.pool_members.iter().all(|m| m.deployed), "no current version: every member deploys");
    assert!(result.pool_members.iter().all(|m| m.metrics.contains_key("holdout_f1")));
    let stages: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::Stage(s)) => Some(s.detail.clone()),
            _ => None,
        })
        .collect();
    assert!(stages.iter().any(|d| d.starts_with("pool of 3 members")), "{stages:?}");
    for m in ["PA", "PB", "PC"] {
        assert!(stages.iter().any(|d| d.contains(&format!("bars of {m}"))), "{m}: {stages:?}");
        assert!(stages.iter().any(|d| d.starts_with(&format!("pool member {m}"))), "{m}: {stages:?}");
    }
    for m in ["PA", "PB", "PC"] {
        let cur = registry.current_version(m, 1).await.unwrap().expect("current");
        assert_eq!(cur.version_id, result.version_id, "{m}");
        assert_eq!(cur.pool_symbols, vec!["PA", "PB", "PC"]);
    }
    let rec = registry.version(&result.version_id).await.unwrap();
    let md: common::model::ModelMetadata = serde_json::from_str(&rec.metadata_json).unwrap();
    assert_eq!(md.pool_symbols(), vec!["PA", "PB", "PC"]);
    let (a, c) = (md.for_member("PA").unwrap(), md.for_member("PC").unwrap());
    assert_ne!(a.norm, c.norm, "each member has its own statistics");
    assert!(c.calibration.is_some());
}

/// Opposite request orders: without sorted lease order each run would hold its own symbol and
/// wait for the other's until the lease timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_with_the_same_members_both_complete() {
    let (_dir, registry, core) = core_with(&["QA", "QB"]).await;
    let first = tokio::spawn(run(core.clone(), pooled("QA", &["QB"])));
    let second = tokio::spawn(run(core.clone(), pooled("QB", &["QA"])));
    let outcome = tokio::time::timeout(Duration::from_secs(300), async { (first.await.unwrap(), second.await.unwrap()) })
        .await
        .expect("both pools end well before the lease timeout");
    let ((ev1, r1), (ev2, r2)) = outcome;
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_ne!(r1.version_id, r2.version_id);
    let queued = |evs: &[pb::TrainEvent]| evs.iter().any(|e| matches!(e.event, Some(Event::Queued(_))));
    assert!(queued(&ev1) || queued(&ev2), "one run waited for the other's leases");
    // Both stored (the later one compared with the earlier, now its members' current version,
    // and kept either way), each listed under both members.
    for m in ["QA", "QB"] {
        let listed: Vec<String> = registry.list_versions(Some(m), None).await.unwrap().into_iter().map(|v| v.version_id).collect();
        assert!(listed.contains(&r1.version_id) && listed.contains(&r2.version_id), "{m}: {listed:?}");
    }
}

/// TrainAll with `pool_size` 2 over three symbols: the sorted universe in consecutive pools (PA
/// and PB pooled, PC alone), one result per symbol, the pooled members sharing a version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_all_trains_the_universe_as_pools() {
    let (_dir, registry, core) = core_with(&["PC", "PA", "PB"]).await;
    let job = trainer_svc::requests::TrainAllJob::try_from(pb::TrainAllRequest {
        years: Some(1),
        pool_size: Some(2),
        do_shap: Some(false),
        do_plot: Some(false),
        max_epochs: Some(1),
        seed: Some(2),
        device: "cpu".into(),
        ..Default::default()
    })
    .unwrap();
    let symbols = trainer_svc::core::train_all::symbols(&core, &job).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(trainer_svc::core::train_all::run(core.clone(), job, symbols, "test".into(), tx, CancellationToken::new()));
    let mut summary = None;
    while let Some(ev) = rx.recv().await {
        if let Some(pb::train_all_event::Event::Summary(s)) = ev.unwrap().event {
            summary = Some(s);
        }
    }
    let s = summary.expect("a summary");
    assert_eq!((s.total, s.success_count), (3, 3), "{s:?}");
    let id = |sym: &str| s.results.iter().find(|r| r.symbol == sym).unwrap().version_id.clone();
    assert_eq!(id("PA"), id("PB"), "PA and PB are one pool");
    assert_ne!(id("PA"), id("PC"));
    assert_eq!(registry.version_info(&id("PA")).await.unwrap().pool_symbols, vec!["PA", "PB"]);
    assert!(registry.version_info(&id("PC")).await.unwrap().pool_symbols.is_empty(), "a pool of one is a single-symbol model");
    assert_eq!(trainer_svc::core::train_all::groups(vec!["A".into(), "B".into(), "C".into()], 2).len(), 2);
}
