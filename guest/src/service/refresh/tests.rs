//! The refresh chain on a real SQLite with a scripted platform: who starts it, how it carries
//! itself on while downtime is open, and that it stops when nothing is open.

use serde_json::json;

use super::*;
use crate::core::objective::CreateObjective;
use crate::core::status::Health;
use crate::engine;
use crate::storage::test_db::TestDb;
use crate::test_env::{FakeEnv, T0};

const MIN: i64 = 60_000;

fn objective(db: &TestDb, id: &str, system: &str) -> String {
    let input = CreateObjective::from_json(
        &json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only"}),
    )
    .unwrap();
    objectives::insert(db, id, &input, T0 - 40 * 24 * 60 * MIN)
        .unwrap()
        .id
}

fn down(db: &TestDb, env: &FakeEnv, system: &str) {
    env.set_health(system, Health::Unhealthy);
    engine::system_down(db, env, system).unwrap();
}

fn up(db: &TestDb, env: &FakeEnv, system: &str) {
    env.set_health(system, Health::Healthy);
    engine::system_up(db, env, system).unwrap();
}

/// The refresh jobs enqueued since the last call, then forgets them.
fn take_jobs(env: &FakeEnv) -> usize {
    let n = env.refresh_jobs();
    env.enqueued.borrow_mut().clear();
    n
}

#[test]
fn the_first_open_event_starts_the_chain_and_later_ones_do_not() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o-api-1", "api");
    objective(&db, "o-api-2", "api");
    objective(&db, "o-web", "web");
    down(&db, &env, "api");
    assert_eq!(
        take_jobs(&env),
        1,
        "one job for the invocation that opened two events"
    );
    down(&db, &env, "web");
    assert_eq!(take_jobs(&env), 0, "api's chain is running");
    // once everything closed, the next outage starts a chain again
    up(&db, &env, "api");
    up(&db, &env, "web");
    assert_eq!(take_jobs(&env), 0, "closing enqueues nothing");
    down(&db, &env, "web");
    assert_eq!(take_jobs(&env), 1);
}

#[test]
fn the_job_refreshes_open_objectives_and_carries_on_until_nothing_is_open() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let api = objective(&db, "o-api", "api");
    objective(&db, "o-web", "web");
    down(&db, &env, "api");
    take_jobs(&env);
    for minute in 1..=3 {
        env.advance(MIN);
        env.refreshed.borrow_mut().clear();
        assert_eq!(
            run(&db, &env).unwrap(),
            std::slice::from_ref(&api),
            "minute {minute}"
        );
        assert_eq!(*env.refreshed.borrow(), std::slice::from_ref(&api));
        assert_eq!(take_jobs(&env), 1, "minute {minute}: the next run");
    }
    up(&db, &env, "api");
    env.advance(MIN);
    env.refreshed.borrow_mut().clear();
    assert!(run(&db, &env).unwrap().is_empty());
    assert!(env.refreshed.borrow().is_empty());
    assert_eq!(take_jobs(&env), 0, "nothing open: the chain stops");
}

#[test]
fn a_failed_enqueue_never_fails_an_opening_but_fails_the_job_for_a_retry() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let api = objective(&db, "o-api", "api");
    env.queue_down.set(true);
    down(&db, &env, "api");
    assert_eq!(
        downtime::open_for_objective(&db, &api).unwrap().len(),
        1,
        "the event is recorded"
    );
    assert!(env.warnings.borrow().iter().any(|w| w.contains("refresh")));
    assert!(run(&db, &env).is_err(), "the queue retries the job");
    env.queue_down.set(false);
    assert_eq!(run(&db, &env).unwrap(), [api]);
    assert_eq!(take_jobs(&env), 1);
}

#[test]
fn resume_asks_only_while_downtime_is_open() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o-api", "api");
    assert!(!resume(&db, &env).unwrap());
    assert_eq!(take_jobs(&env), 0);
    down(&db, &env, "api");
    take_jobs(&env);
    assert!(resume(&db, &env).unwrap());
    assert_eq!(take_jobs(&env), 1);
}

/// The daily job starts a lost chain again while downtime is open, and asks nothing otherwise.
#[test]
fn the_daily_job_resumes_the_chain_while_downtime_is_open() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o-api", "api");
    crate::jobs::run_daily(&db, &env).unwrap();
    assert_eq!(take_jobs(&env), 0);
    down(&db, &env, "api");
    take_jobs(&env);
    env.advance(24 * 60 * MIN);
    crate::jobs::run_daily(&db, &env).unwrap();
    assert_eq!(take_jobs(&env), 1);
}

#[test]
fn an_incident_or_a_reconciled_objective_starts_the_chain() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o-api", "api");
    env.set_health("api", Health::Unhealthy);
    env.overrides.borrow_mut().push("api".into());
    engine::reconcile_incident(&db, &env, "api").unwrap();
    assert_eq!(take_jobs(&env), 1);

    let (db, env) = (TestDb::new(), FakeEnv::new());
    env.set_health("web", Health::Unhealthy);
    let id = objective(&db, "o-web", "web");
    let web = objectives::get(&db, &id).unwrap().unwrap();
    assert!(engine::reconcile_objective(&db, &env, &web)
        .unwrap()
        .is_some());
    assert_eq!(take_jobs(&env), 1);
}
