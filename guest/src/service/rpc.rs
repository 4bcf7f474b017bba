//! The twelve RPC procedures (slo-behaviour.md §6) and `getBudgetCurve` (for charts), with
//! decisions F11 (reads never write), F17 (names from the catalog), F19/F20 (writes broadcast,
//! refresh the entity and invalidate after commit) and F33 (bounded limits). Access rules are checked by the host before a call
//! arrives here; validation errors name the field.

use serde_json::{json, Map, Value};

use super::{status_json, Env};
use crate::core::objective::{CreateObjective, Fields, Objective, UpdateObjective};
use crate::core::time::parse_rfc3339;
use crate::core::PluginError;
use crate::engine::{reconcile_objective, status_changed};
use crate::storage::{achievements, downtime, objectives, snapshots, streaks, Database};

/// How long read results stay cached (the original's 15 s).
pub const CACHE_TTL_MS: u64 = 15_000;
/// Largest `limit` a caller may ask for (F33).
pub const MAX_LIMIT: i64 = 1000;

/// Dispatches RPC `procedure` with JSON `input`.
pub fn handle_rpc(
    db: &dyn Database,
    env: &dyn Env,
    procedure: &str,
    input: &Value,
) -> Result<Value, PluginError> {
    match procedure {
        "listObjectives" => list_objectives(db, env),
        "getObjective" => get_objective(db, env, input),
        "getObjectivesForSystem" => objectives_for_system(db, env, input),
        "getBulkObjectivesForSystems" => bulk_objectives_for_systems(db, env, input),
        "createObjective" => create_objective(db, env, input),
        "updateObjective" => update_objective(db, env, input),
        "deleteObjective" => delete_objective(db, env, input),
        "getDowntimeEvents" => downtime_events(db, input),
        "getDailySnapshots" => daily_snapshots(db, input),
        "getStreaks" => all_streaks(db),
        "getAchievements" => system_achievements(db, input),
        "getRecentMilestones" => recent_milestones(db, env, input),
        "getSystemSignals" => system_signals(db, env, input),
        "getBudgetCurve" => curve::budget_curve(db, env, input),
        #[cfg(feature = "next")]
        "getPluginInfo" => Ok(plugin_info()),
        other => Err(PluginError::NotFound(format!(
            "procedure {other:?} does not exist"
        ))),
    }
}

/// Answers `key` from the cache, or computes, caches (after commit) and answers it.
fn cached(
    env: &dyn Env,
    key: &str,
    load: impl FnOnce() -> Result<Value, PluginError>,
) -> Result<Value, PluginError> {
    if let Some(hit) = env
        .cache_get(key)
        .and_then(|text| serde_json::from_str(&text).ok())
    {
        return Ok(hit);
    }
    let value = load()?;
    env.cache_set(key, &value.to_string(), CACHE_TTL_MS);
    Ok(value)
}

