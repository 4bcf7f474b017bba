//! `slo-host demo`: drives the real SLO component through the host on an embedded SQLite and
//! says, step by step, what the plugin did. The clock is virtual (2026-06-01T00:00:00Z) and
//! randomness is seeded, so the demo prints the same ids on every run against a fresh database.

use std::process::ExitCode;

use anyhow::Context;
use comfy_table::Table;
use serde_json::{json, Value};

use super::{load, open_database, CallerPreset, RunOptions};
use crate::capabilities::clock::Clock;
use crate::capabilities::sql::DatabaseLocation;
use crate::host::{Caller, HostConfig, PluginHost};
use crate::platform::{HealthStatus, SimulatedPlatform};
use crate::runtime::Failure;
use std::sync::Arc;

/// The demo's virtual start instant, 2026-06-01T00:00:00Z.
const DEMO_START_MS: i64 = 1_780_272_000_000;

struct Demo {
    host: PluginHost,
    step: usize,
}

impl Demo {
    fn say(&mut self, text: impl AsRef<str>) {
        self.step += 1;
        println!("\n{}. {}", self.step, text.as_ref());
    }

    /// Calls a procedure and answers its JSON, or prints the typed error and answers `None`.
    fn call(&self, procedure: &str, input: Value, caller: &Caller) -> Option<Value> {
        match self.host.call_rpc(procedure, &input.to_string(), caller) {
            Ok(out) => serde_json::from_str(&out).ok(),
            Err(error) => {
                let who = match error.failure {
                    Failure::Rejected { .. } => "the host",
                    Failure::Returned { .. } => "the plugin",
                    _ => "the runtime",
                };
                match error.failure.plugin_error() {
                    Some(e) => println!("   → {} error from {who}: {}", e.code(), e.message()),
                    None => println!("   → {} from {who}: {}", error.code(), error.failure),
                }
                None
            }
        }
    }
}

