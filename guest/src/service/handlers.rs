//! Deliveries from the platform: entity-change subscriptions, the incident hook and the
//! queue jobs (slo-behaviour.md §7.3, §8, §9). Every handler is idempotent: a duplicate
//! delivery finds nothing left to do.

use serde_json::Value;

use super::{refresh, Env};
use crate::core::health::classify;
use crate::core::PluginError;
use crate::engine;
use crate::jobs;
use crate::storage::{achievements, objectives, Database};

/// Worker group: health degraded → the system's objectives go down.
pub const SYSTEM_DOWN: &str = "slo-system-down";
/// Worker group: health recovered → close, re-attribute downstream, achievements.
pub const SYSTEM_UP: &str = "slo-system-up";
/// Worker group: health degraded → split downstream self events.
pub const UPSTREAM_DOWN: &str = "slo-upstream-down";
/// Worker group: catalog system deleted → its objectives and achievements go.
pub const SYSTEM_CLEANUP: &str = "slo-system-cleanup";
/// Worker group of the incident hook.
pub const INCIDENT_DOWNTIME: &str = "slo-incident-downtime";
/// The incident hook.
pub const INCIDENT_HOOK: &str = "incident.lifecycle.changed";
/// Queue of the daily snapshot job.
pub const DAILY_QUEUE: &str = "slo-daily-snapshots";
/// Queue of the weekly digest.
pub const WEEKLY_QUEUE: &str = "slo-weekly-digest";
/// Queue of the refresh of objectives with open downtime, a job that re-enqueues itself every
/// minute while downtime is open (see [`super::refresh`]).
pub const REFRESH_QUEUE: &str = "slo-entity-refresh";

/// An entity change as the handlers read it.
pub struct Change<'a> {
    /// Entity kind.
    pub kind: &'a str,
    /// Entity id.
    pub id: &'a str,
    /// State before; `None` on create.
    pub prev: Option<&'a Value>,
    /// State after; `None` for a tombstone.
    pub next: Option<&'a Value>,
}

/// Handles a change delivered to the subscription `worker_group`.
pub fn on_entity_change(
    db: &dyn Database,
    env: &dyn Env,
    worker_group: &str,
    change: &Change<'_>,
) -> Result<(), PluginError> {
    match (worker_group, change.kind) {
        (SYSTEM_DOWN, "health") => {
            if classify(change.id, change.prev, change.next).degraded {
                engine::system_down(db, env, change.id)?;
            }
            Ok(())
        }
        (SYSTEM_UP, "health") => {
            if classify(change.id, change.prev, change.next).recovered {
                engine::system_up(db, env, change.id)?;
                let downstream = env.downstreams(change.id);
                if !downstream.is_empty() {
                    engine::upstream_up(db, env, change.id, &downstream)?;
                }
                jobs::evaluate_achievements(db, env, change.id)?;
            }
            Ok(())
        }
        (UPSTREAM_DOWN, "health") => {
            if classify(change.id, change.prev, change.next).degraded {
                let downstream = env.downstreams(change.id);
                if !downstream.is_empty() {
                    engine::upstream_down(db, env, change.id, &downstream)?;
                }
            }
            Ok(())
        }
        (SYSTEM_CLEANUP, "catalog-system") => {
            if change.next.is_none() {
                cleanup_system(db, env, change.id)?;
            }
            Ok(())
        }
        (SYSTEM_DOWN | SYSTEM_UP | UPSTREAM_DOWN | SYSTEM_CLEANUP, _) => Ok(()),
        (other, _) => Err(PluginError::NotFound(format!(
            "no entity subscription {other:?}"
        ))),
    }
}

/// Deletes a deleted system's objectives (tombstoning their entities, dropping their caches)
/// and achievements.
fn cleanup_system(db: &dyn Database, env: &dyn Env, system_id: &str) -> Result<(), PluginError> {
    for objective in objectives::list_for_system(db, system_id)? {
        let last = super::compute(db, env, &objective)?;
        engine::deletion_announced(env, &objective, &last);
    }
    objectives::delete_for_system(db, system_id)?;
    achievements::delete_for_system(db, system_id)?;
    Ok(())
}