fn with_status(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<Value, PluginError> {
    Ok(json!({ "objective": objective.to_json(), "status": status_json(db, env, objective)? }))
}

/// One objective's `{objective, status}` row, through its own cache key (`objective:{id}`,
/// which every write path that changes its status invalidates, F20): a list whose cache was
/// dropped because one objective changed recomputes that objective only.
fn objective_row(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<Value, PluginError> {
    cached(env, &format!("objective:{}", objective.id), || {
        with_status(db, env, objective)
    })
}

fn system_rows(db: &dyn Database, env: &dyn Env, system_id: &str) -> Result<Value, PluginError> {
    cached(env, &format!("system:{system_id}"), || {
        let rows = objectives::list_for_system(db, system_id)?
            .iter()
            .map(|o| objective_row(db, env, o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(rows))
    })
}

/// `listObjectives`: `{objectives: [{objective, status}]}`, oldest first.
pub fn list_objectives(db: &dyn Database, env: &dyn Env) -> Result<Value, PluginError> {
    cached(env, "list:objectives", || {
        let rows = objectives::list(db)?
            .iter()
            .map(|o| objective_row(db, env, o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "objectives": rows }))
    })
}

/// `getObjective {id}`: `{objective, status}`, or `null` for an unknown id (as the original).
pub fn get_objective(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let id = Fields::of(input)?.required_string("id")?;
    cached(env, &format!("objective:{id}"), || {
        match objectives::get(db, &id)? {
            Some(objective) => with_status(db, env, &objective),
            None => Ok(Value::Null),
        }
    })
}

/// `getObjectivesForSystem {systemId}`: `[{objective, status}]`.
pub fn objectives_for_system(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let system_id = Fields::of(input)?.required_string("systemId")?;
    system_rows(db, env, &system_id)
}

/// The most system ids one `getBulkObjectivesForSystems` call may name (as `limit` is
/// bounded, F33): a larger list is a clear `invalid`, not a call that runs into its deadline.
pub const MAX_BULK_SYSTEM_IDS: usize = 1000;

/// `getBulkObjectivesForSystems {systemIds}`: `{systems: {systemId: [{objective, status}]}}`,
/// every requested id present (an empty list when it has no objectives). At most
/// [`MAX_BULK_SYSTEM_IDS`] ids.
pub fn bulk_objectives_for_systems(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let ids = Fields::of(input)?
        .optional_string_list("systemIds")?
        .ok_or_else(|| PluginError::invalid_field("systemIds", "is required"))?;
    if ids.len() > MAX_BULK_SYSTEM_IDS {
        return Err(PluginError::invalid_field(
            "systemIds",
            format!(
                "names {} systems; at most {MAX_BULK_SYSTEM_IDS} per call",
                ids.len()
            ),
        ));
    }
    let mut systems = Map::new();
    for id in ids {
        let rows = system_rows(db, env, &id)?;
        systems.insert(id, rows);
    }
    Ok(json!({ "systems": systems }))
}

/// `createObjective`: stores the objective and its streak, opens an event at once if the
/// system is known to be down, broadcasts its status and invalidates the caches (F19, F20).
pub fn create_objective(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let input = CreateObjective::from_json(input)?;
    let objective = objectives::insert(db, &env.new_id(), &input, env.now_ms())?;
    reconcile_objective(db, env, &objective)?;
    status_changed(db, env, &objective)?;
    // F27: achievements are also evaluated when an objective is created
    crate::jobs::evaluate_achievements(db, env, &objective.system_id)?;
    Ok(objective.to_json())
}

/// Refuses a change of a fixed field (`systemId`, `healthCheckConfigurationId`); sending
/// the stored value back is fine, as the original silently drops these keys.
fn check_fixed(input: &Value, objective: &Objective) -> Result<(), PluginError> {
    let fixed = [
        ("systemId", Some(objective.system_id.as_str())),
        (
            "healthCheckConfigurationId",
            objective.health_check_configuration_id.as_deref(),
        ),
    ];
    for (field, stored) in fixed {
        match input.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if !v.is_string() => {
                return Err(PluginError::invalid_field(field, "must be a string"))
            }
            Some(v) if v.as_str() == stored => {}
            Some(_) => {
                return Err(PluginError::invalid_field(
                    field,
                    "cannot be changed; create a new objective instead",
                ))
            }
        }
    }
    Ok(())
}

/// `updateObjective`: `not-found` for an unknown id; otherwise applies the given fields
/// (partial thresholds keep stored values, F36), reconciles, broadcasts and invalidates.
pub fn update_objective(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let update = UpdateObjective::from_json(input)?;
    let current = objectives::get(db, &update.id)?
        .ok_or_else(|| PluginError::NotFound(format!("SLO objective not found: {}", update.id)))?;
    check_fixed(input, &current)?;
    let updated = update.applied_to(&current, env.now_ms());
    objectives::save(db, &updated)?;
    // an explicit write path: fix orphaned downtime (F11), then open downtime if down
    crate::engine::reconcile_orphans(db, env, &updated)?;
    reconcile_objective(db, env, &updated)?;
    status_changed(db, env, &updated)?;
    Ok(updated.to_json())
}

/// `deleteObjective {id}`: `{success}`. A deletion broadcasts the objective's last status with
/// `deleted: true` (F19), removes its entity and invalidates its caches (F20).
pub fn delete_objective(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let id = Fields::of(input)?.required_string("id")?;
    let Some(objective) = objectives::get(db, &id)? else {
        return Ok(json!({ "success": false }));
    };
    let last = super::compute(db, env, &objective)?;
    let success = objectives::delete(db, &id)?;
    if success {
        crate::engine::deletion_announced(env, &objective, &last);
    }
    Ok(json!({ "success": success }))
}

/// A `limit` field: default `default`, an integer 1..=1000 otherwise (F33).
fn limit(fields: &Fields<'_>, default: i64) -> Result<i64, PluginError> {
    match fields.get("limit") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_f64() {
            Some(n) if n.fract() == 0.0 && (1.0..=MAX_LIMIT as f64).contains(&n) => Ok(n as i64),
            _ => Err(PluginError::invalid_field(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

fn existing_objective(db: &dyn Database, fields: &Fields<'_>) -> Result<Objective, PluginError> {
    let id = fields.required_string("objectiveId")?;
    objectives::get(db, &id)?
        .ok_or_else(|| PluginError::NotFound(format!("SLO objective not found: {id}")))
}

/// `getDowntimeEvents {objectiveId, limit = 50}`: the most recent events, newest first. A read:
/// no orphan reconcile here (F11).
pub fn downtime_events(db: &dyn Database, input: &Value) -> Result<Value, PluginError> {
    let fields = Fields::of(input)?;
    let objective = existing_objective(db, &fields)?;
    let events: Vec<Value> = downtime::recent(db, &objective.id, limit(&fields, 50)?)?
        .iter()
        .map(|e| e.to_json())
        .collect();
    Ok(json!({ "events": events }))
}

/// A date input, coerced as the original does: an ISO 8601 / RFC 3339 string (a date alone or
/// a time without offset is UTC) or epoch milliseconds.
fn date_field(fields: &Fields<'_>, key: &str) -> Result<i64, PluginError> {
    date_value(fields.required(key)?).ok_or_else(|| {
        PluginError::invalid_field(key, "expected an ISO 8601 date or epoch milliseconds")
    })
}

/// A date value as [`date_field`] reads one; `None` when it is not a date.
fn date_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => parse_rfc3339(text)
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc().timestamp_millis())
            }),
        _ => None,
    }
}

