//! Polyglot proof: the same SLO component, unchanged, under the JavaScript host
//! (`tests/js-host`, through jco) and under the Rust harness, driven through the same export
//! calls by `tests/js-host/sequence.json`. The two hosts' results must be equal: every RPC
//! answer and status number, every downtime event, every entity state and change, everything
//! published, every row of the plugin's tables, every generated id (both hosts serve the same
//! seeded SplitMix64 randomness, so the plugin generates the same UUIDs in both).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value};
use slo_host::artifacts::SLO_PLUGIN_PATH;
use slo_host::bindings::types::{Actor, EntityChange, Job};
use slo_host::capabilities::clock::{parse_rfc3339, to_rfc3339, Clock};
use slo_host::capabilities::entities::diff::diff;
use slo_host::capabilities::entities::{self as framework, ChangeActor, MutationRequest};
use slo_host::capabilities::outbox::{EntityOperation, OutboxEntry};
use slo_host::capabilities::sql::Database;
use slo_host::host::{Caller, HostConfig, PluginHost};
use slo_host::platform::native_kinds::health_state;
use slo_host::platform::{HealthStatus, SimulatedPlatform};
use slo_host::runtime::InvocationError;
use slo_tests::test_config;

fn js_host_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js-host")
}

/// Runs `program args` in `dir`; answers stdout, or panics with everything it printed.
fn run(program: &str, args: &[&str], dir: &Path, why: &str) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{why}: cannot run `{program}` ({e}). The polyglot test needs Node.js 18 or \
                 later with npm on PATH: install it from your package manager (Debian: `apt \
                 install nodejs npm`) or from https://nodejs.org, then run `cargo test` again."
            )
        });
    assert!(
        out.status.success(),
        "{why}: `{program} {}` failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The JS host's directory, with Node.js present and its npm dependencies installed from the
/// lock file (once, when missing).
fn prepared_js_host() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = js_host_dir();
    run("node", &["--version"], &dir, "checking for Node.js");
    let _one_install_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if !dir.join("node_modules/.package-lock.json").exists() {
        // The locked tree, lock file untouched (`npm ci` refuses this lock: see .ci/run).
        run(
            "npm",
            &["install", "--no-save", "--no-audit", "--no-fund"],
            &dir,
            "installing the JS host's dependencies from package-lock.json",
        );
    }
    dir
}

/// The JavaScript host's document for the sequence.
fn javascript_document(component: &str, sequence: &Path) -> Value {
    let dir = prepared_js_host();
    let sequence = sequence.to_str().expect("a UTF-8 path");
    let text = run(
        "node",
        &["run.mjs", component, sequence],
        &dir,
        "running the sequence in the JS host",
    );
    serde_json::from_str(&text).expect("the JS host prints JSON")
}

fn admin() -> Caller {
    Caller::user("admin", &["slo.read", "slo.manage"])
}

/// The JSON shape of an invocation outcome, as the JS host writes it.
fn outcome(result: Result<Option<String>, InvocationError>) -> Value {
    match result {
        Ok(None) => json!({ "ok": null }),
        Ok(Some(text)) => json!({ "ok": serde_json::from_str::<Value>(&text).expect("JSON") }),
        Err(e) => match e.failure.plugin_error() {
            Some(error) => json!({ "error": { "code": error.code(), "message": error.message() } }),
            None => json!({ "trap": e.to_string() }),
        },
    }
}

fn status_of(name: &str) -> HealthStatus {
    serde_json::from_value(json!(name)).expect("a health status")
}

/// Replaces `$alias` strings with the objective ids the aliases stand for.
fn resolve(value: &Value, ids: &Map<String, Value>) -> Value {
    match value {
        Value::String(s) if s.starts_with('$') => ids.get(&s[1..]).cloned().expect("a known alias"),
        Value::Array(items) => items.iter().map(|v| resolve(v, ids)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), resolve(v, ids)))
            .collect(),
        other => other.clone(),
    }
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn publication(entry: &OutboxEntry) -> Value {
    match entry {
        OutboxEntry::Enqueue {
            queue,
            payload,
            job_id,
            delay_ms,
            priority,
            ..
        } => {
            json!({ "type": "enqueue", "queue": queue, "jobId": job_id, "payload": json_text(payload), "delayMs": delay_ms, "priority": priority })
        }
        OutboxEntry::Hook { hook_id, payload } => {
            json!({ "type": "hook", "id": hook_id, "payload": json_text(payload) })
        }
        OutboxEntry::Signal { signal_id, payload } => {
            json!({ "type": "signal", "id": signal_id, "payload": json_text(payload) })
        }
        OutboxEntry::EntityRequest { kind, id, op } => {
            let (op, text) = match op {
                EntityOperation::Mutate(t) => ("mutate", t),
                EntityOperation::Remove(t) => ("remove", t),
            };
            json!({ "type": "entity-request", "kind": kind, "id": id, "op": op, "payload": json_text(text) })
        }
        OutboxEntry::CacheSet { key, value, ttl_ms } => {
            json!({ "type": "cache-set", "key": key, "value": json_text(value), "ttlMs": ttl_ms })
        }
        OutboxEntry::CacheInvalidate { keys } => {
            json!({ "type": "cache-invalidate", "keys": keys })
        }
    }
}

