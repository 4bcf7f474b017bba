//! The human-readable form of a scenario report (`scenario run` without `--json`, and
//! `demo`): the steps as a story, then what the plugin did, as tables.

use comfy_table::Table;
use serde_json::Value;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A number rounded for reading (the JSON report keeps every bit).
fn number(value: &Value, decimals: usize) -> String {
    value
        .as_f64()
        .map_or_else(|| text(value), |n| format!("{n:.decimals$}"))
}

/// The first 8 characters of an id: enough to tell rows apart on screen.
fn short(id: &Value) -> String {
    let id = text(id);
    id.chars().take(8).collect()
}

/// Time of day (or date and time) of an RFC 3339 instant, without the noise.
fn instant(value: &Value) -> String {
    let t = text(value);
    t.replace('T', " ").trim_end_matches('Z').to_owned()
}

fn section(title: &str) {
    println!("\n{title}");
}

fn step_outcome(step: &Value) -> Option<String> {
    if let Some(error) = step["error"].as_str() {
        return Some(format!("FAILED: {error}"));
    }
    let result = &step["result"];
    if let Some(code) = result["error"].as_str() {
        let message = result["message"].as_str().unwrap_or_default();
        let message = message.rsplit(": ").next().unwrap_or(message);
        return Some(format!("refused as expected, {code}: {message}"));
    }
    if step["kind"] == "rpc" {
        if let Some(id) = result["id"].as_str() {
            return Some(format!("created {id}"));
        }
    }
    None
}

fn print_steps(report: &Value) {
    section("Steps");
    for step in report["steps"].as_array().into_iter().flatten() {
        let mark = if step["ok"] == Value::Bool(true) {
            "ok  "
        } else {
            "FAIL"
        };
        let what = step["label"]
            .as_str()
            .map_or_else(|| text(&step["kind"]), str::to_owned);
        let index = step["index"].as_u64().unwrap_or_default();
        println!("  {mark} {index:>3}. {what}");
        if let Some(outcome) = step_outcome(step) {
            println!("              → {outcome}");
        }
    }
}

fn print_objectives(report: &Value) {
    let Some(list) = report["objectives"].as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    section("Objectives, with their status at the end");
    let mut table = Table::new();
    table.set_header(vec![
        "objective",
        "system",
        "target %",
        "window",
        "mode",
        "budget min",
        "spent min",
        "left %",
        "availability %",
        "state",
        "burn alert",
    ]);
    for entry in list {
        let (o, s) = (&entry["objective"], &entry["status"]);
        table.add_row(vec![
            short(&o["id"]),
            text(&o["systemId"]),
            text(&o["target"]),
            format!("{} d", text(&o["windowDays"])),
            text(&o["dependencyExclusion"]),
            number(&s["errorBudgetTotalMinutes"], 1),
            number(&s["errorBudgetConsumedMinutes"], 1),
            number(&s["errorBudgetRemainingPercent"], 2),
            number(&s["currentAvailability"], 4),
            text(&s["budgetState"]),
            text(&s["burnAlert"]),
        ]);
    }
    println!("{table}");
}

fn print_downtime(report: &Value) {
    let Some(list) = report["downtimeEvents"]
        .as_array()
        .filter(|l| !l.is_empty())
    else {
        return;
    };
    section("Downtime events");
    let mut table = Table::new();
    table.set_header(vec![
        "objective",
        "system",
        "attribution",
        "upstream",
        "from",
        "to",
        "minutes",
        "source",
    ]);
    for e in list {
        table.add_row(vec![
            short(&e["objectiveId"]),
            text(&e["systemId"]),
            text(&e["attributionType"]),
            text(&e["upstreamSystemName"]),
            instant(&e["startTime"]),
            instant(&e["endTime"]),
            e["durationSeconds"]
                .as_f64()
                .map_or_else(|| "open".into(), |s| format!("{:.1}", s / 60.0)),
            text(&e["source"]),
        ]);
    }
    println!("{table}");
}

fn print_list(report: &Value, key: &str, title: &str, columns: &[(&str, &str)]) {
    let Some(list) = report[key].as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    section(title);
    let mut table = Table::new();
    table.set_header(
        columns
            .iter()
            .map(|(header, _)| *header)
            .collect::<Vec<_>>(),
    );
    for item in list {
        table.add_row(
            columns
                .iter()
                .map(|(_, field)| {
                    let v = &item[*field];
                    let is_instant = v
                        .as_str()
                        .is_some_and(|t| t.len() >= 20 && t.ends_with('Z') && t.contains('T'));
                    if is_instant {
                        instant(v)
                    } else {
                        text(v)
                    }
                })
                .collect::<Vec<_>>(),
        );
    }
    println!("{table}");
}

fn print_totals(report: &Value) {
    let count = |s: &str| report[s].as_array().map_or(0, Vec::len);
    section("What was published");
    println!(
        "  {} entity changes, {} trigger events, {} hooks, {} signals, {} snapshots, {} dead letters",
        count("entityChanges"),
        count("triggerEvents"),
        count("hooks"),
        count("signals"),
        count("snapshots"),
        count("deadLetters"),
    );
    let inv = &report["invocations"];
    println!(
        "  {} invocations ({} errors, {} traps), each in a fresh instance and its own transaction:",
        inv["total"], inv["errors"], inv["traps"]
    );
    for (export, n) in inv["byExport"].as_object().into_iter().flatten() {
        let n = n.as_u64().unwrap_or_default();
        println!("    {n:>6}  {export}");
    }
}

/// Prints `report` for people.
pub fn print(report: &Value) {
    let plugin = &report["plugin"];
    println!("Scenario: {}", text(&report["scenario"]));
    println!(
        "Plugin {} {} ({}); virtual clock at the end: {}",
        text(&plugin["id"]),
        text(&plugin["version"]),
        text(&plugin["digest"]),
        text(&report["clock"]),
    );
    print_steps(report);
    print_objectives(report);
    print_downtime(report);
    print_list(
        report,
        "streaks",
        "Streaks",
        &[
            ("system", "systemId"),
            ("current", "currentStreak"),
            ("best", "bestStreak"),
            ("since", "streakStart"),
        ],
    );
    print_list(
        report,
        "achievements",
        "Achievements",
        &[
            ("system", "systemId"),
            ("achievement", "achievement"),
            ("unlocked", "unlockedAt"),
        ],
    );
    print_list(
        report,
        "automationRuns",
        "Automation runs",
        &[
            ("automation", "automation"),
            ("at", "at"),
            ("started by", "ref"),
        ],
    );
    print_list(
        report,
        "hooks",
        "Hooks emitted",
        &[("hook", "id"), ("at", "at")],
    );
    print_list(
        report,
        "deadLetters",
        "Dead letters",
        &[
            ("queue", "queue"),
            ("group", "consumerGroup"),
            ("job", "jobId"),
            ("error", "error"),
        ],
    );
    print_totals(report);
    let failures = report["failures"].as_array().map_or(0, Vec::len);
    println!(
        "\n{}",
        if report["ok"] == Value::Bool(true) {
            "Every expectation held.".to_owned()
        } else {
            format!("FAILED: {failures} expectation(s) did not hold.")
        }
    );
}
