//! The engine's handlers on a real SQLite with a scripted platform: slo-behaviour.md §16.2 and
//! the fixes F5, F11, F15, F17, F19, F20.

use serde_json::json;

use super::*;
use crate::core::objective::CreateObjective;
use crate::storage::test_db::TestDb;
use crate::test_env::FakeEnv;

use crate::test_env::T0;
const MIN: i64 = 60_000;

fn objective(db: &TestDb, id: &str, system: &str, mode: &str, excluded: &[&str]) -> Objective {
    let input = CreateObjective::from_json(
        &json!({"systemId": system, "target": 99.9, "windowDays": 30,
        "dependencyExclusion": mode, "excludedDependencyIds": excluded}),
    )
    .unwrap();
    objectives::insert(db, id, &input, T0 - 40 * 24 * 60 * MIN).unwrap()
}

fn open_events(db: &TestDb, objective_id: &str) -> Vec<DowntimeEvent> {
    downtime::open_for_objective(db, objective_id).unwrap()
}

fn all_events(db: &TestDb, objective_id: &str) -> Vec<DowntimeEvent> {
    let mut events = downtime::recent(db, objective_id, 100).unwrap();
    events.reverse();
    events
}

#[test]
fn v16_2_1_to_3_system_down_opens_one_self_event_per_objective_without_one() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "self-only", &[]);
    objective(&db, "obj-2", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    assert_eq!(system_down(&db, &env, "sys-1").unwrap().len(), 2);
    let e = &open_events(&db, "obj-1")[0];
    assert_eq!(
        (e.span.attribution, e.system_id.as_str(), e.source.as_str()),
        (Attribution::SelfCaused, "sys-1", "healthcheck")
    );
    // already open: nothing more
    assert!(system_down(&db, &env, "sys-1").unwrap().is_empty());
    assert_eq!(open_events(&db, "obj-1").len(), 1);
}

/// decisions.md F19/F20: opening broadcasts the status, refreshes the entity and drops the
/// objective's cache keys.
#[test]
fn f19_f20_every_open_notifies() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    assert_eq!(env.signals.borrow().len(), 1);
    assert_eq!(env.signals.borrow()[0]["objectiveId"], "obj-1");
    assert_eq!(*env.refreshed.borrow(), ["obj-1"]);
    assert_eq!(
        *env.invalidated.borrow(),
        ["list:objectives", "objective:obj-1", "system:sys-1"]
    );
}

/// decisions.md F5: a self-only objective whose upstream is already down opens an upstream
/// event at once; a strict one records self; an excluded upstream is not blamed.
#[test]
fn f5_attribution_at_open_time() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "self-only", "api", "self-only", &[]);
    objective(&db, "strict", "api", "strict", &[]);
    objective(&db, "excluding", "api", "self-only", &["db"]);
    env.depends("api", &["db"]);
    env.set_health("db", Health::Unhealthy);
    env.set_health("api", Health::Unhealthy);
    system_down(&db, &env, "api").unwrap();
    let e = &open_events(&db, "self-only")[0];
    assert_eq!(e.span.attribution, Attribution::Upstream);
    assert_eq!(e.span.upstream_system_id.as_deref(), Some("db"));
    assert_eq!(
        e.span.upstream_system_name.as_deref(),
        Some("Primary DB"),
        "F17: the catalog name"
    );
    assert_eq!(
        open_events(&db, "strict")[0].span.attribution,
        Attribution::SelfCaused
    );
    assert_eq!(
        open_events(&db, "excluding")[0].span.attribution,
        Attribution::SelfCaused
    );
}

#[test]
fn v16_2_5_to_7_and_40_41_system_up_closes_only_when_healthy() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.advance(30 * MIN);
    // still unhealthy (an incident override, say): nothing closes
    assert!(system_up(&db, &env, "sys-1").unwrap().is_empty());
    env.set_health("sys-1", Health::Healthy);
    let closed = system_up(&db, &env, "sys-1").unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].duration_seconds, Some(1800.0));
    assert_eq!(env.signals.borrow().last().unwrap()["systemId"], "sys-1");
    // nothing open: no close, no broadcast
    let before = env.signals.borrow().len();
    assert!(system_up(&db, &env, "sys-1").unwrap().is_empty());
    assert_eq!(env.signals.borrow().len(), before);
}

