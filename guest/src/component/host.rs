//! The host's imports behind the storage and service traits.

use super::bindings::checkstack::plugin::{
    cache, clock, context, entities, log, platform, queue, signals, sql, types,
};
use crate::core::status::{Health, MaintenanceWindow};
use crate::core::time::parse_rfc3339;
use crate::core::PluginError;
use crate::service::{Env, Recovery};
use crate::storage::{Buffers, CellKind, Database, Rows, SqlValue};
use serde_json::{json, Value};

/// The invocation's SQL transaction, through the host's `sql` import.
pub struct HostDatabase;

fn to_wit_value(v: &SqlValue) -> sql::SqlValue {
    match v {
        SqlValue::Null => sql::SqlValue::Null,
        SqlValue::Integer(n) => sql::SqlValue::Integer(*n),
        SqlValue::Real(n) => sql::SqlValue::Real(*n),
        SqlValue::Text(s) => sql::SqlValue::Text(s.clone()),
        SqlValue::Blob(b) => sql::SqlValue::Blob(b.clone()),
    }
}

/// Takes over a columnar result from the host (no per-row or per-cell allocation).
fn from_wit_rows(rows: sql::Rows) -> Result<Rows, PluginError> {
    let kinds = rows
        .kinds
        .into_iter()
        .map(|kind| match kind {
            sql::CellKind::Null => CellKind::Null,
            sql::CellKind::Integer => CellKind::Integer,
            sql::CellKind::Real => CellKind::Real,
            sql::CellKind::Text => CellKind::Text,
            sql::CellKind::Blob => CellKind::Blob,
        })
        .collect();
    Rows::from_buffers(Buffers {
        columns: rows.columns,
        kinds,
        integers: rows.integers,
        reals: rows.reals,
        text: rows.text,
        text_ends: rows.text_ends,
        blobs: rows.blobs,
        blob_ends: rows.blob_ends,
    })
}

fn sql_error(e: sql::SqlError) -> PluginError {
    let (kind, message) = match e {
        sql::SqlError::Syntax(m) => ("syntax", m),
        sql::SqlError::Constraint(m) => return PluginError::Conflict(format!("constraint: {m}")),
        sql::SqlError::Refused(m) => ("refused", m),
        sql::SqlError::Parameters(m) => ("parameters", m),
        sql::SqlError::Database(m) => ("database", m),
    };
    PluginError::Internal(format!("sql {kind}: {message}"))
}

impl Database for HostDatabase {
    fn query(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, PluginError> {
        let params: Vec<_> = params.iter().map(to_wit_value).collect();
        from_wit_rows(sql::query(statement, &params).map_err(sql_error)?)
    }

    fn query_pages(
        &self,
        statement: &str,
        params: &[SqlValue],
        page_rows: u32,
        page: &mut dyn FnMut(Rows) -> Result<bool, PluginError>,
    ) -> Result<(), PluginError> {
        let params: Vec<_> = params.iter().map(to_wit_value).collect();
        let cursor = sql::open_cursor(statement, &params).map_err(sql_error)?;
        let page_rows = page_rows.max(1);
        loop {
            let rows = from_wit_rows(cursor.next(page_rows).map_err(sql_error)?)?;
            // A short page is the last one: no call just to learn that the rows ran out.
            let last = rows.len() < page_rows as usize;
            if rows.is_empty() || !page(rows)? || last {
                return Ok(());
            }
        }
    }

    fn savepoint(&self) -> Result<u32, PluginError> {
        sql::savepoint().map_err(sql_error)
    }

    fn release(&self, id: u32) -> Result<(), PluginError> {
        sql::release(id).map_err(sql_error)
    }

    fn rollback_to(&self, id: u32) -> Result<(), PluginError> {
        sql::rollback_to(id).map_err(sql_error)
    }

    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<u64, PluginError> {
        let params: Vec<_> = params.iter().map(to_wit_value).collect();
        sql::execute(statement, &params).map_err(sql_error)
    }
}

/// The host clock and UUID v4 ids (randomness comes from the host's WASI random source,
/// which is seeded in deterministic mode).
pub struct HostEnv;

impl Env for HostEnv {
    fn now_ms(&self) -> i64 {
        clock::now_ms()
    }

    fn enqueue(
        &self,
        queue_name: &str,
        payload: &Value,
        job_id: &str,
        delay_ms: u64,
    ) -> Result<(), PluginError> {
        let options = queue::EnqueueOptions {
            job_id: Some(job_id.to_owned()),
            delay_ms: Some(delay_ms),
            priority: None,
        };
        queue::enqueue(queue_name, &payload.to_string(), &options)
            .map(|_| ())
            .map_err(|e| PluginError::Internal(format!("enqueue on {queue_name}: {e:?}")))
    }

    fn deadline_remaining_ms(&self) -> Option<u64> {
        Some(context::deadline_remaining_ms())
    }

    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn system_health(&self, system_id: &str) -> Health {
        let input = json!({ "systemId": system_id }).to_string();
        match platform::call("healthcheck", "getSystemHealthStatus", &input) {
            Ok(output) => match serde_json::from_str::<Value>(&output) {
                Ok(v) if v["status"] == "healthy" => Health::Healthy,
                Ok(v) if v["status"].is_string() => Health::Unhealthy,
                _ => {
                    log_warn(&format!(
                        "health of {system_id}: unreadable answer {output}"
                    ));
                    Health::Unknown
                }
            },
            Err(e) => {
                log_warn(&format!("health of {system_id} unknown: {e:?}"));
                Health::Unknown
            }
        }
    }

