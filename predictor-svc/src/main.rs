//! `predictor-svc`: the lstm.v1.Predictor service and `predict` command (SPEC §12).
use anyhow::Context;
use clap::Parser;
use common::telemetry::{init_tracing, shutdown_signal, LogFormat};
use predictor_svc::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("predictor-svc: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("predictor-svc: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(config) => {
            init_tracing(config.model.log_format.parse::<LogFormat>()?);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            predictor_svc::serve(listener, config, shutdown_signal()).await?;
        }
        Command::Predict(args) => {
            init_tracing(args.model.log_format.parse::<LogFormat>()?);
            let out = predictor_svc::predict_once(&args).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::LiveQuality(args) => {
            init_tracing(LogFormat::Text);
            let out = predictor_svc::live_quality_once(&args).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
