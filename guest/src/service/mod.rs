//! Plugin operations: validation from the core, persistence from the storage layer, and the
//! environment (clock, ids, platform services) they need.

pub mod entity;
pub mod gitops;
pub mod handlers;
pub mod refresh;
pub mod rpc;

pub use rpc::handle_rpc;

use serde_json::Value;

use crate::core::objective::Objective;
use crate::core::status::{
    compute_status, window_start, Health, MaintenanceWindow, Status, StatusInput,
};
use crate::core::PluginError;
use crate::storage::{downtime, Database};

/// When a system recovered, as the health history answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The first healthy run at or after the asked instant.
    At(i64),
    /// The history has no healthy run since then.
    NotYet,
    /// The health service could not answer (decisions F11: never act on this).
    Unknown,
}

/// What an operation needs from outside the core: the host's clock, fresh ids and the
/// platform services the engine consults.
pub trait Env {
    /// The host's current instant, epoch milliseconds.
    fn now_ms(&self) -> i64;
    /// A fresh UUID v4 string.
    fn new_id(&self) -> String;
    /// The system's effective health (checks plus incident overrides); `Unknown` when the
    /// health service cannot answer.
    fn system_health(&self, system_id: &str) -> Health;
    /// Maintenance windows of the system overlapping `[from, to]`; empty when the
    /// maintenance service cannot answer (kept from the original on purpose).
    fn maintenance_windows(
        &self,
        system_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<MaintenanceWindow>;
    /// Direct upstream dependencies of a system (the systems it depends on), in the
    /// dependency service's order; empty when it cannot answer.
    fn upstreams(&self, system_id: &str) -> Vec<String>;
    /// Systems that depend directly on `system_id`; empty when the service cannot answer.
    fn downstreams(&self, system_id: &str) -> Vec<String>;
    /// The catalog name of a system, falling back to its id (decisions F17).
    fn system_name(&self, system_id: &str) -> String;
    /// Whether an active incident override holds the system down; `None` when the incident
    /// service cannot answer.
    fn incident_override_active(&self, system_id: &str) -> Option<bool>;
    /// The first healthy health-check run at or after `since_ms`.
    fn recovered_at(&self, system_id: &str, since_ms: i64) -> Recovery;
    /// Publishes (after commit) a realtime signal.
    fn broadcast(&self, signal_id: &str, payload: &Value);
    /// Requests (after commit) that the framework refresh entity `slo`/`objective_id`.
    fn refresh_entity(&self, objective_id: &str);
    /// Drops cache keys (after commit).
    fn invalidate(&self, keys: &[String]);
    /// Requests (after commit) the removal of entity `slo`/`objective_id` (a tombstone).
    fn remove_entity(&self, objective_id: &str);
    /// A cached JSON value.
    fn cache_get(&self, key: &str) -> Option<String>;
    /// Caches a JSON value for `ttl_ms` (after commit).
    fn cache_set(&self, key: &str, value: &str, ttl_ms: u64);
    /// Emits a hook (after commit).
    fn emit_hook(&self, hook_id: &str, payload: &Value);
    /// Logs a warning through the host.
    fn warn(&self, message: &str);
    /// Resolves a GitOps entity reference to an id, if the entity exists.
    fn resolve_ref(&self, kind: &str, name: &str) -> Option<String>;
    /// Enqueues (after commit) a job on `queue` with `payload`, delivered no earlier than
    /// `delay_ms` after publication. `job_id` de-duplicates: while a job of that id is queued
    /// on the queue, the enqueue is ignored.
    fn enqueue(
        &self,
        queue: &str,
        payload: &Value,
        job_id: &str,
        delay_ms: u64,
    ) -> Result<(), PluginError>;
    /// Milliseconds left before the invocation's deadline (contract 0.2.0's
    /// `context.deadline-remaining-ms`); `None` where no deadline applies (native code). A long
    /// job reads it to stop early and hand the rest to a follow-up job.
    fn deadline_remaining_ms(&self) -> Option<u64> {
        None
    }
}

/// `computeStatus` for `objective` at the host's now, as the API's `SloStatus` JSON.
pub fn status_json(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<Value, PluginError> {
    Ok(compute(db, env, objective)?.to_json(objective))
}

/// `computeStatus` for `objective` at the host's now. Health is asked only when open events
/// exist; maintenance only when the objective excludes it. Never writes.
pub fn compute(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<Status, PluginError> {
    let now = env.now_ms();
    let start = window_start(now, objective.window_days);
    // far enough back for the window and for the longest A1 lookback (3 days)
    let earliest = start.min(now - 3 * crate::core::time::DAY_MS);
    let events = downtime::overlapping_spans(db, &objective.id, earliest, now)?;
    let health = if events.iter().any(|e| e.end_ms.is_none()) {
        env.system_health(&objective.system_id)
    } else {
        Health::Healthy
    };
    let maintenance = if objective.exclude_maintenance_windows {
        env.maintenance_windows(&objective.system_id, earliest, now)
    } else {
        Vec::new()
    };
    let status = compute_status(&StatusInput {
        objective,
        now,
        events: &events,
        health,
        maintenance: &maintenance,
    });
    Ok(status)
}
