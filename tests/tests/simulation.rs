//! The SLO component inside the simulated platform: health changes become entity changes
//! delivered to its subscriptions, cron jobs fire on the virtual clock, entity requests run
//! through the framework pipeline.

use std::time::Duration;

use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::sql::Database;
use slo_host::host::Caller;
use slo_host::platform::{HealthStatus, Simulation};
use slo_tests::{test_config, START_MS};

const MIN: u64 = 60;

fn start() -> Simulation {
    let mut sim = Simulation::start(
        test_config(),
        Database::in_memory().unwrap(),
        SLO_PLUGIN_COMPONENT,
    )
    .unwrap();
    sim.add_system("api", "Public API").unwrap();
    sim.add_system("db", "Primary DB").unwrap();
    sim.platform().set_dependency("api", "db", true);
    sim.settle().unwrap();
    sim
}

fn rpc(sim: &mut Simulation, procedure: &str, input: Value) -> Value {
    let out = sim
        .host()
        .call_rpc(
            procedure,
            &input.to_string(),
            &Caller::user("admin", &["slo.read", "slo.manage"]),
        )
        .unwrap();
    sim.settle().unwrap();
    serde_json::from_str(&out).unwrap()
}

fn advance(sim: &mut Simulation, seconds: u64) {
    let target = sim.clock().now_ms() + (seconds * 1000) as i64;
    sim.advance_to(target).unwrap();
}

#[test]
fn a_health_outage_flows_through_the_entity_framework() {
    let mut sim = start();
    let o = rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only"}),
    );
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    advance(&mut sim, 30 * MIN);
    sim.set_health("api", HealthStatus::Healthy).unwrap();
    sim.settle().unwrap();
    let status = rpc(&mut sim, "getObjective", json!({"id": o["id"]}))["status"].clone();
    assert_eq!(status["errorBudgetConsumedMinutes"], 30.0);
    assert_eq!(status["errorBudgetRemainingPercent"], 30.555555555551607);

    // the slo entity moved and the change was recorded with its diff
    let slo_changes: Vec<_> = sim
        .records()
        .entity_changes
        .iter()
        .filter(|c| c.kind == "slo")
        .collect();
    let last = slo_changes.last().unwrap();
    assert_eq!(last.changed_fields, ["budgetRemainingPercent"]);
    assert_eq!(last.delta["budgetRemainingPercent"], 30.555555555551607);
    // on the way, the minute refresh crossed the 50 % warning threshold once
    let crossings: Vec<_> = slo_changes
        .iter()
        .filter(|c| c.prev.is_some() && c.changed_fields.contains(&"budgetState".to_owned()))
        .collect();
    assert_eq!(crossings.len(), 1);
    assert_eq!(crossings[0].delta["budgetState"], "warning");
    assert!(
        slo_changes[0].prev.is_none(),
        "the first change is the create"
    );
    assert!(sim.queue().dead_letters().unwrap().is_empty());
}

#[test]
fn cron_jobs_fire_at_midnight_and_on_monday_morning() {
    let mut sim = start();
    rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "db", "target": 99.9, "windowDays": 30}),
    );
    // START is Monday 2026-06-01T00:00Z; a week later is Monday again
    advance(&mut sim, 7 * 24 * 60 * MIN + 9 * 60 * MIN);
    let streaks = rpc(&mut sim, "getStreaks", json!({}));
    assert_eq!(
        streaks["streaks"][0]["currentStreak"], 7,
        "seven midnights after the start"
    );
    let digests: Vec<_> = sim
        .records()
        .hooks
        .iter()
        .filter(|h| h.id == "slo.weekly.digest")
        .collect();
    assert_eq!(
        digests.len(),
        2,
        "Monday 09:00 on the first and the second Monday"
    );
    assert_eq!(digests[0].at, START_MS + 9 * 3_600_000);
    assert_eq!(
        digests[0].payload["topPerformers"][0]["systemName"],
        "Primary DB"
    );
    let achievements: Vec<_> = sim
        .records()
        .hooks
        .iter()
        .filter(|h| h.id == "slo.achievement.unlocked")
        .map(|h| h.payload["achievement"].clone())
        .collect();
    assert!(
        achievements.contains(&json!("iron_uptime")),
        "{achievements:?}"
    );
}

