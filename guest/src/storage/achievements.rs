//! The `slo_achievements` table: one row per (system, achievement), inserted only if absent
//! (decisions F24).

use super::{Database, Row};
use crate::core::achievement::{Achievement, AchievementType};
use crate::core::PluginError;

fn from_row(row: &Row<'_>) -> Result<Achievement, PluginError> {
    let name = row.text(2)?;
    Ok(Achievement {
        id: row.text(0)?,
        system_id: row.text(1)?,
        achievement: AchievementType::parse(&name).ok_or_else(|| {
            PluginError::Internal(format!("storage: unknown achievement {name:?}"))
        })?,
        unlocked_at: row.integer(3)?,
    })
}

/// Unlocks `achievement` for `system_id` at `now_ms` unless already unlocked; answers whether
/// this call unlocked it (one atomic statement: concurrent unlocks cannot duplicate it).
pub fn unlock(
    db: &dyn Database,
    id: &str,
    system_id: &str,
    achievement: AchievementType,
    now_ms: i64,
) -> Result<bool, PluginError> {
    let changed = db.execute(
        "INSERT INTO slo_achievements (id, system_id, achievement, unlocked_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (system_id, achievement) DO NOTHING",
        &[id.into(), system_id.into(), achievement.as_str().into(), now_ms.into()],
    )?;
    Ok(changed > 0)
}

/// The achievements of a system, in unlock order.
pub fn for_system(db: &dyn Database, system_id: &str) -> Result<Vec<Achievement>, PluginError> {
    let rows = db.query(
        "SELECT id, system_id, achievement, unlocked_at FROM slo_achievements WHERE system_id = ? ORDER BY unlocked_at, id",
        &[system_id.into()],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}

/// The `limit` most recent unlocks across systems, newest first.
pub fn recent(db: &dyn Database, limit: i64) -> Result<Vec<Achievement>, PluginError> {
    let rows = db.query(
        "SELECT id, system_id, achievement, unlocked_at FROM slo_achievements ORDER BY unlocked_at DESC, id DESC LIMIT ?",
        &[limit.into()],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}

/// Deletes the achievements of a system; answers how many.
pub fn delete_for_system(db: &dyn Database, system_id: &str) -> Result<u64, PluginError> {
    db.execute(
        "DELETE FROM slo_achievements WHERE system_id = ?",
        &[system_id.into()],
    )
}
