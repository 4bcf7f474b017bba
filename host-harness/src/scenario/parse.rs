//! Scenario files (scenario-format.md): parsed and validated before anything runs, so that a
//! bad file fails with a message naming the step and the field.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub use super::model::*;
use crate::capabilities::clock::parse_rfc3339;
use crate::platform::HealthStatus;

/// Parses a duration such as `90s`, `30m`, `6h`, `2d` or `1d6h`, in ms.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return None,
        };
        let n: i64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then_some(total)
}

/// Parses and validates a scenario file's text.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let root = root
        .as_object()
        .ok_or("the scenario must be a JSON object")?;
    let name = root
        .get("name")
        .and_then(Value::as_str)
        .ok_or("name: required string")?
        .to_owned();
    let start_ms = root
        .get("start")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .ok_or("start: required RFC 3339 instant")?;
    let seed = match root.get("seed") {
        None => 0,
        Some(v) => v.as_u64().ok_or("seed: expected a non-negative integer")?,
    };
    let mut systems = Vec::new();
    for (i, s) in root
        .get("systems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = s["id"]
            .as_str()
            .ok_or(format!("systems.{i}.id: required string"))?;
        let name = s["name"].as_str().unwrap_or(id);
        systems.push((id.to_owned(), name.to_owned()));
    }
    let mut known: BTreeSet<String> = systems.iter().map(|(id, _)| id.clone()).collect();
    let mut dependencies = Vec::new();
    for (i, d) in root
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let source = d["source"]
            .as_str()
            .ok_or(format!("dependencies.{i}.source: required string"))?;
        let target = d["target"]
            .as_str()
            .ok_or(format!("dependencies.{i}.target: required string"))?;
        for s in [source, target] {
            if !known.contains(s) {
                return Err(format!("dependencies.{i}: unknown system {s:?}"));
            }
        }
        dependencies.push((source.to_owned(), target.to_owned()));
    }
    let raw_steps = root
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("steps: required array")?;
    let mut steps = Vec::with_capacity(raw_steps.len());
    let mut clock = start_ms;
    for (i, raw) in raw_steps.iter().enumerate() {
        let step = parse_step(raw, &mut known, &mut clock).map_err(|e| format!("step {i}: {e}"))?;
        steps.push(step);
    }
    let fault = |name: &str| -> Result<bool, String> {
        match root.get("faults") {
            None => Ok(false),
            Some(Value::Object(f)) => match f.get(name) {
                None => Ok(false),
                Some(v) => v
                    .as_bool()
                    .ok_or(format!("faults.{name}: expected a boolean")),
            },
            Some(_) => Err("faults: expected an object".into()),
        }
    };
    if let Some(Value::Object(f)) = root.get("faults") {
        if let Some(unknown) = f
            .keys()
            .find(|k| !["duplicateDeliveries", "reorderDeliveries"].contains(&k.as_str()))
        {
            return Err(format!(
                "faults.{unknown}: unknown fault (duplicateDeliveries, reorderDeliveries)"
            ));
        }
    }
    let instances = match root.get("instances") {
        None => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=64).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("instances: expected a whole number from 1 to 64")?,
    };
    Ok(Scenario {
        name,
        start_ms,
        seed,
        systems,
        dependencies,
        steps,
        duplicate_deliveries: fault("duplicateDeliveries")?,
        reorder_deliveries: fault("reorderDeliveries")?,
        instances,
        base_dir: None,
    })
}

/// Reads and parses the scenario file at `path`; its `swap_plugin` paths resolve against the
/// file's directory.
pub fn parse_file(path: &std::path::Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut scenario = parse(&text)?;
    scenario.base_dir = path.parent().map(std::path::Path::to_path_buf);
    Ok(scenario)
}

fn string(map: &Map<String, Value>, kind: &str, field: &str) -> Result<String, String> {
    map.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(format!("{kind}.{field}: required string"))
}

fn system(
    map: &Map<String, Value>,
    kind: &str,
    field: &str,
    known: &BTreeSet<String>,
) -> Result<String, String> {
    let id = string(map, kind, field)?;
    if known.contains(&id) {
        Ok(id)
    } else {
        Err(format!("{kind}.{field}: unknown system {id:?}"))
    }
}

fn caller(value: Option<&Value>, kind: &str) -> Result<CallerName, String> {
    match value.and_then(Value::as_str) {
        None if value.is_none() => Ok(CallerName::Admin),
        Some("admin") => Ok(CallerName::Admin),
        Some("reader") => Ok(CallerName::Reader),
        Some("anonymous") => Ok(CallerName::Anonymous),
        _ => Err(format!(
            "{kind}.caller: expected \"admin\", \"reader\" or \"anonymous\""
        )),
    }
}

fn rpc_call(value: &Value, kind: &str) -> Result<RpcCall, String> {
    let map = value
        .as_object()
        .ok_or(format!("{kind}: expected an object"))?;
    Ok(RpcCall {
        procedure: string(map, kind, "procedure")?,
        input: map
            .get("input")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
        caller: caller(map.get("caller"), kind)?,
    })
}

