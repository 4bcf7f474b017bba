//! The jobs on a real SQLite with a scripted platform: slo-behaviour.md §16.4, §16.5 and the
//! fixes F1, F2, F17, F23, F27, F29.

use serde_json::{json, Value};

use super::*;
use crate::core::status::Health;
use crate::core::window::Attribution;
use crate::storage::downtime::NewEvent;
use crate::storage::test_db::TestDb;
use crate::test_env::{FakeEnv, T0};

const MIN: i64 = 60_000;

fn objective(db: &TestDb, id: &str, system: &str, created: i64) -> Objective {
    let input = crate::core::objective::CreateObjective::from_json(
        &json!({"systemId": system, "target": 99.9, "windowDays": 30}),
    )
    .unwrap();
    objectives::insert(db, id, &input, created).unwrap()
}

fn streak(db: &TestDb, id: &str) -> (i64, i64) {
    let s = streaks::get(db, id).unwrap().unwrap();
    (s.current, s.best)
}

fn event(
    db: &TestDb,
    env: &FakeEnv,
    objective: &str,
    attribution: Attribution,
    start: i64,
    end: Option<i64>,
) {
    let e = NewEvent {
        objective_id: objective,
        system_id: "sys-1",
        attribution,
        upstream_system_id: (attribution == Attribution::Upstream).then_some("db"),
        upstream_system_name: None,
        source: "healthcheck",
    };
    let id = env.new_id();
    downtime::open(db, &id, &e, start).unwrap();
    if let Some(end) = end {
        downtime::close(db, &id, end).unwrap();
    }
}

#[test]
fn v16_4_1_to_3_streak_rules_through_the_job() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "healthy", "sys-1", T0);
    objective(&db, "open", "sys-2", T0);
    objective(&db, "breaching", "sys-3", T0);
    db.execute("UPDATE slo_streaks SET current_streak = 7, best_streak = 7 WHERE objective_id = 'breaching'", &[]).unwrap();
    env.set_health("sys-2", Health::Unhealthy);
    event(&db, &env, "open", Attribution::SelfCaused, T0, None);
    event(
        &db,
        &env,
        "breaching",
        Attribution::SelfCaused,
        T0 - 120 * MIN,
        Some(T0 - 60 * MIN),
    );
    env.advance(MIN);
    let report = run_daily(&db, &env).unwrap();
    assert_eq!(report.processed.len(), 3);
    assert_eq!(streak(&db, "healthy"), (1, 1));
    assert_eq!(
        streak(&db, "open"),
        (0, 0),
        "open downtime, not breaching: no change"
    );
    assert_eq!(streak(&db, "breaching"), (0, 7));
    let broken: Vec<Value> = env
        .signals
        .borrow()
        .iter()
        .filter(|s| s["signal"] == STREAK_SIGNAL)
        .cloned()
        .collect();
    assert_eq!(broken.len(), 2, "F2: one streak signal per change");
    assert!(broken
        .iter()
        .any(|s| s["objectiveId"] == "breaching" && s["broken"] == true));
}

#[test]
fn v16_4_6_snapshot_records_the_status_and_the_streak_before_the_day() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o", "sys-1", T0 - 40 * 24 * 60 * MIN);
    db.execute(
        "UPDATE slo_streaks SET current_streak = 9, best_streak = 9 WHERE objective_id = 'o'",
        &[],
    )
    .unwrap();
    env.advance(13 * 60 * MIN);
    run_daily(&db, &env).unwrap();
    let snaps = snapshots::between(&db, "o", T0, T0).unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        (
            snaps[0].date,
            snaps[0].streak_days,
            snaps[0].availability_percent
        ),
        (T0, 9, 100.0)
    );
    assert_eq!(snaps[0].burn_rate, Some(0.0));
    assert_eq!(streak(&db, "o"), (10, 10));
}

/// decisions.md F23: running the daily job twice on one UTC day keeps one snapshot and one
/// streak step.
#[test]
fn f23_a_second_run_on_the_same_day_changes_nothing() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o", "sys-1", T0);
    run_daily(&db, &env).unwrap();
    env.advance(5 * 60 * MIN);
    run_daily(&db, &env).unwrap();
    assert_eq!(streak(&db, "o"), (1, 1));
    let snaps = snapshots::between(&db, "o", 0, i64::MAX).unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        snaps[0].streak_days, 0,
        "the streak before the day's decision, not after the second run"
    );
    env.advance(24 * 60 * MIN);
    run_daily(&db, &env).unwrap();
    assert_eq!(streak(&db, "o"), (2, 2));
    assert_eq!(snapshots::between(&db, "o", 0, i64::MAX).unwrap().len(), 2);
}

