//! Row 8: instruction counts, as wasmtime fuel, of the paths rows 1 and 3 time. Fuel counts
//! the wasm instructions the guest executes, so it is the same on every run and every
//! machine: compared with a recorded baseline, a regression fails CI (the
//! `instruction_counts` test) while wall-clock noise cannot. Host calls cost no fuel; their
//! cost shows in rows 1 and 3.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::fixtures;
use super::{Progress, Row};
use crate::artifacts::{FIXTURE_EMPTY_PATH, FROZEN_SLO_PLUGIN_0_1_PATH, SLO_PLUGIN_PATH};
use crate::capabilities::clock::Clock;
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};
use crate::platform::SimulatedPlatform;
use crate::runtime::{EngineOptions, Limits};

/// Where the baseline lives, relative to the repository root.
pub const BASELINE: &str = "benchmarks/fuel-baseline.json";

/// How far a count may move from its baseline before the check fails.
pub const TOLERANCE: f64 = 0.10;

/// Downtime events of the computeStatus measurement (row 3's size).
pub const EVENTS: usize = 1_000;

/// 2026-06-01T00:00:00Z: counts depend on the data, so the clock is fixed.
const START_MS: i64 = 1_780_272_000_000;

fn metered_host(path: &str) -> anyhow::Result<PluginHost> {
    let clock = Clock::virtual_at(START_MS);
    let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
    platform.add_system("api", "Public API");
    let config = HostConfig {
        engine: EngineOptions {
            fuel: true,
            ..EngineOptions::default()
        },
        limits: Limits {
            fuel: Some(1 << 40),
            ..Limits::default()
        },
        seed: Some(7),
        clock,
        ..HostConfig::default()
    };
    let host = PluginHost::with_platform(config, Database::in_memory()?, platform)?;
    host.load_file(Path::new(path))?;
    Ok(host)
}

fn init_fuel(host: &PluginHost) -> anyhow::Result<u64> {
    fixtures::invoke_init(host)?
        .stats
        .fuel_used
        .ok_or_else(|| anyhow::anyhow!("fuel was not metered"))
}

/// computeStatus over [`EVENTS`] downtime events in the component at `path`.
fn status_fuel(path: &str) -> anyhow::Result<(PluginHost, u64)> {
    let host = metered_host(path)?;
    let objective = fixtures::objective_with_downtime(&host, "api", EVENTS)?;
    let status = fixtures::compute_status(&host, &objective).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fuel = status
        .stats
        .fuel_used
        .ok_or_else(|| anyhow::anyhow!("fuel was not metered"))?;
    Ok((host, fuel))
}

/// The counts: `init` of the SLO and of the empty component, and computeStatus over
/// [`EVENTS`] downtime events, in the current SLO build and in its frozen contract 0.1.0 build
/// (the same code reading rows a list per row: what the columnar results of 0.2.0 save).
pub fn counts() -> anyhow::Result<BTreeMap<String, u64>> {
    let (slo, status) = status_fuel(SLO_PLUGIN_PATH)?;
    let (_, frozen_status) = status_fuel(FROZEN_SLO_PLUGIN_0_1_PATH)?;
    let empty = metered_host(FIXTURE_EMPTY_PATH)?;
    Ok(BTreeMap::from([
        ("init.slo".to_owned(), init_fuel(&slo)?),
        ("init.empty".to_owned(), init_fuel(&empty)?),
        (format!("computeStatus.{EVENTS}events"), status),
        (
            format!("computeStatus.{EVENTS}events.contract-0.1.0"),
            frozen_status,
        ),
    ]))
}

/// The recorded baseline at `path`.
pub fn baseline(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the fuel baseline {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Each count against its baseline: `(name, count, baseline, relative change)`; a count with
/// no baseline has change `f64::INFINITY`.
pub fn compare(
    counts: &BTreeMap<String, u64>,
    baseline: &BTreeMap<String, u64>,
) -> Vec<(String, u64, Option<u64>, f64)> {
    counts
        .iter()
        .map(|(name, &count)| {
            let base = baseline.get(name).copied();
            let change = base.map_or(f64::INFINITY, |b| {
                (count as f64 - b as f64) / (b as f64).max(1.0)
            });
            (name.clone(), count, base, change)
        })
        .collect()
}

/// Row 8, against the baseline in the working directory.
pub fn rows(progress: &Progress) -> anyhow::Result<Vec<Row>> {
    progress.start("instruction counts", 1);
    let counts = counts()?;
    progress.tick();
    progress.finish();
    let baseline = baseline(Path::new(BASELINE)).unwrap_or_default();
    let compared = compare(&counts, &baseline);
    let within = compared
        .iter()
        .all(|(_, _, _, change)| change.abs() <= TOLERANCE);
    let listed: Vec<String> = compared
        .iter()
        .map(|(name, count, base, change)| match base {
            Some(b) => format!("`{name}` {count} (baseline {b}, {:+.1} %)", change * 100.0),
            None => format!("`{name}` {count} (no baseline)"),
        })
        .collect();
    Ok(vec![Row {
        number: 8,
        what: format!("instruction counts (wasmtime fuel) of rows 1 and 3, against `{BASELINE}`; checked on every `cargo test` by `tests/tests/instruction_counts.rs`"),
        target: "within 10 % of baseline".into(),
        result: listed.join("; "),
        met: Some(within),
    }])
}
