//! Running a scenario: set up the platform, run each step and settle, check expectations,
//! and build the report of scenario-format.md.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::parse::{Action, CallerName, Check, Expectation, RpcCall, Scenario, Source};
use crate::capabilities::clock::Clock;
use crate::capabilities::sql::Database;
use crate::host::{Caller, HostConfig};
use crate::platform::simulation::SimulationOptions;
use crate::platform::{Maintenance, Simulation};

use crate::capabilities::clock::to_rfc3339 as iso;

fn caller(name: CallerName) -> Caller {
    match name {
        CallerName::Admin => Caller::user("admin", &["slo.read", "slo.manage"]),
        CallerName::Reader => Caller::user("reader", &["slo.read"]),
        CallerName::Anonymous => Caller::anonymous(&[]),
    }
}

/// The value at a dotted path (`a.b.0.c`).
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |v, part| match v {
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(map) => map.get(part),
            _ => None,
        })
}

/// Replaces `${name.path}` references in every string of `value`.
fn substitute(value: &Value, named: &BTreeMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            let mut whole: Option<Value> = None;
            while let Some(start) = rest.find("${") {
                let end = rest[start..]
                    .find('}')
                    .ok_or(format!("unterminated reference in {s:?}"))?
                    + start;
                let reference = &rest[start + 2..end];
                let (name, path) = reference.split_once('.').unwrap_or((reference, ""));
                let base = named
                    .get(name)
                    .ok_or(format!("unknown result name {name:?} in {s:?}"))?;
                let found = at_path(base, path).ok_or(format!("no value at {reference:?}"))?;
                if start == 0 && end + 1 == s.len() && out.is_empty() {
                    whole = Some(found.clone());
                }
                out.push_str(&rest[..start]);
                out.push_str(&match found {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                });
                rest = &rest[end + 1..];
            }
            match whole {
                Some(v) if rest.is_empty() => v,
                _ => {
                    out.push_str(rest);
                    Value::String(out)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, named))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, named)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

/// JSON equality where numbers compare by value (`30` equals `30.0`), exactly.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| json_equal(i, j))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `actual` matches `expected` as a subset: objects recursively, anything else equal.
fn matches_subset(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| matches_subset(av, ev))),
        _ => json_equal(actual, expected),
    }
}

/// Applies a check; `Err` describes the mismatch.
pub fn check(value: Option<&Value>, check: &Check) -> Result<(), String> {
    let shown = value.map_or("(nothing)".to_owned(), Value::to_string);
    let number = || {
        value
            .and_then(Value::as_f64)
            .ok_or(format!("expected a number, found {shown}"))
    };
    match check {
        Check::Equals(expected) => value
            .is_some_and(|v| json_equal(v, expected))
            .then_some(())
            .ok_or(format!("expected {expected}, found {shown}")),
        Check::Approx {
            value: expected,
            tolerance,
        } => {
            let n = number()?;
            ((n - expected).abs() <= *tolerance)
                .then_some(())
                .ok_or(format!("expected {expected} ± {tolerance}, found {n}"))
        }
        Check::Gt(bound) => (number()? > *bound)
            .then_some(())
            .ok_or(format!("expected more than {bound}, found {shown}")),
        Check::Lt(bound) => (number()? < *bound)
            .then_some(())
            .ok_or(format!("expected less than {bound}, found {shown}")),
        Check::Length(n) => match value.and_then(Value::as_array) {
            Some(items) if items.len() == *n => Ok(()),
            Some(items) => Err(format!("expected {n} elements, found {}", items.len())),
            None => Err(format!("expected an array, found {shown}")),
        },
        Check::Contains(expected) => match value.and_then(Value::as_array) {
            Some(items) if items.iter().any(|i| matches_subset(i, expected)) => Ok(()),
            Some(_) => Err(format!("no element matches {expected}")),
            None => Err(format!("expected an array, found {shown}")),
        },
    }
}

/// One step's outcome in the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutcome {
    /// Position.
    pub index: usize,
    /// Step kind.
    pub kind: String,
    /// Label.
    pub label: Option<String>,
    /// Whether it did what was expected.
    pub ok: bool,
    /// RPC result, if any.
    pub result: Value,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Runs a scenario against a fresh host over `database` with `component`; answers the report.