/// decisions.md F11: unknown health never closes an outage.
#[test]
fn f11_unknown_health_never_closes() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Unknown);
    assert!(system_up(&db, &env, "sys-1").unwrap().is_empty());
    assert!(
        !reconcile_orphans(&db, &env, &objectives::get(&db, "obj-1").unwrap().unwrap()).unwrap()
    );
    reconcile_incident(&db, &env, "sys-1").unwrap();
    assert_eq!(open_events(&db, "obj-1").len(), 1);
}

#[test]
fn v16_2_8_to_10_upstream_down_splits_self_only_events() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "self-only", "sys-1", "self-only", &[]);
    objective(&db, "strict", "sys-1", "strict", &[]);
    objective(&db, "excluding", "sys-1", "self-only", &["db"]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.advance(10 * MIN);
    let split = upstream_down(&db, &env, "db", &["sys-1".to_owned()]).unwrap();
    assert_eq!(split.len(), 1);
    let events = all_events(&db, "self-only");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].span.end_ms, Some(T0 + 10 * MIN));
    assert_eq!(events[1].span.attribution, Attribution::Upstream);
    assert_eq!(
        events[1].span.upstream_system_name.as_deref(),
        Some("Primary DB")
    );
    assert_eq!(
        all_events(&db, "strict").len(),
        1,
        "strict: neither close nor open"
    );
    assert_eq!(
        all_events(&db, "excluding").len(),
        1,
        "excluded upstream: no close"
    );
}

/// decisions.md F15: a split keeps the event's source.
#[test]
fn f15_split_keeps_the_source() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "self-only", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    env.overrides.borrow_mut().push("sys-1".into());
    reconcile_incident(&db, &env, "sys-1").unwrap();
    assert_eq!(open_events(&db, "obj-1")[0].source, "incident");
    upstream_down(&db, &env, "db", &["sys-1".to_owned()]).unwrap();
    let open = &open_events(&db, "obj-1")[0];
    assert_eq!(
        (open.span.attribution, open.source.as_str()),
        (Attribution::Upstream, "incident")
    );
}

/// §16.2 #11 with decisions.md F15: after the upstream recovers, the downstream's own health
/// decides; a healthy downstream gets no new event, an unhealthy one gets one with F5's
/// attribution (another upstream still down, else self).
#[test]
fn f15_upstream_up_reopens_only_while_the_downstream_is_down() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "api", "self-only", &[]);
    env.depends("api", &["db", "cache"]);
    env.set_health("db", Health::Unhealthy);
    env.set_health("api", Health::Unhealthy);
    system_down(&db, &env, "api").unwrap();
    assert_eq!(
        open_events(&db, "obj-1")[0]
            .span
            .upstream_system_id
            .as_deref(),
        Some("db")
    );

    // db recovers while cache is down and api still down: reattributed to cache
    env.set_health("cache", Health::Unhealthy);
    env.set_health("db", Health::Healthy);
    env.advance(5 * MIN);
    upstream_up(&db, &env, "db", &["api".to_owned()]).unwrap();
    assert_eq!(
        open_events(&db, "obj-1")[0]
            .span
            .upstream_system_id
            .as_deref(),
        Some("cache")
    );

    // cache recovers, api still down: self
    env.set_health("cache", Health::Healthy);
    env.advance(5 * MIN);
    upstream_up(&db, &env, "cache", &["api".to_owned()]).unwrap();
    assert_eq!(
        open_events(&db, "obj-1")[0].span.attribution,
        Attribution::SelfCaused
    );

    // a second outage: api recovered before its upstream did, so nothing reopens
    env.set_health("api", Health::Healthy);
    system_up(&db, &env, "api").unwrap();
    env.set_health("db", Health::Unhealthy);
    env.set_health("api", Health::Unhealthy);
    system_down(&db, &env, "api").unwrap();
    env.set_health("api", Health::Healthy);
    env.set_health("db", Health::Healthy);
    upstream_up(&db, &env, "db", &["api".to_owned()]).unwrap();
    assert!(open_events(&db, "obj-1").is_empty());
}

