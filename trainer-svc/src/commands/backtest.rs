//! `trainer-svc backtest --symbol S --years N [--csv F] [--folds K] [--horizon H] [--end DATE]
//! [--max-epochs N] [--seed N] [--json]`: a walk-forward backtest without a server, through the
//! same run as the Backtest RPC (recorded in the registry with mode `backtest`), with a progress
//! bar on stderr. Prints a summary table, or the report JSON with `--json`; `--out DIR` also
//! writes `report.json` and the plots there.
use std::path::PathBuf;

use clap::Args;
use common::pb::{self, backtest_event::Event as B, backtest_fold_progress::Progress};
use common::{Error, Result};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::config::{RecipeFlags, RegistryArgs};
use crate::core::CoreSettings;
use crate::requests::{bar_to_pb, BacktestJob};
use crate::service::backtest_stream;

/// Flags of `trainer-svc backtest`.
#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// Ticker (bars from the registry unless --csv).
    #[arg(long)]
    pub symbol: String,
    /// Years of history each fold trains on (1..=10).
    #[arg(long, default_value_t = 1)]
    pub years: u32,
    /// CSV file of bars (any dialect) instead of the registry's bars.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Rolling origins.
    #[arg(long, default_value_t = common::backtest::DEFAULT_FOLDS as u32)]
    pub folds: u32,
    /// Trading days tested per fold.
    #[arg(long, default_value_t = common::backtest::DEFAULT_HORIZON_DAYS as u32)]
    pub horizon: u32,
    /// Last test day (YYYY-MM-DD); default the latest bar with a realised 5-day outcome.
    #[arg(long)]
    pub end: Option<String>,
    /// Folds trained at once (0 = automatic: cores / libtorch threads per fit).
    #[arg(long, default_value_t = 0)]
    pub parallelism: u32,
    /// The recipe each fold trains with (the same flags as `trainer-svc train`).
    #[command(flatten)]
    pub recipe: RecipeFlags,
    /// Pooled backtest (one network per fold on every member): the other members, comma-separated,
    /// each `SYMBOL` (bars from the registry) or `SYMBOL=FILE` (the CSV is imported into the
    /// registry first), e.g. `--pool NVDA=NVDA.csv,MSFT`.
    #[arg(long, value_delimiter = ',')]
    pub pool: Vec<String>,
    /// Keep CSV rows repeating the previous bar on weekends / holidays (dropped by default).
    #[arg(long)]
    pub keep_repeated_bars: bool,
    /// Drop bad rows of --csv (listed on stderr) instead of refusing the whole file.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// libtorch intra-op CPU threads per fit.
    #[arg(long, env = "TRAINER_CPU_THREADS")]
    pub cpu_threads: Option<i32>,
    /// Print the report JSON on stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Also write report.json and the PNG plots into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Registry settings (the run is recorded there).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn request(args: &BacktestArgs) -> Result<pb::BacktestRequest> {
    let bars = match &args.csv {
        None => Vec::new(),
        Some(path) => super::bar_file::read(path, args.skip_bad_rows, args.keep_repeated_bars)?
            .bars
            .iter()
            .map(bar_to_pb)
            .collect(),
    };
    Ok(pb::BacktestRequest {
        symbol: args.symbol.clone(),
        years: Some(args.years),
        end: args.end.clone().unwrap_or_default(),
        bars,
        folds: Some(args.folds),
        horizon_days: Some(args.horizon),
        parallelism: Some(args.parallelism),
        // With --csv the fills were already dropped above (or are kept on purpose); without it the
        // server reads the registry's bars and drops them itself unless asked not to.
        keep_repeated_bars: Some(args.csv.is_some() || args.keep_repeated_bars),
        pool_symbols: args.pool.iter().map(|m| pool_member(m).0.to_string()).collect(),
        ..args.recipe.backtest_request()
    })
}

/// A `--pool` entry: `SYMBOL` or `SYMBOL=FILE`.
fn pool_member(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((symbol, file)) => (symbol, Some(file)),
        None => (arg, None),
    }
}