fn parse_step(raw: &Value, known: &mut BTreeSet<String>, clock: &mut i64) -> Result<Step, String> {
    let map = raw.as_object().ok_or("expected an object")?;
    let label = match map.get("label") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("label: expected a string".into()),
    };
    let keys: Vec<&String> = map.keys().filter(|k| *k != "label").collect();
    let [key] = keys.as_slice() else {
        return Err(format!(
            "expected exactly one step key besides \"label\", found {keys:?}"
        ));
    };
    let value = &map[key.as_str()];
    let obj = |kind: &str| {
        value
            .as_object()
            .ok_or(format!("{kind}: expected an object"))
    };
    let action = match key.as_str() {
        "advance" => {
            let text = value
                .as_str()
                .ok_or("advance: expected a duration string such as \"30m\"")?;
            let ms = parse_duration(text).ok_or(format!(
                "advance: bad duration {text:?} (use s, m, h, d, e.g. \"1d6h\")"
            ))?;
            *clock += ms;
            Action::Advance(ms)
        }
        "at" => {
            let text = value.as_str().ok_or("at: expected an RFC 3339 instant")?;
            let at = parse_rfc3339(text).ok_or(format!("at: bad instant {text:?}"))?;
            if at < *clock {
                return Err(format!(
                    "at: {text} is earlier than the scenario's clock at this step"
                ));
            }
            *clock = at;
            Action::At(at)
        }
        "health" => {
            let m = obj("health")?;
            let status = match string(m, "health", "status")?.as_str() {
                "healthy" => HealthStatus::Healthy,
                "degraded" => HealthStatus::Degraded,
                "unhealthy" => HealthStatus::Unhealthy,
                other => {
                    return Err(format!(
                        "health.status: expected healthy, degraded or unhealthy, found {other:?}"
                    ))
                }
            };
            Action::Health {
                system: system(m, "health", "system", known)?,
                status,
            }
        }
        "delete_system" => {
            let id = value
                .as_str()
                .ok_or("delete_system: expected a system id")?;
            if !known.remove(id) {
                return Err(format!("delete_system: unknown system {id:?}"));
            }
            Action::DeleteSystem(id.to_owned())
        }
        "add_system" => {
            let m = obj("add_system")?;
            let id = string(m, "add_system", "id")?;
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_owned();
            known.insert(id.clone());
            Action::AddSystem { id, name }
        }
        "dependency" => {
            let m = obj("dependency")?;
            let remove = match m.get("remove") {
                None => false,
                Some(v) => v.as_bool().ok_or("dependency.remove: expected a boolean")?,
            };
            Action::Dependency {
                source: system(m, "dependency", "source", known)?,
                target: system(m, "dependency", "target", known)?,
                remove,
            }
        }
        "maintenance" => {
            let m = obj("maintenance")?;
            let start = parse_rfc3339(&string(m, "maintenance", "start")?)
                .ok_or("maintenance.start: bad instant")?;
            let end = parse_rfc3339(&string(m, "maintenance", "end")?)
                .ok_or("maintenance.end: bad instant")?;
            if end < start {
                return Err("maintenance.end: before start".into());
            }
            Action::Maintenance {
                system: system(m, "maintenance", "system", known)?,
                start,
                end,
                status: m
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("completed")
                    .to_owned(),
            }
        }
        "incident" => {
            let m = obj("incident")?;
            let list = m
                .get("systems")
                .and_then(Value::as_array)
                .ok_or("incident.systems: required array")?;
            let mut systems = Vec::new();
            for (i, s) in list.iter().enumerate() {
                let id = s
                    .as_str()
                    .ok_or(format!("incident.systems.{i}: expected a string"))?;
                if !known.contains(id) {
                    return Err(format!("incident.systems.{i}: unknown system {id:?}"));
                }
                systems.push(id.to_owned());
            }
            let active = m
                .get("active")
                .and_then(Value::as_bool)
                .ok_or("incident.active: required boolean")?;
            Action::Incident { systems, active }
        }
        "rpc" => {
            let call = rpc_call(value, "rpc")?;
            let name = value.get("as").and_then(Value::as_str).map(str::to_owned);
            let expect_error = value
                .get("expectError")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Action::Rpc {
                call,
                name,
                expect_error,
            }
        }
        "run_job" => Action::RunJob(
            value
                .as_str()
                .ok_or("run_job: expected a queue name")?
                .to_owned(),
        ),
        "expect" => Action::Expect(parse_expectation(obj("expect")?)?),
        "automation" => {
            let m = obj("automation")?;
            let id = string(m, "automation", "id")?;
            let when = m.get("when").cloned();
            if let Some(w) = &when {
                crate::platform::conditions::parse(w)
                    .map_err(|e| format!("automation.when: {e}"))?;
            }
            let trigger = match m.get("trigger") {
                None => None,
                Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
                Some(_) => return Err("automation.trigger: expected a qualified trigger id".into()),
            };
            if when.is_none() && trigger.is_none() {
                return Err("automation.when: required condition (or a trigger)".into());
            }
            let dwell = m.get("for").cloned();
            if let Some(d) = &dwell {
                crate::platform::conditions::Duration::parse(d, "automation.for")?;
                if trigger.is_none() {
                    return Err("automation.for: a dwell needs a trigger (write state … for in the condition instead)".into());
                }
            }
            Action::Automation {
                id,
                when,
                trigger,
                dwell,
            }
        }
        "swap_plugin" => {
            let path = value.as_str().filter(|p| !p.trim().is_empty()).ok_or(
                "swap_plugin: expected the path of a component, relative to the scenario file",
            )?;
            Action::SwapPlugin(path.into())
        }
        other => return Err(format!("unknown step kind {other:?}")),
    };
    Ok(Step { action, label })
}

