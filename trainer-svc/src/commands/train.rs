//! `trainer-svc train`: one training run (or three with `--all-years`) without a server, through
//! the same core as the Train RPC, with a progress bar driven by the run's events.
use common::pb::{self, train_event::Event};
use common::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::config::TrainArgs;
use crate::core::{CoreSettings, RunSpec, Work};

/// Builds the runs of the command line (validated like the Train RPC).
pub fn specs(args: &TrainArgs) -> Result<Vec<RunSpec>> {
    let req = pb::TrainRequest {
        symbol: args.symbol.clone(),
        all_years: args.all_years,
        years: (!args.all_years).then_some(args.years),
        start: args.start.clone().unwrap_or_default(),
        end: args.end.clone().unwrap_or_default(),
        do_shap: Some(!args.no_importance),
        do_plot: Some(!args.no_plot),
        do_post_training_validation: Some(!args.no_validation),
        lease_timeout_seconds: Some(args.lease_timeout_seconds),
        keep_rejected: Some(!args.drop_rejected),
        pool_symbols: args.pool.clone(),
        ..args.recipe.train_request()
    };
    let job = crate::requests::TrainJob::try_from(req)?;
    let by = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    Ok(job
        .years
        .iter()
        .map(|&years| {
            let mut spec = RunSpec::train(&job, years, "cli", &by);
            if let Work::Pipeline { config, .. } = &mut spec.work {
                config.cpu_threads = args.cpu_threads;
            }
            spec
        })
        .collect())
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

fn show(pb: &ProgressBar, ev: &pb::TrainEvent) {
    match &ev.event {
        Some(Event::Queued(q)) => pb.set_message(format!(
            "queued at position {} behind run {}",
            q.position, q.holder_run_id
        )),
        Some(Event::Started(s)) => pb.println(format!(
            "run {} started ({}, device {})",
            ev.run_id, s.mode, s.device
        )),
        Some(Event::Stage(s)) => {
            pb.set_prefix(s.stage.clone());
            pb.set_message(s.detail.clone());
        }
        Some(Event::CvFold(f)) => {
            let auc = f.auc.map_or("-".to_string(), |a| format!("{a:.3}"));
            pb.println(format!(
                "cv {}/{} fold {}/{}: lr {} hidden {} epochs {} dropout {:.2} batch {} -> f1 {:.3} mse {:.5} auc {auc}",
                f.combination,
                f.combinations,
                f.fold,
                f.folds,
                f.lr,
                f.hidden_size,
                f.epochs,
                f.dropout,
                f.batch_size,
                f.f1,
                f.mse
            ));
            if let Some(t) = &f.trial {
                let best = t.best_objective.map_or("-".to_string(), |b| format!("{b:.4} (trial {})", t.best_trial));
                pb.println(format!(
                    "trial {} {}: objective {:.4}, best so far {best}",
                    f.combination, t.state, t.objective
                ));
            }
        }
        Some(Event::CvSummary(s)) => pb.println(format!(
            "best ({} on {}): trial {} lr {} hidden {} epochs {} batch {} ({} {:.4}, score {:.4}; {} trials, pruned {:?})",
            s.search,
            s.cv_metric,
            s.best_trial,
            s.best_lr,
            s.best_hidden_size,
            s.best_epochs,
            s.best_batch_size,
            s.cv_metric,
            s.best_objective,
            s.best_score,
            s.trials_run,
            s.pruned_trials
        )),
        Some(Event::Epoch(e)) => {
            pb.set_length(u64::from(e.max_epochs));
            pb.set_position(u64::from(e.epoch));
            pb.set_message(format!(
                "{} loss {:.4} val vm {:.3}",
                e.phase, e.train_loss, e.val_volatility_match
            ));
        }
        Some(Event::Validation(v)) => {
            let auc = v.candidate.as_ref().and_then(|c| c.auc);
            let auc = auc.map_or("undefined".to_string(), |a| format!("{a:.3}"));
            pb.println(format!("validation: holdout auc {auc}, deploy={} ({})", v.deploy, v.reason))
        }
        Some(Event::Completed(_)) => pb.finish_with_message("completed"),
        Some(Event::Failed(f)) => pb.abandon_with_message(format!("{}: {}", f.code, f.message)),
        // Backtest runs have their own command (`trainer-svc backtest`).
        Some(Event::BacktestFoldStarted(_))
        | Some(Event::BacktestFoldProgress(_))
        | Some(Event::BacktestFoldResult(_))
        | Some(Event::BacktestCompleted(_))
        | None => {}
    }
}

/// Runs the command: trains, prints the result JSON (an array with `--all-years`).
pub async fn run(args: TrainArgs) -> Result<()> {
    let specs = specs(&args)?;
    let registry = crate::open_registry(&args.registry).await?;
    let settings = CoreSettings {
        cpu_threads: args.cpu_threads,
        max_train_samples: args.max_train_samples.max(1),
        ..CoreSettings::default()
    };
    let (core, shutdown) = super::cli_core(registry.clone(), settings);
    let mut results = Vec::new();
    for spec in specs {
        if spec.inline_bars.is_none() {
            core.ensure_symbol(&spec.symbol).await?;
        }
        let (tx, mut rx) = mpsc::channel(64);
        let bar = progress_bar(args.quiet);
        let printer = tokio::spawn(async move {
            while let Some(Ok(ev)) = rx.recv().await {
                show(&bar, &ev);
            }
        });
        let result = core.run(spec, Some(tx), shutdown.child_token()).await.result;
        let _ = printer.await;
        results.push(crate::convert::result_json(&result?));
    }
    registry.close().await;
    let out = if results.len() == 1 {
        results.remove(0)
    } else {
        serde_json::Value::Array(results)
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(Error::from)?
    );
    Ok(())
}