/// Handles a hook emission delivered to the subscription `worker_group`.
pub fn on_hook(
    db: &dyn Database,
    env: &dyn Env,
    worker_group: &str,
    hook_id: &str,
    payload: &Value,
) -> Result<(), PluginError> {
    if worker_group != INCIDENT_DOWNTIME {
        return Err(PluginError::NotFound(format!(
            "no hook subscription {worker_group:?}"
        )));
    }
    if hook_id != INCIDENT_HOOK {
        return Ok(());
    }
    let systems = payload["systemIds"].as_array().ok_or_else(|| {
        PluginError::invalid_field("systemIds", "expected an array of system ids")
    })?;
    for system in systems {
        let id = system
            .as_str()
            .ok_or_else(|| PluginError::invalid_field("systemIds", "expected strings"))?;
        engine::reconcile_incident(db, env, id)?;
    }
    Ok(())
}

/// Runs the job of `queue` with its JSON `payload` (a daily follow-up says where it resumes).
pub fn on_job(
    db: &dyn Database,
    env: &dyn Env,
    queue: &str,
    payload: &str,
) -> Result<(), PluginError> {
    match queue {
        DAILY_QUEUE => {
            let resume = jobs::parse_daily_payload(payload)?;
            jobs::run_daily_from(db, env, resume.as_ref()).map(|_| ())
        }
        WEEKLY_QUEUE => jobs::run_weekly_digest(db, env).map(|_| ()),
        REFRESH_QUEUE => refresh::run(db, env).map(|_| ()),
        other => Err(PluginError::NotFound(format!(
            "no consumer for queue {other:?}"
        ))),
    }
}

