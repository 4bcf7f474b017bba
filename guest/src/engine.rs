//! The SLO engine's event handlers (slo-behaviour.md §4.5–4.12) with the fixes of
//! decisions.md: F5 (attribution at open time), F11 (unknown health never closes, splits or
//! deletes), F15 (splits keep `source`; the downstream's own health decides a reopen), F17
//! (upstream names from the catalog), F19 (every status change broadcasts) and F20 (every
//! write path invalidates the cache keys it affects, after commit).
//!
//! Each handler runs inside one invocation, so its check-then-insert steps are one
//! transaction: openers of one objective are serialised by the database.

use std::collections::BTreeSet;

use serde_json::json;

use crate::core::objective::{DependencyExclusion, Objective};
use crate::core::status::Health;
use crate::core::window::Attribution;
use crate::core::PluginError;
use crate::service::{compute, refresh, Env, Recovery};
use crate::storage::downtime::{self, DowntimeEvent, NewEvent};
use crate::storage::{objectives, Database};

/// Signal broadcast on every change of an objective's status (F19).
pub const STATUS_CHANGED: &str = "slo.status.changed";

/// The cache keys a change of `objective` affects (F20).
pub fn cache_keys(objective: &Objective) -> Vec<String> {
    vec![
        "list:objectives".to_owned(),
        format!("objective:{}", objective.id),
        format!("system:{}", objective.system_id),
    ]
}

/// After a change to `objective`: broadcast its new status, ask the framework to refresh its
/// `slo` entity, and drop its cache keys (all published after commit).
pub fn status_changed(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<(), PluginError> {
    let status = compute(db, env, objective)?;
    status_announced(env, objective, &status);
    Ok(())
}

/// [`status_changed`] for a caller that already holds the objective's current `status`.
pub fn status_announced(
    env: &dyn Env,
    objective: &Objective,
    status: &crate::core::status::Status,
) {
    env.broadcast(
        STATUS_CHANGED,
        &json!({
            "systemId": objective.system_id,
            "objectiveId": objective.id,
            "budgetRemainingPercent": status.budget.remaining_percent,
            "isBreaching": status.budget.is_breaching,
        }),
    );
    env.refresh_entity(&objective.id);
    env.invalidate(&cache_keys(objective));
}

/// Announces that `objective` is being deleted: its last status is broadcast with
/// `deleted: true` (F19), its `slo` entity is tombstoned and its cache keys dropped (F20), all
/// after commit. Call it with the status computed before the rows go.
pub fn deletion_announced(
    env: &dyn Env,
    objective: &Objective,
    last: &crate::core::status::Status,
) {
    env.broadcast(
        STATUS_CHANGED,
        &json!({
            "systemId": objective.system_id,
            "objectiveId": objective.id,
            "budgetRemainingPercent": last.budget.remaining_percent,
            "isBreaching": last.budget.is_breaching,
            "deleted": true,
        }),
    );
    env.remove_entity(&objective.id);
    env.invalidate(&cache_keys(objective));
}

/// Who to blame for an outage of `objective`'s system opening now (F5).
///
/// A `self-only` objective blames the first direct upstream (in the dependency service's
/// order) that is unhealthy and not excluded; otherwise, and always for `strict` objectives,
/// the system itself. An upstream whose health is unknown is not blamed.
pub fn attribution_for(
    env: &dyn Env,
    objective: &Objective,
) -> (Attribution, Option<(String, String)>) {
    if objective.dependency_exclusion == DependencyExclusion::Strict {
        return (Attribution::SelfCaused, None);
    }
    let excluded = objective.excluded_dependency_ids.as_deref().unwrap_or(&[]);
    for upstream in env.upstreams(&objective.system_id) {
        if excluded.contains(&upstream) {
            continue;
        }
        if env.system_health(&upstream) == Health::Unhealthy {
            let name = env.system_name(&upstream);
            return (Attribution::Upstream, Some((upstream, name)));
        }
    }
    (Attribution::SelfCaused, None)
}

/// `healthcheck`, or `incident` while an incident override holds the system down. When the
/// incident service cannot answer, `incident`: such an event is never closed or deleted by the
/// orphan reconcile, so an unknown answer cannot make an outage vanish (F11).
pub fn downtime_source(env: &dyn Env, system_id: &str) -> &'static str {
    match env.incident_override_active(system_id) {
        Some(false) => "healthcheck",
        Some(true) | None => "incident",
    }
}

/// Opens an event for `objective` unless it already has an open one; answers the new event.
fn open_if_none(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
    source: &str,
) -> Result<Option<DowntimeEvent>, PluginError> {
    if !downtime::open_for_objective(db, &objective.id)?.is_empty() {
        return Ok(None);
    }
    let (attribution, upstream) = attribution_for(env, objective);
    let event = NewEvent {
        objective_id: &objective.id,
        system_id: &objective.system_id,
        attribution,
        upstream_system_id: upstream.as_ref().map(|(id, _)| id.as_str()),
        upstream_system_name: upstream.as_ref().map(|(_, name)| name.as_str()),
        source,
    };
    downtime::open(db, &env.new_id(), &event, env.now_ms()).map(Some)
}

/// `handleSystemDown` (§4.5 with F5, F19): every objective of the system without an open event
/// gets one, attributed at open time.
pub fn system_down(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let mut opened = Vec::new();
    for objective in objectives::list_for_system(db, system_id)? {
        if let Some(event) = open_if_none(db, env, &objective, "healthcheck")? {
            status_changed(db, env, &objective)?;
            opened.push(event);
        }
    }
    refresh::after_opening(db, env, opened.len())?;
    Ok(opened)
}

