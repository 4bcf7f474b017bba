//! The reactive `slo` entity (slo-behaviour.md §11 plus the A1 fields).
//!
//! Its state is computed from the objective, its status and its streak when the framework
//! applies a change (every status change, the minute refresh during downtime, the daily job),
//! and kept in `slo_entity_states`; `read` answers that stored state. So the framework's prev
//! snapshot (a read before apply) is what watchers last saw, and the diff shows what moved
//! since, including budget consumed by an ongoing outage. (The original computed on read; its
//! diff could then only ever show the streak fields.)

use serde_json::{json, Value};

use super::{compute, Env};
use crate::core::PluginError;
use crate::storage::{entity_states, objectives, streaks, Database};

/// The entity kind.
pub const KIND: &str = "slo";

/// JSON Schema of the state; the host validates every applied state against it.
pub const STATE_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "objectiveId": {"type": "string"},
    "systemId": {"type": "string"},
    "target": {"type": "number"},
    "budgetRemainingPercent": {"type": "number"},
    "currentStreak": {"type": "integer", "minimum": 0},
    "bestStreak": {"type": "integer", "minimum": 0},
    "budgetState": {"enum": ["ok", "warning", "critical", "exhausted"]},
    "burnAlert": {"enum": ["none", "ticket", "page"]}
  },
  "required": ["objectiveId", "systemId", "target", "budgetRemainingPercent", "currentStreak", "bestStreak", "budgetState", "burnAlert"]
}"#;

/// The state of objective `id`, or `None` when it does not exist.
pub fn state(db: &dyn Database, env: &dyn Env, id: &str) -> Result<Option<Value>, PluginError> {
    let Some(objective) = objectives::get(db, id)? else {
        return Ok(None);
    };
    let status = compute(db, env, &objective)?;
    let streak = streaks::get(db, id)?;
    Ok(Some(json!({
        "objectiveId": objective.id,
        "systemId": objective.system_id,
        "target": objective.target,
        "budgetRemainingPercent": status.budget.remaining_percent,
        "currentStreak": streak.as_ref().map_or(0, |s| s.current),
        "bestStreak": streak.as_ref().map_or(0, |s| s.best),
        "budgetState": status.budget_state,
        "burnAlert": status.burn_alert.as_str(),
    })))
}

/// Batched read: the stored states of the ids that have one, in request order; an empty
/// request touches nothing.
pub fn read(db: &dyn Database, ids: &[String]) -> Result<Vec<(String, Value)>, PluginError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    entity_states::get_many(db, ids)
}

/// `apply` of a mutation: computes the current state from the plugin's tables (its writes
/// already happened in the requesting invocation), stores it and answers it; a vanished
/// objective is `not-found`.
pub fn apply_refresh(db: &dyn Database, env: &dyn Env, id: &str) -> Result<Value, PluginError> {
    let next = state(db, env, id)?
        .ok_or_else(|| PluginError::NotFound(format!("SLO objective not found: {id}")))?;
    entity_states::put(db, id, &next, env.now_ms())?;
    Ok(next)
}

/// `apply` of a removal: forgets the stored state (the objective is already gone).
pub fn apply_remove(db: &dyn Database, id: &str) -> Result<(), PluginError> {
    entity_states::delete(db, id)
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.7.
    use super::*;
    use crate::storage::test_db::TestDb;
    use crate::test_env::{FakeEnv, T0};

    #[test]
    fn v3_to_v7_state_and_read() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        let input = crate::core::objective::CreateObjective::from_json(
            &json!({"systemId": "sys-1", "target": 99.9, "windowDays": 30}),
        )
        .unwrap();
        objectives::insert(&db, "obj-1", &input, T0).unwrap();
        db.execute(
            "UPDATE slo_streaks SET current_streak = 4, best_streak = 12",
            &[],
        )
        .unwrap();
        let s = state(&db, &env, "obj-1").unwrap().unwrap();
        assert_eq!(
            s,
            json!({"objectiveId": "obj-1", "systemId": "sys-1", "target": 99.9, "budgetRemainingPercent": 100.0,
            "currentStreak": 4, "bestStreak": 12, "budgetState": "ok", "burnAlert": "none"})
        );
        assert!(state(&db, &env, "missing").unwrap().is_none());
        // read answers what apply stored, and nothing before
        let ids = ["obj-1".to_owned(), "missing".to_owned()];
        assert!(read(&db, &ids).unwrap().is_empty());
        assert_eq!(apply_refresh(&db, &env, "obj-1").unwrap(), s);
        let both = read(&db, &ids).unwrap();
        assert_eq!(both, vec![("obj-1".to_owned(), s.clone())]);
        assert!(read(&db, &[]).unwrap().is_empty());
        assert!(matches!(
            apply_refresh(&db, &env, "missing"),
            Err(PluginError::NotFound(_))
        ));
        apply_remove(&db, "obj-1").unwrap();
        assert!(read(&db, &ids).unwrap().is_empty());
    }

    #[test]
    fn the_schema_is_json() {
        let schema: Value = serde_json::from_str(STATE_SCHEMA).unwrap();
        assert_eq!(schema["required"].as_array().unwrap().len(), 8);
    }
}
