//! Delivery modes across a cluster (host-contract §3.3): three instances (three hosts, one
//! PostgreSQL database) and one gone instance. A change is delivered once to a `work-queue`
//! subscription in the whole cluster, and once per live instance to a `broadcast` one; the
//! gone instance gets no copy, and copies left for it are dropped.

use serde_json::json;
use slo_host::artifacts::MISBEHAVING_FIXTURE_PATH;
use slo_host::capabilities::clock::Clock;
use slo_host::capabilities::queue::pending_count;
use slo_host::capabilities::sql::Database;
use slo_host::cluster::{registry, Membership};
use slo_host::host::HostConfig;
use slo_host::platform::simulation::SimulationOptions;
use slo_host::platform::Simulation;
use slo_tests::{call, deliveries, test_config};

fn member(url: &str, name: &str) -> Simulation {
    let config = HostConfig {
        clock: Clock::real(),
        seed: None,
        ..test_config()
    };
    let sim = Simulation::start_member(
        config,
        Database::at(url).unwrap(),
        &std::fs::read(MISBEHAVING_FIXTURE_PATH).unwrap(),
        SimulationOptions::default(),
        Some(Membership::named(name)),
    )
    .unwrap();
    let now = sim.clock().now_ms();
    registry::join(
        &sim.database().checkout().unwrap(),
        name,
        now,
        &Default::default(),
    )
    .unwrap();
    sim
}

#[test]
fn work_queue_once_per_cluster_and_broadcast_once_per_live_instance() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let db = Database::at(&url).unwrap();
    let mut instances: Vec<Simulation> = ["a", "b", "c"].iter().map(|n| member(&url, n)).collect();
    // An instance whose heartbeat lapsed an hour ago.
    let long_ago = instances[0].clock().now_ms() - 3_600_000;
    registry::join(
        &db.checkout().unwrap(),
        "gone",
        long_ago,
        &Default::default(),
    )
    .unwrap();

    call(&instances[0], "mutate", json!({"id": "x", "value": 1}));
    for _ in 0..20 {
        for sim in &mut instances {
            sim.settle().unwrap();
        }
    }
    assert_eq!(pending_count(&db).unwrap(), 0, "every live copy was taken");
    assert_eq!(
        deliveries(&instances[1], "probe-queue").len(),
        1,
        "work queue: once"
    );
    let broadcast = deliveries(&instances[2], "probe-broadcast");
    assert_eq!(
        broadcast.len(),
        3,
        "broadcast: once per live instance: {broadcast:#?}"
    );
    assert!(broadcast
        .iter()
        .all(|d| d["changeId"] == broadcast[0]["changeId"]));
    let groups: Vec<String> = db
        .checkout()
        .unwrap()
        .query(
            "SELECT consumer_group FROM _host_queue_jobs WHERE consumer_group LIKE 'probe-broadcast@%' ORDER BY consumer_group",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "probe-broadcast@a",
            "probe-broadcast@b",
            "probe-broadcast@c"
        ],
        "one copy per live instance, none for the gone one"
    );
    // A copy left for an instance that then went away is dropped by the others' sweep.
    db.checkout()
        .unwrap()
        .execute(
            "INSERT INTO _host_queue_jobs (queue, consumer_group, job_id, payload, priority, enqueued_at, due_at, state) \
             VALUES ('entity.changed', 'probe-broadcast@gone', 'left', '{}', 0, 0, 0, 'queued')",
            &[],
        )
        .unwrap();
    assert_eq!(pending_count(&db).unwrap(), 1);
    // And an instance silent for two days leaves the registry.
    let days_ago = instances[0].clock().now_ms() - 2 * 86_400_000;
    registry::join(
        &db.checkout().unwrap(),
        "ancient",
        days_ago,
        &Default::default(),
    )
    .unwrap();
    let mut fresh = member(&url, "d"); // its first tick sweeps at once
    fresh.run_due().unwrap();
    let left: i64 = db
        .checkout()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM _host_queue_jobs WHERE consumer_group = 'probe-broadcast@gone'",
            &[],
        )
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(left, 0, "the gone instance's copy was dropped");
    let names: Vec<String> = registry::all(&db.checkout().unwrap())
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "gone"], "ancient was forgotten");
}