pub fn run(scenario: &Scenario, database: Database, component: &[u8]) -> Result<Value, String> {
    let clock = Clock::virtual_at(scenario.start_ms);
    let config = HostConfig {
        seed: Some(scenario.seed),
        clock,
        ..HostConfig::default()
    };
    let options = SimulationOptions {
        instances: scenario.instances,
        duplicate_deliveries: scenario.duplicate_deliveries,
        reorder_deliveries: scenario.reorder_deliveries,
    };
    let mut sim =
        Simulation::start_with(config, database, component, options).map_err(|e| e.to_string())?;
    for (id, name) in &scenario.systems {
        sim.add_system(id, name).map_err(|e| e.to_string())?;
    }
    for (source, target) in &scenario.dependencies {
        sim.platform().set_dependency(source, target, true);
    }
    sim.settle().map_err(|e| e.to_string())?;

    let mut named: BTreeMap<String, Value> = BTreeMap::new();
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let (result, error) = match run_step(
            &mut sim,
            &step.action,
            &mut named,
            scenario.base_dir.as_deref(),
        ) {
            Ok(result) => (result, None),
            Err(e) => (Value::Null, Some(e)),
        };
        if let Err(e) = sim.settle() {
            failures.push(json!({"step": index, "message": e.to_string()}));
        }
        if let Some(message) = &error {
            failures.push(json!({"step": index, "message": message}));
        }
        outcomes.push(StepOutcome {
            index,
            kind: step.action.kind().into(),
            label: step.label.clone(),
            ok: error.is_none(),
            result,
            error,
        });
    }
    let mut report = build_report(&sim, &scenario.systems)?;
    let ok = failures.is_empty();
    let plugin = sim
        .host()
        .plugin()
        .map(|p| json!({"id": p.id(), "version": p.version(), "digest": p.digest()}));
    let head = json!({
        "scenario": scenario.name,
        "ok": ok,
        "clock": iso(sim.clock().now_ms()),
        "plugin": plugin,
        "steps": outcomes,
        "failures": failures,
    });
    if let (Value::Object(report_map), Value::Object(head_map)) = (&mut report, head) {
        let mut ordered = head_map;
        ordered.append(report_map);
        return Ok(Value::Object(ordered));
    }
    Ok(report)
}

fn rpc(
    sim: &mut Simulation,
    call: &RpcCall,
    named: &BTreeMap<String, Value>,
) -> Result<Result<Value, (String, String)>, String> {
    let input = substitute(&call.input, named)?;
    Ok(
        match sim
            .host()
            .call_rpc(&call.procedure, &input.to_string(), &caller(call.caller))
        {
            Ok(out) => Ok(serde_json::from_str(&out).unwrap_or(Value::Null)),
            Err(e) => Err((e.code().to_owned(), e.to_string())),
        },
    )
}