/// The Rust harness's document for the sequence: the same export calls in the same order.
fn rust_document(component: &str, sequence: &Value) -> Value {
    let start = parse_rfc3339(sequence["start"].as_str().expect("start")).expect("RFC 3339");
    let clock = Clock::virtual_at(start);
    let platform = std::sync::Arc::new(SimulatedPlatform::new(clock.clone()));
    for system in sequence["systems"].as_array().expect("systems") {
        platform.add_system(
            system["id"].as_str().expect("id"),
            system["name"].as_str().expect("name"),
        );
    }
    for edge in sequence["dependencies"].as_array().expect("dependencies") {
        platform.set_dependency(
            edge["source"].as_str().expect("source"),
            edge["target"].as_str().expect("target"),
            true,
        );
    }
    let config = HostConfig {
        clock: clock.clone(),
        seed: sequence["seed"].as_u64(),
        ..test_config()
    };
    let host = PluginHost::with_platform(config, Database::in_memory().unwrap(), platform.clone())
        .expect("host");
    host.load_file(Path::new(component))
        .expect("the component loads");
    let manifest = host.plugin().expect("loaded").manifest().clone();

    let mut ids = Map::new();
    let mut steps = Vec::new();
    let mut changes = Vec::new();
    let mut health_changes = 0;
    let mut routed = 0;
    for step in sequence["steps"].as_array().expect("steps") {
        if let Some(procedure) = step["rpc"].as_str() {
            let input = resolve(&step["input"], &ids).to_string();
            let answer = outcome(host.call_rpc(procedure, &input, &admin()).map(Some));
            if let (Some(alias), Some(id)) = (step["alias"].as_str(), answer["ok"].get("id")) {
                ids.insert(alias.to_owned(), id.clone());
            }
            let mut entry = json!({ "rpc": procedure });
            entry
                .as_object_mut()
                .unwrap()
                .extend(answer.as_object().unwrap().clone());
            steps.push(entry);
        } else if let Some(seconds) = step["advance"].as_u64() {
            clock
                .advance(std::time::Duration::from_secs(seconds))
                .unwrap();
        } else if let Some(system) = step["health"].as_str() {
            let status = status_of(step["status"].as_str().expect("status"));
            let before = platform.set_health(system, status).expect("a known system");
            let (prev, next) = (health_state(before), health_state(status));
            let d = diff(Some(&prev), Some(&next));
            health_changes += 1;
            let change = EntityChange {
                kind: "health".into(),
                id: system.into(),
                prev: Some(prev.to_string()),
                next: Some(next.to_string()),
                delta: d.delta.to_string(),
                changed_fields: d.changed_fields,
                actor: Actor {
                    kind: "system".into(),
                    id: "system".into(),
                    name: Some("System".into()),
                },
                occurred_at: clock.now_ms(),
                change_id: format!("health-{health_changes}"),
            };
            let deliveries: Vec<Value> = manifest
                .entity_subscriptions
                .iter()
                .filter(|s| s.kind == "health")
                .map(|s| {
                    outcome(
                        host.deliver_entity_change(&s.worker_group, &change)
                            .map(|()| None),
                    )
                })
                .collect();
            steps.push(json!({ "health": system, "deliveries": deliveries }));
        } else if let Some(queue) = step["job"].as_str() {
            let consumer = manifest
                .queue_consumers
                .iter()
                .find(|c| c.queue == queue)
                .expect("a consumer");
            let recurring = manifest
                .recurring_jobs
                .iter()
                .find(|j| j.queue == queue)
                .expect("a recurring job");
            let job = Job {
                queue: queue.into(),
                consumer_group: consumer.consumer_group.clone(),
                id: format!("{}:{}", recurring.job_id, clock.now_ms()),
                payload: recurring.payload.clone(),
                attempt: 1,
                enqueued_at: clock.now_ms(),
            };
            let mut entry = json!({ "job": queue });
            entry.as_object_mut().unwrap().extend(
                outcome(host.deliver_job(&job).map(|()| None))
                    .as_object()
                    .unwrap()
                    .clone(),
            );
            steps.push(entry);
        } else {
            panic!("unknown step {step}");
        }
        // Entity requests through the framework pipeline, including those it publishes.
        loop {
            let fresh = host.published_since(routed);
            if fresh.is_empty() {
                break;
            }
            routed += fresh.len();
            for p in fresh {
                if let OutboxEntry::EntityRequest { kind, id, op } = p.entry {
                    let request = MutationRequest {
                        kind,
                        id,
                        op: match op {
                            EntityOperation::Mutate(j) => {
                                slo_host::bindings::types::EntityOp::Mutate(j)
                            }
                            EntityOperation::Remove(j) => {
                                slo_host::bindings::types::EntityOp::Remove(j)
                            }
                        },
                        actor: ChangeActor::system(),
                    };
                    let done = framework::mutate(&host, &request, Box::new(|_, _| Ok(())));
                    if let Ok(framework::MutationOutcome {
                        change: Some(change),
                        ..
                    }) = done
                    {
                        changes.push(json!({
                            "kind": change.kind,
                            "id": change.id,
                            "prev": change.prev,
                            "next": change.next,
                            "changedFields": change.changed_fields,
                        }));
                    }
                }
            }
        }
    }

    let observe = &sequence["observe"];
    let entity_ids: Vec<String> = observe["entities"]["aliases"]
        .as_array()
        .expect("aliases")
        .iter()
        .map(|a| ids[a.as_str().unwrap()].as_str().unwrap().to_owned())
        .collect();
    let entities =
        match host.read_entities(observe["entities"]["kind"].as_str().unwrap(), &entity_ids) {
            Ok(states) => states
                .into_iter()
                .map(|s| json!({ "id": s.id, "state": json_text(&s.state) }))
                .collect(),
            Err(e) => outcome(Err(e)),
        };
    json!({
        "host": "rust (wasmtime)",
        "now": to_rfc3339(clock.now_ms()),
        "steps": steps,
        "changes": changes,
        "published": host.published().iter().map(|p| publication(&p.entry)).collect::<Vec<_>>(),
        "entities": entities,
        "tables": tables(&host, observe["tablesLike"].as_str().expect("tablesLike")),
    })
}