/// Runs the demo.
pub fn run(options: &RunOptions) -> anyhow::Result<ExitCode> {
    let config = HostConfig {
        clock: Clock::virtual_at(DEMO_START_MS),
        seed: Some(7),
        ..HostConfig::default()
    };
    let database = open_database(options)?;
    let where_ = match database.location() {
        DatabaseLocation::Memory => "an in-memory SQLite database".to_owned(),
        DatabaseLocation::File(path) => format!("the SQLite file {} (WAL mode)", path.display()),
    };
    println!("Checkstack SLO plugin demo: a WebAssembly component in a sandboxed wasmtime host.");
    println!("Database: {where_}. Virtual clock: 2026-06-01T00:00:00.000Z. Seed: 7.");

    let clock = config.clock.clone();
    let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
    platform.add_system("api", "Public API");
    platform.add_system("db", "Primary DB");
    platform.set_dependency("api", "db", true);
    println!(
        "Simulated platform: systems `api` (Public API) and `db` (Primary DB); api depends on db."
    );

    let host = PluginHost::with_platform(config, database, platform.clone())?;
    let mut demo = Demo { host, step: 0 };
    let plugin = load(&demo.host, options.plugin.as_deref()).context("loading the plugin")?;
    let applied = &plugin.migrations().applied;
    demo.say(format!(
        "Loaded plugin {} {} ({}).\n   Migrations applied now: {}; already applied before: {}.",
        plugin.id(),
        plugin.version(),
        plugin.digest(),
        if applied.is_empty() {
            "none".to_owned()
        } else {
            applied.join(", ")
        },
        plugin.migrations().already_applied,
    ));

    let admin = CallerPreset::Admin.caller();
    let api_input = json!({"systemId": "api", "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only"});
    demo.say("An admin creates a 99.9 % / 30-day self-only objective for system `api`.");
    let api = demo.call("createObjective", api_input.clone(), &admin);
    if let Some(o) = &api {
        println!("   created objective {}", o["id"].as_str().unwrap_or("?"));
    }

    demo.say("`db` goes down. Then an admin creates a 99.5 % / 7-day strict objective for it, critical at 90 % consumed:\n   the plugin sees the system is already down and opens a downtime event at once.");
    platform.set_health("db", HealthStatus::Unhealthy);
    let db_input = json!({"systemId": "db", "target": 99.5, "windowDays": 7, "burnRateThresholds": {"criticalPercent": 90}});
    let db_objective = demo.call("createObjective", db_input, &admin);
    if let Some(o) = &db_objective {
        println!("   created objective {}", o["id"].as_str().unwrap_or("?"));
    }

    demo.say("Thirty minutes pass on the virtual clock with `db` still down.");
    clock.advance(std::time::Duration::from_secs(30 * 60))?;
    if let Some(id) = db_objective.as_ref().and_then(|o| o["id"].as_str()) {
        if let Some(events) = demo.call("getDowntimeEvents", json!({ "objectiveId": id }), &admin) {
            for e in events["events"].as_array().into_iter().flatten() {
                println!(
                    "   downtime event {}: {} since {}, source {}, still open: {}",
                    e["id"].as_str().unwrap_or("?"),
                    e["attributionType"].as_str().unwrap_or("?"),
                    e["startTime"].as_str().unwrap_or("?"),
                    e["source"].as_str().unwrap_or("?"),
                    e["endTime"].is_null(),
                );
            }
        }
    }

    demo.say(
        "An admin asks for a 150 % target: the plugin answers a typed error and writes nothing.",
    );
    demo.call(
        "createObjective",
        json!({"systemId": "api", "target": 150, "windowDays": 30}),
        &admin,
    );

    demo.say(
        "A reader (slo.read only) tries to create one: the host refuses before the plugin runs.",
    );
    demo.call("createObjective", api_input, &CallerPreset::Reader.caller());

    if let Some(id) = api.as_ref().and_then(|o| o["id"].as_str()) {
        demo.say(format!("A reader reads objective {id} back."));
        if let Some(read) = demo.call(
            "getObjective",
            json!({ "id": id }),
            &CallerPreset::Reader.caller(),
        ) {
            let mut table = Table::new();
            table.set_header(vec!["field", "value"]);
            if let Some(fields) = read["objective"].as_object() {
                for (k, v) in fields {
                    table.add_row(vec![k.clone(), v.to_string()]);
                }
            }
            println!("{table}");
        }
    }

    demo.say("Reading an unknown id answers null, as the original does.");
    if let Some(v) = demo.call("getObjective", json!({"id": "no-such-objective"}), &admin) {
        println!("   getObjective → {v}");
    }

    demo.say("Every objective with its status, computed by the plugin's engine (30 minutes of `db` downtime):");
    if let Some(list) = demo.call("listObjectives", json!({}), &admin) {
        let mut table = Table::new();
        table.set_header(vec![
            "id",
            "system",
            "target %",
            "window (days)",
            "mode",
            "budget (min)",
            "left %",
            "availability %",
            "breaching",
        ]);
        for entry in list["objectives"].as_array().into_iter().flatten() {
            let o = &entry["objective"];
            let s = &entry["status"];
            table.add_row(vec![
                o["id"].as_str().unwrap_or("").to_owned(),
                o["systemId"].as_str().unwrap_or("").to_owned(),
                o["target"].to_string(),
                o["windowDays"].to_string(),
                o["dependencyExclusion"].as_str().unwrap_or("").to_owned(),
                s["errorBudgetTotalMinutes"].to_string(),
                s["errorBudgetRemainingPercent"].to_string(),
                s["currentAvailability"].to_string(),
                s["isBreaching"].to_string(),
            ]);
        }
        println!("{table}");
    }

    let counts = demo.host.invocation_counts();
    println!(
        "\nInvocations: {} in all ({} errors, {} traps); each ran in a fresh instance and its own transaction.",
        counts.total, counts.errors, counts.traps
    );
    Ok(ExitCode::SUCCESS)
}
