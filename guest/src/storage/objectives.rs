//! The `slo_objectives` table.

use super::{Database, Row, SqlValue};
use crate::core::objective::{BurnRateThresholds, CreateObjective, DependencyExclusion, Objective};
use crate::core::PluginError;

const COLUMNS: &str = "id, system_id, health_check_configuration_id, target, window_days, \
     dependency_exclusion, excluded_dependency_ids, exclude_maintenance_windows, \
     burn_rate_warning_percent, burn_rate_critical_percent, burn_rate_fast_burn_multiplier, \
     created_at, updated_at";

/// Inserts a new objective with `id`, created and updated at `now_ms`; answers it as stored.
pub fn insert(
    db: &dyn Database,
    id: &str,
    input: &CreateObjective,
    now_ms: i64,
) -> Result<Objective, PluginError> {
    let excluded = serde_json::to_string(&input.excluded_dependency_ids)
        .map_err(|e| PluginError::Internal(format!("storage: {e}")))?;
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
            excluded.into(),
            input.exclude_maintenance_windows.into(),
            t.warning_percent.into(),
            t.critical_percent.into(),
            t.fast_burn_multiplier.into(),
            now_ms.into(),
            now_ms.into(),
        ],
    )?;
    get(db, id)?
        .ok_or_else(|| PluginError::Internal(format!("objective {id} vanished after insert")))
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

/// Every objective, oldest first (then by id), so that listings are deterministic.
pub fn list(db: &dyn Database) -> Result<Vec<Objective>, PluginError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM slo_objectives ORDER BY created_at, id"),
        &[],
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
