//! The procedures on a real SQLite with a scripted platform.

use serde_json::{json, Value};

use super::*;
use crate::core::status::Health;
use crate::core::PluginError;
use crate::storage::test_db::TestDb;
use crate::test_env::{FakeEnv, T0};

fn call(db: &TestDb, env: &FakeEnv, procedure: &str, input: Value) -> Result<Value, PluginError> {
    handle_rpc(db, env, procedure, &input)
}

fn create(db: &TestDb, env: &FakeEnv, system: &str) -> String {
    let o = call(
        db,
        env,
        "createObjective",
        json!({"systemId": system, "target": 99.9, "windowDays": 30}),
    )
    .unwrap();
    o["id"].as_str().unwrap().to_owned()
}

fn invalid_field(result: Result<Value, PluginError>) -> String {
    match result {
        Err(PluginError::Invalid(m)) => m,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn create_broadcasts_refreshes_and_invalidates() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    let signals = env.signals.borrow();
    let status: Vec<_> = signals
        .iter()
        .filter(|s| s.get("signal").is_none())
        .collect();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["budgetRemainingPercent"], 100.0);
    // F27: creation evaluates achievements, so first_steps is announced at once
    assert!(signals
        .iter()
        .any(|s| s["signal"] == "slo.achievement.unlocked" && s["achievement"] == "first_steps"));
    drop(signals);
    assert_eq!(*env.refreshed.borrow(), std::slice::from_ref(&id));
    assert!(env
        .invalidated
        .borrow()
        .contains(&format!("objective:{id}")));
}

#[test]
fn create_while_the_system_is_down_opens_downtime_at_once() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    env.set_health("api", Health::Unhealthy);
    let id = create(&db, &env, "api");
    let events = call(&db, &env, "getDowntimeEvents", json!({"objectiveId": id})).unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["endTime"], Value::Null);
}

#[test]
fn update_validates_and_reports_unknown_ids() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    assert!(matches!(
        call(
            &db,
            &env,
            "updateObjective",
            json!({"id": "nope", "target": 99})
        ),
        Err(PluginError::NotFound(_))
    ));
    assert!(invalid_field(call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "systemId": "other"})
    ))
    .starts_with("systemId"));
    assert!(invalid_field(call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "windowDays": 4000})
    ))
    .starts_with("windowDays"));
    env.advance(60_000);
    let updated = call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "target": 99.5}),
    )
    .unwrap();
    assert_eq!(
        (updated["target"].as_f64(), updated["windowDays"].as_i64()),
        (Some(99.5), Some(30))
    );
    assert_ne!(updated["updatedAt"], updated["createdAt"]);
}

#[test]
fn reads_are_cached_until_a_write_invalidates_them() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    let first = call(&db, &env, "getObjective", json!({"id": id})).unwrap();
    assert!(env.cache.borrow().contains_key(&format!("objective:{id}")));
    call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "target": 99}),
    )
    .unwrap();
    let second = call(&db, &env, "getObjective", json!({"id": id})).unwrap();
    assert_eq!(first["objective"]["target"], 99.9);
    assert_eq!(second["objective"]["target"], 99.0);
}

#[test]
fn delete_answers_success_once_and_tombstones_the_entity() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    assert_eq!(
        call(&db, &env, "deleteObjective", json!({"id": id})).unwrap(),
        json!({"success": true})
    );
    assert_eq!(
        call(&db, &env, "deleteObjective", json!({"id": id})).unwrap(),
        json!({"success": false})
    );
    assert_eq!(
        env.signals.borrow().last().unwrap()["deleted"],
        true,
        "F19: deletes broadcast too"
    );
    assert_eq!(*env.removed.borrow(), std::slice::from_ref(&id));
    assert_eq!(
        call(&db, &env, "getObjective", json!({"id": id})).unwrap(),
        Value::Null
    );
}

/// decisions.md F33: limits are integers from 1 to 1000.
#[test]
fn f33_limits_are_bounded() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    for bad in [json!(0), json!(1001), json!(2.5), json!("10")] {
        let message = invalid_field(call(
            &db,
            &env,
            "getDowntimeEvents",
            json!({"objectiveId": id, "limit": bad}),
        ));
        assert!(
            message.starts_with("limit: must be an integer from 1 to 1000"),
            "{message}"
        );
        invalid_field(call(
            &db,
            &env,
            "getRecentMilestones",
            json!({"limit": bad}),
        ));
    }
    assert!(call(
        &db,
        &env,
        "getDowntimeEvents",
        json!({"objectiveId": id, "limit": 1000})
    )
    .is_ok());
}

