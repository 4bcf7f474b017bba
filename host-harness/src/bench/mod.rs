//! `slo-host bench`: the benchmarks behind `BENCHMARKS.md`. Every goal is a ratio measured in
//! one run (or a size), never a wall-clock assertion in a test; each row names the command
//! that produced it.
//!
//! * `measure`: interleaved batches and medians.
//! * `invocation`: rows 1–2, per-invocation overhead and the pooling allocator.
//! * `compute`: row 3, computeStatus natively against the component.
//! * `daily`: row 4, the daily job at 1k, 10k (and 100k) objectives, and the host's peak RSS.
//! * `transitions`: row 5, end-to-end health transitions per second, with a breakdown.
//! * `swap`: row 6, hot-swap latency.
//! * `serve_load`: row 9, `slo-host serve` under a mixed HTTP load.
//! * `cluster`: row 10, row 5 on 1, 2 and 3 cluster instances sharing one PostgreSQL.
//! * `curve`: row 11, the dashboard's budget curve against one status.
//! * `simulated`: row 12, a quiet simulated month through the scenario runner.
//! * `footprint`: row 7, component size and linear memory.
//! * [`instructions`]: row 8, fuel counts against their baseline.
//! * [`fixtures`]: objectives with many downtime events, and the computeStatus invocation.

mod cluster;
mod compute;
mod curve;
mod daily;
mod engine;
pub mod fixtures;
mod footprint;
pub mod instructions;
mod invocation;
pub mod measure;
mod serve_load;
mod simulated;
mod swap;
mod transitions;

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};

pub use engine::Engine;

/// One row of `BENCHMARKS.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's number in the benchmarks issue.
    pub number: u32,
    /// What is measured.
    pub what: String,
    /// The goal.
    pub target: String,
    /// What was measured.
    pub result: String,
    /// Whether the goal was met (`None`: a report, not a goal).
    pub met: Option<bool>,
}

/// Every row `slo-host bench` can run.
pub const ROWS: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// A progress bar on stderr for a long benchmark (hidden when stderr is not a terminal).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress bar, hidden unless `visible`.
    pub fn new(visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    /// Starts a step of `len` units.
    pub fn start(&self, label: &str, len: u64) {
        self.bar.reset();
        self.bar.set_length(len);
        self.bar.set_message(label.to_owned());
    }

    /// One unit done.
    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// The step is done.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// How much to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effort {
    /// Fewer iterations: a smoke run, not a measurement.
    pub quick: bool,
    /// The largest sizes too (row 4 at 100k objectives: minutes and gigabytes).
    pub full: bool,
}

/// Runs the rows asked for (all of [`ROWS`] when empty), in order.
pub fn run(rows: &[u32], effort: Effort, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let quick = effort.quick;
    let wanted = |n: u32| rows.is_empty() || rows.contains(&n);
    if let Some(unknown) = rows.iter().find(|n| !ROWS.contains(n)) {
        anyhow::bail!("there is no benchmark row {unknown} (rows: {ROWS:?})");
    }
    let mut out = Vec::new();
    if wanted(1) || wanted(2) {
        let both = invocation::rows(quick, progress)?;
        out.extend(both.into_iter().filter(|r| wanted(r.number)));
    }
    // Rows 3, 4 and 5 on each engine, in the same run.
    for engine in Engine::ALL {
        if wanted(3) {
            out.extend(engine.rows(3, || compute::rows(quick, progress, engine))?);
        }
        if wanted(4) {
            out.extend(engine.rows(4, || daily::rows(effort.full, progress, engine))?);
        }
        if wanted(5) {
            out.extend(engine.rows(5, || transitions::rows(quick, progress, engine))?);
        }
    }
    if wanted(6) {
        out.extend(swap::rows(quick, progress)?);
    }
    if wanted(7) {
        out.extend(footprint::rows(progress)?);
    }
    if wanted(8) {
        out.extend(instructions::rows(progress)?);
    }
    if wanted(9) {
        out.extend(serve_load::rows(quick, progress)?);
    }
    if wanted(10) {
        out.extend(Engine::Postgres.rows(10, || cluster::rows(quick, progress))?);
    }
    if wanted(11) {
        out.extend(curve::rows(quick, progress)?);
    }
    if wanted(12) {
        out.extend(simulated::rows(quick, progress)?);
    }
    Ok(out)
}

/// What this machine is, for the record: CPU model, cores, memory, OS, build profile.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown memory".into(),
            |kb| format!("{:.0} GiB", kb as f64 / 1_048_576.0),
        );
    let profile = if cfg!(debug_assertions) {
        "debug build (numbers are not representative: use --release)"
    } else {
        "release build"
    };
    format!(
        "{cpu}, {cores} cores available, {memory}, {} {}, {profile}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The rows as a Markdown table.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from("| # | what | target | result | met |\n|---|---|---|---|---|\n");
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "report",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {met} |",
            row.number, row.what, row.target, row.result
        );
    }
    out
}
