//! `slo-host serve` killed with SIGKILL at arbitrary points of a load, 20 times over one
//! database: after every restart, once the deliveries left in the queue are made, the
//! platform's health and the plugin's downtime events agree (a system is unhealthy exactly when
//! each of its objectives has one open event), and an outage pair sent after the restart is
//! recorded exactly once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_PATH;
use slo_host::capabilities::sql::Database;

const ROUNDS: u64 = 20;
const LOADED_SYSTEMS: usize = 4;

/// One request that may fail (the server is being killed): the status and answer, if any.
fn try_request(base: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send(body.to_string())
        .ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).ok()?))
}

/// A deterministic spread of kill points (SplitMix64 of the round).
fn kill_after(round: u64) -> Duration {
    let mut z = round.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    Duration::from_millis(50 + z % 900)
}

fn objectives_of(server: &Served, system: &str) -> Vec<String> {
    let (status, answer) = server.rpc(
        "getObjectivesForSystem",
        Some(ADMIN),
        json!({ "systemId": system }),
    );
    assert_eq!(status, 200, "{answer}");
    answer
        .as_array()
        .expect("a list")
        .iter()
        .map(|row| row["objective"]["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// (events, open events) of an objective.
fn events_of(server: &Served, objective: &str) -> (usize, usize) {
    let (status, answer) = server.rpc(
        "getDowntimeEvents",
        Some(ADMIN),
        json!({ "objectiveId": objective, "limit": 1000 }),
    );
    assert_eq!(status, 200, "{answer}");
    let events = answer["events"].as_array().expect("events");
    let open = events.iter().filter(|e| e["endTime"].is_null()).count();
    (events.len(), open)
}

/// Waits until the deliveries left in the queue are made (all but the `slo` entity refresh
/// waiting for its minute: while a system is down, one is always queued).
fn settled(database: &Database) {
    eventually("the queue left by the crash to be delivered", || {
        (pending_but_the_waiting_refresh(database) == 0).then_some(())
    });
}

/// The platform's health and the downtime events agree, for every system.
fn check_consistent(server: &Served, round: u64) {
    let (status, systems) = server.request("GET", "/admin/systems", Some(ADMIN), "");
    assert_eq!(status, 200, "{systems}");
    for system in systems["systems"].as_array().expect("systems") {
        let id = system["id"].as_str().expect("id");
        let down = system["health"] == "unhealthy";
        for objective in objectives_of(server, id) {
            let (_, open) = events_of(server, &objective);
            assert_eq!(
                open,
                usize::from(down),
                "round {round}: {id} is {} but objective {objective} has {open} open events",
                system["health"]
            );
        }
    }
}

/// An acknowledged pair after a restart records exactly one closed event.
fn check_fresh_pair(server: &Served, round: u64) {
    let objectives = objectives_of(server, "probe");
    let before: Vec<(usize, usize)> = objectives.iter().map(|o| events_of(server, o)).collect();
    for status in ["unhealthy", "healthy"] {
        let answer = server.admin("health", json!({"systemId": "probe", "status": status}));
        assert_eq!(answer["changed"], json!(true), "round {round}: {answer}");
    }
    for (objective, (events, _)) in objectives.iter().zip(before) {
        assert_eq!(
            events_of(server, objective),
            (events + 1, 0),
            "round {round}: the pair on probe was not recorded exactly once"
        );
    }
}

/// Health flips on every loaded system, with reads between, until the server dies.
fn load(base: &str, alive: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    (0..LOADED_SYSTEMS)
        .map(|n| {
            let (base, alive) = (base.to_owned(), alive.clone());
            std::thread::spawn(move || {
                let system = format!("sys-{n}");
                let mut down = false;
                while alive.load(Ordering::SeqCst) {
                    down = !down;
                    let status = if down { "unhealthy" } else { "healthy" };
                    let body = json!({"systemId": system, "status": status});
                    if try_request(&base, "/admin/health", &body).is_none() {
                        return;
                    }
                    let body = json!({"systemIds": [system]});
                    if try_request(&base, "/rpc/getBulkObjectivesForSystems", &body).is_none() {
                        return;
                    }
                }
            })
        })
        .collect()
}

#[test]
fn sigkill_at_random_points_never_leaves_health_and_downtime_out_of_step() {
    let dir = fresh_dir("crash");
    let db = dir.join("db.sqlite");
    crash_rounds(&dir, db.as_os_str());
}

/// The same on PostgreSQL: a killed process's transactions are rolled back by the server, and
/// what it committed is recovered at the next start.
#[test]
fn sigkill_on_postgres_never_leaves_health_and_downtime_out_of_step() {
    let dir = fresh_dir("crash-postgres");
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    crash_rounds(&dir, std::ffi::OsStr::new(&url));
}

fn crash_rounds(dir: &std::path::Path, db: &std::ffi::OsStr) {
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    // One instance name across restarts: a restarted instance takes back what it leased.
    let serve = |dir: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["--instance", "crash-test"];
        args.extend_from_slice(extra);
        serve_on(dir, db, &args)
    };
    {
        let server = serve(dir, &[]);
        for id in (0..LOADED_SYSTEMS)
            .map(|n| format!("sys-{n}"))
            .chain(["probe".to_owned()])
        {
            server.admin("systems", json!({ "id": id }));
            for mode in ["strict", "self-only"] {
                let (status, answer) = server.rpc(
                    "createObjective",
                    Some(ADMIN),
                    json!({"systemId": id, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode}),
                );
                assert_eq!(status, 200, "{answer}");
            }
        }
        let (stopped, _) = server.terminate();
        assert!(stopped);
    }
    let database = Database::at(db.to_str().expect("a UTF-8 --db")).expect("the database");
    for round in 0..=ROUNDS {
        let mut server = serve(dir, &[]);
        settled(&database);
        check_consistent(&server, round);
        check_fresh_pair(&server, round);
        if round == ROUNDS {
            break;
        }
        let alive = Arc::new(AtomicBool::new(true));
        let clients = load(&server.base, &alive);
        std::thread::sleep(kill_after(round));
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        alive.store(false, Ordering::SeqCst);
        for client in clients {
            client.join().expect("load client");
        }
    }
}
