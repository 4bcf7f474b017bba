//! What a simulation records: hooks and signals, entity changes, trigger events and
//! automation runs, in publication order.

use serde::Serialize;
use serde_json::Value;

use crate::capabilities::entities::ChangeEvent;

/// A published hook or signal, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Emission {
    /// Hook or signal id.
    pub id: String,
    /// Payload.
    pub payload: Value,
    /// Host clock, epoch ms.
    pub at: i64,
}

/// What the simulation has recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    /// Hooks, in publication order.
    pub hooks: Vec<Emission>,
    /// Signals, in publication order.
    pub signals: Vec<Emission>,
    /// Entity changes, in publication order.
    pub entity_changes: Vec<ChangeEvent>,
    /// Trigger events: derived from entity changes, or fired by hooks, in order.
    pub trigger_events: Vec<TriggerEvent>,
    /// Automation runs: each false → true edge of a registered automation's condition.
    pub automation_runs: Vec<AutomationRun>,
}

/// One trigger event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerEvent {
    /// Qualified trigger (event) id, e.g. `healthcheck.system_degraded`.
    pub trigger: String,
    /// What fired it: `<kind>:<id>` for a change, `hook:<hook id>` for a hook.
    pub source: String,
    /// The trigger's context key, when it has one.
    pub context_key: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}

/// One run of an automation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationRun {
    /// The automation.
    pub automation: String,
    /// When, epoch ms.
    pub at: i64,
    /// What started it: the entity change that woke it (`<kind>:<id>`), or for a trigger
    /// automation the trigger event's source.
    #[serde(rename = "ref")]
    pub wake_ref: String,
}
