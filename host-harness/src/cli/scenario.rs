//! `slo-host scenario run FILE`: runs a scenario and prints its report.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::{component_bytes, open_database, report, RunOptions};
use crate::scenario;

/// Runs the scenario at `file`; exit code 0 only when every step and expectation held.
pub fn run(file: &Path, as_json: bool, options: &RunOptions) -> anyhow::Result<ExitCode> {
    let parsed =
        scenario::parse_file(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let component = component_bytes(options.plugin.as_deref())?;
    let report =
        scenario::run(&parsed, open_database(options)?, &component).map_err(anyhow::Error::msg)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report::print(&report);
    }
    Ok(if report["ok"] == Value::Bool(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
