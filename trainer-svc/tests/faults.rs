//! Faults as an operator causes them, against real `trainer-svc` processes: kill -9 of the
//! trainer running a run (the other replica closes it as abandoned, AttachRun ends, the lease
//! is free for a new Train), CancelRun sent to the replica that does not run the run, SIGTERM mid-run (UNAVAILABLE), a registry that stops answering
//! (health NOT_SERVING), undecodable requests (INVALID_ARGUMENT), an AUTH_TOKEN from a Secret
//! file with its trailing newline, a registry disk that fills mid-run (health NOT_SERVING,
//! RESOURCE_EXHAUSTED, no version, the lease free once space is back) and a registry filesystem
//! that turns read-only after an error (health NOT_SERVING, UNAVAILABLE, the data intact).
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::data::{generate, SyntheticConfig};
use common::pb::{self, train_event::Event, trainer_client::TrainerClient};
use common::test_ports::free_port;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

mod support;
use support::trainer::{Launch, Trainer};
use support::{postgres_db, server_addr, tcp_proxy};

/// Lease ttl of the processes: detection of a dead owner takes about this long.
const TTL_SECONDS: u64 = 3;

/// A trainer-svc process of these tests on a free port, with the lease timing of
/// [`TTL_SECONDS`], no metrics listener, and `envs` set; returned once its health answers.
async fn start_trainer(db_url: &str, envs: &[(&str, &str)]) -> Trainer {
    let ttl = TTL_SECONDS.to_string();
    let flags = [
        "--metrics-listen", "off", "--lease-ttl-seconds", &ttl, "--lease-renew-seconds", "1",
        "--shutdown-grace-seconds", "10",
    ];
    Trainer::start(Launch { netns: None, addr: free_port(), db_url, flags: &flags, envs, ready: None }).await
}

fn authed<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    r
}

fn bars(seed: u64, days: usize) -> Vec<pb::Bar> {
    generate(&SyntheticConfig { seed, days, ..SyntheticConfig::default() })
        .iter()
        .map(trainer_svc::requests::bar_to_pb)
        .collect()
}

fn train(symbol: &str, epochs: u32) -> pb::TrainRequest {
    pb::TrainRequest {
        symbol: symbol.into(),
        years: Some(1),
        use_enhanced_model: Some(false),
        use_improved_training: Some(false),
        do_cv_tune: Some(false),
        do_shap: Some(false),
        do_plot: Some(false),
        param_grid: Some(pb::ParamGrid { epochs: vec![epochs], ..Default::default() }),
        seed: Some(7),
        device: "cpu".into(),
        lease_timeout_seconds: Some(60),
        ..Default::default()
    }
}

/// The registry's record of run `id`, through GetTrainingRuns.
async fn run_record(c: &mut TrainerClient<Channel>, id: &str) -> anyhow::Result<pb::TrainingRun> {
    let runs = c
        .get_training_runs(pb::GetTrainingRunsRequest { run_id: id.to_string(), ..Default::default() })
        .await?
        .into_inner()
        .runs;
    Ok(runs.into_iter().next().expect("the run is listed"))
}

/// A new Train of `symbol` runs to completion without queueing (`behind` names what it must not
/// wait for): the symbol's lease is free.
async fn trains_without_queueing(c: &mut TrainerClient<Channel>, symbol: &str, behind: &str) -> anyhow::Result<()> {
    let mut again = c.train(train(symbol, 2)).await?.into_inner();
    let mut completed = false;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), again.message()).await?? {
        assert!(!matches!(ev.event, Some(Event::Queued(_))), "queued behind {behind}: {ev:?}");
        completed |= matches!(ev.event, Some(Event::Completed(_)));
    }
    assert!(completed, "the new Train of {symbol} did not complete");
    Ok(())
}

/// Reads `stream` until the first epoch; returns the run id.
async fn until_first_epoch(stream: &mut tonic::Streaming<pb::TrainEvent>) -> String {
    loop {
        let ev = stream.message().await.expect("stream").expect("event");
        if matches!(ev.event, Some(Event::Epoch(_))) {
            return ev.run_id;
        }
    }
}

