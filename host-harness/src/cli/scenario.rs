//! `slo-host scenario run FILE`: runs a scenario and prints its report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::{component_bytes, open_database, RunOptions};
use crate::scenario;

/// Runs the scenario at `file`; exit code 0 only when every step and expectation held.
pub fn run(file: &Path, as_json: bool, options: &RunOptions) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let component = component_bytes(options.plugin.as_deref())?;
    let report =
        scenario::run(&parsed, open_database(options)?, &component).map_err(anyhow::Error::msg)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(if report["ok"] == Value::Bool(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(report: &Value) {
    println!("scenario: {}", report["scenario"].as_str().unwrap_or("?"));
    println!(
        "clock at the end: {}",
        report["clock"].as_str().unwrap_or("?")
    );
    for step in report["steps"].as_array().into_iter().flatten() {
        let mark = if step["ok"] == Value::Bool(true) {
            "ok  "
        } else {
            "FAIL"
        };
        let label = step["label"]
            .as_str()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        println!(
            "  {mark} step {:>3} {}{label}",
            step["index"],
            step["kind"].as_str().unwrap_or("?")
        );
        if let Some(error) = step["error"].as_str() {
            println!("             {error}");
        }
    }
    let count = |section: &str| report[section].as_array().map_or(0, Vec::len);
    println!(
        "objectives {}, downtime events {}, snapshots {}, achievements {}, hooks {}, signals {}, entity changes {}, dead letters {}",
        count("objectives"),
        count("downtimeEvents"),
        count("snapshots"),
        count("achievements"),
        count("hooks"),
        count("signals"),
        count("entityChanges"),
        count("deadLetters"),
    );
    let inv = &report["invocations"];
    println!(
        "invocations {} ({} errors, {} traps)",
        inv["total"], inv["errors"], inv["traps"]
    );
    println!(
        "{}",
        if report["ok"] == Value::Bool(true) {
            "every expectation held"
        } else {
            "FAILED"
        }
    );
}
