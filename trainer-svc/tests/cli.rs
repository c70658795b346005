//! The real `trainer-svc` binary: `import`, `features`, `spec` and a one-shot `train`.
use std::process::{Command, Output};

use common::data::{generate, write_csv, Dialect, SyntheticConfig};
use common::registry::Registry;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer-svc"));
    c.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    c
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn import_upserts_a_csv_and_rejects_a_corrupt_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nested/dir/registry.db", dir.path().display());
    let bars = generate(&SyntheticConfig {
        seed: 9,
        days: 120,
        ..SyntheticConfig::default()
    });
    let csv = dir.path().join("yahoo.csv");
    std::fs::write(&csv, write_csv(&bars, Dialect::Yahoo)).unwrap();

    let out = ok(&bin()
        .args(["import", "--symbol", "CLI", "--csv"])
        .arg(&csv)
        .args(["--database-url", &db])
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["inserted"].as_u64(),
            v["updated"].as_u64(),
            v["total_bars"].as_u64()
        ),
        (Some(120), Some(0), Some(120))
    );
    assert_eq!(v["first_date"], bars[0].date.to_string());
    // Re-import: same dates are updates.
    let out = ok(&bin()
        .args(["import", "--symbol", "CLI", "--csv"])
        .arg(&csv)
        .env("DATABASE_URL", &db)
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["inserted"].as_u64(), v["updated"].as_u64()),
        (Some(0), Some(120))
    );

    // A corrupt file: exit 2, the row and field named, nothing stored.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,1000\n2024-01-03,10,11,9,-1,1000\n").unwrap();
    let out = bin()
        .args(["import", "--symbol", "BAD", "--csv"])
        .arg(&bad)
        .args(["--database-url", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 2") && err.contains("close"), "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = Registry::connect(&db).await.unwrap();
        assert!(reg.bars("BAD", None, None).await.unwrap().is_empty());
        assert_eq!(reg.bars("CLI", None, None).await.unwrap().len(), 120);
    });
}

#[test]
fn features_prints_the_raw_window_and_spec_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let bars = generate(&SyntheticConfig {
        seed: 4,
        days: 100,
        ..SyntheticConfig::default()
    });
    let csv = dir.path().join("plain.csv");
    std::fs::write(&csv, write_csv(&bars, Dialect::Plain)).unwrap();
    let out = ok(&bin()
        .args(["features", "--csv"])
        .arg(&csv)
        .output()
        .unwrap());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 61, "header + 60 days");
    assert!(
        lines[0].starts_with("date,close_norm,volume_norm,rsi,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0].split(',').count(), 22);
    assert!(lines[60].starts_with(&bars[99].date.to_string()));
    let end = bars[80].date.to_string();
    let out = ok(&bin()
        .args(["features", "--csv"])
        .arg(&csv)
        .args(["--end", &end])
        .output()
        .unwrap());
    assert!(out.lines().last().unwrap().starts_with(&end));
    let out = bin()
        .args(["features", "--csv"])
        .arg(&csv)
        .args(["--end", "2001-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let spec = ok(&bin().arg("spec").output().unwrap());
    let v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert!(v.is_object());
}

#[test]
fn train_runs_once_without_a_server_and_prints_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/registry.db", dir.path().display());
    let bars = generate(&SyntheticConfig {
        seed: 5,
        days: 300,
        ..SyntheticConfig::default()
    });
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, write_csv(&bars, Dialect::Plain)).unwrap();
    ok(&bin()
        .args(["import", "--symbol", "ONE", "--csv"])
        .arg(&csv)
        .args(["--database-url", &db])
        .output()
        .unwrap());
    let out = ok(&bin()
        .args([
            "train",
            "--symbol",
            "ONE",
            "--years",
            "1",
            "--fast",
            "--max-epochs",
            "1",
            "--seed",
            "3",
            "--device",
            "cpu",
        ])
        .args([
            "--base-model",
            "--no-importance",
            "--no-plot",
            "--quiet",
            "--cpu-threads",
            "1",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["symbol"], "ONE");
    assert_eq!(v["deployed"], true);
    assert_eq!(v["model_kind"], "LSTMDualHead");
    let id = v["version_id"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = Registry::connect(&db).await.unwrap();
        assert_eq!(
            reg.current_version("ONE", 1)
                .await
                .unwrap()
                .unwrap()
                .version_id,
            id
        );
        let runs = reg.runs(Some("ONE"), None, 5).await.unwrap();
        assert_eq!(
            (runs[0].mode.as_str(), runs[0].status.as_str()),
            ("cli", "succeeded")
        );
    });
    // Unknown symbol: exit 1 with the NOT_FOUND message.
    let out = bin()
        .args(["train", "--symbol", "NOPE", "--database-url", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown symbol NOPE"));
}

#[test]
fn generate_bars_prints_the_synthetic_series_ending_on_the_given_day() {
    let out = ok(&bin()
        .args(["generate-bars", "--days", "30", "--seed", "3", "--end", "2026-11-29"])
        .output()
        .unwrap());
    let bars = common::data::parse_csv(&out).expect("generate-bars prints a CSV the importer reads");
    assert_eq!(bars.len(), 30);
    // 2026-11-29 is a Sunday: the series ends on the Friday before.
    assert_eq!(bars.last().unwrap().date.to_string(), "2026-11-27");
    // Same seed, same bars: the library generator with the same settings.
    let expected = generate(&SyntheticConfig {
        seed: 3,
        days: 30,
        start: bars[0].date,
        ..SyntheticConfig::default()
    });
    assert_eq!(out, write_csv(&expected, Dialect::Yahoo));

    let bad = bin().args(["generate-bars", "--days", "0"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--days"));
}
