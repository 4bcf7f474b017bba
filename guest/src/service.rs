//! Plugin operations: validation from the core, persistence from the storage layer, and the
//! environment (clock, ids) they need. Each function is one RPC procedure or handler body.

use serde_json::{json, Value};

use crate::core::objective::{CreateObjective, Fields};
use crate::core::PluginError;
use crate::storage::{objectives, Database};

/// What an operation needs from outside the core: the host's clock and fresh ids.
pub trait Env {
    /// The host's current instant, epoch milliseconds.
    fn now_ms(&self) -> i64;
    /// A fresh UUID v4 string.
    fn new_id(&self) -> String;
}

/// Dispatches RPC `procedure` with JSON `input`. Access rules were checked by the host.
pub fn handle_rpc(
    db: &dyn Database,
    env: &dyn Env,
    procedure: &str,
    input: &Value,
) -> Result<Value, PluginError> {
    match procedure {
        "createObjective" => create_objective(db, env, input),
        "getObjective" => get_objective(db, input),
        "listObjectives" => list_objectives(db),
        other => Err(PluginError::NotFound(format!(
            "procedure {other:?} does not exist"
        ))),
    }
}

/// `createObjective`: validates, stores, answers the `SloObjective`.
pub fn create_objective(
    db: &dyn Database,
    env: &dyn Env,
    input: &Value,
) -> Result<Value, PluginError> {
    let input = CreateObjective::from_json(input)?;
    let objective = objectives::insert(db, &env.new_id(), &input, env.now_ms())?;
    Ok(objective.to_json())
}

/// `getObjective`: `{objective}` for an existing id, JSON `null` for an unknown one (as the
/// original answers).
pub fn get_objective(db: &dyn Database, input: &Value) -> Result<Value, PluginError> {
    let id = Fields::of(input)?.required_string("id")?;
    Ok(match objectives::get(db, &id)? {
        Some(objective) => json!({ "objective": objective.to_json() }),
        None => Value::Null,
    })
}

/// `listObjectives`: every objective, oldest first.
pub fn list_objectives(db: &dyn Database) -> Result<Value, PluginError> {
    let list: Vec<Value> = objectives::list(db)?
        .iter()
        .map(|o| json!({ "objective": o.to_json() }))
        .collect();
    Ok(json!({ "objectives": list }))
}
