//! The `slo_streaks` table. Every change is one atomic statement (decisions F24) guarded by the
//! UTC day, so that a streak changes at most once per day however often the job runs (F23).

use super::{Database, Row};
use crate::core::streak::{Streak, StreakDecision};
use crate::core::PluginError;

const COLUMNS: &str =
    "objective_id, system_id, current_streak, best_streak, streak_start, best_streak_end";

fn from_row(row: &Row<'_>) -> Result<Streak, PluginError> {
    Ok(Streak {
        objective_id: row.text(0)?,
        system_id: row.text(1)?,
        current: row.integer(2)?,
        best: row.integer(3)?,
        streak_start: row.opt_integer(4)?,
        best_streak_end: row.opt_integer(5)?,
    })
}

/// The streak of an objective.
pub fn get(db: &dyn Database, objective_id: &str) -> Result<Option<Streak>, PluginError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM slo_streaks WHERE objective_id = ?"),
        &[objective_id.into()],
    )?;
    let first = rows.iter().next().map(|row| from_row(&row)).transpose();
    first
}

/// Every streak, ordered by objective id.
pub fn all(db: &dyn Database) -> Result<Vec<Streak>, PluginError> {
    super::read_all(
        db,
        &format!("SELECT {COLUMNS} FROM slo_streaks ORDER BY objective_id"),
        &[],
        from_row,
    )
}

/// Applies the day's decision for `objective_id` unless a decision was already recorded for
/// UTC day `today`. Answers whether the row was decided now (false: missing row or already
/// decided today).
///
/// Increment: `current + 1`, `best = max(best, current + 1)`, `streakStart = streakStart ?? now`,
/// `bestStreakEnd` cleared when the new current beats the old best. Reset: `current = 0`,
/// `streakStart = NULL`, `bestStreakEnd = now` when the broken streak was the best (and > 0).
/// (The right-hand sides of one UPDATE all read the row as it was, in SQLite and PostgreSQL.)
pub fn apply_decision(
    db: &dyn Database,
    objective_id: &str,
    decision: StreakDecision,
    now_ms: i64,
    today_ms: i64,
) -> Result<bool, PluginError> {
    let guard = "WHERE objective_id = ? AND (last_evaluated_day IS NULL OR last_evaluated_day < ?)";
    let changed = match decision {
        StreakDecision::Increment => db.execute(
            &format!(
                "UPDATE slo_streaks SET current_streak = current_streak + 1, \
                 best_streak = CASE WHEN current_streak + 1 > best_streak THEN current_streak + 1 ELSE best_streak END, \
                 streak_start = COALESCE(streak_start, ?), \
                 best_streak_end = CASE WHEN current_streak + 1 > best_streak THEN NULL ELSE best_streak_end END, \
                 last_evaluated_day = ? {guard}"
            ),
            &[now_ms.into(), today_ms.into(), objective_id.into(), today_ms.into()],
        )?,
        StreakDecision::Reset => db.execute(
            &format!(
                "UPDATE slo_streaks SET current_streak = 0, streak_start = NULL, \
                 best_streak_end = CASE WHEN current_streak >= best_streak AND current_streak > 0 THEN ? ELSE best_streak_end END, \
                 last_evaluated_day = ? {guard}"
            ),
            &[now_ms.into(), today_ms.into(), objective_id.into(), today_ms.into()],
        )?,
        StreakDecision::Keep => db.execute(
            &format!("UPDATE slo_streaks SET last_evaluated_day = ? {guard}"),
            &[today_ms.into(), objective_id.into(), today_ms.into()],
        )?,
    };
    Ok(changed > 0)
}
