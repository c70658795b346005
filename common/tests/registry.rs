//! Registry conformance suite: the same tests against SQLite (always), PostgreSQL
//! (`TEST_POSTGRES_URL`) and MySQL/MariaDB (`TEST_MYSQL_URL`). Each test gets its own database.
//!
//! `TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!  TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test cargo test -p common --test registry`
mod registry_support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use common::data::Bar;
use common::registry::{
    LeaseAttempt, NewPrediction, NewRun, NewVersion, Promotion, Registry, RunStatus,
};
use common::Error;
use registry_support::TestDb;

// ---------------------------------------------------------------------------------------------
// helpers

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `n` weekday bars from `start`, closes `100 + i`.
fn bars_from(start: &str, n: usize) -> Vec<Bar> {
    let mut out = Vec::with_capacity(n);
    let mut day = d(start);
    while out.len() < n {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let c = 100.0 + out.len() as f64;
            out.push(Bar {
                date: day,
                open: c - 0.5,
                high: c + 1.0,
                low: c - 1.0,
                close: c,
                volume: 1000.0 + out.len() as f64,
                amount: if out.len() % 2 == 0 {
                    Some(c * 1000.0)
                } else {
                    None
                },
            });
        }
        day = day.succ_opt().unwrap();
    }
    out
}

fn new_version(id: &str, symbol: &str, years: u32, weights: Vec<u8>) -> NewVersion {
    let mut metrics = BTreeMap::new();
    metrics.insert("f1".to_string(), 0.61);
    metrics.insert("mse".to_string(), 0.000_42);
    NewVersion {
        version_id: id.to_string(),
        symbol: symbol.to_string(),
        years,
        model_kind: "LSTMDualHeadEnhanced".to_string(),
        data_start: d("2021-01-04"),
        data_end: d("2026-11-20"),
        training_seconds: 12.5,
        metadata_json: r#"{"hidden":128,"norm":{"mean":[0.1],"std":[1.0]}}"#.to_string(),
        metrics,
        weights,
        note: format!("note of {id}"),
        pool_symbols: Vec::new(),
    }
}

fn promo(actor: &str, reason: &str) -> Option<Promotion> {
    Some(Promotion {
        actor: actor.into(),
        reason: reason.into(),
    })
}