/// Every row of every table named like `pattern`, as column → value objects.
fn tables(host: &PluginHost, pattern: &str) -> Value {
    let conn = host.services().database.checkout().unwrap();
    let conn = conn.as_sqlite().expect("a SQLite database");
    let mut names = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ORDER BY name",
        )
        .unwrap();
    let names: Vec<String> = names
        .query_map([pattern], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Map::new();
    for name in names {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
        let columns: Vec<String> = stmt
            .column_names()
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let rows: Vec<Value> = stmt
            .query_map([], |row| {
                let mut object = Map::new();
                for (i, column) in columns.iter().enumerate() {
                    let value = match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(n) => json!(n),
                        rusqlite::types::ValueRef::Real(f) => json!(f),
                        rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                        rusqlite::types::ValueRef::Blob(b) => json!(b),
                    };
                    object.insert(column.clone(), value);
                }
                Ok(Value::Object(object))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.insert(name, Value::Array(rows));
    }
    Value::Object(out)
}

/// The comparable form of a host's document: the host's name dropped and every number as f64
/// (each side's JSON writer spells `10.0` its own way; the values must be equal).
fn comparable(mut document: Value) -> Value {
    document.as_object_mut().unwrap().remove("host");
    numbers_as_f64(&mut document);
    document
}

fn numbers_as_f64(value: &mut Value) {
    match value {
        Value::Number(n) => *value = json!(n.as_f64().expect("a finite number")),
        Value::Array(items) => items.iter_mut().for_each(numbers_as_f64),
        Value::Object(map) => map.values_mut().for_each(numbers_as_f64),
        _ => {}
    }
}

/// The paths where `a` and `b` differ, with both values.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (l, r) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{key}"), l, r, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), l, r, out);
            }
        }
        _ if a != b => out.push(format!("{path}:\n    rust: {a}\n    js:   {b}")),
        _ => {}
    }
}

#[test]
fn the_component_agrees_with_itself_under_the_javascript_host_and_the_rust_harness() {
    let sequence_path = js_host_dir().join("sequence.json");
    let sequence: Value =
        serde_json::from_str(&std::fs::read_to_string(&sequence_path).unwrap()).unwrap();
    let rust = rust_document(SLO_PLUGIN_PATH, &sequence);
    let javascript = javascript_document(SLO_PLUGIN_PATH, &sequence_path);
    assert_eq!(javascript["host"], "javascript (jco)");

    // The sequence is not trivial: it opens, splits and closes downtime, and both hosts ran it.
    let events = rust["tables"]["slo_downtime_events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["attribution_type"] == "upstream"),
        "an upstream split happened"
    );
    assert!(!rust["tables"]["slo_daily_snapshots"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(rust["entities"].as_array().unwrap().len(), 3);

    let (rust, javascript) = (comparable(rust), comparable(javascript));
    let mut diffs = Vec::new();
    differences("$", &rust, &javascript, &mut diffs);
    assert!(
        diffs.is_empty(),
        "the JS host and the Rust harness disagree at {} place(s):\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_javascript_hosts_own_tests_pass() {
    let dir = prepared_js_host();
    let report = run(
        "node",
        &["--test", "test/"],
        &dir,
        "running the JS host's unit tests",
    );
    assert!(report.contains("# fail 0"), "{report}");
}
