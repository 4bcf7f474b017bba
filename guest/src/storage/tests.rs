//! The storage layer on a real SQLite with the plugin's migrations: slo-behaviour.md §16.3,
//! the streak examples of §5, and decisions F23/F24.

use serde_json::json;

use super::test_db::TestDb;
use super::*;
use crate::core::achievement::AchievementType;
use crate::core::objective::{CreateObjective, UpdateObjective};
use crate::core::streak::StreakDecision;
use crate::core::window::Attribution;

/// 2026-01-10T00:00:00Z, the window start of §16.3.
const START: i64 = 1_768_003_200_000;
const MIN: i64 = 60_000;

fn create(db: &TestDb, id: &str, system: &str) -> crate::core::objective::Objective {
    let input =
        CreateObjective::from_json(&json!({"systemId": system, "target": 99.9, "windowDays": 30}))
            .unwrap();
    objectives::insert(db, id, &input, START).unwrap()
}

fn new_event<'a>(
    objective: &'a str,
    system: &'a str,
    attribution: Attribution,
    upstream: Option<&'a str>,
) -> downtime::NewEvent<'a> {
    downtime::NewEvent {
        objective_id: objective,
        system_id: system,
        attribution,
        upstream_system_id: upstream,
        upstream_system_name: upstream.map(|_| "Payments"),
        source: "healthcheck",
    }
}

#[test]
fn v16_3_10_and_11_closing_sets_end_and_duration_clamped_to_start() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    downtime::open(
        &db,
        "e1",
        &new_event("a", "sys", Attribution::SelfCaused, None),
        START,
    )
    .unwrap();
    let closed = downtime::close(&db, "e1", START + 90 * MIN).unwrap();
    assert_eq!(
        (closed.span.end_ms, closed.duration_seconds),
        (Some(START + 90 * MIN), Some(5400.0))
    );

    downtime::open(
        &db,
        "e2",
        &new_event("a", "sys", Attribution::SelfCaused, None),
        START,
    )
    .unwrap();
    let clamped = downtime::close(&db, "e2", START - 5 * MIN).unwrap();
    assert_eq!(
        (clamped.span.end_ms, clamped.duration_seconds),
        (Some(START), Some(0.0))
    );

    let again = downtime::close(&db, "e2", START + MIN).unwrap_err();
    assert_eq!(
        again,
        crate::core::PluginError::Conflict(
            "Cannot close downtime event e2: not found or already closed".into()
        )
    );
}

#[test]
fn v16_3_5_open_self_and_upstream_queries() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    create(&db, "b", "sys");
    downtime::open(
        &db,
        "self",
        &new_event("a", "sys", Attribution::SelfCaused, None),
        START,
    )
    .unwrap();
    downtime::open(
        &db,
        "up",
        &new_event("b", "sys", Attribution::Upstream, Some("U")),
        START,
    )
    .unwrap();
    let ids =
        |events: Vec<downtime::DowntimeEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(downtime::open_self(&db, "sys").unwrap()), ["self"]);
    assert_eq!(
        ids(downtime::open_upstream(&db, "sys", "U").unwrap()),
        ["up"]
    );
    assert!(downtime::open_upstream(&db, "sys", "other")
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(downtime::open_for_system(&db, "sys").unwrap()),
        ["self", "up"]
    );
    downtime::close(&db, "self", START + MIN).unwrap();
    assert!(downtime::open_self(&db, "sys").unwrap().is_empty());
}

#[test]
fn v16_3_4_overlap_query_is_per_objective_and_window() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    create(&db, "b", "sys");
    downtime::open(
        &db,
        "old",
        &new_event("a", "sys", Attribution::SelfCaused, None),
        START - 120 * MIN,
    )
    .unwrap();
    downtime::close(&db, "old", START - 60 * MIN).unwrap();
    downtime::open(
        &db,
        "other",
        &new_event("b", "sys", Attribution::SelfCaused, None),
        START + MIN,
    )
    .unwrap();
    assert!(
        downtime::overlapping_spans(&db, "a", START, START + 10 * 24 * 60 * MIN)
            .unwrap()
            .is_empty()
    );
    let spans = downtime::overlapping_spans(&db, "b", START, START + 10 * 24 * 60 * MIN).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!((spans[0].start_ms, spans[0].end_ms), (START + MIN, None));
    assert_eq!(spans[0].attribution, Attribution::SelfCaused);
}