/// Start-up (`lifecycle.init`): a refresh chain is started again if downtime is open (after a
/// swap from a version that refreshed on a minute cron, or a chain lost to a dead letter).
/// Never refuses a load: a failure (no database, say) is logged.
pub fn on_init(db: &dyn Database, env: &dyn Env) {
    if let Err(e) = refresh::resume(db, env) {
        env.warn(&format!("the slo entity refresh was not resumed: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::status::Health;
    use crate::storage::downtime;
    use crate::storage::test_db::TestDb;
    use crate::test_env::{FakeEnv, T0};
    use serde_json::json;

    fn health(status: &str) -> Value {
        json!({"status": status, "healthyChecks": 0, "totalChecks": 1})
    }

    fn deliver(db: &TestDb, env: &FakeEnv, group: &str, id: &str, prev: &str, next: &str) {
        let (p, n) = (health(prev), health(next));
        on_entity_change(
            db,
            env,
            group,
            &Change {
                kind: "health",
                id,
                prev: Some(&p),
                next: Some(&n),
            },
        )
        .unwrap();
    }

    fn objective(db: &TestDb, system: &str, mode: &str) -> String {
        let input = crate::core::objective::CreateObjective::from_json(&json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode})).unwrap();
        objectives::insert(db, &format!("o-{system}"), &input, T0)
            .unwrap()
            .id
    }

    /// Every subscription delivered twice changes nothing the second time.
    #[test]
    fn duplicate_deliveries_change_nothing() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        let api = objective(&db, "api", "self-only");
        env.depends("api", &["db"]);
        let snapshot = |db: &TestDb| {
            db.query("SELECT id, start_time, end_time, attribution_type FROM slo_downtime_events ORDER BY id", &[]).unwrap()
        };

        env.set_health("api", Health::Unhealthy);
        deliver(&db, &env, SYSTEM_DOWN, "api", "healthy", "unhealthy");
        let once = snapshot(&db);
        deliver(&db, &env, SYSTEM_DOWN, "api", "healthy", "unhealthy");
        assert_eq!(snapshot(&db), once);

        env.set_health("db", Health::Unhealthy);
        env.advance(60_000);
        deliver(&db, &env, UPSTREAM_DOWN, "db", "healthy", "unhealthy");
        let split = snapshot(&db);
        assert_eq!(split.len(), 2);
        deliver(&db, &env, UPSTREAM_DOWN, "db", "healthy", "unhealthy");
        assert_eq!(snapshot(&db), split);

        env.set_health("db", Health::Healthy);
        env.set_health("api", Health::Healthy);
        env.advance(60_000);
        deliver(&db, &env, SYSTEM_UP, "db", "unhealthy", "healthy");
        let up = snapshot(&db);
        deliver(&db, &env, SYSTEM_UP, "db", "unhealthy", "healthy");
        assert_eq!(snapshot(&db), up);
        assert!(
            downtime::open_for_objective(&db, &api).unwrap().is_empty(),
            "api healthy: nothing reopened"
        );

        let incident = json!({"systemIds": ["api"]});
        on_hook(&db, &env, INCIDENT_DOWNTIME, INCIDENT_HOOK, &incident).unwrap();
        on_hook(&db, &env, INCIDENT_DOWNTIME, INCIDENT_HOOK, &incident).unwrap();
        assert_eq!(snapshot(&db), up);

        let gone = json!({"name": "API"});
        let tombstone = Change {
            kind: "catalog-system",
            id: "api",
            prev: Some(&gone),
            next: None,
        };
        on_entity_change(&db, &env, SYSTEM_CLEANUP, &tombstone).unwrap();
        on_entity_change(&db, &env, SYSTEM_CLEANUP, &tombstone).unwrap();
        assert!(objectives::get(&db, &api).unwrap().is_none());
        assert_eq!(*env.removed.borrow(), [api]);
    }

    #[test]
    fn other_kinds_and_non_edges_are_ignored_and_unknown_groups_are_errors() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        objective(&db, "api", "strict");
        env.set_health("api", Health::Unhealthy);
        deliver(&db, &env, SYSTEM_DOWN, "api", "degraded", "unhealthy");
        assert!(
            downtime::open_for_system(&db, "api").unwrap().is_empty(),
            "degraded → unhealthy is no edge"
        );
        let other = Change {
            kind: "catalog-system",
            id: "api",
            prev: None,
            next: None,
        };
        on_entity_change(&db, &env, SYSTEM_DOWN, &other).unwrap();
        assert!(on_entity_change(&db, &env, "nobody", &other).is_err());
        assert!(on_job(&db, &env, "nope", "{}").is_err());
        assert!(on_hook(&db, &env, INCIDENT_DOWNTIME, INCIDENT_HOOK, &json!({})).is_err());
    }

    #[test]
    fn the_refresh_job_asks_only_for_objectives_with_open_downtime() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        let down = objective(&db, "api", "strict");
        objective(&db, "db", "strict");
        env.set_health("api", Health::Unhealthy);
        deliver(&db, &env, SYSTEM_DOWN, "api", "healthy", "unhealthy");
        env.refreshed.borrow_mut().clear();
        env.enqueued.borrow_mut().clear();
        on_job(&db, &env, REFRESH_QUEUE, "{}").unwrap();
        assert_eq!(*env.refreshed.borrow(), [down]);
        assert_eq!(
            env.refresh_jobs(),
            1,
            "the next run, while the outage is open"
        );
    }

    /// Start-up asks for a refresh chain only while downtime is open.
    #[test]
    fn init_resumes_the_refresh_chain_only_with_open_downtime() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        objective(&db, "api", "strict");
        on_init(&db, &env);
        assert_eq!(env.refresh_jobs(), 0);
        env.set_health("api", Health::Unhealthy);
        deliver(&db, &env, SYSTEM_DOWN, "api", "healthy", "unhealthy");
        env.enqueued.borrow_mut().clear();
        on_init(&db, &env);
        assert_eq!(env.refresh_jobs(), 1);
    }
}