fn run_step(
    sim: &mut Simulation,
    action: &Action,
    named: &mut BTreeMap<String, Value>,
    base_dir: Option<&std::path::Path>,
) -> Result<Value, String> {
    let now = sim.clock().now_ms();
    match action {
        Action::Advance(ms) => sim.advance_to(now + ms).map_err(|e| e.to_string())?,
        Action::At(at) => sim.advance_to(*at).map_err(|e| e.to_string())?,
        Action::Health { system, status } => {
            sim.set_health(system, *status).map_err(|e| e.to_string())?
        }
        Action::DeleteSystem(id) => sim.delete_system(id).map_err(|e| e.to_string())?,
        Action::AddSystem { id, name } => sim.add_system(id, name).map_err(|e| e.to_string())?,
        Action::Dependency {
            source,
            target,
            remove,
        } => sim.platform().set_dependency(source, target, !remove),
        Action::Maintenance {
            system,
            start,
            end,
            status,
        } => sim
            .add_maintenance(Maintenance {
                system_id: system.clone(),
                start_ms: *start,
                end_ms: *end,
                status: status.clone(),
            })
            .map_err(|e| e.to_string())?,
        Action::Incident { systems, active } => sim
            .set_incident(systems, *active)
            .map_err(|e| e.to_string())?,
        Action::RunJob(queue) => sim.run_job_now(queue).map_err(|e| e.to_string())?,
        Action::SwapPlugin(path) => {
            let full = base_dir.map_or_else(|| std::path::PathBuf::from(path), |d| d.join(path));
            let bytes = std::fs::read(&full)
                .map_err(|e| format!("swap_plugin: cannot read {}: {e}", full.display()))?;
            let report = sim.swap_plugin(&bytes).map_err(|e| e.to_string())?;
            // (the wall-clock latency stays out: reports are deterministic)
            return Ok(json!({
                "from": report.from,
                "to": report.to,
                "migrationsApplied": report.migrations_applied,
            }));
        }
        Action::Automation {
            id,
            when,
            trigger,
            dwell,
        } => {
            let when = when.as_ref().map(|w| substitute(w, named)).transpose()?;
            sim.register_automation(id, when.as_ref(), trigger.as_deref(), dwell.as_ref())
                .map_err(|e| e.to_string())?
        }
        Action::Rpc {
            call,
            name,
            expect_error,
        } => {
            let outcome = rpc(sim, call, named)?;
            sim.settle().map_err(|e| e.to_string())?;
            return match (outcome, expect_error) {
                (Ok(value), None) => {
                    if let Some(n) = name {
                        named.insert(n.clone(), value.clone());
                    }
                    Ok(value)
                }
                (Ok(value), Some(code)) => Err(format!(
                    "expected error {code:?}, but the call succeeded with {value}"
                )),
                (Err((code, message)), Some(expected)) if &code == expected => {
                    Ok(json!({"error": code, "message": message}))
                }
                (Err((_, message)), _) => Err(message),
            };
        }
        Action::Expect(expectation) => return expect(sim, expectation, named),
    }
    Ok(Value::Null)
}

fn expect(
    sim: &mut Simulation,
    e: &Expectation,
    named: &BTreeMap<String, Value>,
) -> Result<Value, String> {
    let source = match &e.source {
        Source::Rpc(call) => match rpc(sim, call, named)? {
            Ok(v) => v,
            Err((_, message)) => return Err(format!("expectation call failed: {message}")),
        },
        Source::Report(section) => build_report(sim, &[])?
            .get(section)
            .cloned()
            .unwrap_or(Value::Null),
    };
    // references may appear in the expected value too
    let expected = match &e.check {
        Check::Equals(v) => Check::Equals(substitute(v, named)?),
        Check::Contains(v) => Check::Contains(substitute(v, named)?),
        other => other.clone(),
    };
    let value = match &e.path {
        Some(path) => at_path(&source, path),
        None => Some(&source),
    };
    check(value, &expected).map(|()| value.cloned().unwrap_or(Value::Null))
}

fn call_json(sim: &Simulation, procedure: &str, input: Value) -> Value {
    sim.host()
        .call_rpc(procedure, &input.to_string(), &caller(CallerName::Admin))
        .ok()
        .and_then(|out| serde_json::from_str(&out).ok())
        .unwrap_or(Value::Null)
}

