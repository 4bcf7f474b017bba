//! The `slo_objectives` table (and the streak row created with each objective).

use super::{Database, Row, SqlValue};
use crate::core::objective::{BurnRateThresholds, CreateObjective, DependencyExclusion, Objective};
use crate::core::PluginError;

const COLUMNS: &str = "id, system_id, health_check_configuration_id, target, window_days, \
     dependency_exclusion, excluded_dependency_ids, exclude_maintenance_windows, \
     burn_rate_warning_percent, burn_rate_critical_percent, burn_rate_fast_burn_multiplier, \
     created_at, updated_at";

fn json_ids(ids: &[String]) -> Result<String, PluginError> {
    serde_json::to_string(ids).map_err(|e| PluginError::Internal(format!("storage: {e}")))
}

/// Inserts a new objective with `id` and its empty streak row, created and updated at
/// `now_ms` (both in the invocation's one transaction); answers the objective as stored.
pub fn insert(
    db: &dyn Database,
    id: &str,
    input: &CreateObjective,
    now_ms: i64,
) -> Result<Objective, PluginError> {
    let t = input.burn_rate_thresholds;
    db.execute(
        &format!(
            "INSERT INTO slo_objectives ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        &[
            id.into(),
            input.system_id.as_str().into(),
            input.health_check_configuration_id.clone().into(),
            input.target.into(),
            input.window_days.into(),
            input.dependency_exclusion.as_str().into(),
            json_ids(&input.excluded_dependency_ids)?.into(),
            input.exclude_maintenance_windows.into(),
            t.warning_percent.into(),
            t.critical_percent.into(),
            t.fast_burn_multiplier.into(),
            now_ms.into(),
            now_ms.into(),
        ],
    )?;
    db.execute(
        "INSERT INTO slo_streaks (objective_id, system_id, current_streak, best_streak) VALUES (?, ?, 0, 0)",
        &[id.into(), input.system_id.as_str().into()],
    )?;
    get(db, id)?
        .ok_or_else(|| PluginError::Internal(format!("objective {id} vanished after insert")))
}

/// Writes every changeable field of `objective` (the result of an update applied in the core).
/// Answers whether the row existed.
pub fn save(db: &dyn Database, objective: &Objective) -> Result<bool, PluginError> {
    let t = objective.burn_rate_thresholds;
    let excluded = match &objective.excluded_dependency_ids {
        Some(ids) => SqlValue::Text(json_ids(ids)?),
        None => SqlValue::Null,
    };
    let changed = db.execute(
        "UPDATE slo_objectives SET target = ?, window_days = ?, dependency_exclusion = ?, \
         excluded_dependency_ids = ?, exclude_maintenance_windows = ?, burn_rate_warning_percent = ?, \
         burn_rate_critical_percent = ?, burn_rate_fast_burn_multiplier = ?, updated_at = ? WHERE id = ?",
        &[
            objective.target.into(),
            objective.window_days.into(),
            objective.dependency_exclusion.as_str().into(),
            excluded,
            objective.exclude_maintenance_windows.into(),
            t.warning_percent.into(),
            t.critical_percent.into(),
            t.fast_burn_multiplier.into(),
            objective.updated_at.into(),
            objective.id.as_str().into(),
        ],
    )?;
    Ok(changed > 0)
}

/// Deletes an objective (its events, snapshots and streak cascade). Answers whether it existed.
pub fn delete(db: &dyn Database, id: &str) -> Result<bool, PluginError> {
    Ok(db.execute("DELETE FROM slo_objectives WHERE id = ?", &[id.into()])? > 0)
}

/// Deletes every objective of `system_id`; answers how many.
pub fn delete_for_system(db: &dyn Database, system_id: &str) -> Result<u64, PluginError> {
    db.execute(
        "DELETE FROM slo_objectives WHERE system_id = ?",
        &[system_id.into()],
    )
}

/// The objective with `id`, if it exists.
pub fn get(db: &dyn Database, id: &str) -> Result<Option<Objective>, PluginError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM slo_objectives WHERE id = ?"),
        &[SqlValue::from(id)],
    )?;
    let first = rows.iter().next().map(|row| from_row(&row)).transpose();
    first
}

/// Every objective, oldest first (then by id), so that listings are deterministic. Read
/// through the cursor, so that any number of objectives is listed.
pub fn list(db: &dyn Database) -> Result<Vec<Objective>, PluginError> {
    super::read_all(
        db,
        &format!("SELECT {COLUMNS} FROM slo_objectives ORDER BY created_at, id"),
        &[],
        from_row,
    )
}

/// The objectives of `system_id`, oldest first.
pub fn list_for_system(db: &dyn Database, system_id: &str) -> Result<Vec<Objective>, PluginError> {
    let rows = db.query(
        &format!(
            "SELECT {COLUMNS} FROM slo_objectives WHERE system_id = ? ORDER BY created_at, id"
        ),
        &[system_id.into()],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}

fn from_row(row: &Row<'_>) -> Result<Objective, PluginError> {
    let mode = row.text(5)?;
    let dependency_exclusion = DependencyExclusion::parse(&mode).ok_or_else(|| {
        PluginError::Internal(format!("storage: unknown dependency_exclusion {mode:?}"))
    })?;
    let excluded_dependency_ids = match row.opt_text(6)? {
        None => None,
        Some(text) => Some(serde_json::from_str::<Vec<String>>(&text).map_err(|e| {
            PluginError::Internal(format!(
                "storage: excluded_dependency_ids is not a string array: {e}"
            ))
        })?),
    };
    Ok(Objective {
        id: row.text(0)?,
        system_id: row.text(1)?,
        health_check_configuration_id: row.opt_text(2)?,
        target: row.real(3)?,
        window_days: row.integer(4)?,
        dependency_exclusion,
        excluded_dependency_ids,
        exclude_maintenance_windows: row.boolean(7)?,
        burn_rate_thresholds: BurnRateThresholds {
            warning_percent: row.real(8)?,
            critical_percent: row.real(9)?,
            fast_burn_multiplier: row.real(10)?,
        },
        created_at: row.integer(11)?,
        updated_at: row.integer(12)?,
    })
}