#[test]
fn v16_2_23_to_27_orphans_close_at_recovery_or_vanish_but_incidents_stay() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let o = objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Healthy);
    env.recoveries
        .borrow_mut()
        .insert("sys-1".into(), T0 + 7 * MIN);
    assert!(reconcile_orphans(&db, &env, &o).unwrap());
    let e = &all_events(&db, "obj-1")[0];
    assert_eq!(
        (e.span.end_ms, e.duration_seconds),
        (Some(T0 + 7 * MIN), Some(420.0))
    );

    env.set_health("sys-1", Health::Unhealthy);
    env.advance(60 * MIN);
    system_down(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Healthy);
    env.recoveries.borrow_mut().clear();
    assert!(reconcile_orphans(&db, &env, &o).unwrap());
    assert_eq!(
        all_events(&db, "obj-1").len(),
        1,
        "no recovery known: the orphan is deleted"
    );

    env.set_health("sys-1", Health::Unhealthy);
    env.overrides.borrow_mut().push("sys-1".into());
    reconcile_incident(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Healthy);
    assert!(
        !reconcile_orphans(&db, &env, &o).unwrap(),
        "incident events are left alone"
    );
    assert_eq!(open_events(&db, "obj-1").len(), 1);
}

#[test]
fn v16_2_28_to_31_reconcile_objective_opens_only_for_a_down_system() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let o = objective(&db, "obj-1", "sys-1", "strict", &[]);
    assert!(reconcile_objective(&db, &env, &o).unwrap().is_none());
    env.set_health("sys-1", Health::Unknown);
    assert!(reconcile_objective(&db, &env, &o).unwrap().is_none());
    env.set_health("sys-1", Health::Unhealthy);
    assert!(reconcile_objective(&db, &env, &o).unwrap().is_some());
    assert!(
        reconcile_objective(&db, &env, &o).unwrap().is_none(),
        "an open event exists"
    );
}

#[test]
fn v16_2_32_to_36_incident_reconcile() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "obj-1", "sys-1", "strict", &[]);
    objective(&db, "obj-2", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    env.overrides.borrow_mut().push("sys-1".into());
    reconcile_incident(&db, &env, "sys-1").unwrap();
    assert_eq!(open_events(&db, "obj-1")[0].source, "incident");
    assert_eq!(open_events(&db, "obj-2").len(), 1);
    reconcile_incident(&db, &env, "sys-1").unwrap();
    assert_eq!(
        open_events(&db, "obj-1").len(),
        1,
        "already open: no second event"
    );
    env.set_health("sys-1", Health::Healthy);
    reconcile_incident(&db, &env, "sys-1").unwrap();
    assert!(open_events(&db, "obj-1").is_empty() && open_events(&db, "obj-2").is_empty());
}

/// decisions.md F11: when the health history cannot answer, an orphan is neither closed nor
/// deleted; when the incident service cannot answer, new downtime is labelled `incident`
/// (which the orphan reconcile never touches).
#[test]
fn f11_unknown_recovery_or_override_never_loses_an_outage() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let o = objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Healthy);
    env.history_down.set(true);
    assert!(!reconcile_orphans(&db, &env, &o).unwrap());
    assert_eq!(open_events(&db, "obj-1").len(), 1);

    let (db, env) = (TestDb::new(), FakeEnv::new());
    let o = objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    env.incident_service_down.set(true);
    reconcile_objective(&db, &env, &o).unwrap();
    assert_eq!(open_events(&db, "obj-1")[0].source, "incident");
}

/// decisions.md F29: an orphan closed at a later-found recovery is marked and never counts as
/// a rapid recovery.
#[test]
fn f29_orphan_closes_are_marked() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let o = objective(&db, "obj-1", "sys-1", "strict", &[]);
    env.set_health("sys-1", Health::Unhealthy);
    system_down(&db, &env, "sys-1").unwrap();
    env.set_health("sys-1", Health::Healthy);
    env.recoveries
        .borrow_mut()
        .insert("sys-1".into(), T0 + 2 * MIN);
    reconcile_orphans(&db, &env, &o).unwrap();
    let events = all_events(&db, "obj-1");
    assert_eq!(events[0].close_reason.as_deref(), Some("orphan"));
    assert!(crate::jobs::whole_outage_seconds(&events).is_empty());
}