#[test]
fn deleting_a_catalog_system_removes_its_objectives() {
    let mut sim = start();
    let o = rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    sim.delete_system("api").unwrap();
    sim.settle().unwrap();
    assert_eq!(
        rpc(&mut sim, "getObjective", json!({"id": o["id"]})),
        Value::Null
    );
    let tombstone = sim
        .records()
        .entity_changes
        .iter()
        .find(|c| c.kind == "slo" && c.next.is_none())
        .unwrap();
    assert_eq!(tombstone.delta, json!({}));
}

#[test]
fn the_minute_refresh_moves_the_entity_while_an_outage_runs() {
    let mut sim = start();
    let o = rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    let before = sim.records().entity_changes.len();
    advance(&mut sim, 3 * MIN);
    let moved: Vec<_> = sim.records().entity_changes[before..]
        .iter()
        .filter(|c| c.kind == "slo" && c.id == o["id"])
        .collect();
    assert_eq!(moved.len(), 3, "one change a minute while the budget burns");
    let _ = Duration::from_secs(0);
}

/// A host process that stops in the middle of a job loses nothing: the in-flight copy is in the
/// host database and the next process on the same file delivers it to the real component.
#[test]
fn a_restart_mid_job_redelivers_the_job_to_the_next_process() {
    let dir = std::env::temp_dir().join(format!("slo-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("host.db");
    let _ = std::fs::remove_file(&path);
    let snapshots = |sim: &mut Simulation, id: &str| {
        rpc(
            sim,
            "getDailySnapshots",
            json!({"objectiveId": id, "startDate": "2026-01-01T00:00:00Z", "endDate": "2027-01-01T00:00:00Z"}),
        )["snapshots"]
            .as_array()
            .unwrap()
            .len()
    };
    let id = {
        let mut sim = Simulation::start(
            test_config(),
            Database::file(&path).unwrap(),
            SLO_PLUGIN_COMPONENT,
        )
        .unwrap();
        sim.add_system("api", "Public API").unwrap();
        let o = rpc(
            &mut sim,
            "createObjective",
            json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
        );
        let id = o["id"].as_str().unwrap().to_owned();
        // the daily job is enqueued and taken, then the process "dies" before running it
        sim.queue()
            .enqueue(&slo_host::capabilities::queue::NewJob {
                queue: "slo-daily-snapshots".into(),
                payload: r#"{"trigger":"scheduled"}"#.into(),
                job_id: "daily-before-crash".into(),
                dedupe: true,
                delay_ms: 0,
                priority: 0,
                ordering_key: None,
            })
            .unwrap();
        let taken = sim.queue().take_due().unwrap().expect("the job is due");
        assert_eq!(taken.queue, "slo-daily-snapshots");
        assert_eq!(snapshots(&mut sim, &id), 0);
        id
    };
    let mut sim = Simulation::start(
        test_config(),
        Database::file(&path).unwrap(),
        SLO_PLUGIN_COMPONENT,
    )
    .unwrap();
    sim.settle().unwrap();
    assert_eq!(
        snapshots(&mut sim, &id),
        1,
        "the in-flight job ran after the restart"
    );
    assert!(sim.queue().dead_letters().unwrap().is_empty());
    drop(sim);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn trimming_history_keeps_routing_and_forgets_what_was_routed() {
    let mut sim = start();
    rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    assert!(!sim.host().published().is_empty());
    sim.trim_history(1, 0).unwrap();
    assert!(
        sim.host().published().is_empty(),
        "routed publications are forgotten"
    );
    assert!(sim.records().entity_changes.len() <= 1);
    assert_eq!(sim.queue().queued_count().unwrap(), 0);

    // Routing after a trim still sees every new publication exactly once.
    advance(&mut sim, 10 * MIN);
    sim.set_health("api", HealthStatus::Healthy).unwrap();
    sim.settle().unwrap();
    let list = rpc(&mut sim, "listObjectives", json!({}));
    let status = &list["objectives"][0]["status"];
    assert_eq!(status["hasOpenDowntime"], json!(false), "{status}");
    assert_eq!(
        status["errorBudgetConsumedMinutes"],
        json!(10.0),
        "{status}"
    );
    let slo_changes = sim
        .records()
        .entity_changes
        .iter()
        .filter(|c| c.kind == "slo")
        .count();
    assert!(slo_changes >= 1, "the recovery moved the slo entity");
}
