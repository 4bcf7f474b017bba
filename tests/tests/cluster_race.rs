//! Two cluster instances (two hosts, two connection pools, one PostgreSQL database) racing on
//! one objective, 240 times: a health transition against `createObjective`, against
//! `updateObjective`, two instances handling one system's transition at once, and a down and
//! an up queued together and handled by both instances at once. Never two open downtime
//! events for one objective, never a lost open or close.
//!
//! The guard: every write transaction takes the cluster-wide write lock first (a
//! transaction-level advisory lock), the plugin reads the platform only after it (the platform
//! state is re-read when another instance changed it), and one entity's changes are handed out
//! one at a time in order (the queue's ordering key).

use std::sync::{Arc, Barrier};

use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::clock::Clock;
use slo_host::capabilities::sql::Database;
use slo_host::cluster::Membership;
use slo_host::host::{Caller, HostConfig, PluginHost};
use slo_host::platform::simulation::SimulationOptions;
use slo_host::platform::{HealthStatus, Simulation};
use slo_tests::{pending_but_the_waiting_refresh, test_config};

const RACES_PER_KIND: usize = 60;

fn instance(url: &str, name: &str) -> Simulation {
    // Real randomness: two hosts with one seed would mint the same ids.
    let config = HostConfig {
        clock: Clock::real(),
        seed: None,
        ..test_config()
    };
    Simulation::start_member(
        config,
        Database::at(url).unwrap(),
        SLO_PLUGIN_COMPONENT,
        SimulationOptions::default(),
        Some(Membership::named(name)),
    )
    .unwrap()
}

fn rpc(host: &PluginHost, procedure: &str, input: Value) -> Value {
    let out = host
        .call_rpc(
            procedure,
            &input.to_string(),
            &Caller::user("admin", &["slo.read", "slo.manage"]),
        )
        .unwrap_or_else(|e| panic!("{procedure}: {e}"));
    serde_json::from_str(&out).unwrap()
}

/// Settles both instances until nothing is queued or in flight, but the `slo` entity refresh
/// waiting for its minute while an outage is open.
fn drain(a: &mut Simulation, b: &mut Simulation, db: &Database) {
    for _ in 0..1000 {
        a.settle().unwrap();
        b.settle().unwrap();
        if pending_but_the_waiting_refresh(db, a.clock().now_ms()) == 0 {
            return;
        }
    }
    panic!("the queue did not drain");
}

/// (events, open events) of an objective.
fn events(host: &PluginHost, objective: &str) -> (usize, usize) {
    let answer = rpc(
        host,
        "getDowntimeEvents",
        json!({ "objectiveId": objective, "limit": 100 }),
    );
    let events = answer["events"].as_array().expect("events");
    let open = events.iter().filter(|e| e["endTime"].is_null()).count();
    (events.len(), open)
}

