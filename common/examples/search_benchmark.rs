//! TPE search vs the default grid on one real key (BENCHMARKS.md "CV search"): best CV AUC,
//! holdout AUC of the final model, wall time.
//!
//! `cargo run -p common --example search_benchmark -- CSV [--years 3] [--n-trials 20]
//!  [--max-epochs N] [--seed 7] [--threads 1] [--only grid|tpe]`
//!
//! Both runs use plain training (the grid needs it), the base network for the CV folds and the
//! final fit, 5 TimeSeriesSplit folds, the leak-free holdout; the grid picks by the seed's score
//! (its default), TPE by AUC (its default). The key is the last `years` of the file plus 64 bars
//! of warm-up. Prints one Markdown table row per search.
use std::time::Instant;

use chrono::Months;
use common::data::csv::parse_csv;
use common::features::{build_samples, FeatureConfig, MIN_TRADING_DAYS};
use common::training::{run_pipeline, DeviceChoice, PipelineConfig, SearchConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: cannot parse `{v}`")))
}

/// Highest and chosen mean fold AUC of a CV report.
fn cv_aucs(report: &Value) -> (f64, f64) {
    let rows = report.get("results").or_else(|| report.get("trials")).and_then(Value::as_array).expect("trials");
    let complete = rows.iter().filter(|r| r.get("state").is_none_or(|s| s == "complete"));
    let best = complete.map(|r| r["avg_auc"].as_f64().unwrap_or(f64::NAN)).fold(f64::MIN, f64::max);
    let chosen = match report.get("best_trial").and_then(Value::as_u64) {
        Some(n) => rows[n as usize - 1]["avg_auc"].as_f64().unwrap_or(f64::NAN),
        None => {
            let p = &report["best_params"];
            rows.iter()
                .find(|r| r["lr"] == p["lr"] && r["hidden_size"] == p["hidden_size"] && r["epochs"] == p["epochs"])
                .and_then(|r| r["avg_auc"].as_f64())
                .unwrap_or(f64::NAN)
        }
    };
    (best, chosen)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().filter(|a| !a.starts_with("--")).expect("usage: search_benchmark CSV [options]");
    let years: u32 = arg(&args, "--years").unwrap_or(3);
    let n_trials: u32 = arg(&args, "--n-trials").unwrap_or(20);
    let max_epochs: Option<u32> = arg(&args, "--max-epochs");
    let seed: u64 = arg(&args, "--seed").unwrap_or(7);
    let threads: i32 = arg(&args, "--threads").unwrap_or(1);
    let only: Option<String> = arg(&args, "--only");

    let bars = parse_csv(&std::fs::read_to_string(path).expect("readable CSV")).expect("a valid bar CSV");
    let end = bars.last().expect("bars").date;
    let from = end.checked_sub_months(Months::new(12 * years)).expect("date in range");
    let first_in = bars.iter().position(|b| b.date > from).expect("bars in the key");
    let bars = &bars[first_in.saturating_sub(MIN_TRADING_DAYS - 1)..];
    let samples = build_samples(bars, &FeatureConfig::default()).expect("samples");
    eprintln!("{path}: {} bars {}..{}, {} samples", bars.len(), bars[0].date, end, samples.len());

    let base = PipelineConfig {
        years,
        do_cv_tune: true,
        use_improved_training: false,
        use_enhanced_model: false,
        do_shap: false,
        do_plot: false,
        do_post_training_validation: true,
        seed: Some(seed),
        device: DeviceChoice::Cpu,
        max_epochs,
        cpu_threads: Some(threads),
        ..PipelineConfig::default()
    };
    let runs = [("grid (8 combinations, score)", SearchConfig::default()), ("tpe (auc)", SearchConfig { n_trials, ..SearchConfig::tpe() })];
    println!("| search | trials run | pruned | best CV AUC | CV AUC of the chosen | holdout AUC | holdout acc. | final lr / hidden / epochs / batch / dropout | wall s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, search) in runs {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let cfg = PipelineConfig { search, ..base.clone() };
        let t = Instant::now();
        let out = run_pipeline(&samples, &cfg, None, &mut |_| {}, &CancellationToken::new()).expect("pipeline");
        let wall = t.elapsed().as_secs_f64();
        let cv = out.cross_validation.expect("cv ran");
        let (best, chosen) = cv_aucs(&cv);
        let trials = cv.get("trials_run").and_then(Value::as_u64).unwrap_or(8);
        let pruned = cv.get("pruned_trials").and_then(Value::as_array).map_or(0, Vec::len);
        let hp = &out.metadata.hyperparameters;
        let m = |k: &str| out.metrics.get(k).map_or("n/a".to_string(), |v| format!("{v:.4}"));
        println!(
            "| {name} | {trials} | {pruned} | {best:.4} | {chosen:.4} | {} | {} | {} / {} / {} / {} / {:.2} | {wall:.0} |",
            m("holdout_auc"),
            m("holdout_accuracy"),
            hp["lr"],
            hp["hidden_size"],
            hp["epochs"],
            hp["batch_size"],
            hp["dropout"].as_f64().unwrap_or(f64::NAN),
        );
    }
}
