#![forbid(unsafe_code)]

use clap::Parser;
use edas_operator::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    edas_operator::install_crypto_provider();
    edas_operator::telemetry::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Run(args) => edas_operator::controller::run(args).await,
        Command::Crd => edas_operator::crd::print_crd(),
        Command::Simulate(args) => edas_operator::sim::run(args).await,
        Command::Plan(args) => edas_operator::commands::plan_command(args).await,
        Command::Edas(args) => edas_operator::commands::edas_command(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
