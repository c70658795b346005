//! RAII of a run: a run future dropped mid-training (a panicking handler, an aborted task, a
//! TrainAll whose caller left) releases its symbol lease within one renewal period, stops its
//! training thread, and still gets a terminal run record.
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::calendar::TradingCalendar;
use common::data::{generate, SyntheticConfig};
use common::pb::train_event::Event;
use common::registry::{LeaseAttempt, Registry, RunStatus};
use common::training::{DeviceChoice, PipelineConfig};
use tokio_util::sync::CancellationToken;
use trainer_svc::core::{Core, CoreSettings, RunSpec, Work};
use trainer_svc::metrics::Metrics;
use trainer_svc::requests::DateRange;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_run_releases_its_lease_instead_of_letting_it_expire() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::connect(&format!("sqlite://{}/registry.db", dir.path().display()))
        .await
        .unwrap();
    let bars = generate(&SyntheticConfig { seed: 5, days: 400, ..SyntheticConfig::default() });
    registry.upsert_bars("DROP", &bars).await.unwrap();
    // A ttl far above the renewal period: a lease freed well before `ttl` was released by the
    // guard's Drop, not expired. `released_by` is a liveness guard (the release usually takes
    // milliseconds; issue 30), far below the ttl.
    let renew = Duration::from_secs(1);
    let ttl = Duration::from_secs(120);
    let released_by = Duration::from_secs(20);
    let core = Arc::new(Core::new(
        registry.clone(),
        TradingCalendar::default(),
        Metrics::new(),
        CoreSettings { lease_ttl: ttl, lease_renew: renew, ..CoreSettings::default() },
        CancellationToken::new(),
    ));
    let spec = RunSpec {
        symbol: "DROP".into(),
        years: 1,
        mode: "train".into(),
        requested_by: "test".into(),
        lease_timeout: None,
        inline_bars: None,
        work: Work::Pipeline {
            config: PipelineConfig {
                symbol: "DROP".into(),
                years: 1,
                use_enhanced_model: false,
                do_shap: false,
                do_plot: false,
                device: DeviceChoice::Cpu,
                max_epochs: Some(500),
                seed: Some(1),
                ..PipelineConfig::default()
            },
            range: DateRange::default(),
            keep_rejected: true,
            pool: Vec::new(),
        },
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let task = {
        let core = core.clone();
        tokio::spawn(async move { core.run(spec, Some(tx), CancellationToken::new()).await })
    };
    // Wait for the first epoch: the lease is held and the training thread runs.
    let run_id = loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("an event within 60 s")
            .expect("the run is still streaming")
            .expect("no error");
        if let Some(Event::Epoch(_)) = ev.event {
            break ev.run_id;
        }
    };
    assert!(matches!(
        registry.try_acquire_lease("DROP", "probe", ttl).await.unwrap(),
        LeaseAttempt::Waiting { ref holder, .. } if *holder == run_id
    ));

    // Drop the run future mid-run.
    task.abort();
    let dropped = Instant::now();
    assert!(task.await.unwrap_err().is_cancelled());
    loop {
        match registry.try_acquire_lease("DROP", "probe", ttl).await.unwrap() {
            LeaseAttempt::Acquired => break,
            LeaseAttempt::Waiting { holder, .. } => {
                assert!(
                    dropped.elapsed() < released_by,
                    "lease still held by {holder} {:?} after the run was dropped",
                    dropped.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    registry.release_lease("DROP", "probe").await.unwrap();

    // The run record ends (cancelled), and the run left the live table.
    let deadline = Instant::now() + Duration::from_secs(5);
    let run = loop {
        let run = registry.runs(None, Some(&run_id), 1).await.unwrap().remove(0);
        if run.status.is_terminal() || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
    assert!(run.error.unwrap_or_default().contains("dropped"));
    assert!(core.live.get(&run_id).is_none());
    // The training thread saw the cancellation: no version was ever saved.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(registry.list_versions(Some("DROP"), None).await.unwrap().is_empty());
}
