//! The `slo-host` command line: argument parsing and one module per subcommand.

mod admin;
mod bench;
mod call;
mod demo;
mod inspect;
mod openslo;
mod report;
mod scenario;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::artifacts::SLO_PLUGIN_COMPONENT;
use crate::capabilities::sql::{Database, DatabaseLocation};
use crate::host::{Caller, LoadedPlugin, PluginHost};

/// The wasmtime host for Checkstack's SLO plugin.
#[derive(Debug, Parser)]
#[command(name = "slo-host", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand that runs a plugin shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Keep the database in this SQLite file (WAL mode), or in the PostgreSQL database at
    /// this `postgres://` URL, instead of in memory.
    #[arg(long, value_name = "PATH|URL", value_parser = parse_location)]
    pub db: Option<DatabaseLocation>,
    /// Load this component instead of the SLO plugin built into slo-host.
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bundled demo scenario against an embedded SQLite and print what happened.
    Demo(RunOptions),
    /// Show a component's manifest, imports and exports.
    Inspect {
        /// The component (default: the built-in SLO plugin).
        #[arg(long, value_name = "PATH")]
        plugin: Option<PathBuf>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run scenario files (see scenario-format.md).
    Scenario {
        /// What to do with scenarios.
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Call one RPC procedure and print its JSON answer.
    Call {
        /// The procedure, e.g. `listObjectives`.
        procedure: String,
        /// The JSON input.
        #[arg(default_value = "{}")]
        input: String,
        /// Who calls.
        #[arg(long, value_enum, default_value_t = CallerPreset::Admin)]
        caller: CallerPreset,
        #[command(flatten)]
        run: RunOptions,
    },
    /// Serve the plugin on the real clock behind an HTTP JSON API (RPC, platform admin,
    /// hot swap, rollback, status) until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Run the benchmarks (see BENCHMARKS.md); build with --release for real numbers.
    Bench(bench::BenchArgs),
    /// OpenSLO v1: export every objective, or import SLO and Service documents.
    Openslo {
        /// What to do.
        #[command(subcommand)]
        command: OpensloCommand,
    },
    /// Check OpenSLO and GitOps SLO files offline (for CI): non-zero with every error.
    Validate {
        /// The files (YAML, one or more documents each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check GitOps documents against this component's schema (default: the built-in).
        #[arg(long, value_name = "PATH")]
        plugin: Option<PathBuf>,
    },
    /// Ask a running `slo-host serve`: status, swap, rollback.
    Admin {
        /// What to ask.
        #[command(subcommand)]
        command: admin::AdminCommand,
        #[command(flatten)]
        target: admin::AdminTarget,
    },
}

impl Command {
    /// The log filter used when `RUST_LOG` is unset: a long-running server tells what it does
    /// (swaps, refusals); one-shot commands only warn.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// Scenario subcommands.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run one scenario file and print its report.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// Print the full JSON report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        run: RunOptions,
    },
}

/// OpenSLO subcommands.
#[derive(Debug, Subcommand)]
pub enum OpensloCommand {
    /// Write every objective as an OpenSLO `SLO`, with a `Service` per system.
    Export {
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        run: RunOptions,
    },
    /// Create and update objectives from OpenSLO files (idempotent).
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        run: RunOptions,
    },
}

/// The callers of scenario-format.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CallerPreset {
    /// Holds `slo.read` and `slo.manage`.
    Admin,
    /// Holds `slo.read`.
    Reader,
    /// Signed out, no rules.
    Anonymous,
}

impl CallerPreset {
    /// The caller this preset stands for.
    pub fn caller(self) -> Caller {
        match self {
            CallerPreset::Admin => Caller::user("admin", &["slo.read", "slo.manage"]),
            CallerPreset::Reader => Caller::user("reader", &["slo.read"]),
            CallerPreset::Anonymous => Caller::anonymous(&[]),
        }
    }
}

/// Sets up `tracing` output on stderr, filtered by `RUST_LOG` (else by `default_filter`).
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(options) => demo::run(&options),
        Command::Inspect { plugin, json } => inspect::run(plugin.as_deref(), json),
        Command::Scenario {
            command: ScenarioCommand::Run { file, json, run },
        } => scenario::run(&file, json, &run),
        Command::Call {
            procedure,
            input,
            caller,
            run,
        } => call::run(&run, &procedure, &input, caller.caller()),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(&args),
        Command::Admin { command, target } => admin::run(&target, &command),
        Command::Openslo {
            command: OpensloCommand::Export { out, run },
        } => openslo::export(&run, out.as_deref()),
        Command::Openslo {
            command: OpensloCommand::Import { files, run },
        } => openslo::import(&run, &files),
        Command::Validate { files, plugin } => openslo::validate(plugin.as_deref(), &files),
    }
}

/// Opens the database the options ask for.
fn open_database(options: &RunOptions) -> anyhow::Result<Database> {
    Ok(match &options.db {
        Some(location) => Database::open(location.clone())
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", location.describe()))?,
        None => Database::in_memory()?,
    })
}

/// Reads `--db`: a `postgres://` or `postgresql://` URL, or a SQLite file path.
fn parse_location(text: &str) -> Result<DatabaseLocation, String> {
    if text.trim().is_empty() {
        return Err("the database is empty: give a SQLite file path or a postgres:// URL".into());
    }
    Ok(DatabaseLocation::parse(text))
}

/// The component bytes: the file given, or the built-in SLO plugin.
fn component_bytes(plugin: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match plugin {
        Some(path) => {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
        }
        None => Ok(SLO_PLUGIN_COMPONENT.to_vec()),
    }
}

/// Loads the component into `host`.
fn load(host: &PluginHost, plugin: Option<&Path>) -> anyhow::Result<std::sync::Arc<LoadedPlugin>> {
    let bytes = component_bytes(plugin)?;
    Ok(host.load_bytes(&bytes)?)
}