/// kill -9 of the replica running a run: within about one lease ttl the other replica shows it
/// `abandoned` with a reason, AttachRun ends with a terminal event, CancelRun answers, and a
/// new Train of the symbol runs.
async fn kill_9_scenario(db_url: &str) -> anyhow::Result<()> {
    let a = start_trainer(db_url, &[]).await;
    let b = start_trainer(db_url, &[]).await;
    let mut ca = a.client().await?;
    let mut cb = b.client().await?;
    ca.ingest_bars(pb::IngestBarsRequest { symbol: "KILL".into(), bars: bars(3, 300), csv: String::new(), ..Default::default() })
        .await?;
    let mut stream = ca.train(train("KILL", 1000)).await?.into_inner();
    let run_id = until_first_epoch(&mut stream).await;
    let mut attach = cb.attach_run(pb::AttachRunRequest { run_id: run_id.clone() }).await?.into_inner();

    a.signal("-KILL");
    let killed = Instant::now();

    // AttachRun on the surviving replica ends with a terminal event.
    let last = tokio::time::timeout(Duration::from_secs(4 * TTL_SECONDS + 10), async {
        let mut last = None;
        while let Some(ev) = attach.message().await? {
            last = ev.event;
        }
        Ok::<_, tonic::Status>(last)
    })
    .await
    .expect("AttachRun ended")?;
    let Some(Event::Failed(f)) = last else { panic!("no terminal event: {last:?}") };
    assert_eq!(f.code, "ABORTED", "{f:?}");
    assert!(f.message.contains("abandoned"), "{f:?}");
    let detected = killed.elapsed();

    // GetTrainingRuns: abandoned, with the reason; detected within ~one ttl (+ sweep, + the
    // last renewal's age, + slack for a loaded machine).
    let run = run_record(&mut cb, &run_id).await?;
    assert_eq!(run.status, "abandoned", "{run:?}");
    assert!(run.error.contains("stopped renewing the training lease"), "{run:?}");
    // A liveness guard (issue 30): typically one ttl + a sweep (~4 s); the bound is generous for
    // a loaded machine and still far below "never" (the run would stay `running` forever).
    assert!(detected < Duration::from_secs(4 * TTL_SECONDS + 10), "detected after {detected:?}");
    // CancelRun answers with the run's end instead of "not on this replica".
    let c = cb.cancel_run(pb::CancelRunRequest { run_id: run_id.clone() }).await?.into_inner();
    assert_eq!(c.status, "abandoned");

    // The lease is free: a new Train of the symbol runs to completion on the other replica.
    trains_without_queueing(&mut cb, "KILL", "the dead run").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_trainer_abandons_its_run_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    kill_9_scenario(&format!("sqlite://{}/registry.db", dir.path().display())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_trainer_abandons_its_run_postgres() -> anyhow::Result<()> {
    let Some(url) = postgres_db("trainer_faults", "no PostgreSQL variant").await else { return Ok(()) };
    kill_9_scenario(&url).await
}

/// SIGSTOP of the replica running a run, for longer than the lease TTL (a GC pause, a stalled
/// VM): the other replica takes the symbol over and stores its version; when the paused one
/// resumes, its run ends without storing anything (its renewal fails, and the registry's fence
/// refuses a version from a run that no longer holds the lease), and it trains again without a
/// restart. At no point does the symbol have two versions from two holders.
async fn sigstop_scenario(db_url: &str) -> anyhow::Result<()> {
    let a = start_trainer(db_url, &[]).await;
    let b = start_trainer(db_url, &[]).await;
    let mut ca = a.client().await?;
    let mut cb = b.client().await?;
    ca.ingest_bars(pb::IngestBarsRequest { symbol: "PAUSE".into(), bars: bars(4, 300), ..Default::default() }).await?;
    let mut stream = ca.train(train("PAUSE", 1000)).await?.into_inner();
    let run_a = until_first_epoch(&mut stream).await;

    a.signal("-STOP");
    // Past the TTL (and the sweep that closes a run whose lease expired) B may take the symbol.
    tokio::time::sleep(Duration::from_secs(2 * TTL_SECONDS + 1)).await;
    trains_without_queueing(&mut cb, "PAUSE", "the paused run").await?;
    let stored = cb.list_versions(pb::ListVersionsRequest { symbol: "PAUSE".into(), years: Some(1) }).await?.into_inner().versions;
    assert_eq!(stored.len(), 1, "B's version only: {stored:?}");
    let b_version = stored[0].version_id.clone();

    a.signal("-CONT");
    // A's run ends (renewal fails at once); a liveness guard well above the 1 s renew period.
    let (last, status) = tokio::time::timeout(Duration::from_secs(30), drain(&mut stream)).await?;
    let failed = matches!(last, Some(Event::Failed(_))) || status.is_some();
    assert!(failed, "the resumed run must not complete: {last:?} {status:?}");
    let run = run_record(&mut cb, &run_a).await?;
    assert!(run.version_id.is_empty() && run.status != "succeeded", "{run:?}");
    let after = cb.list_versions(pb::ListVersionsRequest { symbol: "PAUSE".into(), years: Some(1) }).await?.into_inner().versions;
    assert_eq!(after.iter().map(|v| v.version_id.as_str()).collect::<Vec<_>>(), [b_version.as_str()], "nothing from the paused run");
    assert!(after[0].is_current);
    // Recovered without a restart: A serves and trains the symbol again.
    a.until_status(ServingStatus::Serving, "after SIGCONT").await?;
    trains_without_queueing(&mut ca, "PAUSE", "anything").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_ttl_stores_nothing_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    sigstop_scenario(&format!("sqlite://{}/registry.db", dir.path().display())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_ttl_stores_nothing_postgres() -> anyhow::Result<()> {
    let Some(url) = postgres_db("trainer_faults", "no PostgreSQL variant").await else { return Ok(()) };
    sigstop_scenario(&url).await
}

/// Reads `stream` to its end; the last event and the closing status (`None` = clean end).
async fn drain(stream: &mut tonic::Streaming<pb::TrainEvent>) -> (Option<Event>, Option<tonic::Status>) {
    let mut last = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.message()).await.expect("stream ended") {
            Ok(Some(ev)) => last = ev.event.or(last),
            Ok(None) => return (last, None),
            Err(s) => return (last, Some(s)),
        }
    }
}

/// CancelRun on the other replica (a load balancer sends it anywhere) of a run that one replica
/// is training, and of one queued behind it there: both answer `cancelling`, the owner picks the
/// requests up at its next lease renewal / queue poll and stops the runs, both are recorded
/// `cancelled`, and the symbol's lease is free for a new Train on the other replica.
async fn cancel_on_another_replica_scenario(db_url: &str) -> anyhow::Result<()> {
    let a = start_trainer(db_url, &[]).await;
    let b = start_trainer(db_url, &[]).await;
    let mut ca = a.client().await?;
    let mut cb = b.client().await?;
    ca.ingest_bars(pb::IngestBarsRequest { symbol: "XCAN".into(), bars: bars(4, 300), csv: String::new(), ..Default::default() })
        .await?;
    let mut running = ca.train(train("XCAN", 1000)).await?.into_inner();
    let running_id = until_first_epoch(&mut running).await;
    let mut queued = ca.train(train("XCAN", 2)).await?.into_inner();
    let queued_id = loop {
        let ev = queued.message().await?.expect("event");
        if matches!(ev.event, Some(Event::Queued(_))) {
            break ev.run_id;
        }
    };

    // The queued run first: it must stop while the running run still holds the lease, so its
    // own queue poll (not a later lease acquisition) is what picks the request up.
    for (what, id, stream) in [("queued", &queued_id, &mut queued), ("running", &running_id, &mut running)] {
        let c = cb.cancel_run(pb::CancelRunRequest { run_id: id.clone() }).await?.into_inner();
        assert_eq!(c.status, "cancelling", "{c:?}");
        let asked = Instant::now();
        let (last, status) = drain(stream).await;
        assert!(!matches!(last, Some(Event::Completed(_))), "the {what} run completed after CancelRun");
        let cancelled = matches!(&last, Some(Event::Failed(f)) if f.code == "CANCELLED")
            || status.as_ref().is_some_and(|s| s.code() == Code::Cancelled);
        assert!(cancelled, "the {what} run did not end cancelled: {last:?} {status:?}");
        // Within one renewal period or queue poll (1 s / 0.5 s here) plus a batch; the bound is a
        // liveness guard, ~20x the usual ~1 s (issue 30).
        assert!(asked.elapsed() < Duration::from_secs(20), "the {what} run ended {:?} after CancelRun", asked.elapsed());
        if what == "queued" {
            let still = run_record(&mut cb, &running_id).await?;
            assert_eq!(still.status, "running", "the running run ended with the queued one: {still:?}");
        }
    }
    for id in [&queued_id, &running_id] {
        let run = run_record(&mut cb, id).await?;
        assert_eq!(run.status, "cancelled", "{run:?}");
    }
    trains_without_queueing(&mut cb, "XCAN", "a cancelled run").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_run_reaches_the_replica_that_runs_it_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    cancel_on_another_replica_scenario(&format!("sqlite://{}/registry.db", dir.path().display())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_run_reaches_the_replica_that_runs_it_postgres() -> anyhow::Result<()> {
    let Some(url) = postgres_db("trainer_faults", "no PostgreSQL variant").await else { return Ok(()) };
    cancel_on_another_replica_scenario(&url).await
}

/// SIGTERM mid-run: the Train stream ends UNAVAILABLE (retryable), the run is recorded
/// cancelled. Also: an AUTH_TOKEN with a trailing newline (a Secret file) accepts its token,
/// and a request with invalid UTF-8 in a string field is INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_token_newline_and_undecodable_requests() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}/registry.db", dir.path().display());
    let t = start_trainer(&db, &[("AUTH_TOKEN", "s3cret\n")]).await;
    let mut c = t.client().await?;
    c.ingest_bars(authed(pb::IngestBarsRequest { symbol: "TERM".into(), bars: bars(4, 300), csv: String::new(), ..Default::default() }))
        .await?;

    // Invalid UTF-8 in `symbol` (field 1 of ListVersionsRequest).
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawListVersions {
        #[prost(bytes = "vec", tag = "1")]
        symbol: Vec<u8>,
    }
    let mut grpc = tonic::client::Grpc::new(t.channel().await?);
    grpc.ready().await?;
    let e = grpc
        .unary::<_, pb::ListVersionsResponse, _>(
            tonic::Request::new(RawListVersions { symbol: vec![b'A', 0xff, 0xfe] }),
            "/lstm.v1.Trainer/ListVersions".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("UTF-8"), "{e:?}");

    let mut stream = c.train(authed(train("TERM", 1000))).await?.into_inner();
    let run_id = until_first_epoch(&mut stream).await;
    t.signal("-TERM");
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.message()).await? {
            Ok(Some(_)) => continue,
            Ok(None) => break None,
            Err(s) => break Some(s),
        }
    };
    let end = end.expect("a final status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    drop(t);
    let reg = common::registry::Registry::connect(&db).await?;
    assert_eq!(reg.runs(None, Some(&run_id), 1).await?[0].status.as_str(), "cancelled");
    Ok(())
}

/// Health tells the truth: NOT_SERVING for `lstm.v1.Trainer` while the registry (PostgreSQL
/// behind a proxy that is stopped) cannot be written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_not_serving_while_the_registry_cannot_be_written() -> anyhow::Result<()> {
    let Some(url) = postgres_db("trainer_faults", "no PostgreSQL variant").await else { return Ok(()) };
    let rest = url.rsplit_once('/').map(|(_, db)| db.to_string()).unwrap();
    let target = server_addr(&url).await;
    let (addr, stop) = tcp_proxy("127.0.0.1:0".parse()?, target).await;
    let user = url.split_once("://").unwrap().1.split_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    let proxied = format!("postgres://{user}{addr}/{rest}");
    let t = start_trainer(&proxied, &[]).await;
    assert_eq!(t.serving().await?, ServingStatus::Serving);
    stop.cancel();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if t.serving().await? == ServingStatus::NotServing {
            break;
        }
        assert!(Instant::now() < deadline, "health stayed SERVING with the registry gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped; `None` (with a
/// NOTICE) where this process may not mount (not root, no mount namespace).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            common::test_skip::notice("cannot mount a tmpfs here (needs root) for the full-disk test");
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Writes a filler file until the disk refuses more (ENOSPC).
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 512] {
            let block = vec![7u8; chunk];
            while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The disk under a SQLite registry fills while a run trains: the run fails with
/// RESOURCE_EXHAUSTED saying the storage is full (not INTERNAL), no version of it exists, the
/// database passes `PRAGMA integrity_check`; once space is freed the run is recorded as ended
/// (its end retried, or closed as abandoned), health is SERVING, and the symbol's lease is free
/// for a new Train without queueing behind the failed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_mid_run_fails_cleanly_and_frees_the_lease() -> anyhow::Result<()> {
    let Some(disk) = SmallDisk::mount("24m") else { return Ok(()) };
    let db_path = disk.dir.path().join("registry.db");
    let db = format!("sqlite://{}", db_path.display());
    let t = start_trainer(&db, &[("REGISTRY_MIN_FREE_MB", "1")]).await;
    let mut c = t.client().await?;
    c.ingest_bars(pb::IngestBarsRequest { symbol: "FULL".into(), bars: bars(5, 300), csv: String::new(), ..Default::default() })
        .await?;
    assert_eq!(t.serving().await?, ServingStatus::Serving);
    let mut stream = c.train(train("FULL", 40)).await?.into_inner();
    let run_id = until_first_epoch(&mut stream).await;
    let filler = disk.fill();
    t.until_status(ServingStatus::NotServing, "with the registry's disk full").await?;

    let (mut failed, mut status) = (None, None);
    loop {
        match tokio::time::timeout(Duration::from_secs(120), stream.message()).await? {
            Ok(Some(ev)) => {
                assert!(!matches!(ev.event, Some(Event::Completed(_))), "a run completed on a full disk: {ev:?}");
                if let Some(Event::Failed(f)) = ev.event {
                    failed = Some(f);
                }
            }
            Ok(None) => break,
            Err(s) => {
                status = Some(s);
                break;
            }
        }
    }
    let (code, message) = match (failed, status) {
        (Some(f), _) => (f.code, f.message),
        (None, Some(s)) => (metrics_code(s.code()), s.message().to_string()),
        (None, None) => panic!("the stream ended without a terminal event or status"),
    };
    assert_eq!(code, "RESOURCE_EXHAUSTED", "{message}");
    assert!(message.contains("storage is full") && message.contains("free space"), "{message}");

    std::fs::remove_file(filler)?;
    // The end of the run is on record within about one lease ttl of the space coming back.
    let reg = common::registry::Registry::connect(&db).await?;
    let deadline = Instant::now() + Duration::from_secs(TTL_SECONDS + 15);
    let ended = loop {
        let run = reg.runs(None, Some(&run_id), 1).await?.remove(0);
        if !matches!(run.status.as_str(), "running" | "queued") {
            break run;
        }
        assert!(Instant::now() < deadline, "run still {} after the disk was freed", run.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(matches!(ended.status.as_str(), "failed" | "abandoned"), "{ended:?}");
    let versions = c.list_versions(pb::ListVersionsRequest { symbol: "FULL".into(), years: None }).await?.into_inner();
    assert!(versions.versions.is_empty(), "a version of a run that failed on a full disk: {versions:?}");
    let integrity: (String,) = {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&db).await?;
        sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut conn).await?
    };
    assert_eq!(integrity.0, "ok");

    t.until_status(ServingStatus::Serving, "after the disk was freed").await?;
    trains_without_queueing(&mut c, "FULL", "the failed run").await?;
    drop(t);
    Ok(())
}

/// An ext4 filesystem in an image file on a loop device, mounted `errors=remount-ro` on a fresh
/// directory — the default reaction of a real volume to a filesystem error; unmounted and
/// detached when dropped. `None` (with a NOTICE) where loop devices or mounts are not allowed.
struct LoopExt4 {
    image: tempfile::TempDir,
    dir: tempfile::TempDir,
    dev: String,
}

impl LoopExt4 {
    fn mount(size_bytes: u64) -> Option<LoopExt4> {
        let (image, dir) = (tempfile::tempdir().ok()?, tempfile::tempdir().ok()?);
        let file = image.path().join("fs.img");
        std::fs::File::create(&file).and_then(|f| f.set_len(size_bytes)).ok()?;
        let quiet = |cmd: &mut Command| cmd.stderr(Stdio::null()).output().ok().filter(|o| o.status.success());
        let notice = |what: &str| {
            common::test_skip::notice(format_args!("{what} (needs root, loop devices and e2fsprogs) for the read-only filesystem test"));
            None
        };
        if quiet(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&file)).is_none() {
            return notice("cannot make an ext4 image");
        }
        let Some(out) = quiet(Command::new("losetup").args(["-f", "--show"]).arg(&file)) else {
            return notice("cannot attach a loop device");
        };
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mounted = quiet(Command::new("mount").args(["-o", "errors=remount-ro", &dev]).arg(dir.path()));
        let disk = LoopExt4 { image, dir, dev };
        if mounted.is_none() {
            return notice("cannot mount the loop device");
        }
        Some(disk)
    }

    /// Reports a filesystem error to ext4 (`/sys/fs/ext4/DEV/trigger_fs_error`, the kernel's
    /// own fault-injection hook); with `errors=remount-ro` every later write gets EROFS while
    /// open files stay open. `false` where the hook is missing.
    fn fail(&self) -> bool {
        let name = self.dev.trim_start_matches("/dev/");
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "fault test").is_ok()
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = &self.image;
    }
}

