//! The reactive `slo` entity (slo-behaviour.md §11 plus the A1 fields): computed on read from
//! the objective, its status and its streak; no stored row.

use serde_json::{json, Value};

use super::{compute, Env};
use crate::core::PluginError;
use crate::storage::{objectives, streaks, Database};

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

/// Batched read: the states of the ids that exist, in request order; an empty request touches
/// nothing.
pub fn read(
    db: &dyn Database,
    env: &dyn Env,
    ids: &[String],
) -> Result<Vec<(String, Value)>, PluginError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = state(db, env, id)? {
            out.push((id.clone(), s));
        }
    }
    Ok(out)
}

/// `apply` of a mutation: the plugin's writes already happened in the requesting invocation
/// (the refresh operation only asks the framework to diff), so this answers the current state;
/// a vanished objective is `not-found`.
pub fn apply_refresh(db: &dyn Database, env: &dyn Env, id: &str) -> Result<Value, PluginError> {
    state(db, env, id)?
        .ok_or_else(|| PluginError::NotFound(format!("SLO objective not found: {id}")))
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
        let both = read(&db, &env, &["obj-1".into(), "missing".into()]).unwrap();
        assert_eq!(both.len(), 1);
        assert!(read(&db, &env, &[]).unwrap().is_empty());
        assert!(matches!(
            apply_refresh(&db, &env, "missing"),
            Err(PluginError::NotFound(_))
        ));
    }

    #[test]
    fn the_schema_is_json() {
        let schema: Value = serde_json::from_str(STATE_SCHEMA).unwrap();
        assert_eq!(schema["required"].as_array().unwrap().len(), 8);
    }
}
