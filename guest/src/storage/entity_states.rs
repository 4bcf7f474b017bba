//! The `slo_entity_states` table: the `slo` entity's state as last applied, per objective.
//!
//! The entity framework snapshots prev with `read` before it runs `apply`; keeping the applied
//! state here makes that snapshot the state watchers last saw, even though the numbers it
//! holds (budget, streak) are computed from other tables.

use serde_json::Value;

use super::Database;
use crate::core::PluginError;

/// The stored states of the ids that have one, in request order.
pub fn get_many(db: &dyn Database, ids: &[String]) -> Result<Vec<(String, Value)>, PluginError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let rows = db.query(
            "SELECT state FROM slo_entity_states WHERE objective_id = ?",
            &[id.as_str().into()],
        )?;
        let text = rows.iter().next().map(|row| row.text(0)).transpose()?;
        if let Some(text) = text {
            let state = serde_json::from_str(&text).map_err(|e| {
                PluginError::Internal(format!("stored slo state of {id} is not JSON: {e}"))
            })?;
            out.push((id.clone(), state));
        }
    }
    Ok(out)
}

/// Stores the applied state of `objective_id`.
pub fn put(
    db: &dyn Database,
    objective_id: &str,
    state: &Value,
    now_ms: i64,
) -> Result<(), PluginError> {
    db.execute(
        "INSERT INTO slo_entity_states (objective_id, state, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (objective_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        &[objective_id.into(), state.to_string().into(), now_ms.into()],
    )?;
    Ok(())
}

/// Forgets the state of `objective_id` (the entity was removed).
pub fn delete(db: &dyn Database, objective_id: &str) -> Result<(), PluginError> {
    db.execute(
        "DELETE FROM slo_entity_states WHERE objective_id = ?",
        &[objective_id.into()],
    )?;
    Ok(())
}