#[test]
fn v16_4_9_a_failing_objective_is_rolled_back_and_the_others_go_on() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "a", "sys-1", T0);
    objective(&db, "b", "sys-2", T0);
    objective(&db, "c", "sys-3", T0);
    // a corrupt event makes b's status computation fail
    db.execute(
        "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, end_time, attribution_type) VALUES ('bad', 'b', 'sys-2', ?, ?, 'weird')",
        &[(T0 - MIN).into(), T0.into()],
    )
    .unwrap();
    let report = run_daily(&db, &env).unwrap();
    assert_eq!(report.processed, ["a", "c"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(streak(&db, "a"), (1, 1));
    assert_eq!(streak(&db, "b"), (0, 0));
    assert!(snapshots::between(&db, "b", 0, i64::MAX)
        .unwrap()
        .is_empty());
    assert!(env.warnings.borrow()[0].contains("Failed to process daily snapshot for objective b"));
}

/// decisions.md F1, F27: achievements are evaluated after the daily job; each new one is
/// announced once; budget_miser and clean_sheet wait for a full window of history.
#[test]
fn f1_f27_achievements_after_the_daily_job() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o", "sys-1", T0);
    let report = run_daily(&db, &env).unwrap();
    assert_eq!(
        report.unlocked,
        [("sys-1".to_owned(), AchievementType::FirstSteps)]
    );
    assert_eq!(env.hooks.borrow().len(), 1);
    assert_eq!(
        env.hooks.borrow()[0],
        (
            ACHIEVEMENT_HOOK.to_owned(),
            json!({"systemId": "sys-1", "achievement": "first_steps"})
        )
    );

    env.advance(31 * 24 * 60 * MIN);
    let later = run_daily(&db, &env).unwrap();
    let types: Vec<AchievementType> = later.unlocked.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        types,
        [AchievementType::BudgetMiser, AchievementType::CleanSheet]
    );
    let again = run_daily(&db, &env).unwrap();
    assert!(again.unlocked.is_empty(), "F24: never twice");
}

/// decisions.md F29: rapid recovery looks at whole outages, not split fragments.
#[test]
fn f29_split_fragments_merge_into_one_outage() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o", "sys-1", T0);
    // one 6-minute outage split after 2 minutes: fragments of 120 s and 240 s
    event(
        &db,
        &env,
        "o",
        Attribution::SelfCaused,
        T0,
        Some(T0 + 2 * MIN),
    );
    event(
        &db,
        &env,
        "o",
        Attribution::Upstream,
        T0 + 2 * MIN,
        Some(T0 + 6 * MIN),
    );
    // a zero-length orphan close
    event(
        &db,
        &env,
        "o",
        Attribution::SelfCaused,
        T0 + 60 * MIN,
        Some(T0 + 60 * MIN),
    );
    let recent = downtime::recent(&db, "o", 10).unwrap();
    assert_eq!(whole_outage_seconds(&recent), [360.0]);
    env.advance(7 * MIN);
    let unlocked = evaluate_achievements(&db, &env, "sys-1").unwrap();
    assert!(
        !unlocked.contains(&AchievementType::RapidRecovery),
        "a 6-minute outage is not rapid"
    );
}

#[test]
fn rapid_recovery_for_a_short_whole_outage() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    objective(&db, "o", "sys-1", T0);
    event(
        &db,
        &env,
        "o",
        Attribution::SelfCaused,
        T0,
        Some(T0 + 4 * MIN),
    );
    env.advance(5 * MIN);
    assert!(evaluate_achievements(&db, &env, "sys-1")
        .unwrap()
        .contains(&AchievementType::RapidRecovery));
}

/// slo-behaviour.md §16.5 #1 and decisions.md F17.
#[test]
fn weekly_digest_uses_catalog_names_and_skips_an_empty_platform() {
    let (db, env) = (TestDb::new(), FakeEnv::new());
    assert!(!run_weekly_digest(&db, &env).unwrap());
    assert!(env.hooks.borrow().is_empty());
    objective(&db, "o", "db", T0);
    assert!(run_weekly_digest(&db, &env).unwrap());
    let (hook, payload) = env.hooks.borrow()[0].clone();
    assert_eq!(hook, DIGEST_HOOK);
    assert_eq!(payload["topPerformers"][0]["systemName"], "Primary DB");
    assert_eq!(payload["healthyCount"], 1);
}

