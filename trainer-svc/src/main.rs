//! `trainer-svc`: the lstm.v1.Trainer service and its one-shot commands (SPEC §12).
use clap::Parser;
use trainer_svc::{commands, Cli, Command};

async fn run(command: Command) -> common::Result<()> {
    match command {
        Command::Serve(config) => {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .map_err(|e| {
                    common::Error::invalid(format!(
                        "cannot listen on {}: {e}; set --listen or TRAINER_ADDR",
                        config.listen
                    ))
                })?;
            trainer_svc::serve(listener, config, common::telemetry::shutdown_signal()).await
        }
        Command::Import(args) => commands::import::run(args).await,
        Command::Features(args) => commands::features_cmd::run(args),
        Command::Train(args) => commands::train::run(args).await,
        Command::Spec => commands::spec::run(),
        Command::GenerateBars(args) => commands::generate_bars::run(args),
        Command::Backtest(args) => commands::backtest::run(args).await,
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    let log_format = match &command {
        Command::Serve(c) => c.log_format,
        _ => std::env::var("LOG_FORMAT")
            .ok()
            .and_then(|f| f.parse().ok())
            .unwrap_or_default(),
    };
    if !matches!(command, Command::Serve(_)) && std::env::var_os("RUST_LOG").is_none() {
        // One-shot commands print their result on stdout; keep stderr to warnings (and the
        // progress bar) unless RUST_LOG asks for more.
        std::env::set_var("RUST_LOG", "warn");
    }
    common::telemetry::init_tracing(log_format);
    if let Err(e) = run(command).await {
        eprintln!("trainer-svc: error: {e}");
        // 2 = bad input (usage-like), 1 = everything else.
        let code = if e.code() == tonic::Code::InvalidArgument {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}