#[test]
fn unknown_objectives_and_bad_dates_are_typed_errors() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    assert!(matches!(
        call(
            &db,
            &env,
            "getDowntimeEvents",
            json!({"objectiveId": "nope"})
        ),
        Err(PluginError::NotFound(_))
    ));
    let message = invalid_field(call(
        &db,
        &env,
        "getDailySnapshots",
        json!({"objectiveId": id, "startDate": "yesterday", "endDate": "2026-06-04T00:00:00Z"}),
    ));
    assert!(message.starts_with("startDate"), "{message}");
    assert!(matches!(
        call(&db, &env, "noSuchProcedure", json!({})),
        Err(PluginError::NotFound(_))
    ));
}

#[test]
fn bulk_lists_every_requested_system() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    create(&db, &env, "api");
    let bulk = call(
        &db,
        &env,
        "getBulkObjectivesForSystems",
        json!({"systemIds": ["api", "empty"]}),
    )
    .unwrap();
    assert_eq!(bulk["systems"]["api"].as_array().unwrap().len(), 1);
    assert_eq!(bulk["systems"]["empty"], json!([]));
}

/// The id list is bounded like `limit`: one over the bound is a typed `invalid` naming the
/// field, not a call that runs into its deadline.
#[test]
fn bulk_refuses_more_ids_than_its_bound() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let ids = |n: usize| (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>();
    let at_bound = call(
        &db,
        &env,
        "getBulkObjectivesForSystems",
        json!({ "systemIds": ids(super::MAX_BULK_SYSTEM_IDS) }),
    )
    .unwrap();
    assert_eq!(
        at_bound["systems"].as_object().unwrap().len(),
        super::MAX_BULK_SYSTEM_IDS
    );
    let message = invalid_field(call(
        &db,
        &env,
        "getBulkObjectivesForSystems",
        json!({ "systemIds": ids(super::MAX_BULK_SYSTEM_IDS + 1) }),
    ));
    assert_eq!(
        message,
        "systemIds: names 1001 systems; at most 1000 per call"
    );
}

/// decisions.md F11: reads never write, even with an orphaned open event on a healthy system.
#[test]
fn f11_reads_never_write() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    env.set_health("api", Health::Unhealthy);
    let id = create(&db, &env, "api");
    env.set_health("api", Health::Healthy);
    let count = || {
        db.query(
            "SELECT COUNT(*) FROM slo_downtime_events WHERE end_time IS NULL",
            &[],
        )
        .unwrap()
        .value(0, 0)
    };
    let before = count();
    for (procedure, input) in [
        ("listObjectives", json!({})),
        ("getObjective", json!({"id": id})),
        ("getObjectivesForSystem", json!({"systemId": "api"})),
        ("getDowntimeEvents", json!({"objectiveId": id})),
        ("getStreaks", json!({})),
        ("getRecentMilestones", json!({})),
    ] {
        call(&db, &env, procedure, input).unwrap();
    }
    assert_eq!(count(), before);
}

/// decisions.md F17: milestones carry catalog names.
#[test]
fn f17_milestones_carry_catalog_names() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    crate::storage::achievements::unlock(
        &db,
        "a1",
        "db",
        crate::core::achievement::AchievementType::FirstSteps,
        T0,
    )
    .unwrap();
    let m = call(&db, &env, "getRecentMilestones", json!({})).unwrap();
    assert_eq!(m["milestones"][0]["systemName"], "Primary DB");
    assert_eq!(m["milestones"][0]["achievement"], "first_steps");
}

/// slo-behaviour.md §16.12: a mixed system (one healthy, one breaching) has one signal, for
/// the breaching objective; systems without signals are left out.
#[test]
fn system_signals_show_only_what_needs_attention() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    create(&db, &env, "api");
    let breaching = create(&db, &env, "api");
    create(&db, &env, "quiet");
    db.execute(
        "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, end_time, attribution_type) VALUES ('e', ?, 'api', ?, ?, 'self')",
        &[breaching.as_str().into(), (T0 - 120 * 60_000).into(), (T0 - 60 * 60_000).into()],
    )
    .unwrap();
    let signals = call(&db, &env, "getSystemSignals", json!({})).unwrap();
    assert_eq!(signals["signals"]["api"].as_array().unwrap().len(), 1);
    assert_eq!(
        signals["signals"]["api"][0]["href"],
        format!("/slo/{breaching}")
    );
    assert!(signals["signals"].get("quiet").is_none());
}