#[test]
fn v16_3_8_and_9_source_defaults_to_healthcheck() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    let incident = downtime::NewEvent {
        source: "incident",
        ..new_event("a", "sys", Attribution::SelfCaused, None)
    };
    assert_eq!(
        downtime::open(&db, "i", &incident, START).unwrap().source,
        "incident"
    );
    db.execute(
        "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, attribution_type) VALUES ('n', 'a', 'sys', ?, 'self')",
        &[START.into()],
    )
    .unwrap();
    let recent = downtime::recent(&db, "a", 10).unwrap();
    assert_eq!(
        recent.iter().find(|e| e.id == "n").unwrap().source,
        "healthcheck"
    );
}

#[test]
fn v16_3_6_and_7_update_reflects_values_and_unknown_ids_are_absent() {
    let db = TestDb::new();
    let o = create(&db, "a", "sys");
    let update = UpdateObjective::from_json(&json!({"id": "a", "target": 99.5, "windowDays": 7,
        "excludeMaintenanceWindows": true, "burnRateThresholds": {"warningPercent": 40, "criticalPercent": 70, "fastBurnMultiplier": 6}}))
    .unwrap();
    let updated = update.applied_to(&o, START + MIN);
    assert!(objectives::save(&db, &updated).unwrap());
    let read = objectives::get(&db, "a").unwrap().unwrap();
    assert_eq!(read, updated);
    assert_eq!(
        (
            read.target,
            read.window_days,
            read.exclude_maintenance_windows
        ),
        (99.5, 7, true)
    );
    assert_eq!(read.updated_at, START + MIN);
    assert!(objectives::get(&db, "unknown").unwrap().is_none());
}

/// decisions.md F36: a partial threshold update keeps the stored values of omitted fields.
#[test]
fn f36_partial_threshold_update_keeps_stored_fields() {
    let db = TestDb::new();
    let o = create(&db, "a", "sys");
    let first = UpdateObjective::from_json(
        &json!({"id": "a", "burnRateThresholds": {"warningPercent": 40, "criticalPercent": 70}}),
    )
    .unwrap();
    let o = first.applied_to(&o, START);
    let second = UpdateObjective::from_json(
        &json!({"id": "a", "burnRateThresholds": {"criticalPercent": 75}}),
    )
    .unwrap();
    let o = second.applied_to(&o, START);
    objectives::save(&db, &o).unwrap();
    let t = objectives::get(&db, "a")
        .unwrap()
        .unwrap()
        .burn_rate_thresholds;
    assert_eq!(
        (
            t.warning_percent,
            t.critical_percent,
            t.fast_burn_multiplier
        ),
        (40.0, 75.0, 5.0)
    );
}

#[test]
fn creating_makes_an_empty_streak_and_deleting_cascades() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    let streak = streaks::get(&db, "a").unwrap().unwrap();
    assert_eq!(
        (streak.current, streak.best, streak.streak_start),
        (0, 0, None)
    );
    downtime::open(
        &db,
        "e",
        &new_event("a", "sys", Attribution::SelfCaused, None),
        START,
    )
    .unwrap();
    assert!(objectives::delete(&db, "a").unwrap());
    assert!(!objectives::delete(&db, "a").unwrap());
    assert!(downtime::get(&db, "e").unwrap().is_none());
    assert!(streaks::get(&db, "a").unwrap().is_none());
}

fn set_streak(db: &TestDb, current: i64, best: i64, start: Option<i64>, best_end: Option<i64>) {
    db.execute(
        "UPDATE slo_streaks SET current_streak = ?, best_streak = ?, streak_start = ?, best_streak_end = ?, last_evaluated_day = NULL WHERE objective_id = 'a'",
        &[current.into(), best.into(), start.into(), best_end.into()],
    )
    .unwrap();
}

#[test]
fn streak_golden_examples() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    let (s, e, now, day) = (100, 200, START + 5 * MIN, START);
    let after = |decision, current, best, start, best_end| {
        set_streak(&db, current, best, start, best_end);
        assert!(streaks::apply_decision(&db, "a", decision, now, day).unwrap());
        let st = streaks::get(&db, "a").unwrap().unwrap();
        (st.current, st.best, st.streak_start, st.best_streak_end)
    };
    use StreakDecision::{Increment, Reset};
    assert_eq!(
        after(Increment, 3, 5, Some(s), Some(e)),
        (4, 5, Some(s), Some(e))
    );
    assert_eq!(
        after(Increment, 5, 5, Some(s), Some(e)),
        (6, 6, Some(s), None)
    );
    assert_eq!(after(Increment, 0, 4, None, None), (1, 4, Some(now), None));
    assert_eq!(after(Reset, 7, 7, Some(s), None), (0, 7, None, Some(now)));
    assert_eq!(after(Reset, 2, 9, Some(s), Some(e)), (0, 9, None, Some(e)));
    assert_eq!(after(Reset, 0, 0, None, Some(e)), (0, 0, None, Some(e)));
}