/// The report sections, as they stand now (invocation counts taken first, so the report's
/// own reads do not count).
fn build_report(sim: &Simulation, systems: &[(String, String)]) -> Result<Value, String> {
    let invocations =
        serde_json::to_value(sim.host().invocation_counts()).map_err(|e| e.to_string())?;
    let records = sim.records();
    let objectives = call_json(sim, "listObjectives", json!({}))["objectives"].clone();
    let ids: Vec<String> = objectives
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["objective"]["id"].as_str().map(str::to_owned))
        .collect();
    let mut events: Vec<Value> = Vec::new();
    let mut snapshots: Vec<Value> = Vec::new();
    for id in &ids {
        let list = call_json(
            sim,
            "getDowntimeEvents",
            json!({"objectiveId": id, "limit": 1000}),
        );
        events.extend(list["events"].as_array().cloned().unwrap_or_default());
        let snaps = call_json(
            sim,
            "getDailySnapshots",
            json!({"objectiveId": id, "startDate": "1970-01-01T00:00:00Z", "endDate": "9999-01-01T00:00:00Z"}),
        );
        snapshots.extend(snaps["snapshots"].as_array().cloned().unwrap_or_default());
    }
    let by_time = |key: &'static str| {
        move |a: &Value, b: &Value| {
            (a[key].as_str(), a["id"].as_str()).cmp(&(b[key].as_str(), b["id"].as_str()))
        }
    };
    events.sort_by(by_time("startTime"));
    snapshots.sort_by(by_time("date"));
    let mut achievements: Vec<Value> = Vec::new();
    let mut system_ids: Vec<String> = systems.iter().map(|(id, _)| id.clone()).collect();
    system_ids.extend(
        objectives
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["objective"]["systemId"].as_str().map(str::to_owned)),
    );
    system_ids.sort();
    system_ids.dedup();
    for system in &system_ids {
        let list = call_json(sim, "getAchievements", json!({"systemId": system}));
        achievements.extend(list["achievements"].as_array().cloned().unwrap_or_default());
    }
    achievements.sort_by(by_time("unlockedAt"));
    let emissions = |list: &[crate::platform::simulation::Emission]| -> Value {
        list.iter()
            .map(|e| json!({"id": e.id, "payload": e.payload, "at": iso(e.at)}))
            .collect()
    };
    let changes: Vec<Value> = records
        .entity_changes
        .iter()
        .map(|c| json!({"kind": c.kind, "id": c.id, "prev": c.prev, "next": c.next, "delta": c.delta, "changedFields": c.changed_fields, "occurredAt": iso(c.occurred_at)}))
        .collect();
    let dead = serde_json::to_value(sim.queue().dead_letters().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "objectives": objectives,
        "downtimeEvents": events,
        "streaks": call_json(sim, "getStreaks", json!({}))["streaks"],
        "snapshots": snapshots,
        "achievements": achievements,
        "hooks": emissions(&records.hooks),
        "signals": emissions(&records.signals),
        "entityChanges": changes,
        "triggerEvents": records
            .trigger_events
            .iter()
            .map(|t| json!({"trigger": t.trigger, "source": t.source, "contextKey": t.context_key, "at": iso(t.at)}))
            .collect::<Vec<_>>(),
        "automationRuns": records
            .automation_runs
            .iter()
            .map(|r| json!({"automation": r.automation, "at": iso(r.at), "ref": r.wake_ref}))
            .collect::<Vec<_>>(),
        "deadLetters": dead,
        "versionEvents": sim.host().version_events(),
        "invocations": invocations,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_substitute_whole_values_and_inside_strings() {
        let mut named = BTreeMap::new();
        named.insert(
            "o1".to_owned(),
            json!({"id": "abc", "n": 3, "list": [{"x": 1}]}),
        );
        assert_eq!(
            substitute(&json!({"id": "${o1.id}"}), &named).unwrap(),
            json!({"id": "abc"})
        );
        assert_eq!(substitute(&json!("${o1.n}"), &named).unwrap(), json!(3));
        assert_eq!(
            substitute(&json!("id=${o1.id}!"), &named).unwrap(),
            json!("id=abc!")
        );
        assert_eq!(
            substitute(&json!("${o1.list.0.x}"), &named).unwrap(),
            json!(1)
        );
        assert!(substitute(&json!("${nope.id}"), &named).is_err());
    }

    #[test]
    fn checks() {
        assert!(check(Some(&json!(1.0)), &Check::Equals(json!(1.0))).is_ok());
        assert!(
            check(Some(&json!(30.0)), &Check::Equals(json!(30))).is_ok(),
            "30 and 30.0 are one number"
        );
        assert!(check(Some(&json!(30.5)), &Check::Equals(json!(30))).is_err());
        assert!(check(
            Some(&json!(1.0)),
            &Check::Approx {
                value: 1.0000000001,
                tolerance: 1e-9
            }
        )
        .is_ok());
        assert!(check(Some(&json!(2)), &Check::Gt(1.0)).is_ok());
        assert!(check(Some(&json!([1, 2])), &Check::Length(2)).is_ok());
        let list = json!([{"id": "slo.weekly.digest", "payload": {"totalObjectives": 1, "x": 2}}]);
        assert!(check(
            Some(&list),
            &Check::Contains(json!({"payload": {"totalObjectives": 1}}))
        )
        .is_ok());
        assert!(check(
            Some(&list),
            &Check::Contains(json!({"payload": {"totalObjectives": 2}}))
        )
        .is_err());
        assert!(check(None, &Check::Equals(json!(1))).is_err());
    }
}