    fn upstreams(&self, system_id: &str) -> Vec<String> {
        dependencies(system_id, "upstream", "targetSystemId")
    }

    fn downstreams(&self, system_id: &str) -> Vec<String> {
        dependencies(system_id, "downstream", "sourceSystemId")
    }

    fn system_name(&self, system_id: &str) -> String {
        call_json("catalog", "getSystem", json!({ "systemId": system_id }))
            .and_then(|v| v["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| system_id.to_owned())
    }

    fn incident_override_active(&self, system_id: &str) -> Option<bool> {
        call_json(
            "incident",
            "getActiveHealthOverrides",
            json!({ "systemIds": [system_id] }),
        )
        .map(|v| {
            v["overrides"][system_id]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
    }

    fn recovered_at(&self, system_id: &str, since_ms: i64) -> Recovery {
        let input = json!({
            "systemId": system_id,
            "startDate": crate::core::time::to_rfc3339(since_ms),
            "statusFilter": ["healthy"],
            "limit": 1,
            "sortOrder": "asc",
        });
        let Some(v) = call_json("healthcheck", "getHistory", input) else {
            return Recovery::Unknown;
        };
        let Some(runs) = v["runs"].as_array() else {
            return Recovery::Unknown;
        };
        match runs.first() {
            None => Recovery::NotYet,
            Some(run) => run["timestamp"]
                .as_str()
                .and_then(parse_rfc3339)
                .map_or(Recovery::Unknown, Recovery::At),
        }
    }

    fn broadcast(&self, signal_id: &str, payload: &Value) {
        if let Err(e) = signals::broadcast(signal_id, &payload.to_string()) {
            log_warn(&format!("signal {signal_id} not sent: {e:?}"));
        }
    }

    fn refresh_entity(&self, objective_id: &str) {
        let op = types::EntityOp::Mutate(json!({ "refresh": true }).to_string());
        if let Err(e) = entities::request("slo", objective_id, &op) {
            log_warn(&format!("slo entity {objective_id} not refreshed: {e:?}"));
        }
    }

    fn invalidate(&self, keys: &[String]) {
        cache::invalidate(keys);
    }

    fn remove_entity(&self, objective_id: &str) {
        let op = types::EntityOp::Remove(json!({}).to_string());
        if let Err(e) = entities::request("slo", objective_id, &op) {
            log_warn(&format!("slo entity {objective_id} not removed: {e:?}"));
        }
    }

    fn cache_get(&self, key: &str) -> Option<String> {
        cache::get(key)
    }

    fn cache_set(&self, key: &str, value: &str, ttl_ms: u64) {
        cache::set(key, value, ttl_ms);
    }

    fn emit_hook(&self, hook_id: &str, payload: &Value) {
        if let Err(e) =
            super::bindings::checkstack::plugin::hooks::emit(hook_id, &payload.to_string())
        {
            log_warn(&format!("hook {hook_id} not emitted: {e:?}"));
        }
    }

    fn warn(&self, message: &str) {
        log_warn(message);
    }

    fn resolve_ref(&self, kind: &str, name: &str) -> Option<String> {
        call_json(
            "gitops",
            "resolveEntityRef",
            json!({ "kind": kind, "entityName": name }),
        )
        .and_then(|v| v["entityId"].as_str().map(str::to_owned))
    }

    fn maintenance_windows(
        &self,
        system_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<MaintenanceWindow> {
        let input = json!({
            "systemIds": [system_id],
            "from": crate::core::time::to_rfc3339(from_ms),
            "to": crate::core::time::to_rfc3339(to_ms),
        })
        .to_string();
        let output = match platform::call("maintenance", "getMaintenanceWindowsForRange", &input) {
            Ok(output) => output,
            Err(e) => {
                log_warn(&format!(
                    "maintenance of {system_id} unavailable, nothing excluded: {e:?}"
                ));
                return Vec::new();
            }
        };
        let value: Value = serde_json::from_str(&output).unwrap_or(Value::Null);
        value["maintenances"][system_id]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| {
                Some(MaintenanceWindow {
                    start_ms: parse_rfc3339(w["startAt"].as_str()?)?,
                    end_ms: parse_rfc3339(w["endAt"].as_str()?)?,
                    status: w["status"].as_str().unwrap_or("completed").to_owned(),
                })
            })
            .collect()
    }
}

/// Calls a platform procedure and parses its JSON answer; `None` (with a warning) on failure.
fn call_json(plugin: &str, procedure: &str, input: Value) -> Option<Value> {
    match platform::call(plugin, procedure, &input.to_string()) {
        Ok(output) => serde_json::from_str(&output).ok(),
        Err(e) => {
            log_warn(&format!("{plugin}.{procedure} failed: {e:?}"));
            None
        }
    }
}

/// Direct dependencies of `system_id` in `direction`, each dependency's `field`.
fn dependencies(system_id: &str, direction: &str, field: &str) -> Vec<String> {
    call_json(
        "dependency",
        "getDependencies",
        json!({ "systemId": system_id, "direction": direction }),
    )
    .and_then(|v| {
        v["dependencies"].as_array().map(|deps| {
            deps.iter()
                .filter_map(|d| d[field].as_str().map(str::to_owned))
                .collect()
        })
    })
    .unwrap_or_default()
}

/// Logs at warn level through the host.
pub fn log_warn(message: &str) {
    log::write(log::Level::Warn, message);
}

/// Logs at info level through the host.
pub fn log_info(message: &str) {
    log::write(log::Level::Info, message);
}