/// decisions.md F23: a streak changes at most once per UTC day.
#[test]
fn f23_streak_changes_once_per_day() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    let day = START;
    assert!(streaks::apply_decision(&db, "a", StreakDecision::Increment, day + MIN, day).unwrap());
    assert!(
        !streaks::apply_decision(&db, "a", StreakDecision::Increment, day + 2 * MIN, day).unwrap()
    );
    assert_eq!(streaks::get(&db, "a").unwrap().unwrap().current, 1);
    let next = day + 24 * 60 * MIN;
    assert!(streaks::apply_decision(&db, "a", StreakDecision::Increment, next, next).unwrap());
    assert_eq!(streaks::get(&db, "a").unwrap().unwrap().current, 2);
    assert!(
        !streaks::apply_decision(&db, "missing", StreakDecision::Increment, next, next).unwrap()
    );
}

/// decisions.md F23: one snapshot per objective and day; a second run updates it in place.
#[test]
fn f23_snapshots_are_upserted_per_day() {
    let db = TestDb::new();
    create(&db, "a", "sys");
    let snap = |id: &str, availability: f64| snapshots::Snapshot {
        id: id.into(),
        objective_id: "a".into(),
        date: START,
        availability_percent: availability,
        budget_consumed_minutes: 0.0,
        budget_remaining_percent: 100.0,
        burn_rate: None,
        streak_days: 0,
    };
    snapshots::upsert(&db, &snap("s1", 99.0)).unwrap();
    snapshots::upsert(&db, &snap("s2", 98.0)).unwrap();
    let all = snapshots::between(&db, "a", START, START).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].id.as_str(), all[0].availability_percent),
        ("s1", 98.0)
    );
}

/// decisions.md F24: unlocking is insert-if-absent, answered by the one statement.
#[test]
fn f24_achievements_unlock_once() {
    let db = TestDb::new();
    assert!(achievements::unlock(&db, "x1", "sys", AchievementType::FirstSteps, START).unwrap());
    assert!(
        !achievements::unlock(&db, "x2", "sys", AchievementType::FirstSteps, START + MIN).unwrap()
    );
    assert!(
        achievements::unlock(&db, "x3", "sys", AchievementType::IronUptime, START + MIN).unwrap()
    );
    let list = achievements::for_system(&db, "sys").unwrap();
    assert_eq!(
        list.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["x1", "x3"]
    );
    assert_eq!(achievements::recent(&db, 1).unwrap()[0].id, "x3");
    assert_eq!(achievements::delete_for_system(&db, "sys").unwrap(), 2);
}

#[test]
fn columnar_rows_read_every_kind_and_refuse_buffers_that_do_not_add_up() {
    let rows = Rows::from_values(
        vec!["t".into(), "n".into(), "x".into()],
        vec![
            vec!["é".into(), SqlValue::Integer(3), SqlValue::Real(0.25)],
            vec![SqlValue::Null, SqlValue::Null, SqlValue::Integer(2)],
        ],
    );
    assert_eq!(rows.len(), 2);
    let read: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.opt_text(0).unwrap(),
                r.opt_integer(1).unwrap(),
                r.real(2).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        read,
        vec![(Some("é".into()), Some(3), 0.25), (None, None, 2.0)]
    );
    assert!(
        rows.iter().next().unwrap().integer(0).is_err(),
        "text is not an integer"
    );
    assert_eq!(rows.value(1, 2), Some(SqlValue::Integer(2)));
    assert_eq!(rows.value(2, 0), None);

    let off_boundary = Buffers {
        columns: vec!["t".into()],
        kinds: vec![CellKind::Text],
        text: "é".into(),
        text_ends: vec![1],
        ..Buffers::default()
    };
    assert!(Rows::from_buffers(off_boundary).is_err());
    let short = Buffers {
        columns: vec!["n".into()],
        kinds: vec![CellKind::Integer, CellKind::Integer],
        integers: vec![1],
        ..Buffers::default()
    };
    assert!(Rows::from_buffers(short).is_err());
}

#[test]
fn a_paged_read_sees_every_row_once_in_order() {
    let db = TestDb::new();
    for i in 0..7 {
        create(&db, &format!("o{i}"), "api");
    }
    let mut pages = Vec::new();
    db.query_pages(
        "SELECT id FROM slo_objectives ORDER BY id",
        &[],
        3,
        &mut |rows| {
            pages.push(rows.iter().map(|r| r.text(0).unwrap()).collect::<Vec<_>>());
            Ok(true)
        },
    )
    .unwrap();
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let all = read_all(&db, "SELECT id FROM slo_objectives ORDER BY id", &[], |r| {
        r.text(0)
    })
    .unwrap();
    assert_eq!(all, pages.concat());
    assert_eq!(objectives::list(&db).unwrap().len(), 7);
}