/// A run that nears its deadline stops between objectives, enqueues the rest, and the
/// follow-ups finish the day exactly as one long run would: every objective snapshotted once,
/// every streak decided once, achievements evaluated once per system.
#[test]
fn a_run_out_of_time_hands_the_rest_to_follow_up_jobs_and_finishes_the_day() {
    let run = |deadline: Option<(u64, u64)>| {
        let db = TestDb::new();
        let env = FakeEnv::new();
        for i in 0..12 {
            let system = ["sys-1", "sys-2", "sys-3"][i % 3];
            objective(
                &db,
                &format!("o{i:02}"),
                system,
                T0 - 40 * DAY_MS + i as i64,
            );
        }
        env.now.set(T0 + 5 * MIN);
        env.deadline.set(deadline);
        let mut resume: Option<DailyResume> = None;
        let mut parts = 0;
        let mut achievement_splits = 0;
        let mut processed = Vec::new();
        loop {
            parts += 1;
            let report = run_daily_from(&db, &env, resume.as_ref()).unwrap();
            assert!(report.failed.is_empty(), "{report:?}");
            processed.extend(report.processed);
            match report.continued {
                Some(rest) => {
                    let (queue, payload, job_id, _) = env.enqueued.borrow().last().unwrap().clone();
                    assert_eq!(queue, crate::service::handlers::DAILY_QUEUE);
                    assert_eq!(
                        job_id,
                        format!("slo-daily-continue-{}-{}", rest.day, rest.part)
                    );
                    resume = parse_daily_payload(&payload.to_string()).unwrap();
                    assert_eq!(resume.as_ref(), Some(&rest), "the payload round-trips");
                    if matches!(rest.phase, DailyPhase::Achievements { .. }) {
                        achievement_splits += 1;
                    }
                    // Each follow-up is a fresh invocation with a fresh deadline.
                    env.deadline.set(deadline);
                }
                None => break,
            }
        }
        let snapshots = db
            .query(
                "SELECT objective_id, date FROM slo_daily_snapshots ORDER BY objective_id",
                &[],
            )
            .unwrap();
        let streaks: Vec<(i64, i64)> = (0..12).map(|i| streak(&db, &format!("o{i:02}"))).collect();
        let unlocked = db
            .query("SELECT system_id, achievement FROM slo_achievements ORDER BY system_id, achievement", &[])
            .unwrap();
        (
            (parts, achievement_splits),
            processed,
            snapshots,
            streaks,
            unlocked,
        )
    };
    let ((one_part, _), all_at_once, snapshots, streaks, unlocked) = run(None);
    assert_eq!(one_part, 1);
    assert_eq!(all_at_once.len(), 12);
    // 1,000 ms left and 100 ms per reading: eight objectives fit before the 300 ms reserve
    // (three times the slowest step); the rest and the achievement pass need a second part.
    let (parts, split, split_snapshots, split_streaks, split_unlocked) = run(Some((1_000, 100)));
    assert_eq!(parts, (2, 0), "the run was split");
    // 400 ms: two objectives a part, and the achievement pass split by system as well.
    let ((_, achievement_splits), split_more, more_snapshots, more_streaks, more_unlocked) =
        run(Some((400, 100)));
    assert!(achievement_splits > 0, "the achievement pass was split too");
    assert_eq!(
        (split_more, more_snapshots, more_streaks, more_unlocked),
        (
            all_at_once.clone(),
            snapshots.clone(),
            streaks.clone(),
            unlocked.clone()
        )
    );
    assert_eq!(split, all_at_once, "each objective once, in order");
    assert_eq!(split_snapshots, snapshots);
    assert_eq!(split_streaks, streaks);
    assert_eq!(split_unlocked, unlocked);
    assert!(!unlocked.is_empty(), "the achievement pass ran");
}

#[test]
fn a_daily_payload_is_the_cron_s_empty_object_or_a_resume_point() {
    assert_eq!(parse_daily_payload("{}").unwrap(), None);
    assert_eq!(
        parse_daily_payload(r#"{"trigger":"scheduled"}"#).unwrap(),
        None
    );
    let resume = DailyResume {
        day: T0,
        part: 2,
        phase: DailyPhase::Achievements {
            after: "sys-1".into(),
        },
    };
    let text = serde_json::to_string(&resume).unwrap();
    assert_eq!(parse_daily_payload(&text).unwrap(), Some(resume));
    let error = parse_daily_payload(r#"{"day": 1, "phase": {"pass": "elsewhere"}}"#).unwrap_err();
    assert!(matches!(error, PluginError::Invalid(_)), "{error:?}");
    assert!(parse_daily_payload("not json").is_err());
}