/// Closes every open event of the system at now and reports each affected objective once, in
/// first-seen order (the close-and-broadcast of §4.6).
fn close_system(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let now = env.now_ms();
    let mut closed = Vec::new();
    let mut seen = BTreeSet::new();
    let mut affected = Vec::new();
    for event in downtime::open_for_system(db, system_id)? {
        closed.push(downtime::close(db, &event.id, now)?);
        if seen.insert(event.objective_id.clone()) {
            affected.push(event.objective_id);
        }
    }
    for id in affected {
        if let Some(objective) = objectives::get(db, &id)? {
            status_changed(db, env, &objective)?;
        }
    }
    Ok(closed)
}

/// `handleSystemUp` (§4.6 with F11): closes the system's open events only when its effective
/// health is known to be healthy (an incident override, or an unreachable health service,
/// keeps them open).
pub fn system_up(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    if env.system_health(system_id) != Health::Healthy {
        return Ok(Vec::new());
    }
    close_system(db, env, system_id)
}

/// `handleUpstreamDown` (§4.7 with F15, F17): every open self event of a `self-only`
/// downstream objective that does not exclude the upstream is split: closed now, and an
/// upstream event opened in its place with the same source.
pub fn upstream_down(
    db: &dyn Database,
    env: &dyn Env,
    upstream_id: &str,
    downstream_ids: &[String],
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let name = env.system_name(upstream_id);
    let now = env.now_ms();
    let mut opened = Vec::new();
    for downstream in downstream_ids {
        for event in downtime::open_self(db, downstream)? {
            let Some(objective) = objectives::get(db, &event.objective_id)? else {
                continue;
            };
            if objective.dependency_exclusion == DependencyExclusion::Strict {
                continue;
            }
            if objective
                .excluded_dependency_ids
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .any(|x| x == upstream_id)
            {
                continue;
            }
            downtime::close(db, &event.id, now)?;
            let split = NewEvent {
                objective_id: &objective.id,
                system_id: downstream,
                attribution: Attribution::Upstream,
                upstream_system_id: Some(upstream_id),
                upstream_system_name: Some(&name),
                source: &event.source,
            };
            opened.push(downtime::open(db, &env.new_id(), &split, now)?);
            status_changed(db, env, &objective)?;
        }
    }
    refresh::after_opening(db, env, opened.len())?;
    Ok(opened)
}

/// `handleUpstreamUp` (§4.7 with F15, F11): every open event blamed on the recovered upstream
/// is closed; if its objective has no other open event and the downstream is not known to be
/// healthy, a new event is opened with F5's attribution (another unhealthy upstream, or self)
/// and the closed event's source.
pub fn upstream_up(
    db: &dyn Database,
    env: &dyn Env,
    upstream_id: &str,
    downstream_ids: &[String],
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let now = env.now_ms();
    let mut reopened = Vec::new();
    for downstream in downstream_ids {
        for event in downtime::open_upstream(db, downstream, upstream_id)? {
            let Some(objective) = objectives::get(db, &event.objective_id)? else {
                continue;
            };
            downtime::close(db, &event.id, now)?;
            let still_down = env.system_health(downstream) != Health::Healthy;
            if still_down {
                if let Some(new_event) = open_if_none(db, env, &objective, &event.source)? {
                    reopened.push(new_event);
                }
            }
            status_changed(db, env, &objective)?;
        }
    }
    refresh::after_opening(db, env, reopened.len())?;
    Ok(reopened)
}

/// `reconcileObjective` (§4.10): after a create or update, a system that is known to be down
/// gets its open event now.
pub fn reconcile_objective(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<Option<DowntimeEvent>, PluginError> {
    if env.system_health(&objective.system_id) != Health::Unhealthy {
        return Ok(None);
    }
    let source = downtime_source(env, &objective.system_id);
    let opened = open_if_none(db, env, objective, source)?;
    refresh::after_opening(db, env, usize::from(opened.is_some()))?;
    Ok(opened)
}

/// `reconcileOrphanedDowntime` (§4.11 with F11): open events of a system known to be healthy
/// are closed at its recovery instant, or deleted when none is known; incident events are
/// left alone. Runs in the daily job and on write paths, never in a read.
pub fn reconcile_orphans(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
) -> Result<bool, PluginError> {
    let open = downtime::open_for_objective(db, &objective.id)?;
    if open.is_empty() || env.system_health(&objective.system_id) != Health::Healthy {
        return Ok(false);
    }
    let mut changed = false;
    for event in open {
        if event.source == "incident" {
            continue;
        }
        match env.recovered_at(&objective.system_id, event.span.start_ms) {
            Recovery::At(at) => {
                downtime::close_orphan(db, &event.id, at)?;
            }
            Recovery::NotYet => {
                downtime::delete(db, &event.id)?;
            }
            // F11: an unknown answer never closes or deletes anything
            Recovery::Unknown => continue,
        }
        changed = true;
    }
    if changed {
        status_changed(db, env, objective)?;
    }
    Ok(changed)
}

/// `reconcileIncidentDowntime` (§4.12 with F11): known healthy → close everything of the
/// system; known down → open an event for every objective without one; unknown → nothing.
pub fn reconcile_incident(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
) -> Result<(), PluginError> {
    match env.system_health(system_id) {
        Health::Unknown => Ok(()),
        Health::Healthy => close_system(db, env, system_id).map(|_| ()),
        Health::Unhealthy => {
            let source = downtime_source(env, system_id);
            let mut opened = 0;
            for objective in objectives::list_for_system(db, system_id)? {
                if open_if_none(db, env, &objective, source)?.is_some() {
                    status_changed(db, env, &objective)?;
                    opened += 1;
                }
            }
            refresh::after_opening(db, env, opened)
        }
    }
}

#[cfg(test)]
mod tests;