fn create(host: &PluginHost, system: &str, mode: &str) -> String {
    rpc(
        host,
        "createObjective",
        json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode}),
    )["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[test]
fn racing_instances_never_open_two_events_or_lose_a_close() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let db = Database::at(&url).unwrap();
    let mut a = instance(&url, "race-a");
    let mut b = instance(&url, "race-b");
    let (host_a, host_b) = (a.host_handle(), b.host_handle());
    let mut races = 0;
    for round in 0..RACES_PER_KIND {
        for kind in ["create", "update", "handlers", "flap"] {
            let system = format!("{kind}-{round}");
            a.add_system(&system, &system).unwrap();
            let existing = match kind {
                "create" => None,
                _ => Some(create(&host_a, &system, "self-only")),
            };
            drain(&mut a, &mut b, &db);
            if kind == "flap" {
                // Down on one instance, up on the other, both queued before either is
                // handled; then both instances take deliveries at once. One entity's changes
                // must be handled in order, or the up is handled first and the down leaves
                // an event open.
                let objective = existing.clone().expect("an objective");
                a.set_health(&system, HealthStatus::Unhealthy).unwrap();
                b.set_health(&system, HealthStatus::Healthy).unwrap();
                std::thread::scope(|scope| {
                    scope.spawn(|| a.settle().unwrap());
                    scope.spawn(|| b.settle().unwrap());
                });
                drain(&mut a, &mut b, &db);
                assert_eq!(
                    events(&host_a, &objective),
                    (1, 0),
                    "race {races} (flap): a down and an up left one closed event"
                );
                races += 1;
                continue;
            }
            let start = Arc::new(Barrier::new(2));
            let raced = std::thread::scope(|scope| {
                let (gate, sys) = (start.clone(), system.clone());
                let down = scope.spawn(|| {
                    let (gate, sys) = (gate, sys);
                    gate.wait();
                    a.set_health(&sys, HealthStatus::Unhealthy).unwrap();
                    a.settle().unwrap();
                });
                let other = scope.spawn(|| {
                    start.wait();
                    match (kind, &existing) {
                        ("create", _) => Some(create(&host_b, &system, "strict")),
                        ("update", Some(id)) => {
                            rpc(
                                &host_b,
                                "updateObjective",
                                json!({"id": id, "target": 99.5}),
                            );
                            None
                        }
                        _ => {
                            // Takes whatever of the transition's deliveries it can get.
                            for _ in 0..20 {
                                b.settle().unwrap();
                            }
                            None
                        }
                    }
                });
                down.join().expect("the health change");
                other.join().expect("the other side")
            });
            drain(&mut a, &mut b, &db);
            let objective = raced.or(existing).expect("an objective");
            assert_eq!(
                events(&host_b, &objective),
                (1, 1),
                "race {races} ({kind}): {system} is down, so its objective has one open event"
            );
            // The recovery goes through the other instance.
            b.set_health(&system, HealthStatus::Healthy).unwrap();
            drain(&mut a, &mut b, &db);
            assert_eq!(
                events(&host_a, &objective),
                (1, 0),
                "race {races} ({kind}): the close was lost"
            );
            races += 1;
        }
    }
    println!("{races} races between two instances: no duplicate open event, no lost close");
    assert!(races >= 200);
}

/// Every instance's platform equals a fresh load of the database after every kind of change
/// made anywhere: the journal's narrow catch-up (one system's row and the new history rows)
/// and the full reload agree.
#[test]
fn every_instance_sees_the_platform_the_database_holds() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let mut a = instance(&url, "sync-a");
    let mut b = instance(&url, "sync-b");
    let check = |a: &Simulation, b: &Simulation, step: &str| {
        let fresh = instance(&url, "sync-reference");
        let truth = fresh.platform().snapshot();
        for (name, sim) in [("a", a), ("b", b)] {
            sim.platform().refresh().unwrap();
            assert_eq!(sim.platform().snapshot(), truth, "{step}: instance {name}");
        }
    };
    a.add_system("api", "API").unwrap();
    b.add_system("db", "DB").unwrap();
    check(&a, &b, "systems added on both");
    a.set_dependency("api", "db", true).unwrap();
    check(&a, &b, "an edge");
    for (n, status) in [
        HealthStatus::Unhealthy,
        HealthStatus::Degraded,
        HealthStatus::Healthy,
    ]
    .into_iter()
    .enumerate()
    {
        if n % 2 == 0 {
            b.set_health("db", status).unwrap();
        } else {
            a.set_health("db", status).unwrap();
        }
        a.set_health("api", status).unwrap();
    }
    check(&a, &b, "health runs on both");
    b.set_incident(&["api".to_owned()], true).unwrap();
    check(&a, &b, "an incident override");
    a.add_system("cache", "Cache").unwrap();
    b.delete_system("api").unwrap();
    check(&a, &b, "a deletion");
    b.set_health("cache", HealthStatus::Unhealthy).unwrap();
    a.settle().unwrap();
    b.settle().unwrap();
    check(&a, &b, "after deliveries");
}