/// Sending the stored systemId back is fine (the original drops it); changing it is not.
#[test]
fn update_accepts_unchanged_fixed_fields_and_refuses_changes() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    assert!(call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "systemId": "api", "target": 99})
    )
    .is_ok());
    let message = invalid_field(call(
        &db,
        &env,
        "updateObjective",
        json!({"id": id, "systemId": "web"}),
    ));
    assert!(
        message.starts_with("systemId: cannot be changed"),
        "{message}"
    );
}

/// A fixed field of another type than string is refused and nothing is written, even when
/// the objective has no stored value to compare it with.
#[test]
fn update_refuses_fixed_fields_that_are_not_strings() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    for bad in [json!(7), json!(["x"]), json!({"a": 1}), json!(true)] {
        let message = invalid_field(call(
            &db,
            &env,
            "updateObjective",
            json!({"id": id, "healthCheckConfigurationId": bad, "target": 95}),
        ));
        assert_eq!(message, "healthCheckConfigurationId: must be a string");
    }
    let stored = call(&db, &env, "getObjective", json!({ "id": id })).unwrap();
    assert_eq!(
        stored["objective"]["healthCheckConfigurationId"],
        Value::Null
    );
    assert_eq!(stored["objective"]["target"], json!(99.9));
}

/// Dates are coerced as the original does: date-only and offset-less ISO strings are UTC,
/// numbers are epoch milliseconds.
#[test]
fn snapshot_dates_are_coerced() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    let id = create(&db, &env, "api");
    crate::jobs::run_daily(&db, &env).unwrap();
    for (start, end) in [
        (json!("2026-06-04"), json!("2026-06-04T00:00:00")),
        (json!(T0), json!(T0)),
        (json!("2026-06-04T00:00:00.000Z"), json!("2026-06-05")),
    ] {
        let out = call(
            &db,
            &env,
            "getDailySnapshots",
            json!({"objectiveId": id, "startDate": start, "endDate": end}),
        )
        .unwrap();
        assert_eq!(
            out["snapshots"].as_array().unwrap().len(),
            1,
            "{start} … {end}"
        );
    }
}

#[test]
fn the_budget_curve_ends_on_the_status_and_validates_its_input() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    env.set_health("api", Health::Unhealthy);
    let id = create(&db, &env, "api");
    env.advance(30 * 60_000);
    let status = call(&db, &env, "getObjective", json!({"id": id})).unwrap();
    let curve = call(
        &db,
        &env,
        "getBudgetCurve",
        json!({"objectiveId": id, "points": 5}),
    )
    .unwrap();
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    assert_eq!(
        points[4]["errorBudgetRemainingPercent"],
        status["status"]["errorBudgetRemainingPercent"]
    );
    assert_eq!(points[0]["errorBudgetRemainingPercent"], 100.0);
    assert_eq!(curve["burnAlertTiers"].as_array().unwrap().len(), 3);
    assert_eq!(curve["burnAlert"], status["status"]["burnAlert"]);
    // chosen instants: before the outage, and now
    let at = call(
        &db,
        &env,
        "getBudgetCurve",
        json!({"objectiveId": id, "at": [T0 - 60_000, T0 + 30 * 60_000]}),
    )
    .unwrap();
    assert_eq!(at["points"][0]["errorBudgetRemainingPercent"], 100.0);
    assert_eq!(at["points"][1], points[4]);
    assert!(invalid_field(call(
        &db,
        &env,
        "getBudgetCurve",
        json!({"objectiveId": id, "at": [T0 + 3_600_000 * 24]})
    ))
    .starts_with("at[0]: is after now"));
    assert!(invalid_field(call(
        &db,
        &env,
        "getBudgetCurve",
        json!({"objectiveId": id, "points": 1})
    ))
    .starts_with("points:"));
    assert!(matches!(
        call(&db, &env, "getBudgetCurve", json!({"objectiveId": "nope"})),
        Err(PluginError::NotFound(_))
    ));
}
