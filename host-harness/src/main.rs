//! `slo-host`: run the SLO plugin component in the sandboxed host.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    slo_host::cli::init_tracing();
    let cli = slo_host::cli::Cli::parse();
    match slo_host::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