/// Imports the `SYMBOL=FILE` members of `--pool` into the registry the run reads them from.
async fn import_pool_files(registry: &common::registry::Registry, args: &BacktestArgs) -> Result<()> {
    for member in &args.pool {
        if let (symbol, Some(file)) = pool_member(member) {
            let read = super::bar_file::read(std::path::Path::new(file), args.skip_bad_rows, args.keep_repeated_bars)?;
            let stats = registry.upsert_bars(&common::config::validate_symbol(symbol)?, &read.bars).await?;
            if !args.quiet {
                eprintln!("pool member {symbol}: {} bars from {file} ({} new)", stats.total, stats.inserted);
            }
        }
    }
    Ok(())
}

struct ProgressBars {
    _multi: MultiProgress,
    folds: ProgressBar,
    epochs: ProgressBar,
}

fn progress(quiet: bool, folds: u32) -> ProgressBars {
    let multi = MultiProgress::new();
    if quiet {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = |t: &str| ProgressStyle::with_template(t).expect("valid template").progress_chars("=> ");
    let f = multi.add(ProgressBar::new(u64::from(folds)));
    f.set_style(style("{spinner} folds  [{bar:30}] {pos}/{len} {elapsed} {msg}"));
    let e = multi.add(ProgressBar::new(0));
    e.set_style(style("  epochs [{bar:30}] {pos}/{len} {msg}"));
    ProgressBars { _multi: multi, folds: f, epochs: e }
}

fn show(p: &ProgressBars, ev: &pb::BacktestEvent) {
    match &ev.event {
        Some(B::Started(s)) => p.folds.println(format!("run {} started ({}, device {})", ev.run_id, s.mode, s.device)),
        Some(B::Stage(s)) => p.folds.set_message(format!("{}: {}", s.stage, s.detail)),
        Some(B::FoldStarted(f)) => p.folds.set_message(format!(
            "fold {}/{}: training to {} on {} samples, testing {}..{}",
            f.fold, f.folds, f.origin, f.train_samples, f.test_start, f.test_end
        )),
        Some(B::FoldProgress(f)) => {
            if let Some(Progress::Epoch(e)) = &f.progress {
                p.epochs.set_length(u64::from(e.max_epochs));
                p.epochs.set_position(u64::from(e.epoch));
                p.epochs.set_message(format!("fold {} loss {:.4}", f.fold, e.train_loss));
            }
        }
        Some(B::FoldResult(r)) => {
            p.folds.inc(1);
            let m: serde_json::Value = serde_json::from_str(&r.metrics_json).unwrap_or_default();
            p.folds.println(format!(
                "fold {}/{} ({} .. {}, {} days, {:.0} s): lstm hit rate {} vs base rate {}",
                r.fold, r.folds, r.test_start, r.test_end, r.n, r.seconds, m["lstm"]["hit_rate"], m["base_rate"]["hit_rate"]
            ));
        }
        Some(B::Completed(_)) => {
            p.epochs.finish_and_clear();
            p.folds.finish_with_message("completed");
        }
        Some(B::Failed(f)) => p.folds.abandon_with_message(format!("{}: {}", f.code, f.message)),
        Some(B::Queued(q)) => p.folds.set_message(format!("queued at position {}", q.position)),
        None => {}
    }
}

/// The report as a table: one row per model, the main metrics with their intervals.
pub fn summary_table(report: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().map_or("—".to_string(), |x| format!("{x:.3}"));
    let ci = |name: &str, metric: &str| match report["ci"][name][metric].as_array() {
        Some(a) if a.len() == 2 => format!(" [{}, {}]", f(&a[0]), f(&a[1])),
        _ => String::new(),
    };
    let mut out = format!(
        "{:<14} {:>5}  {:<24} {:>6} {:<24} {:<24} {:>7}\n",
        "model", "n", "hit_rate [90% CI]", "auc", "brier [90% CI]", "ic [90% CI]", "rank_ic"
    );
    if let Some(models) = report["models"].as_object() {
        for (name, m) in models {
            out.push_str(&format!(
                "{:<14} {:>5}  {:<24} {:>6} {:<24} {:<24} {:>7}\n",
                name,
                m["n"],
                format!("{}{}", f(&m["hit_rate"]), ci(name, "hit_rate")),
                f(&m["auc"]),
                format!("{}{}", f(&m["brier"]), ci(name, "brier")),
                format!("{}{}", f(&m["ic"]), ci(name, "ic")),
                f(&m["rank_ic"]),
            ));
        }
    }
    out
}

/// Runs the command.
pub async fn run(args: BacktestArgs) -> Result<()> {
    let job = BacktestJob::try_from(request(&args)?)?;
    let registry = crate::open_registry(&args.registry).await?;
    import_pool_files(&registry, &args).await?;
    let (core, _shutdown) = super::cli_core(registry.clone(), CoreSettings { cpu_threads: args.cpu_threads, ..CoreSettings::default() });
    if job.inline_bars.is_none() {
        core.ensure_symbol(&job.symbol).await?;
    }
    let p = progress(args.quiet, args.folds);
    let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let mut events = backtest_stream(&core, job, &by);
    let mut completed = None;
    while let Some(item) = events.next().await {
        let ev = item.map_err(|s| match s.code() {
            tonic::Code::InvalidArgument => Error::invalid(s.message().to_string()),
            tonic::Code::FailedPrecondition => Error::FailedPrecondition(s.message().to_string()),
            tonic::Code::NotFound => Error::not_found(s.message().to_string()),
            tonic::Code::Cancelled => Error::Cancelled(s.message().to_string()),
            _ => Error::internal(s.message()),
        })?;
        show(&p, &ev);
        if let Some(B::Completed(c)) = ev.event {
            completed = Some((ev.run_id, c));
        }
    }
    let (run_id, c) = completed.ok_or_else(|| Error::Cancelled("the backtest ended without a report".into()))?;
    let report: serde_json::Value = serde_json::from_str(&c.report_json)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::invalid(format!("cannot create {}: {e}", dir.display())))?;
        for plot in &c.plots {
            let bytes = registry.plot(&run_id, &plot.name).await?;
            std::fs::write(dir.join(&plot.name), bytes)
                .map_err(|e| Error::internal(format!("cannot write {}: {e}", dir.join(&plot.name).display())))?;
        }
    }
    registry.close().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary_table(&report));
        println!("run {run_id}: {:.0} s, {} folds at once", c.seconds, c.parallelism);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::core::Work;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BacktestArgs,
    }

    fn request_of(argv: &[&str]) -> pb::BacktestRequest {
        let cli = Cli::try_parse_from(std::iter::once("backtest").chain(argv.iter().copied())).unwrap();
        request(&cli.args).unwrap()
    }

    #[test]
    fn train_and_backtest_read_the_same_recipe_flags_into_the_same_fields() {
        #[derive(Parser)]
        struct TrainCli {
            #[command(flatten)]
            args: crate::config::TrainArgs,
        }
        let recipe = ["--plain", "--fast", "--base-model", "--seed", "3", "--max-epochs", "2", "--device", "cpu"];
        let recipe = recipe.iter().chain(&["--reg-loss-type", "huber", "--calibration", "platt", "--target-precision", "0.7"]);
        let recipe: Vec<&str> = recipe.chain(&["--search", "tpe", "--n-trials", "5", "--cv-metric", "auc"]).copied().collect();
        let b = request_of(&[&["--symbol", "AMZN"], recipe.as_slice()].concat());
        let argv = std::iter::once("train").chain(["--symbol", "AMZN"]).chain(recipe.iter().copied());
        let t = crate::commands::train::specs(&TrainCli::try_parse_from(argv).unwrap().args).unwrap();
        let Work::Pipeline { config, .. } = &t[0].work else { panic!("a pipeline run") };
        let bt = BacktestJob::try_from(b).unwrap();
        let recipe = |c: &common::training::PipelineConfig| {
            format!(
                "{} {} {} {} {:?} {:?} {:?} {:?} {:?} {} {:?}",
                c.use_improved_training, c.do_cv_tune, c.fast_training, c.use_enhanced_model, c.reg_loss_type,
                c.seed, c.max_epochs, c.device, c.calibration, c.target_precision, c.search
            )
        };
        assert_eq!(recipe(&bt.config.recipe), recipe(config));
        assert!(!config.use_improved_training && config.do_cv_tune && config.fast_training && !config.use_enhanced_model);
        assert_eq!((config.seed, config.max_epochs, config.target_precision), (Some(3), Some(2), 0.7));
    }

    #[test]
    fn the_registry_path_keeps_the_servers_repeated_bar_filter() {
        // Issue 23.4: without --csv the server's filter used to be switched off.
        assert_eq!(request_of(&["--symbol", "AMZN"]).keep_repeated_bars, Some(false));
        assert_eq!(request_of(&["--symbol", "AMZN", "--keep-repeated-bars"]).keep_repeated_bars, Some(true));
    }
}