fn number(value: &Value, field: &str) -> Result<f64, String> {
    value
        .as_f64()
        .ok_or(format!("expect.{field}: expected a number"))
}

fn parse_expectation(m: &Map<String, Value>) -> Result<Expectation, String> {
    let source = match (m.get("rpc"), m.get("report")) {
        (Some(rpc), None) => Source::Rpc(rpc_call(rpc, "expect.rpc")?),
        (None, Some(Value::String(section))) => {
            if !REPORT_SECTIONS.contains(&section.as_str()) {
                return Err(format!("expect.report: unknown section {section:?}"));
            }
            Source::Report(section.clone())
        }
        _ => {
            return Err(
                "expect: exactly one of \"rpc\" or \"report\" (a section name) is required".into(),
            )
        }
    };
    let path = match m.get("path") {
        None => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err("expect.path: expected a dotted path string".into()),
    };
    let checks: Vec<&str> = ["equals", "approx", "gt", "lt", "length", "contains"]
        .into_iter()
        .filter(|k| m.contains_key(*k))
        .collect();
    let [check] = checks.as_slice() else {
        return Err(format!("expect: exactly one check (equals, approx, gt, lt, length, contains) is required, found {checks:?}"));
    };
    let value = &m[*check];
    let check = match *check {
        "equals" => Check::Equals(value.clone()),
        "approx" => Check::Approx {
            value: number(value, "approx")?,
            tolerance: m
                .get("tolerance")
                .map_or(Ok(1e-9), |t| number(t, "tolerance"))?,
        },
        "gt" => Check::Gt(number(value, "gt")?),
        "lt" => Check::Lt(number(value, "lt")?),
        "length" => Check::Length(
            value
                .as_u64()
                .ok_or("expect.length: expected a non-negative integer")? as usize,
        ),
        _ => Check::Contains(value.clone()),
    };
    Ok(Expectation {
        source,
        path,
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("30m"), Some(1_800_000));
        assert_eq!(parse_duration("1d6h"), Some(108_000_000));
        for bad in ["", "30", "5x", "m", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn scenario(steps: &str) -> Result<Scenario, String> {
        parse(&format!(
            r#"{{"name": "t", "start": "2026-06-01T00:00:00Z", "systems": [{{"id": "api", "name": "API"}}], "steps": {steps}}}"#
        ))
    }

    #[test]
    fn bad_files_name_the_step_and_the_field() {
        let cases = [
            (
                r#"[{"advance": "30m"}, {"jump": 1}]"#,
                "step 1: unknown step kind \"jump\"",
            ),
            (
                r#"[{"advance": "thirty"}]"#,
                "step 0: advance: bad duration \"thirty\"",
            ),
            (
                r#"[{"health": {"system": "web", "status": "healthy"}}]"#,
                "step 0: health.system: unknown system \"web\"",
            ),
            (
                r#"[{"health": {"system": "api", "status": "sad"}}]"#,
                "step 0: health.status",
            ),
            (
                r#"[{"expect": {"report": "nope", "length": 0}}]"#,
                "step 0: expect.report: unknown section \"nope\"",
            ),
            (
                r#"[{"expect": {"report": "hooks"}}]"#,
                "step 0: expect: exactly one check",
            ),
            (
                r#"[{"rpc": {"procedure": "x", "caller": "root"}}]"#,
                "step 0: rpc.caller",
            ),
            (
                r#"[{"at": "2020-01-01T00:00:00Z"}]"#,
                "step 0: at: 2020-01-01T00:00:00Z is earlier",
            ),
            (
                r#"[{"advance": "1m", "health": {}}]"#,
                "step 0: expected exactly one step key",
            ),
        ];
        for (steps, message) in cases {
            let err = scenario(steps).unwrap_err();
            assert!(err.starts_with(message), "{steps}: {err}");
        }
        assert!(parse("{not json")
            .unwrap_err()
            .starts_with("malformed JSON"));
    }

    #[test]
    fn a_good_file_parses() {
        let s = scenario(r#"[{"label": "go", "advance": "1h"}, {"rpc": {"procedure": "getStreaks", "as": "s"}}, {"expect": {"report": "hooks", "length": 0}}]"#).unwrap();
        assert_eq!(s.steps.len(), 3);
        assert_eq!(s.steps[0].label.as_deref(), Some("go"));
        assert_eq!(s.seed, 0);
    }
}