/// The filesystem under a SQLite registry turns read-only after an error, with the trainer's
/// database files open: health turns NOT_SERVING, writes (IngestBars, Train) fail UNAVAILABLE
/// saying the disk refused them instead of INTERNAL or a hang, the process keeps answering, and
/// what was written before is intact (`PRAGMA integrity_check` on a copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_filesystem_turns_health_not_serving() -> anyhow::Result<()> {
    let Some(disk) = LoopExt4::mount(64 << 20) else { return Ok(()) };
    let db_path = disk.dir.path().join("registry.db");
    let t = start_trainer(&format!("sqlite://{}", db_path.display()), &[("REGISTRY_MIN_FREE_MB", "1")]).await;
    let mut c = t.client().await?;
    let rows = bars(6, 300);
    let ingest = |symbol: &str| pb::IngestBarsRequest { symbol: symbol.into(), bars: rows.clone(), csv: String::new(), ..Default::default() };
    c.ingest_bars(ingest("RO")).await?;
    t.until_status(ServingStatus::Serving, "on a writable disk").await?;
    if !disk.fail() {
        common::test_skip::notice("no ext4 trigger_fs_error hook here for the read-only filesystem test");
        return Ok(());
    }
    t.until_status(ServingStatus::NotServing, "with the registry's filesystem read-only").await?;

    let refused = c.ingest_bars(ingest("RO2")).await.expect_err("an ingest succeeded on a read-only disk");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("refused the write"), "{}", refused.message());
    let started = Instant::now();
    let train_refused = match c.train(train("RO", 2)).await {
        Err(s) => s,
        Ok(stream) => {
            let (last, status) = drain(&mut stream.into_inner()).await;
            assert!(!matches!(last, Some(Event::Completed(_))), "a run completed on a read-only disk");
            status.expect("the Train stream ended without a status")
        }
    };
    assert_eq!(train_refused.code(), Code::Unavailable, "{train_refused:?}");
    // A liveness guard: the refusal comes from the first write (~1 s), not from a retry loop.
    assert!(started.elapsed() < Duration::from_secs(30), "Train took {:?} to refuse", started.elapsed());
    assert_eq!(t.serving().await?, ServingStatus::NotServing);

    // What was written before the fault is intact: a copy of the files checks clean and holds
    // the bars ingested while the disk was writable.
    let copy = tempfile::tempdir()?;
    for suffix in ["", "-wal"] {
        let from = disk.dir.path().join(format!("registry.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, copy.path().join(format!("registry.db{suffix}")))?;
        }
    }
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}/registry.db", copy.path().display())).await?;
    let integrity: (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut conn).await?;
    assert_eq!(integrity.0, "ok");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bars WHERE symbol = 'RO'").fetch_one(&mut conn).await?;
    assert_eq!(n as usize, rows.len());
    drop(t);
    Ok(())
}

fn metrics_code(code: Code) -> String {
    trainer_svc::metrics::code_name(code).to_string()
}
