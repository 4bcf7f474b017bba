//! The `slo` entity's refresh while downtime is open: automations see an objective's budget
//! move within a minute during an outage, and nothing runs while nothing is open.
//!
//! A minute cron used to do this, firing 1,440 times a day whether or not anything was open.
//! Instead, a delayed, de-duplicated job keeps itself going while an event is open:
//!
//! * the invocation that opens the first open event (none other is open) enqueues the refresh
//!   job on [`REFRESH_QUEUE`], [`INTERVAL_MS`] later, under the fixed job id [`JOB_ID`]: while
//!   one is queued, another enqueue is ignored, so concurrent openers start one chain;
//! * the job ([`run`]) asks the framework to refresh every objective with open downtime and,
//!   if there was one, enqueues the next run, [`INTERVAL_MS`] later. With nothing open, it
//!   stops;
//! * start-up ([`resume`], for `lifecycle.init`: a swap from a version that used the cron, or
//!   a chain lost to a dead letter) and the daily job start the chain again when events are
//!   open and none is queued (an enqueue that finds one queued is ignored).
//!
//! The running job's own enqueue never meets itself in the queue: the host completes a
//! delivery in the handler's transaction and publishes the handler's jobs after that commit.

use serde_json::{json, Value};

use super::handlers::REFRESH_QUEUE;
use super::Env;
use crate::core::PluginError;
use crate::storage::{downtime, objectives, Database};

/// The refresh job's de-duplicating id.
pub const JOB_ID: &str = "slo-entity-refresh";

/// How long after one refresh the next one runs: "within a minute".
pub const INTERVAL_MS: u64 = 60_000;

fn payload() -> Value {
    json!({ "trigger": "open-downtime" })
}

/// Enqueues the next refresh, [`INTERVAL_MS`] from now (ignored by the host while one is
/// queued).
pub fn schedule(env: &dyn Env) -> Result<(), PluginError> {
    env.enqueue(REFRESH_QUEUE, &payload(), JOB_ID, INTERVAL_MS)
}

/// [`schedule`], for callers whose own work must not fail with it: a failure is logged.
fn schedule_or_warn(env: &dyn Env) {
    if let Err(e) = schedule(env) {
        env.warn(&format!("the slo entity refresh was not scheduled: {e}"));
    }
}

/// After an invocation opened `opened` downtime events: starts the chain when they are the
/// only open events (with others open, the chain that their opening started is running).
/// Never fails the opening for the refresh's sake: a failed enqueue is logged.
pub fn after_opening(db: &dyn Database, env: &dyn Env, opened: usize) -> Result<(), PluginError> {
    if opened == 0 || downtime::more_open_than(db, opened)? {
        return Ok(());
    }
    schedule_or_warn(env);
    Ok(())
}

/// The refresh job: requests an entity refresh for every objective with open downtime (in
/// `objectives::list` order), then, if there was one, enqueues the next run. Answers the
/// objectives refreshed. A failed enqueue fails the job, so that the queue retries it.
pub fn run(db: &dyn Database, env: &dyn Env) -> Result<Vec<String>, PluginError> {
    let open = downtime::objectives_with_open_events(db)?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let mut refreshed = Vec::with_capacity(open.len());
    for objective in objectives::list(db)? {
        if open.contains(&objective.id) {
            env.refresh_entity(&objective.id);
            refreshed.push(objective.id);
        }
    }
    if !refreshed.is_empty() {
        schedule(env)?;
    }
    Ok(refreshed)
}

/// Starts the chain again if any downtime event is open (start-up, the daily job); answers
/// whether it asked. A failed enqueue is logged.
pub fn resume(db: &dyn Database, env: &dyn Env) -> Result<bool, PluginError> {
    if !downtime::more_open_than(db, 0)? {
        return Ok(false);
    }
    schedule_or_warn(env);
    Ok(true)
}

#[cfg(test)]
mod tests;
