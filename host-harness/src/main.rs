//! `slo-host`: run the SLO plugin component in the sandboxed host.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = slo_host::cli::Cli::parse();
    slo_host::cli::init_tracing(cli.command.default_log_filter());
    match slo_host::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