fn ids(v: &[common::registry::VersionInfo]) -> Vec<String> {
    v.iter().map(|i| i.version_id.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// the conformance tests (each runs on every backend)

async fn bars_upsert_update_and_range(db: &TestDb) {
    let reg = &db.reg;
    let bars = bars_from("2026-01-05", 30);
    let s = reg.upsert_bars("AAPL", &bars).await.unwrap();
    assert_eq!((s.inserted, s.updated, s.total), (30, 0, 30));

    // Overlap: last 10 re-sent with a new close, 5 new days appended.
    let mut more = bars_from("2026-01-05", 35)[20..].to_vec();
    for b in &mut more {
        b.close += 0.25;
        b.amount = Some(7.0);
    }
    let s = reg.upsert_bars("AAPL", &more).await.unwrap();
    assert_eq!((s.inserted, s.updated, s.total), (5, 10, 35));

    let all = reg.bars("AAPL", None, None).await.unwrap();
    assert_eq!(all.len(), 35);
    assert!(
        all.windows(2).all(|w| w[0].date < w[1].date),
        "ascending dates"
    );
    assert_eq!(all[..20], bars[..20], "untouched bars round-trip exactly");
    assert_eq!(all[20].close, bars[20].close + 0.25, "updated in place");
    assert_eq!(all[21].amount, Some(7.0));
    assert_eq!(all[1].amount, None, "NULL amount round-trips");

    // Inclusive range on both ends.
    let (from, to) = (all[3].date, all[7].date);
    let r = reg.bars("AAPL", Some(from), Some(to)).await.unwrap();
    assert_eq!(r.len(), 5);
    assert_eq!((r[0].date, r[4].date), (from, to));
    assert_eq!(
        reg.bars("AAPL", Some(all[33].date), None)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        reg.bars("AAPL", None, Some(all[1].date))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(reg.bars("MSFT", None, None).await.unwrap().is_empty());

    reg.upsert_bars("600519.SH", &bars_from("2026-02-02", 3))
        .await
        .unwrap();
    reg.upsert_bars("MSFT", &bars_from("2026-02-02", 3))
        .await
        .unwrap();
    assert_eq!(
        reg.symbols().await.unwrap(),
        vec!["600519.SH", "AAPL", "MSFT"]
    );
    // Empty input is a no-op that still reports the total.
    let s = reg.upsert_bars("MSFT", &[]).await.unwrap();
    assert_eq!((s.inserted, s.updated, s.total), (0, 0, 3));
}

async fn bars_invalid_input_stores_nothing(db: &TestDb) {
    let reg = &db.reg;
    let mut bars = bars_from("2026-03-02", 10);
    bars[7].close = f64::NAN;
    let err = reg.upsert_bars("TSLA", &bars).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains(&bars[7].date.to_string()), "{err}");
    let mut dup = bars_from("2026-03-02", 4);
    dup[3].date = dup[2].date;
    let err = reg.upsert_bars("TSLA", &dup).await.unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
    let err = reg
        .upsert_bars("", &bars_from("2026-03-02", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(reg.bars("TSLA", None, None).await.unwrap().is_empty());
    assert!(reg.symbols().await.unwrap().is_empty());
}

async fn versions_save_get_list_current(db: &TestDb) {
    let reg = db.reg.clone().with_max_versions(5);
    let weights: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let c0 = reg.change_counter().await.unwrap();
    assert!(reg.current_version("AAPL", 5).await.unwrap().is_none());

    let info = reg
        .save_version(new_version("v1", "AAPL", 5, weights.clone()), None)
        .await
        .unwrap();
    assert!(!info.is_current);
    assert_eq!(info.weights_bytes, 50_000);
    assert_eq!(info.weights_sha256.len(), 64);
    assert_eq!(
        reg.change_counter().await.unwrap(),
        c0,
        "saving without promotion changes no pointer"
    );

    let info2 = reg
        .save_version(
            new_version("v2", "AAPL", 5, vec![2; 10]),
            promo("trainer-svc", "first model"),
        )
        .await
        .unwrap();
    assert!(info2.is_current);
    assert!(reg.change_counter().await.unwrap() > c0);
    reg.save_version(
        new_version("m1", "MSFT", 3, vec![3; 10]),
        promo("trainer-svc", "first"),
    )
    .await
    .unwrap();

    let rec = reg.version("v1").await.unwrap();
    assert_eq!(rec.weights, weights);
    assert_eq!(
        rec.metadata_json,
        new_version("v1", "AAPL", 5, vec![]).metadata_json
    );
    assert_eq!(rec.info, info);
    assert_eq!(rec.info.metrics.get("f1"), Some(&0.61));
    assert_eq!(rec.info.data_start, d("2021-01-04"));
    assert_eq!(rec.info.note, "note of v1");
    assert_eq!(rec.info.model_kind, "LSTMDualHeadEnhanced");
    assert!(
        (rec.info.created_at - chrono::Utc::now())
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(reg.version_info("v2").await.unwrap(), info2);

    let err = reg.version("nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(matches!(
        reg.version_info("nope").await.unwrap_err(),
        Error::NotFound(_)
    ));

    // Newest first, filtered, is_current set.
    assert_eq!(
        ids(&reg.list_versions(None, None).await.unwrap()),
        ["m1", "v2", "v1"]
    );
    let aapl = reg.list_versions(Some("AAPL"), None).await.unwrap();
    assert_eq!(ids(&aapl), ["v2", "v1"]);
    assert_eq!(
        aapl.iter().map(|v| v.is_current).collect::<Vec<_>>(),
        [true, false]
    );
    assert!(reg
        .list_versions(Some("AAPL"), Some(3))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&reg.list_versions(None, Some(3)).await.unwrap()),
        ["m1"]
    );

    assert_eq!(
        reg.current_version("AAPL", 5)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        "v2"
    );
    assert_eq!(
        reg.current_versions().await.unwrap(),
        vec![
            ("AAPL".to_string(), 5, "v2".to_string()),
            ("MSFT".to_string(), 3, "m1".to_string())
        ]
    );

    // Duplicate id: rejected, original untouched.
    let err = reg
        .save_version(new_version("v1", "AAPL", 5, vec![9; 3]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(reg.version("v1").await.unwrap().weights, weights);
    // Bad input.
    let err = reg
        .save_version(new_version("v9", "AAPL", 0, vec![1]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = reg
        .save_version(new_version("v9", "AAPL", 5, vec![]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

async fn retention_keeps_newest_non_current(db: &TestDb) {
    // Default MAX_VERSIONS = 1: the current one plus the newest non-current one.
    let reg = &db.reg;
    assert_eq!(reg.max_versions(), 1);
    reg.save_version(new_version("a1", "AAPL", 5, vec![1]), promo("t", "first"))
        .await
        .unwrap();
    reg.save_version(new_version("a2", "AAPL", 5, vec![2]), None)
        .await
        .unwrap();
    reg.save_version(new_version("a3", "AAPL", 5, vec![3]), None)
        .await
        .unwrap();
    assert_eq!(
        ids(&reg.list_versions(Some("AAPL"), Some(5)).await.unwrap()),
        ["a3", "a1"]
    );
    reg.save_version(new_version("a4", "AAPL", 5, vec![4]), promo("t", "better"))
        .await
        .unwrap();
    let left = reg.list_versions(Some("AAPL"), Some(5)).await.unwrap();
    assert_eq!(
        ids(&left),
        ["a4", "a3"],
        "a1 (older than a3) pruned once it stopped being current"
    );
    assert!(left[0].is_current);
    // Other keys untouched by this key's retention.
    reg.save_version(new_version("b1", "AAPL", 3, vec![5]), None)
        .await
        .unwrap();
    reg.save_version(new_version("a5", "AAPL", 5, vec![6]), None)
        .await
        .unwrap();
    assert_eq!(
        ids(&reg.list_versions(Some("AAPL"), Some(3)).await.unwrap()),
        ["b1"]
    );
    assert_eq!(
        ids(&reg.list_versions(Some("AAPL"), Some(5)).await.unwrap()),
        ["a5", "a4"]
    );
    assert!(matches!(
        reg.version("a1").await.unwrap_err(),
        Error::NotFound(_)
    ));

    // Configurable: keep 2.
    let reg2 = reg.clone().with_max_versions(2);
    reg2.save_version(new_version("a6", "AAPL", 5, vec![7]), None)
        .await
        .unwrap();
    reg2.save_version(new_version("a7", "AAPL", 5, vec![8]), None)
        .await
        .unwrap();
    assert_eq!(
        ids(&reg2.list_versions(Some("AAPL"), Some(5)).await.unwrap()),
        ["a7", "a6", "a4"]
    );
}

async fn rollback_history_and_delete(db: &TestDb) {
    let reg = db.reg.clone().with_max_versions(10);
    reg.save_version(
        new_version("r1", "NVDA", 2, vec![1]),
        promo("trainer-svc", "first model"),
    )
    .await
    .unwrap();
    reg.save_version(
        new_version("r2", "NVDA", 2, vec![2]),
        promo("trainer-svc", "f1 gain 0.07"),
    )
    .await
    .unwrap();
    let c = reg.change_counter().await.unwrap();
    let rec = reg
        .set_current("NVDA", 2, "r1", "alice", "rollback: r2 drifts")
        .await
        .unwrap();
    assert_eq!(rec.from_version.as_deref(), Some("r2"));
    assert_eq!(rec.to_version, "r1");
    assert_eq!(reg.change_counter().await.unwrap(), c + 1);
    assert_eq!(
        reg.current_version("NVDA", 2)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        "r1"
    );

    let h = reg.promotion_history("NVDA", 2).await.unwrap();
    let chain: Vec<_> = h
        .iter()
        .map(|p| (p.from_version.clone(), p.to_version.clone()))
        .collect();
    assert_eq!(
        chain,
        vec![
            (None, "r1".to_string()),
            (Some("r1".to_string()), "r2".to_string()),
            (Some("r2".to_string()), "r1".to_string())
        ]
    );
    assert_eq!(h[2].actor, "alice");
    assert_eq!(h[2].reason, "rollback: r2 drifts");
    assert!(h[0].at <= h[2].at);
    assert!(reg.promotion_history("NVDA", 5).await.unwrap().is_empty());

    // Wrong key / unknown version / empty actor: refused, nothing changes.
    reg.save_version(new_version("o1", "AMD", 2, vec![1]), None)
        .await
        .unwrap();
    let err = reg
        .set_current("NVDA", 2, "o1", "bob", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("AMD/2y"), "{err}");
    let err = reg
        .set_current("NVDA", 2, "ghost", "bob", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let err = reg.set_current("NVDA", 2, "r2", "", "x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(reg.change_counter().await.unwrap(), c + 1);
    assert_eq!(reg.promotion_history("NVDA", 2).await.unwrap().len(), 3);
    assert_eq!(
        reg.current_version("NVDA", 2)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        "r1"
    );

    // Deleting the current version is refused with the documented advice.
    let err = reg.delete_version("r1").await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("version r1 is current for NVDA/2y"), "{msg}");
    assert!(msg.contains("SetCurrentVersion"), "{msg}");
    assert!(reg.version("r1").await.is_ok());
    // Non-current: deleted, counter bumps; unknown: NotFound.
    reg.delete_version("r2").await.unwrap();
    assert_eq!(reg.change_counter().await.unwrap(), c + 2);
    assert!(matches!(
        reg.version_info("r2").await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(matches!(
        reg.delete_version("r2").await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert_eq!(
        reg.promotion_history("NVDA", 2).await.unwrap().len(),
        3,
        "history survives"
    );
}

async fn failed_save_and_promote_leaves_nothing(db: &TestDb) {
    let reg = db.reg.clone().with_max_versions(10);
    reg.save_version(new_version("g1", "GOOG", 1, vec![1]), promo("t", "first"))
        .await
        .unwrap();
    let c = reg.change_counter().await.unwrap();
    reg.__fail_next_promotion_for_test();
    let err = reg
        .save_version(
            new_version("g2", "GOOG", 1, vec![2; 1000]),
            promo("t", "better"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err}");
    assert!(
        matches!(
            reg.version_info("g2").await.unwrap_err(),
            Error::NotFound(_)
        ),
        "no partial version"
    );
    assert_eq!(
        ids(&reg.list_versions(Some("GOOG"), None).await.unwrap()),
        ["g1"]
    );
    assert_eq!(
        reg.current_version("GOOG", 1)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        "g1"
    );
    assert_eq!(reg.promotion_history("GOOG", 1).await.unwrap().len(), 1);
    assert_eq!(reg.change_counter().await.unwrap(), c);
    // The same version saves fine afterwards (its id was not left behind).
    let info = reg
        .save_version(
            new_version("g2", "GOOG", 1, vec![2; 1000]),
            promo("t", "retry"),
        )
        .await
        .unwrap();
    assert!(info.is_current);

    // A promotion to a version that is not stored: refused, nothing written.
    let err = reg
        .set_current("GOOG", 1, "g-missing", "t", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    assert_eq!(
        reg.current_version("GOOG", 1)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        "g2"
    );
}

async fn cancelled_save_is_all_or_nothing(db: &TestDb) {
    // A caller going away mid-save (task aborted at various points) leaves either the whole
    // version with its pointer and history row, or nothing; and the registry keeps working.
    let reg = db.reg.clone();
    for (i, delay_us) in [0u64, 200, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000]
        .into_iter()
        .enumerate()
    {
        let symbol = format!("CAN{i}");
        let id = format!("can-{i}");
        let v = new_version(&id, &symbol, 1, vec![i as u8; 4 * 1024 * 1024]);
        let r = reg.clone();
        let task = tokio::spawn(async move { r.save_version(v, promo("t", "cancel me")).await });
        tokio::time::sleep(Duration::from_micros(delay_us)).await;
        task.abort();
        let _ = task.await;
        // A COMMIT already sent when the task was aborted still lands; wait behind the versions
        // writer lock (a delete of an unknown id takes it) so the outcome is settled before we look.
        let barrier = tokio::time::timeout(
            Duration::from_secs(20),
            reg.delete_version("no-such-version"),
        )
        .await
        .expect("no lock left behind");
        assert!(matches!(barrier, Err(Error::NotFound(_))));
        let current =
            tokio::time::timeout(Duration::from_secs(20), reg.current_version(&symbol, 1))
                .await
                .expect("registry still answers")
                .unwrap();
        let history = reg.promotion_history(&symbol, 1).await.unwrap();
        match reg.version(&id).await {
            Ok(rec) => {
                assert_eq!(rec.weights.len(), 4 * 1024 * 1024);
                assert_eq!(current.map(|c| c.version_id), Some(id.clone()));
                assert_eq!(history.len(), 1);
            }
            Err(Error::NotFound(_)) => {
                assert!(
                    current.is_none(),
                    "no dangling pointer after abort at {delay_us} us"
                );
                assert!(history.is_empty());
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // Writers are not blocked by anything the aborted saves left behind.
    let info = tokio::time::timeout(
        Duration::from_secs(20),
        reg.save_version(
            new_version("after", "CAN0", 1, vec![1]),
            promo("t", "after"),
        ),
    )
    .await
    .expect("no lock left behind")
    .unwrap();
    assert!(info.is_current);
}

async fn corrupt_weights_are_refused(db: &TestDb) {
    let reg = &db.reg;
    let w: Vec<u8> = (0..4096u32).map(|i| (i % 256) as u8).collect();
    reg.save_version(new_version("c1", "IBM", 5, w.clone()), promo("t", "first"))
        .await
        .unwrap();
    assert_eq!(reg.version("c1").await.unwrap().weights, w);
    reg.__corrupt_weights_for_test("c1").await.unwrap();
    let err = reg.version("c1").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("sha256 mismatch"), "{err}");
    // Metadata is still readable (for listing / diagnosis).
    assert_eq!(reg.version_info("c1").await.unwrap().weights_bytes, 4096);
}

async fn large_weights_round_trip(db: &TestDb) {
    let reg = &db.reg;
    let w: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let info = reg
        .save_version(new_version("big", "BIG", 10, w.clone()), promo("t", "big"))
        .await
        .unwrap();
    assert_eq!(info.weights_bytes, w.len() as u64);
    let rec = reg.version("big").await.unwrap();
    assert!(rec.weights == w, "10 MiB of weights round-trip");
}

async fn runs_events_and_plots(db: &TestDb) {
    let reg = &db.reg;
    let run = |id: &str, sym: &str| NewRun {
        run_id: id.into(),
        symbol: sym.into(),
        years: 5,
        mode: "full".into(),
        config_json: r#"{"epochs":60}"#.into(),
        requested_by: "tester".into(),
    };
    reg.create_run(run("run-1", "AAPL")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    reg.create_run(run("run-2", "MSFT")).await.unwrap();
    let err = reg.create_run(run("run-1", "AAPL")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    let r = &reg.runs(None, Some("run-1"), 10).await.unwrap()[0];
    assert_eq!(r.status, RunStatus::Queued);
    assert_eq!(
        (r.finished_at, r.duration_seconds, r.version_id.clone()),
        (None, None, None)
    );
    assert_eq!(r.config_json, r#"{"epochs":60}"#);

    reg.set_run_status("run-1", RunStatus::Running)
        .await
        .unwrap();
    reg.set_run_status("run-1", RunStatus::Running)
        .await
        .unwrap(); // idempotent
    assert!(matches!(
        reg.set_run_status("ghost", RunStatus::Running)
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));

    for seq in 1..=5u64 {
        reg.append_run_event("run-1", seq, &format!(r#"{{"epoch":{seq}}}"#))
            .await
            .unwrap();
    }
    let err = reg.append_run_event("run-1", 3, "{}").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = reg.append_run_event("ghost", 1, "{}").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let ev = reg.run_events("run-1", None).await.unwrap();
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[0], (1, r#"{"epoch":1}"#.to_string()));
    let after: Vec<u64> = reg
        .run_events("run-1", Some(3))
        .await
        .unwrap()
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(after, [4, 5]);

    let png = [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3];
    reg.save_plot("run-1", "training_curves", &png)
        .await
        .unwrap();
    reg.save_plot("run-1", "holdout", &png[..4]).await.unwrap();
    reg.save_plot("run-1", "holdout", &png[..6]).await.unwrap(); // replaces
    assert_eq!(reg.plot("run-1", "training_curves").await.unwrap(), png);
    assert_eq!(reg.plot("run-1", "holdout").await.unwrap(), &png[..6]);
    assert_eq!(
        reg.plot_names("run-1").await.unwrap(),
        vec![
            ("holdout".to_string(), 6),
            ("training_curves".to_string(), 8)
        ]
    );
    assert!(matches!(
        reg.plot("run-1", "nope").await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(matches!(
        reg.save_plot("ghost", "x", &png).await.unwrap_err(),
        Error::NotFound(_)
    ));

    tokio::time::sleep(Duration::from_millis(20)).await;
    reg.finish_run("run-1", RunStatus::Succeeded, Some("v-123"), None)
        .await
        .unwrap();
    reg.finish_run("run-2", RunStatus::Failed, None, Some("insufficient data"))
        .await
        .unwrap();
    assert!(matches!(
        reg.finish_run("run-1", RunStatus::Running, None, None)
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        reg.finish_run("ghost", RunStatus::Failed, None, None)
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));

    let all = reg.runs(None, None, 0).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["run-2", "run-1"]
    );
    let r1 = &reg.runs(Some("AAPL"), None, 10).await.unwrap()[0];
    assert_eq!(r1.status, RunStatus::Succeeded);
    assert_eq!(r1.version_id.as_deref(), Some("v-123"));
    assert!(
        r1.duration_seconds.unwrap() >= 0.02,
        "{:?}",
        r1.duration_seconds
    );
    assert!(r1.finished_at.unwrap() >= r1.started_at);
    let r2 = &reg.runs(Some("MSFT"), None, 10).await.unwrap()[0];
    assert_eq!(
        (r2.status, r2.error.as_deref()),
        (RunStatus::Failed, Some("insufficient data"))
    );
    assert_eq!(reg.runs(None, None, 1).await.unwrap().len(), 1);
}

async fn failures_are_listed_newest_first(db: &TestDb) {
    let reg = &db.reg;
    reg.record_failure("AAPL", 5, Some("run-9"), "nan loss at epoch 3")
        .await
        .unwrap();
    reg.record_failure(
        "MSFT",
        3,
        None,
        "insufficient data: need at least 65 trading days, got 40",
    )
    .await
    .unwrap();
    reg.record_failure("AAPL", 1, None, "cancelled")
        .await
        .unwrap();
    let all = reg.failures(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|f| f.error.as_str()).collect::<Vec<_>>()[0],
        "cancelled"
    );
    assert_eq!(all.len(), 3);
    let aapl = reg.failures(Some("AAPL"), 10).await.unwrap();
    assert_eq!(aapl.len(), 2);
    assert_eq!(aapl[1].run_id.as_deref(), Some("run-9"));
    assert_eq!(aapl[1].years, 5);
    assert_eq!(reg.failures(None, 1).await.unwrap().len(), 1);
}

async fn predictions_resolve_when_bars_arrive(db: &TestDb) {
    let reg = &db.reg;
    let bars = bars_from("2026-06-01", 40); // closes 100, 101, ...
    reg.upsert_bars("QQQ", &bars[..20]).await.unwrap();
    let p = |as_of: NaiveDate, pred: f64, years: u32| NewPrediction {
        entry_id: NewPrediction::new_entry_id(),
        symbol: "QQQ".into(),
        years,
        version_id: "q1".into(),
        as_of,
        predicted_cumulative_return: pred,
        prob_up: 0.6,
        magnitudes: vec![pred / 5.0; 5],
        inline_bars: false,
        interval_80: Some((pred - 0.03, pred + 0.03)),
        interval_95: None,
    };
    // as_of = bar 10 (close 110) -> resolves with bar 15 (close 115): realised 5/110.
    reg.record_prediction(p(bars[10].date, 0.01, 5))
        .await
        .unwrap();
    // as_of = bar 17: needs bar 22, not there yet. Written twice with one entry id (a retry
    // after a write that timed out but reached the database): stored once.
    let retried = p(bars[17].date, 0.02, 5);
    reg.record_prediction(retried.clone()).await.unwrap();
    reg.record_prediction(retried).await.unwrap();
    // as_of on a Saturday uses Friday's bar 14 as base (close 114 -> bar 19 close 119).
    let weekend = bars[14].date.succ_opt().unwrap();
    assert_eq!(weekend.weekday(), Weekday::Sat);
    reg.record_prediction(p(weekend, -0.01, 3)).await.unwrap();
    assert!(reg
        .record_prediction(p(bars[1].date, f64::NAN, 5))
        .await
        .is_err());

    assert_eq!(reg.resolve_predictions("QQQ").await.unwrap(), 2);
    assert_eq!(
        reg.resolve_predictions("QQQ").await.unwrap(),
        0,
        "resolved once"
    );
    let errs = reg.resolved_errors("QQQ", None).await.unwrap();
    assert_eq!(errs.len(), 2);
    assert!(
        (errs[0] - (0.01 - 5.0 / 110.0f64).abs()).abs() < 1e-12,
        "{errs:?}"
    );
    assert!(
        (errs[1] - (-0.01 - 5.0 / 114.0f64).abs()).abs() < 1e-12,
        "{errs:?}"
    );
    assert_eq!(reg.resolved_errors("QQQ", Some(3)).await.unwrap().len(), 1);

    // upsert_bars resolves what the new bars complete.
    reg.upsert_bars("QQQ", &bars[20..25]).await.unwrap();
    let errs = reg.resolved_errors("QQQ", Some(5)).await.unwrap();
    assert_eq!(errs.len(), 2);
    assert!(
        (errs[1] - (0.02 - 5.0 / 117.0f64).abs()).abs() < 1e-12,
        "{errs:?}"
    );
    assert!(reg.resolved_errors("ZZZ", None).await.unwrap().is_empty());

    // What live scoring reads: every answer of the key, in log order, with its intervals and
    // whether it came from inline bars.
    let inline = NewPrediction { inline_bars: true, interval_80: None, ..p(bars[18].date, 0.5, 5) };
    reg.record_prediction(inline).await.unwrap();
    let log = reg.logged_forecasts("QQQ", 5, None).await.unwrap();
    let seen: Vec<(NaiveDate, bool, Option<(f64, f64)>)> = log.iter().map(|f| (f.as_of, f.inline_bars, f.interval_80)).collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, bars[10].date);
    let (lo, hi) = seen[0].2.unwrap();
    assert!((lo - (0.01 - 0.03)).abs() < 1e-12 && (hi - 0.04).abs() < 1e-12);
    assert_eq!((seen[2].1, seen[2].2), (true, None));
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(log[0].interval_95, None);
    assert!(reg.logged_forecasts("QQQ", 5, Some("other")).await.unwrap().is_empty());
    assert!(reg.record_prediction(NewPrediction { interval_95: Some((f64::NAN, 1.0)), ..p(bars[2].date, 0.0, 5) }).await.is_err());
    // Retention: by when an answer was served; answers served after the cut are kept.
    let now = chrono::Utc::now();
    assert_eq!(reg.prune_predictions(now - chrono::Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(reg.prune_predictions(now + chrono::Duration::seconds(5)).await.unwrap(), 4);
    assert!(reg.logged_forecasts("QQQ", 5, None).await.unwrap().is_empty());
}

/// The `live_quality` trigger (SPEC §14.2) on what the registry holds: a serving version whose
/// scored forecasts are worse than its base rate fires it, a better one does not, and too few
/// scored days never do.
async fn live_quality_trigger_reads_the_log(db: &TestDb) {
    use common::triggers::{check_triggers, LiveRule, TriggerKind};
    let reg = &db.reg;
    let bars = bars_from("2026-03-02", 60); // closes rise every day: every outcome is up
    reg.upsert_bars("LIVE", &bars).await.unwrap();
    let bars = &bars;
    let log = |version: &'static str, years: u32, prob_up: f64, days: std::ops::Range<usize>| {
        days.map(move |i| NewPrediction {
            entry_id: NewPrediction::new_entry_id(),
            symbol: "LIVE".into(),
            years,
            version_id: version.into(),
            as_of: bars[i].date,
            predicted_cumulative_return: 0.0,
            prob_up,
            magnitudes: vec![0.0; 5],
            inline_bars: false,
            interval_80: None,
            interval_95: None,
        })
    };
    let with_base = |id: &str, years: u32| {
        let mut v = new_version(id, "LIVE", years, vec![1; 8]);
        v.metrics.insert("base_rate".into(), 0.6);
        v
    };
    reg.save_version(with_base("live-bad", 1), promo("t", "r")).await.unwrap();
    reg.save_version(with_base("live-good", 2), promo("t", "r")).await.unwrap();
    // 30 days each, 25 scored (the last 5 wait for their outcome). Brier (0.2-1)^2 = 0.64 is
    // worse than the base rate's (0.6-1)^2 = 0.16; 0.9 gives 0.01, better.
    for p in log("live-bad", 1, 0.2, 30..60).chain(log("live-good", 2, 0.9, 30..60)) {
        reg.record_prediction(p).await.unwrap();
    }
    let cal = common::calendar::TradingCalendar::default();
    let thursday = d("2026-11-19");
    let rule = LiveRule::default();
    let bad = check_triggers(reg, &cal, "LIVE", thursday, Some(1), &rule).await.unwrap();
    let live = bad.live.clone().unwrap();
    assert!(bad.live_quality && live.fires, "{live:?}");
    assert_eq!((live.n_scored, bad.selected), (25, Some(TriggerKind::LiveQuality)));
    assert!((live.brier_skill.unwrap() - (1.0 - 0.64 / 0.16)).abs() < 1e-9, "{live:?}");
    assert!(live.reason.contains("live-bad") && live.reason.contains("25 scored days"), "{}", live.reason);
    let good = check_triggers(reg, &cal, "LIVE", thursday, Some(2), &rule).await.unwrap();
    assert!(!good.live_quality && good.selected.is_none(), "{good:?}");
    assert!(good.live.unwrap().brier_skill.unwrap() > 0.9);
    // Without years: the symbol's current version that fires wins.
    assert!(check_triggers(reg, &cal, "LIVE", thursday, None, &rule).await.unwrap().live_quality);
    // The threshold is configurable: 30 scored days needed, 25 are too few.
    let strict = LiveRule { min_scored: 30, ..rule };
    assert!(!check_triggers(reg, &cal, "LIVE", thursday, Some(1), &strict).await.unwrap().live_quality);
}

async fn concurrent_promotions_stay_consistent(db: &TestDb) {
    let a = db.reg.clone().with_max_versions(10);
    let b = db.reconnect().await.with_max_versions(10);
    a.save_version(new_version("p1", "SPY", 5, vec![1]), None)
        .await
        .unwrap();
    a.save_version(new_version("p2", "SPY", 5, vec![2]), None)
        .await
        .unwrap();
    let c0 = a.change_counter().await.unwrap();
    const ROUNDS: usize = 8;
    let ta = tokio::spawn(async move {
        for i in 0..ROUNDS {
            a.set_current("SPY", 5, "p1", "writer-a", &format!("a{i}"))
                .await
                .unwrap();
        }
    });
    let tb = tokio::spawn(async move {
        for i in 0..ROUNDS {
            b.set_current("SPY", 5, "p2", "writer-b", &format!("b{i}"))
                .await
                .unwrap();
        }
    });
    ta.await.unwrap();
    tb.await.unwrap();
    let reg = &db.reg;
    let h = reg.promotion_history("SPY", 5).await.unwrap();
    assert_eq!(h.len(), 2 * ROUNDS, "every promotion is in the history");
    assert_eq!(h.iter().filter(|p| p.actor == "writer-a").count(), ROUNDS);
    assert_eq!(h[0].from_version, None);
    for w in h.windows(2) {
        assert_eq!(
            w[1].from_version.as_deref(),
            Some(w[0].to_version.as_str()),
            "serial chain: {h:?}"
        );
    }
    let cur = reg.current_versions().await.unwrap();
    assert_eq!(cur.len(), 1, "one current pointer for the key");
    assert_eq!(cur[0].2, h.last().unwrap().to_version);
    let listed = reg.list_versions(Some("SPY"), Some(5)).await.unwrap();
    assert_eq!(listed.iter().filter(|v| v.is_current).count(), 1);
    assert_eq!(reg.change_counter().await.unwrap(), c0 + 2 * ROUNDS as i64);
}

async fn change_counter_poller_sees_every_promotion(db: &TestDb) {
    let writer = db.reg.clone().with_max_versions(10);
    let reader = db.reconnect().await;
    writer
        .save_version(new_version("k1", "DIA", 1, vec![1]), None)
        .await
        .unwrap();
    writer
        .save_version(new_version("k2", "DIA", 1, vec![2]), None)
        .await
        .unwrap();
    let start = reader.change_counter().await.unwrap();
    let (tx, mut rx) = tokio::sync::watch::channel(start);
    let poll = tokio::spawn(async move {
        let mut seen = vec![];
        let mut last = start;
        while seen.len() < 10 {
            let c = reader.change_counter().await.unwrap();
            assert!(c >= last, "counter never goes back");
            if c > last {
                seen.push(c);
                last = c;
                tx.send(c).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    });
    let mut after = vec![];
    for i in 0..10 {
        let v = if i % 2 == 0 { "k1" } else { "k2" };
        writer
            .set_current("DIA", 1, v, "ops", "flip")
            .await
            .unwrap();
        let c = writer.change_counter().await.unwrap();
        after.push(c);
        // Wait until the poller has noticed this promotion before making the next one.
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|seen| *seen >= c))
            .await
            .expect("poller noticed the promotion within 5 s")
            .unwrap();
    }
    let seen = poll.await.unwrap();
    assert!(
        after.windows(2).all(|w| w[1] > w[0]),
        "strictly increasing per promotion: {after:?}"
    );
    assert_eq!(seen, after, "the poller saw each promotion's counter value");
}

async fn lease_contention_queue_and_expiry(db: &TestDb) {
    let r1 = db.reg.clone();
    let r2 = db.reconnect().await; // another "replica"
    let long = Duration::from_secs(30);
    assert_eq!(
        r1.try_acquire_lease("AAPL", "A", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    assert_eq!(
        r2.try_acquire_lease("AAPL", "B", long).await.unwrap(),
        LeaseAttempt::Waiting {
            position: 1,
            holder: "A".into()
        }
    );
    assert_eq!(
        r2.try_acquire_lease("AAPL", "C", long).await.unwrap(),
        LeaseAttempt::Waiting {
            position: 2,
            holder: "A".into()
        }
    );
    // Polling again keeps the place; the holder re-acquiring just extends.
    assert_eq!(
        r2.try_acquire_lease("AAPL", "B", long).await.unwrap(),
        LeaseAttempt::Waiting {
            position: 1,
            holder: "A".into()
        }
    );
    assert_eq!(
        r1.try_acquire_lease("AAPL", "A", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    // Other symbols are independent.
    assert_eq!(
        r2.try_acquire_lease("MSFT", "B", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    assert!(r1.renew_lease("AAPL", "A", long).await.unwrap());
    assert!(!r1.renew_lease("AAPL", "B", long).await.unwrap());

    // Release hands over in FIFO order: C may not jump B.
    r1.release_lease("AAPL", "A").await.unwrap();
    assert_eq!(
        r2.try_acquire_lease("AAPL", "C", long).await.unwrap(),
        LeaseAttempt::Waiting {
            position: 2,
            holder: "B".into()
        }
    );
    assert_eq!(
        r2.try_acquire_lease("AAPL", "B", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    assert_eq!(
        r2.try_acquire_lease("AAPL", "C", long).await.unwrap(),
        LeaseAttempt::Waiting {
            position: 1,
            holder: "B".into()
        }
    );
    r2.release_lease("AAPL", "B").await.unwrap();
    assert_eq!(
        r1.try_acquire_lease("AAPL", "C", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    r1.release_lease("AAPL", "C").await.unwrap();

    // A holder that dies (never releases) loses the lease after its ttl.
    let short = Duration::from_millis(1000); // generous: CI machines are busy
    assert_eq!(
        r1.try_acquire_lease("TSLA", "dead", short).await.unwrap(),
        LeaseAttempt::Acquired
    );
    assert!(matches!(
        r2.try_acquire_lease("TSLA", "heir", long).await.unwrap(),
        LeaseAttempt::Waiting { position: 1, .. }
    ));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        !r1.renew_lease("TSLA", "dead", short).await.unwrap(),
        "expired lease cannot be renewed"
    );
    assert_eq!(
        r2.try_acquire_lease("TSLA", "heir", long).await.unwrap(),
        LeaseAttempt::Acquired
    );
    assert!(matches!(
        r1.try_acquire_lease("TSLA", "dead", short).await.unwrap(),
        LeaseAttempt::Waiting { position: 1, .. }
    ));
    r1.leave_lease_queue("TSLA", "dead").await.unwrap();

    // Stale queue entries vanish: a waiter that stops polling loses its place.
    assert!(matches!(
        r1.try_acquire_lease("TSLA", "ghost", short).await.unwrap(),
        LeaseAttempt::Waiting { position: 1, .. }
    ));
    assert!(matches!(
        r1.try_acquire_lease("TSLA", "next", long).await.unwrap(),
        LeaseAttempt::Waiting { position: 2, .. }
    ));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(matches!(
        r1.try_acquire_lease("TSLA", "next", long).await.unwrap(),
        LeaseAttempt::Waiting { position: 1, .. }
    ));
    r2.release_lease("TSLA", "heir").await.unwrap();
    assert_eq!(
        r1.try_acquire_lease("TSLA", "next", long).await.unwrap(),
        LeaseAttempt::Acquired
    );

    let err = r1.try_acquire_lease("TSLA", "", long).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
}

/// The fencing token (issue 28.2): a version is stored for a run only while the run holds its
/// symbol's lease; after the lease expired and another run took it, the old holder's write is
/// refused and stores nothing, whatever it was doing meanwhile (paused, partitioned).
async fn a_version_is_stored_only_under_a_held_lease(db: &TestDb) {
    use common::registry::LeaseFence;
    let reg = &db.reg;
    let fence = |holder: &str| LeaseFence { symbol: "FENCE".into(), holder: holder.into() };
    assert_eq!(reg.try_acquire_lease("FENCE", "run-a", Duration::from_millis(300)).await.unwrap(), LeaseAttempt::Acquired);
    reg.save_version_fenced(new_version("fence-a1", "FENCE", 1, vec![1; 8]), promo("t", "r"), Some(&fence("run-a"))).await.unwrap();
    // A is "paused" past its TTL; B takes the symbol over and stores its version.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(reg.try_acquire_lease("FENCE", "run-b", Duration::from_secs(30)).await.unwrap(), LeaseAttempt::Acquired);
    reg.save_version_fenced(new_version("fence-b1", "FENCE", 1, vec![2; 8]), promo("t", "r"), Some(&fence("run-b"))).await.unwrap();
    // A wakes up and tries to store what it trained: refused, nothing written.
    let e = reg.save_version_fenced(new_version("fence-a2", "FENCE", 1, vec![3; 8]), promo("t", "r"), Some(&fence("run-a"))).await.unwrap_err();
    assert!(matches!(e, Error::Aborted(_)), "{e}");
    assert!(e.to_string().contains("run run-b holds it now") && e.to_string().contains("fence-a2 is not stored"), "{e}");
    let ids: Vec<String> = reg.list_versions(Some("FENCE"), None).await.unwrap().into_iter().map(|v| v.version_id).collect();
    assert!(!ids.contains(&"fence-a2".to_string()), "{ids:?}");
    assert_eq!(reg.current_version("FENCE", 1).await.unwrap().unwrap().version_id, "fence-b1");
    // An expired lease nobody took over refuses too: A cannot confirm it still owns the symbol.
    reg.release_lease("FENCE", "run-b").await.unwrap();
    assert_eq!(reg.try_acquire_lease("FENCE", "run-c", Duration::from_millis(100)).await.unwrap(), LeaseAttempt::Acquired);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = reg.save_version_fenced(new_version("fence-c1", "FENCE", 1, vec![4; 8]), None, Some(&fence("run-c"))).await.unwrap_err();
    assert!(e.to_string().contains("nobody holds it now"), "{e}");
}

async fn lease_race_has_one_winner(db: &TestDb) {
    let regs = [db.reg.clone(), db.reconnect().await];
    let mut tasks = vec![];
    for i in 0..8 {
        let reg = regs[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            reg.try_acquire_lease("RACE", &format!("h{i}"), Duration::from_secs(30))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    let mut positions = vec![];
    for t in tasks {
        match t.await.unwrap() {
            LeaseAttempt::Acquired => won += 1,
            LeaseAttempt::Waiting { position, .. } => positions.push(position),
        }
    }
    assert_eq!(
        won, 1,
        "exactly one of 8 simultaneous callers gets the lease"
    );
    positions.sort();
    assert_eq!(
        positions,
        (1..=7).collect::<Vec<u32>>(),
        "distinct queue places"
    );
}

async fn run_cancel_requests_are_idempotent(db: &TestDb) {
    assert!(!db.reg.run_cancel_requested("run-x").await.unwrap());
    db.reg.request_run_cancel("run-x").await.unwrap();
    // A second request (another replica, a retried CancelRun) keeps the first.
    db.reg.request_run_cancel("run-x").await.unwrap();
    assert!(db.reg.run_cancel_requested("run-x").await.unwrap());
    assert!(!db.reg.run_cancel_requested("run-y").await.unwrap());
    let concurrent: Vec<_> = (0..4)
        .map(|_| {
            let reg = db.reg.clone();
            tokio::spawn(async move { reg.request_run_cancel("run-z").await })
        })
        .collect();
    for t in concurrent {
        t.await.unwrap().unwrap();
    }
    assert!(db.reg.run_cancel_requested("run-z").await.unwrap());
    assert!(db.reg.request_run_cancel("").await.is_err());
}

async fn health_probe_is_a_real_write(db: &TestDb) {
    use sqlx::{Connection, Row};
    db.reg.check_writable(0).await.unwrap();
    db.reg.check_writable(0).await.unwrap();
    // Each probe changes the row (an UPDATE that leaves it as it was is skipped by SQLite and
    // InnoDB, so it would pass on a read-only disk).
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let row = sqlx::query("SELECT probes FROM health_probe WHERE id = 1").fetch_one(&mut conn).await.unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2);
}

async fn reopen_keeps_data(db: &TestDb) {
    db.reg
        .upsert_bars("KEEP", &bars_from("2026-01-05", 3))
        .await
        .unwrap();
    db.reg.ping().await.unwrap();
    let again = db.reconnect().await; // migrations already applied: no-op
    assert_eq!(again.bars("KEEP", None, None).await.unwrap().len(), 3);
    again.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// one test per (backend, case)

/// A pooled version (SPEC §14.3) is stored once, with its members; it becomes current for the
/// members the save promotes (the same id for each), is listed under every member, can be
/// rolled back for one member while the others keep it, and is refused for a non-member.
async fn pooled_versions_serve_their_members(db: &TestDb) {
    let reg = &db.reg;
    let single = |id: &str, sym: &str| new_version(id, sym, 1, vec![1; 8]);
    reg.save_version(single("pm-b-old", "PMB"), promo("t", "first")).await.unwrap();
    let mut pooled = new_version("pm-pool", "PMA", 1, vec![7; 16]);
    pooled.pool_symbols = vec!["PMA".into(), "PMB".into(), "PMC".into()];
    let p = |r: &str| Promotion { actor: "t".into(), reason: r.into() };
    let info = reg
        .save_pooled_version(pooled.clone(), vec![("PMA".into(), p("a")), ("PMB".into(), p("b"))], &[])
        .await
        .unwrap();
    assert_eq!(info.pool_symbols, vec!["PMA", "PMB", "PMC"]);
    for sym in ["PMA", "PMB"] {
        let cur = reg.current_version(sym, 1).await.unwrap().unwrap();
        assert_eq!(cur.version_id, "pm-pool", "{sym}");
        assert_eq!(cur.pool_symbols, vec!["PMA", "PMB", "PMC"]);
    }
    assert!(reg.current_version("PMC", 1).await.unwrap().is_none(), "PMC was not promoted");
    let rec = reg.version("pm-pool").await.unwrap();
    assert_eq!(rec.info.pool_symbols.len(), 3);
    assert!(rec.info.is_current);
    // Listed under each member, once, and with its members.
    for sym in ["PMA", "PMB", "PMC"] {
        let listed = reg.list_versions(Some(sym), None).await.unwrap();
        assert_eq!(listed.iter().filter(|v| v.version_id == "pm-pool").count(), 1, "{sym}: {:?}", ids(&listed));
    }
    let all = reg.list_versions(None, None).await.unwrap();
    assert_eq!(all.iter().filter(|v| v.version_id == "pm-pool").count(), 1, "one row though current twice");
    assert_eq!(all.iter().find(|v| v.version_id == "pm-pool").unwrap().pool_symbols.len(), 3);
    // Listed for PMC, the pooled version is not current there (it is for PMA and PMB).
    let for_c = reg.list_versions(Some("PMC"), None).await.unwrap();
    assert!(!for_c.iter().find(|v| v.version_id == "pm-pool").unwrap().is_current);
    let for_b = reg.list_versions(Some("PMB"), None).await.unwrap();
    assert!(for_b.iter().find(|v| v.version_id == "pm-pool").unwrap().is_current);
    assert!(!for_b.iter().find(|v| v.version_id == "pm-b-old").unwrap().is_current);
    // A member may be made current later; a non-member may not.
    reg.set_current("PMC", 1, "pm-pool", "t", "later").await.unwrap();
    let e = reg.set_current("PMZ", 1, "pm-pool", "t", "typo").await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = reg.set_current("PMB", 2, "pm-pool", "t", "wrong years").await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    // Rolling one member back leaves the others on the pooled version.
    reg.set_current("PMB", 1, "pm-b-old", "t", "rollback").await.unwrap();
    assert_eq!(reg.current_version("PMB", 1).await.unwrap().unwrap().version_id, "pm-b-old");
    assert_eq!(reg.current_version("PMA", 1).await.unwrap().unwrap().version_id, "pm-pool");
    assert_eq!(reg.current_version("PMC", 1).await.unwrap().unwrap().version_id, "pm-pool");
    // Still current somewhere: not deletable; once no key uses it, it is.
    assert!(matches!(reg.delete_version("pm-pool").await.unwrap_err(), Error::FailedPrecondition(_)));
    reg.save_version(single("pm-a2", "PMA"), promo("t", "a2")).await.unwrap();
    reg.save_version(single("pm-c2", "PMC"), promo("t", "c2")).await.unwrap();
    reg.delete_version("pm-pool").await.unwrap();
    assert!(reg.list_versions(Some("PMB"), None).await.unwrap().iter().all(|v| v.version_id != "pm-pool"));
    // Bad member lists store nothing.
    let mut bad = new_version("pm-bad", "PMA", 1, vec![1; 8]);
    bad.pool_symbols = vec!["PMB".into(), "PMC".into()];
    assert!(matches!(reg.save_version(bad.clone(), None).await.unwrap_err(), Error::InvalidArgument(_)), "own symbol missing");
    bad.pool_symbols = vec!["PMA".into(), "PMA".into()];
    assert!(matches!(reg.save_version(bad.clone(), None).await.unwrap_err(), Error::InvalidArgument(_)), "repeat");
    let e = reg.save_pooled_version(pooled_with("pm-bad2"), vec![("PMQ".into(), p("x"))], &[]).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(matches!(reg.version_info("pm-bad2").await.unwrap_err(), Error::NotFound(_)));
}

fn pooled_with(id: &str) -> NewVersion {
    let mut v = new_version(id, "PMA", 1, vec![3; 8]);
    v.pool_symbols = vec!["PMA".into(), "PMB".into()];
    v
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
        mod mysql {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = TestDb::mysql().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

conformance!(
    bars_upsert_update_and_range,
    pooled_versions_serve_their_members,
    bars_invalid_input_stores_nothing,
    versions_save_get_list_current,
    retention_keeps_newest_non_current,
    rollback_history_and_delete,
    failed_save_and_promote_leaves_nothing,
    cancelled_save_is_all_or_nothing,
    corrupt_weights_are_refused,
    large_weights_round_trip,
    runs_events_and_plots,
    failures_are_listed_newest_first,
    predictions_resolve_when_bars_arrive,
    live_quality_trigger_reads_the_log,
    concurrent_promotions_stay_consistent,
    change_counter_poller_sees_every_promotion,
    lease_contention_queue_and_expiry,
    lease_race_has_one_winner,
    a_version_is_stored_only_under_a_held_lease,
    run_cancel_requests_are_idempotent,
    health_probe_is_a_real_write,
    reopen_keeps_data,
);

// ---------------------------------------------------------------------------------------------
// connecting

#[tokio::test]
async fn bad_urls_are_invalid_argument() {
    for url in ["redis://localhost/0", "not a url", ""] {
        let err = Registry::connect(url).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{url}: {err}");
        assert!(
            err.to_string().contains("sqlite://"),
            "message says what works: {err}"
        );
    }
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let opts = common::registry::RegistryOptions {
        acquire_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    for url in [
        "postgres://postgres:secret@127.0.0.1:1/x",
        "mysql://root:secret@127.0.0.1:1/x",
    ] {
        let err = Registry::connect_with(url, opts.clone()).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{url}: {err}");
        assert!(
            !err.to_string().contains("secret"),
            "password is not leaked: {err}"
        );
    }
}

#[tokio::test]
async fn sqlite_file_and_parent_dirs_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/registry.db");
    let reg = Registry::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.is_file());
    reg.upsert_bars("X", &bars_from("2026-01-05", 2))
        .await
        .unwrap();
    reg.close().await;
    assert!(matches!(
        reg.ping().await.unwrap_err(),
        Error::Unavailable(_)
    ));
    let reg = Registry::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert_eq!(reg.symbols().await.unwrap(), ["X"]);
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let reg = Registry::connect("sqlite::memory:").await.unwrap();
    reg.upsert_bars("M", &bars_from("2026-01-05", 2))
        .await
        .unwrap();
    assert_eq!(reg.bars("M", None, None).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// timings (not a pass/fail test): cargo test -p common --test registry registry_timings -- --ignored --nocapture

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings; run explicitly"]
async fn registry_timings() {
    use std::time::Instant;
    let mut dbs = vec![TestDb::sqlite().await];
    dbs.extend(TestDb::postgres().await);
    dbs.extend(TestDb::mysql().await);
    for db in &dbs {
        let reg = &db.reg;
        let bars = bars_from("2016-11-21", 2520);
        let t = Instant::now();
        reg.upsert_bars("BENCH", &bars).await.unwrap();
        let insert = t.elapsed();
        let t = Instant::now();
        reg.upsert_bars("BENCH", &bars).await.unwrap();
        let update = t.elapsed();
        let t = Instant::now();
        assert_eq!(reg.bars("BENCH", None, None).await.unwrap().len(), 2520);
        let read = t.elapsed();
        let w = vec![7u8; 10 * 1024 * 1024];
        let t = Instant::now();
        reg.save_version(new_version("bench", "BENCH", 10, w), promo("t", "b"))
            .await
            .unwrap();
        let save = t.elapsed();
        let t = Instant::now();
        reg.version("bench").await.unwrap();
        let load = t.elapsed();
        let t = Instant::now();
        for _ in 0..200 {
            reg.change_counter().await.unwrap();
        }
        let counter = t.elapsed() / 200;
        let t = Instant::now();
        for _ in 0..100 {
            reg.try_acquire_lease("BENCH", "me", Duration::from_secs(30))
                .await
                .unwrap();
            reg.release_lease("BENCH", "me").await.unwrap();
        }
        let lease = t.elapsed() / 100;
        println!(
            "{:8} upsert 2520 new bars {:>8.1?} | 2520 updates {:>8.1?} | read 2520 {:>7.1?} | \
             save+promote 10 MiB {:>8.1?} | load+verify 10 MiB {:>7.1?} | change_counter {:>7.1?} | \
             lease acquire+release {:>7.1?}",
            reg.backend().as_str(), insert, update, read, save, load, counter, lease
        );
    }
}