/// `getDailySnapshots {objectiveId, startDate, endDate}`: snapshots in the range, by date.
pub fn daily_snapshots(db: &dyn Database, input: &Value) -> Result<Value, PluginError> {
    let fields = Fields::of(input)?;
    let objective = existing_objective(db, &fields)?;
    let start = date_field(&fields, "startDate")?;
    let end = date_field(&fields, "endDate")?;
    let list: Vec<Value> = snapshots::between(db, &objective.id, start, end)?
        .iter()
        .map(|s| s.to_json())
        .collect();
    Ok(json!({ "snapshots": list }))
}

/// `getStreaks`: every streak.
pub fn all_streaks(db: &dyn Database) -> Result<Value, PluginError> {
    let list: Vec<Value> = streaks::all(db)?.iter().map(|s| s.to_json()).collect();
    Ok(json!({ "streaks": list }))
}

/// `getAchievements {systemId}`: the system's achievements, in unlock order.
pub fn system_achievements(db: &dyn Database, input: &Value) -> Result<Value, PluginError> {
    let system_id = Fields::of(input)?.required_string("systemId")?;
    let list: Vec<Value> = achievements::for_system(db, &system_id)?
        .iter()
        .map(|a| a.to_json())
        .collect();
    Ok(json!({ "achievements": list }))
}

/// `getRecentMilestones {limit = 20}`: the newest unlocks with catalog names (F17, F33).
pub fn recent_milestones(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let fields = Fields::of(input)?;
    let list: Vec<Value> = achievements::recent(db, limit(&fields, 20)?)?
        .iter()
        .map(|a| {
            json!({
                "systemId": a.system_id,
                "systemName": env.system_name(&a.system_id),
                "achievement": a.achievement.as_str(),
                "unlockedAt": crate::core::time::to_rfc3339(a.unlocked_at),
            })
        })
        .collect();
    Ok(json!({ "milestones": list }))
}

/// `getSystemSignals {systemIds?}`: `{signals: {systemId: [signal]}}` for the given systems
/// (every system with objectives when omitted); systems without signals are left out (§14).
pub fn system_signals(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let wanted = Fields::of(input)?.optional_string_list("systemIds")?;
    let mut out = Map::new();
    for objective in objectives::list(db)? {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&objective.system_id))
        {
            continue;
        }
        let status = super::compute(db, env, &objective)?;
        let row = crate::core::signals::SignalRow {
            objective_id: objective.id.clone(),
            target: objective.target,
            window_days: objective.window_days,
            is_breaching: status.budget.is_breaching,
            has_open_downtime: status.has_open_downtime,
            remaining_percent: status.budget.remaining_percent,
        };
        if let Some(signal) = crate::core::signals::signal(&row) {
            if let Value::Array(list) = out
                .entry(objective.system_id.clone())
                .or_insert_with(|| json!([]))
            {
                list.push(signal);
            }
        }
    }
    Ok(json!({ "signals": out }))
}

mod curve;
#[cfg(test)]
mod tests;

/// `getPluginInfo` (the next release): the version serving and the migrations it ships.
#[cfg(feature = "next")]
fn plugin_info() -> Value {
    json!({
        "id": crate::manifest::PLUGIN_ID,
        "version": crate::manifest::VERSION,
        "migrations": crate::migrations::MIGRATIONS.iter().map(|m| m.id).collect::<Vec<_>>(),
    })
}
