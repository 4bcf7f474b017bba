//! `slo-host serve`: start the long-running host and serve until SIGINT or SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{component_bytes, RunOptions};
use crate::capabilities::sql::DatabaseLocation;
use crate::cluster::Membership;
use crate::serve::{CallerTable, ServeOptions, Server};

/// The flags of `slo-host serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Listen here (loopback by default; port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = crate::serve::DEFAULT_LISTEN)]
    pub listen: String,
    /// Swap in process whenever the `--plugin` file changes.
    #[arg(long)]
    pub watch: bool,
    /// A JSON file mapping bearer tokens to callers: {"tokens": {"TOKEN": {"user", "rules"}}}.
    #[arg(long, value_name = "FILE")]
    pub callers: Option<PathBuf>,
    /// Map a bearer token to a caller: TOKEN=USER:RULE,RULE (repeatable). The admin
    /// endpoints need the `host.admin` rule. Prefer --callers: flags show in `ps`.
    #[arg(long = "token", value_name = "TOKEN=USER:RULES")]
    pub tokens: Vec<String>,
    /// Cache compiled components in this directory (swaps to a version seen before skip
    /// compilation).
    #[arg(long, value_name = "DIR")]
    pub artifact_cache: Option<PathBuf>,
    /// Threads that run plugin work for HTTP requests (connections themselves cost no thread).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub http_threads: usize,
    /// The largest component file `POST /admin/swap` or `--watch` reads, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::serve::component_file::DEFAULT_MAX_COMPONENT_BYTES)]
    pub max_component_bytes: u64,
    /// On PostgreSQL, this instance's name in the cluster (unique; keep it across restarts
    /// so the instance takes back what it leased). Default: the host name and the pid.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// On PostgreSQL, how long a job taken by this instance stays leased without a heartbeat
    /// renewing it: a killed instance's jobs run elsewhere after this.
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    pub lease_ms: u64,
    #[command(flatten)]
    pub run: RunOptions,
}

/// The cluster membership `--instance` and `--lease-ms` ask for (used on PostgreSQL only).
fn membership(args: &ServeArgs) -> Membership {
    let mut membership = Membership::named(
        args.instance
            .clone()
            .unwrap_or_else(Membership::default_name),
    );
    membership.lease = std::time::Duration::from_millis(args.lease_ms.max(1_000));
    // An instance counts as gone a little before its leases lapse.
    membership.gone_after = membership.lease.mul_f64(2.0 / 3.0);
    membership
}

/// Runs `slo-host serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut callers = match &args.callers {
        Some(path) => CallerTable::from_file(path)?,
        None => CallerTable::default(),
    };
    for flag in &args.tokens {
        callers.add_flag(flag)?;
    }
    let token_count = callers.len();
    let server = Server::start(ServeOptions {
        listen: args.listen.clone(),
        component: component_bytes(args.run.plugin.as_deref())?,
        component_path: args.run.plugin.clone(),
        watch: args.watch,
        database: args.run.db.clone(),
        artifact_cache: args.artifact_cache.clone(),
        callers,
        http_threads: args.http_threads,
        max_component_bytes: args.max_component_bytes,
        membership: Some(membership(&args)),
        ..ServeOptions::default()
    })?;
    print_banner(&server, &args, token_count)?;
    let stopped = server.run_until_signal()?;
    println!(
        "stopped: every request in hand answered; {} deliveries left queued in the database",
        stopped.queued
    );
    Ok(ExitCode::SUCCESS)
}

fn print_banner(server: &Server, args: &ServeArgs, tokens: usize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", server.addr())?;
    if let Some(v) = server.serving() {
        writeln!(out, "  serving  {} {} {}", v.id, v.version, v.digest)?;
    }
    let database = args.run.db.as_ref().map_or_else(
        || "in memory (gone at exit)".to_owned(),
        DatabaseLocation::name,
    );
    writeln!(out, "  database {database}")?;
    if let Some(m) = server.membership() {
        writeln!(
            out,
            "  cluster  instance {} (leases {} ms; other instances on this database share the work)",
            m.instance,
            m.lease_ms()
        )?;
    }
    writeln!(
        out,
        "  callers  {tokens} bearer token(s); requests without one are anonymous"
    )?;
    if let (true, Some(path)) = (args.watch, &args.run.plugin) {
        writeln!(out, "  watching {}", path.display())?;
    }
    writeln!(out, "  stop with Ctrl-C (SIGINT) or SIGTERM")?;
    out.flush()?;
    Ok(())
}
