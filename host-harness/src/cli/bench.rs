//! `slo-host bench`: run the benchmarks, print their table, and optionally write
//! `BENCHMARKS.md`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::bench::{self, Progress};

/// The analysis appended to the written table.
const NOTES: &str = "benchmarks/notes.md";

/// The flags of `slo-host bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Only these rows (comma-separated; default: every row).
    #[arg(long, value_delimiter = ',', value_name = "N,N")]
    pub rows: Vec<u32>,
    /// Fewer iterations: a smoke run, not a measurement.
    #[arg(long)]
    pub quick: bool,
    /// The largest sizes too (row 4 at 100k objectives: minutes and gigabytes of disk).
    #[arg(long)]
    pub full: bool,
    /// Write the results to this Markdown file (e.g. BENCHMARKS.md).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// Runs `slo-host bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(std::io::stderr().is_terminal());
    let effort = bench::Effort {
        quick: args.quick,
        full: args.full,
    };
    let rows = bench::run(&args.rows, effort, &progress)?;
    let machine = bench::machine();
    let command = command_line(args);
    let table = bench::markdown_table(&rows);
    println!("{machine}\n\n{table}");
    if let Some(path) = &args.write {
        // The hand-written analysis (what changed, what limits each short row) follows the
        // measured table.
        let notes = std::fs::read_to_string(NOTES).unwrap_or_default();
        let document = format!(
            "# Benchmarks\n\nProduced by `{command}` on {}.\n\nMachine: {machine}.\n\n\
             Every goal is a ratio measured in one run, or a size: wall-clock numbers drift on a \
             shared machine, ratios of interleaved measurements do not. Re-run the command to \
             reproduce a row; `--rows N` runs one.\n\n{table}\n{notes}",
            chrono::Utc::now().format("%Y-%m-%d"),
        );
        std::fs::write(path, document)?;
        println!("written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that reproduces this run.
fn command_line(args: &BenchArgs) -> String {
    let mut command = String::from("cargo run --release -p slo-host -- bench");
    if !args.rows.is_empty() {
        let rows: Vec<String> = args.rows.iter().map(u32::to_string).collect();
        command.push_str(&format!(" --rows {}", rows.join(",")));
    }
    if args.quick {
        command.push_str(" --quick");
    }
    if args.full {
        command.push_str(" --full");
    }
    if let Some(path) = &args.write {
        command.push_str(&format!(" --write {}", path.display()));
    }
    command
}
