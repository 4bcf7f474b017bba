//! The SLO component inside the simulated platform: health changes become entity changes
//! delivered to its subscriptions, cron jobs fire on the virtual clock, entity requests run
//! through the framework pipeline.

use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::sql::Database;
use slo_host::host::Caller;
use slo_host::platform::{HealthStatus, Simulation};
use slo_tests::{pending_jobs, test_config, START_MS};

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

/// The queue the `slo` entity refresh runs on, and the job id its chain de-duplicates by.
const REFRESH_QUEUE: &str = "slo-entity-refresh";
const REFRESH_JOB: &str = "slo-entity-refresh";

/// `handlers.on-job` invocations so far (every queue job the plugin ran).
fn jobs_run(sim: &Simulation) -> u64 {
    sim.host()
        .invocation_counts()
        .by_export
        .get("handlers.on-job")
        .copied()
        .unwrap_or(0)
}

/// The refresh runs only while downtime is open: the outage's first event queues one delayed,
/// de-duplicated job; each run refreshes the open objectives and queues the next a minute later,
/// so the entity's budget moves every minute; after recovery one last run finds nothing open
/// and the chain stops. No cron fires it: a quiet hour runs no job at all.
#[test]
fn the_refresh_chain_moves_the_entity_every_minute_while_open_and_stops_after() {
    let mut sim = start();
    sim.add_system("web", "Web").unwrap();
    let o = rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    let id = o["id"].as_str().unwrap().to_owned();
    rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "web", "target": 99.5, "windowDays": 7}),
    );

    // Quiet: nothing is queued for the refresh and an hour passes without a single job.
    let jobs = jobs_run(&sim);
    advance(&mut sim, 60 * MIN + 30);
    assert!(pending_jobs(sim.database(), REFRESH_QUEUE).is_empty());
    assert_eq!(jobs_run(&sim), jobs, "no job runs while nothing is open");

    // The outage opens off the minute: one refresh job, a minute later.
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    let opened = sim.clock().now_ms();
    assert_eq!(
        pending_jobs(sim.database(), REFRESH_QUEUE),
        [(REFRESH_JOB.to_owned(), opened + 60_000)]
    );
    // A second outage while the first is open starts no second chain.
    sim.set_health("web", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    assert_eq!(pending_jobs(sim.database(), REFRESH_QUEUE).len(), 1);

    let budget = |c: &slo_host::capabilities::entities::ChangeEvent| {
        c.next.as_ref().unwrap()["budgetRemainingPercent"]
            .as_f64()
            .unwrap()
    };
    let before = sim.records().entity_changes.len();
    let mut last = 100.0;
    for minute in 1..=5 {
        advance(&mut sim, MIN);
        let moved: Vec<_> = sim.records().entity_changes[before..]
            .iter()
            .filter(|c| c.kind == "slo" && c.id == id)
            .collect();
        assert_eq!(moved.len(), minute as usize, "one change a minute");
        let change = moved.last().unwrap();
        assert_eq!(change.occurred_at, opened + minute * 60_000);
        assert!(
            change
                .changed_fields
                .contains(&"budgetRemainingPercent".to_owned()),
            "minute {minute}: {:?}",
            change.changed_fields
        );
        assert!(budget(change) < last, "minute {minute}: the budget burns");
        last = budget(change);
        assert_eq!(
            pending_jobs(sim.database(), REFRESH_QUEUE),
            [(REFRESH_JOB.to_owned(), opened + (minute + 1) * 60_000)],
            "minute {minute}: the next run, and only it, is queued"
        );
    }

    // Recovery: the queued run finds nothing open, refreshes nothing and queues nothing.
    advance(&mut sim, 20);
    sim.set_health("api", HealthStatus::Healthy).unwrap();
    sim.set_health("web", HealthStatus::Healthy).unwrap();
    sim.settle().unwrap();
    let (jobs, changes) = (jobs_run(&sim), sim.records().entity_changes.len());
    advance(&mut sim, 10 * MIN);
    assert!(
        pending_jobs(sim.database(), REFRESH_QUEUE).is_empty(),
        "no refresh job is queued after the recovery"
    );
    assert_eq!(jobs_run(&sim), jobs + 1, "one last run, then none");
    assert_eq!(
        sim.records().entity_changes.len(),
        changes,
        "the last run refreshed nothing"
    );
    assert!(sim.queue().dead_letters().unwrap().is_empty());
}

/// Starts on the frozen 0.1.0 build, which refreshed the `slo` entity on a minute cron, opens
/// an outage, lets the cron move the entity, and swaps to this build; answers the simulation
/// and the objective.
fn outage_across_a_swap_from_the_cron_build() -> (Simulation, String) {
    let frozen = std::fs::read(slo_host::artifacts::FROZEN_SLO_PLUGIN_0_1_PATH).unwrap();
    let mut sim =
        Simulation::start(test_config(), Database::in_memory().unwrap(), &frozen).unwrap();
    sim.add_system("api", "Public API").unwrap();
    sim.settle().unwrap();
    let o = rpc(
        &mut sim,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    advance(&mut sim, 3 * MIN + 30);
    sim.swap_plugin(SLO_PLUGIN_COMPONENT).unwrap();
    (sim, o["id"].as_str().unwrap().to_owned())
}

/// The host cancels a recurring job the new version no longer declares: after the swap, the
/// minute cron is gone from the schedule.
#[test]
fn a_swap_from_the_cron_build_cancels_the_minute_cron() {
    let (sim, _) = outage_across_a_swap_from_the_cron_build();
    let jobs: Vec<String> = sim
        .database()
        .checkout()
        .unwrap()
        .query(
            "SELECT job_id FROM _host_recurring_jobs ORDER BY job_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(jobs, ["slo-daily-snapshot-run", "slo-weekly-digest-run"]);
}

/// An outage open across a swap from the cron build keeps the entity moving every minute:
/// `lifecycle.init` starts the refresh chain when downtime is open.
#[test]
fn a_swap_from_the_cron_build_mid_outage_resumes_the_refresh_every_minute() {
    let (mut sim, id) = outage_across_a_swap_from_the_cron_build();
    assert_eq!(
        pending_jobs(sim.database(), REFRESH_QUEUE).len(),
        1,
        "init queued the refresh"
    );
    let before = sim.records().entity_changes.len();
    advance(&mut sim, 3 * MIN);
    let moved = sim.records().entity_changes[before..]
        .iter()
        .filter(|c| c.kind == "slo" && c.id == id)
        .count();
    assert_eq!(moved, 3, "one change a minute after the swap");
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
    // Only the outage's refresh job is left, due a minute after the opening.
    assert_eq!(sim.queue().queued_count().unwrap(), 1);
    assert_eq!(
        pending_jobs(sim.database(), "slo-entity-refresh"),
        [(
            "slo-entity-refresh".to_owned(),
            sim.clock().now_ms() + 60_000
        )]
    );

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
