//! The admin actions that change the simulated platform: health, catalog systems, dependency
//! edges, maintenance windows and automations. Each body is parsed before the simulation is locked, and
//! each change commits with what it causes before it is answered.

use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{host_failure, Reply};
use crate::platform::simulation::Simulation;
use crate::platform::{HealthStatus, Maintenance};

fn require_system(simulation: &Simulation, field: &str, id: &str) -> Result<(), Reply> {
    // In a cluster, another instance may have added it: catch up first.
    simulation.platform().refresh().map_err(host_failure)?;
    if simulation.platform().has_system(id) {
        Ok(())
    } else {
        Err(Reply::error(
            404,
            "not-found",
            format!("{field}: no system {id:?} (add it with POST /admin/systems)"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct HealthBody {
    system_id: String,
    status: HealthStatus,
}

pub(super) fn set_health(simulation: &mut Simulation, body: HealthBody) -> Result<Value, Reply> {
    require_system(simulation, "systemId", &body.system_id)?;
    let before = simulation.platform().health(&body.system_id);
    simulation
        .set_health(&body.system_id, body.status)
        .map_err(host_failure)?;
    simulation.settle().map_err(host_failure)?;
    Ok(json!({
        "systemId": body.system_id,
        "from": before,
        "to": body.status,
        "changed": before != Some(body.status),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SystemBody {
    id: String,
    name: Option<String>,
}

pub(super) fn add_system(simulation: &mut Simulation, body: SystemBody) -> Result<Value, Reply> {
    if body.id.trim().is_empty() {
        return Err(Reply::error(400, "invalid", "id: must not be empty"));
    }
    let name = body.name.unwrap_or_else(|| body.id.clone());
    let existed = simulation.platform().has_system(&body.id);
    simulation
        .add_system(&body.id, &name)
        .map_err(host_failure)?;
    simulation.settle().map_err(host_failure)?;
    Ok(json!({ "id": body.id, "name": name, "created": !existed }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DependencyBody {
    source: String,
    target: String,
    #[serde(default)]
    remove: bool,
}

pub(super) fn set_dependency(
    simulation: &mut Simulation,
    body: DependencyBody,
) -> Result<Value, Reply> {
    require_system(simulation, "source", &body.source)?;
    require_system(simulation, "target", &body.target)?;
    if body.source == body.target {
        return Err(Reply::error(
            400,
            "invalid",
            "target: a system cannot depend on itself",
        ));
    }
    simulation
        .set_dependency(&body.source, &body.target, !body.remove)
        .map_err(host_failure)?;
    Ok(json!({ "source": body.source, "target": body.target, "present": !body.remove }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct MaintenanceBody {
    system_id: String,
    start: String,
    end: String,
    status: Option<String>,
}

/// The statuses a maintenance window may have (the platform's maintenance service).
const MAINTENANCE_STATUSES: [&str; 4] = ["scheduled", "in_progress", "completed", "cancelled"];

fn instant(field: &str, text: &str) -> Result<i64, Reply> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            Reply::error(
                400,
                "invalid",
                format!("{field}: not an RFC 3339 instant: {e}"),
            )
        })
}

/// `POST /admin/maintenance`: records a maintenance window (`status` defaults to `completed`,
/// as in scenarios). Objectives that exclude maintenance subtract it; the dashboard shades it.
pub(super) fn add_maintenance(
    simulation: &mut Simulation,
    body: MaintenanceBody,
) -> Result<Value, Reply> {
    let start_ms = instant("start", &body.start)?;
    let end_ms = instant("end", &body.end)?;
    if end_ms <= start_ms {
        return Err(Reply::error(400, "invalid", "end: must be after start"));
    }
    let status = body.status.unwrap_or_else(|| "completed".into());
    if !MAINTENANCE_STATUSES.contains(&status.as_str()) {
        return Err(Reply::error(
            400,
            "invalid",
            format!("status: must be one of {}", MAINTENANCE_STATUSES.join(", ")),
        ));
    }
    require_system(simulation, "systemId", &body.system_id)?;
    simulation
        .add_maintenance(Maintenance {
            system_id: body.system_id.clone(),
            start_ms,
            end_ms,
            status: status.clone(),
        })
        .map_err(host_failure)?;
    Ok(
        json!({ "systemId": body.system_id, "start": body.start, "end": body.end, "status": status }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AutomationBody {
    id: String,
    when: Option<Value>,
    trigger: Option<String>,
    #[serde(rename = "for")]
    dwell: Option<Value>,
}

/// `POST /admin/automations`: registers (or replaces) an automation, saved in the database
/// with its timers, so that a restart finds it, its pending dwells and its scheduled
/// re-evaluations. Refused in a cluster: automations are evaluated by the instance that routes
/// each change, and their edge state is not shared yet.
pub(super) fn add_automation(
    simulation: &mut Simulation,
    body: AutomationBody,
) -> Result<Value, Reply> {
    if simulation.membership().is_some() {
        return Err(Reply::error(
            409,
            "conflict",
            "automations are not shared between cluster instances yet: register them on a single-instance host",
        ));
    }
    if body.id.trim().is_empty() {
        return Err(Reply::error(400, "invalid", "id: must not be empty"));
    }
    simulation
        .register_automation(
            &body.id,
            body.when.as_ref(),
            body.trigger.as_deref(),
            body.dwell.as_ref(),
        )
        .map_err(|e| Reply::error(400, "invalid", e.to_string()))?;
    let status = simulation.automations_status().map_err(host_failure)?;
    let entry = status
        .as_array()
        .and_then(|list| list.iter().find(|a| a["id"] == json!(body.id)).cloned())
        .unwrap_or(Value::Null);
    Ok(entry)
}

/// `GET /admin/automations`: every automation with whether its condition holds and its
/// pending timers, and the runs recorded since the host started (the newest kept).
pub(super) fn list_automations(simulation: &Simulation) -> Reply {
    match simulation.automations_status() {
        Ok(automations) => Reply::ok(&json!({
            "automations": automations,
            "runs": simulation.records().automation_runs.iter().map(|r| json!({
                "automation": r.automation,
                "at": crate::capabilities::clock::to_rfc3339(r.at),
                "ref": r.wake_ref,
            })).collect::<Vec<_>>(),
        })),
        Err(e) => host_failure(e),
    }
}
