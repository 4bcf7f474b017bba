//! The `slo_daily_snapshots` table: one row per objective and UTC day, upserted (decisions F23).

use serde_json::{json, Value};

use super::{Database, Row};
use crate::core::time::to_rfc3339;
use crate::core::PluginError;

/// A daily snapshot (`SloDailySnapshot`).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// UUID.
    pub id: String,
    /// The objective.
    pub objective_id: String,
    /// UTC midnight of the day, epoch ms.
    pub date: i64,
    /// `currentAvailability ?? 100`.
    pub availability_percent: f64,
    /// `errorBudgetConsumedMinutes`.
    pub budget_consumed_minutes: f64,
    /// `errorBudgetRemainingPercent`.
    pub budget_remaining_percent: f64,
    /// `burnRate`.
    pub burn_rate: Option<f64>,
    /// The streak before the day's decision.
    pub streak_days: i64,
}

impl Snapshot {
    /// The API JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "objectiveId": self.objective_id,
            "date": to_rfc3339(self.date),
            "availabilityPercent": self.availability_percent,
            "budgetConsumedMinutes": self.budget_consumed_minutes,
            "budgetRemainingPercent": self.budget_remaining_percent,
            "burnRate": self.burn_rate,
            "streakDays": self.streak_days,
        })
    }
}

const COLUMNS: &str = "id, objective_id, date, availability_percent, budget_consumed_minutes, \
     budget_remaining_percent, burn_rate, streak_days";

fn from_row(row: &Row<'_>) -> Result<Snapshot, PluginError> {
    Ok(Snapshot {
        id: row.text(0)?,
        objective_id: row.text(1)?,
        date: row.integer(2)?,
        availability_percent: row.real(3)?,
        budget_consumed_minutes: row.real(4)?,
        budget_remaining_percent: row.real(5)?,
        burn_rate: row.opt_real(6)?,
        streak_days: row.integer(7)?,
    })
}

/// Writes the snapshot of (objective, date): inserted the first time, updated in place (same
/// id) on a later run of the same day, keeping `streak_days` from the first run (the streak
/// before the day's decision).
pub fn upsert(db: &dyn Database, snapshot: &Snapshot) -> Result<(), PluginError> {
    db.execute(
        &format!(
            "INSERT INTO slo_daily_snapshots ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (objective_id, date) DO UPDATE SET \
             availability_percent = excluded.availability_percent, \
             budget_consumed_minutes = excluded.budget_consumed_minutes, \
             budget_remaining_percent = excluded.budget_remaining_percent, \
             burn_rate = excluded.burn_rate"
        ),
        &[
            snapshot.id.as_str().into(),
            snapshot.objective_id.as_str().into(),
            snapshot.date.into(),
            snapshot.availability_percent.into(),
            snapshot.budget_consumed_minutes.into(),
            snapshot.budget_remaining_percent.into(),
            snapshot.burn_rate.into(),
            snapshot.streak_days.into(),
        ],
    )?;
    Ok(())
}

/// Snapshots of an objective with `start ≤ date ≤ end`, by date.
pub fn between(
    db: &dyn Database,
    objective_id: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Snapshot>, PluginError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM slo_daily_snapshots WHERE objective_id = ? AND date >= ? AND date <= ? ORDER BY date, id"),
        &[objective_id.into(), start_ms.into(), end_ms.into()],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}
