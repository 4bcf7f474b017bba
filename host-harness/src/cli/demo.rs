//! `slo-host demo`: the bundled demo scenario (`host-harness/scenarios/demo.json`), run against
//! the real SLO component on an embedded SQLite and printed as a story: an upstream outage,
//! its attribution, the budgets it spent, the automations that watched it, typed refusals of
//! bad input, and the scheduled jobs of the following day. The clock is virtual and every id
//! is seeded, so the demo prints the same thing on every run against a fresh database.

use std::process::ExitCode;

use serde_json::Value;

use super::{component_bytes, open_database, report, RunOptions};
use crate::scenario;

/// The bundled demo scenario.
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.json");

/// Runs the demo.
pub fn run(options: &RunOptions) -> anyhow::Result<ExitCode> {
    let parsed = scenario::parse(DEMO_SCENARIO)
        .map_err(|e| anyhow::anyhow!("the bundled demo scenario is invalid: {e}"))?;
    let database = open_database(options)?;
    let where_ = database.location().describe();
    println!("Checkstack SLO plugin demo: a WebAssembly component in a sandboxed wasmtime host,");
    println!("on a simulated platform (catalog, health, dependencies, entity framework, queues,");
    println!("cron on a virtual clock, automations). Database: {where_}.");
    println!("The same run as `slo-host scenario run host-harness/scenarios/demo.json`.\n");
    let component = component_bytes(options.plugin.as_deref())?;
    let report = scenario::run(&parsed, database, &component).map_err(anyhow::Error::msg)?;
    report::print(&report);
    Ok(if report["ok"] == Value::Bool(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
