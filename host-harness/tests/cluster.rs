//! Three `slo-host serve` processes on one PostgreSQL database, sharing its queue. Health
//! transitions on several systems (strict and self-only objectives, with an upstream) are
//! spread over all three while one instance is killed with SIGKILL and restarted, twice. At the
//! end every down transition left exactly one downtime event per objective, with the right
//! attribution, all closed; nothing is dead-lettered; and the `slo` entity refresh, a delayed
//! job that re-enqueues itself while downtime is open, ran across the instances without ever
//! being queued twice.
//!
//! Every instance's event stream carries the signals any instance routes.
//!
//! And a swap (then a rollback) made on one instance is served by all three within 2 s of its
//! answer, under load, with no failed call; a version no instance can serve is refused by each,
//! which keeps serving and reports why.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use slo_host::artifacts::{FIXTURE_INIT_FAILS_PATH, SLO_PLUGIN_NEXT_PATH, SLO_PLUGIN_PATH};
use slo_host::capabilities::sql::Database;
use slo_host::cluster::serving;

const SYSTEMS: usize = 4;
const ROUNDS: usize = 6;
const LEASE_MS: &str = "3000";

fn start(dir: &std::path::Path, url: &str, name: &str) -> Served {
    serve_on(
        dir,
        std::ffi::OsStr::new(url),
        &["--instance", name, "--lease-ms", LEASE_MS],
    )
}

/// Waits until no copy is queued or in flight (but the `slo` entity refresh waiting for its
/// minute: while a system is down, one is always queued), seen three times in a row (a
/// handler that commits may enqueue more).
fn quiescent(db: &Database) {
    let mut calm = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while calm < 3 {
        let pending = pending_but_the_waiting_refresh(db);
        assert!(
            Instant::now() < deadline,
            "the cluster did not drain its queue within 60 s: {pending} copies pending"
        );
        std::thread::sleep(Duration::from_millis(150));
        if pending == 0 {
            calm += 1;
        } else {
            calm = 0;
        }
    }
}

/// Sends `status` for every system, each through a different instance, all at once.
fn transition_all(servers: &[&Served], systems: &[String], status: &str, round: usize) {
    std::thread::scope(|scope| {
        for (n, system) in systems.iter().enumerate() {
            let server = servers[(round + n) % servers.len()];
            scope.spawn(move || {
                let answer = server.admin("health", json!({"systemId": system, "status": status}));
                assert_eq!(
                    answer["changed"],
                    json!(true),
                    "{system} → {status}: {answer}"
                );
            });
        }
    });
}

fn events_of(server: &Served, objective: &str) -> Vec<Value> {
    let (status, answer) = server.rpc(
        "getDowntimeEvents",
        Some(ADMIN),
        json!({ "objectiveId": objective, "limit": 1000 }),
    );
    assert_eq!(status, 200, "{answer}");
    answer["events"].as_array().expect("events").clone()
}

fn count(db: &Database, sql: &str) -> i64 {
    db.checkout()
        .unwrap()
        .query_row(sql, &[])
        .unwrap()
        .map(|r| r.get::<i64>(0).unwrap())
        .unwrap_or(0)
}

/// Copies of the `slo` entity refresh job in these states.
fn refresh_jobs(db: &Database, states: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT COUNT(*) FROM _host_queue_jobs WHERE queue = '{REFRESH_QUEUE}' AND state IN ({states})"
        ),
    )
}

/// However many instances open downtime at once, at most one refresh job is queued or running:
/// the chain is de-duplicated by its job id, and never forks.
fn one_refresh_chain(db: &Database, round: usize) {
    let pending = refresh_jobs(db, "'queued', 'in_flight'");
    assert!(
        pending <= 1,
        "round {round}: {pending} refresh jobs queued at once"
    );
}

#[test]
fn three_instances_with_kills_record_every_transition_exactly_once() {
    let dir = fresh_dir("cluster-kill");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let names = ["a", "b", "c"];
    let mut servers: Vec<Served> = names.iter().map(|n| start(&dir, &url, n)).collect();

    let systems: Vec<String> = (0..SYSTEMS).map(|n| format!("sys-{n}")).collect();
    servers[0].admin("systems", json!({ "id": "upstream" }));
    let mut objectives = Vec::new();
    for system in &systems {
        servers[0].admin("systems", json!({ "id": system }));
        servers[0].admin(
            "dependencies",
            json!({ "source": system, "target": "upstream" }),
        );
        for mode in ["strict", "self-only"] {
            let (status, answer) = servers[0].rpc(
                "createObjective",
                Some(ADMIN),
                json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode}),
            );
            assert_eq!(status, 200, "{answer}");
            objectives.push((answer["id"].as_str().expect("id").to_owned(), mode));
        }
    }
    let started = Instant::now();
    let db = Database::at(&url).unwrap();
    let upstream_rounds: Vec<usize> = vec![1, 4];
    // (round, instance killed right after the round's downs were sent, restarted at once?)
    // The first restarts at once and takes back what it leased; the second stays down until
    // the others rescued its leases, then comes back.
    let kills = [(1, 1, true), (3, 2, false)];
    let mut rounds = 0;
    // At least ROUNDS rounds, and on until the `slo` entity refresh has run (a minute after
    // the first outage opened).
    while rounds < ROUNDS || refresh_jobs(&db, "'done'") == 0 {
        let round = rounds;
        let upstream_down = upstream_rounds.contains(&round);
        if upstream_down {
            servers[round % 3].admin(
                "health",
                json!({"systemId": "upstream", "status": "unhealthy"}),
            );
            quiescent(&db);
        }
        let live: Vec<&Served> = servers.iter().collect();
        transition_all(&live, &systems, "unhealthy", round);
        one_refresh_chain(&db, round);
        if let Some(&(_, victim, at_once)) = kills.iter().find(|(r, _, _)| *r == round) {
            // Killed with its share of the round's work leased or in hand.
            servers[victim].child.kill().expect("SIGKILL");
            servers[victim].child.wait().expect("reaped");
            if !at_once {
                quiescent(&db);
            }
            servers[victim] = start(&dir, &url, names[victim]);
        }
        quiescent(&db);
        one_refresh_chain(&db, round);
        let live: Vec<&Served> = servers.iter().collect();
        transition_all(&live, &systems, "healthy", round + 1);
        quiescent(&db);
        if upstream_down {
            servers[(round + 1) % 3].admin(
                "health",
                json!({"systemId": "upstream", "status": "healthy"}),
            );
            quiescent(&db);
        }
        rounds += 1;
        assert!(rounds < 200, "no refresh run in {rounds} rounds");
    }

    let mut total_events = 0;
    let mut open_events = 0;
    for (objective, mode) in &objectives {
        let events = events_of(&servers[0], objective);
        total_events += events.len();
        open_events += events.iter().filter(|e| e["endTime"].is_null()).count();
        assert_eq!(
            events.len(),
            rounds,
            "{mode} objective {objective}: one event per down transition: {events:#?}"
        );
        let upstream = events
            .iter()
            .filter(|e| e["attributionType"] == "upstream")
            .count();
        let expected = if *mode == "self-only" {
            upstream_rounds.len()
        } else {
            0
        };
        assert_eq!(
            upstream, expected,
            "{mode} objective {objective}: {events:#?}"
        );
    }
    quiescent(&db);
    let dead = count(
        &db,
        "SELECT COUNT(*) FROM _host_queue_jobs WHERE state = 'dead'",
    );
    let refresh_runs = refresh_jobs(&db, "'done'");
    let refresh_pending = refresh_jobs(&db, "'queued', 'in_flight'");
    let status = servers[0].status();
    let instances = status["cluster"]["instances"]
        .as_array()
        .expect("instances")
        .clone();
    println!(
        "cluster kill test: {} transitions on {SYSTEMS} systems over 3 instances, 2 kills, {:.1} s; \
         {total_events} downtime events ({open_events} open), {dead} dead letters, \
         {refresh_runs} refresh runs ({refresh_pending} still queued), {} instances registered",
        rounds * SYSTEMS * 2 + upstream_rounds.len() * 2,
        started.elapsed().as_secs_f64(),
        instances.len()
    );
    assert_eq!(open_events, 0, "no open event is left behind");
    assert_eq!(dead, 0, "no dead letters");
    assert!(refresh_runs > 0, "the refresh ran");
    assert!(refresh_pending <= 1, "the refresh chain never forks");
    assert_eq!(instances.len(), 3, "{status:#}");
    for server in servers {
        let (stopped, _) = server.terminate();
        assert!(stopped);
    }
}

/// Reads and health flips against one instance until told to stop; answers the failures.
fn load_on(
    base: String,
    system: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut failures = Vec::new();
        let mut down = false;
        while !stop.load(Ordering::SeqCst) {
            down = !down;
            let status = if down { "unhealthy" } else { "healthy" };
            let calls = [
                (
                    "/admin/health",
                    json!({"systemId": system, "status": status}),
                ),
                (
                    "/rpc/getBulkObjectivesForSystems",
                    json!({"systemIds": [system]}),
                ),
            ];
            for (path, body) in calls {
                let (code, answer) = request(&base, "POST", path, Some(ADMIN), &body.to_string());
                if code != 200 {
                    failures.push(format!("{path}: {code} {answer}"));
                }
            }
        }
        failures
    })
}

/// Waits until every instance reports serving `digest`; answers how long that took.
fn all_serve(servers: &[Served], digest: &str, since: Instant) -> Duration {
    loop {
        let serving: Vec<Value> = servers
            .iter()
            .map(|s| s.status()["plugin"]["digest"].clone())
            .collect();
        if serving.iter().all(|d| d == digest) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "not every instance serves {digest} after 10 s: {serving:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_swap_and_a_rollback_on_one_instance_are_served_by_all_three_within_two_seconds() {
    let dir = fresh_dir("cluster-swap");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let names = ["a", "b", "c"];
    let servers: Vec<Served> = names.iter().map(|n| start(&dir, &url, n)).collect();
    for name in names {
        let system = format!("sys-{name}");
        servers[0].admin("systems", json!({ "id": system }));
        let (status, answer) = servers[0].rpc(
            "createObjective",
            Some(ADMIN),
            json!({"systemId": system, "target": 99.9, "windowDays": 30}),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let old_digest = servers[0].status()["plugin"]["digest"].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = servers
        .iter()
        .zip(names)
        .map(|(s, n)| load_on(s.base.clone(), format!("sys-{n}"), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // Timed from the swap's answer: the swap itself (compiling the new version, its
    // migrations) is row 6's measure; this is how fast the others follow.
    let issued = Instant::now();
    let swapped = servers[0].admin("swap", json!({ "path": SLO_PLUGIN_NEXT_PATH }));
    let answered = issued.elapsed();
    let new_digest = swapped["to"]["digest"]
        .as_str()
        .expect("a digest")
        .to_owned();
    assert_ne!(json!(new_digest), old_digest);
    let swap_took = all_serve(&servers, &new_digest, Instant::now());
    std::thread::sleep(Duration::from_millis(500));

    servers[1].admin("rollback", json!({}));
    let rollback_took = all_serve(
        &servers,
        old_digest.as_str().expect("a digest"),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::SeqCst);
    let failures: Vec<String> = load
        .into_iter()
        .flat_map(|t| t.join().expect("load"))
        .collect();
    // Each instance reports what it serves with its next heartbeat (every second).
    let status = eventually("every instance to report the old version", || {
        let status = servers[2].status();
        let instances = status["cluster"]["instances"].as_array()?.clone();
        instances
            .iter()
            .all(|i| i["servingDigest"] == old_digest)
            .then_some(status)
    });
    println!(
        "cluster swap: the swap answered in {:.0} ms; all three served the new version {:.0} ms later, the old one {:.0} ms after the rollback answered; {} failed calls",
        answered.as_secs_f64() * 1000.0,
        swap_took.as_secs_f64() * 1000.0,
        rollback_took.as_secs_f64() * 1000.0,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failed calls under load: {failures:#?}"
    );
    assert!(
        swap_took < Duration::from_secs(2),
        "swap followed in {swap_took:?}"
    );
    assert!(
        rollback_took < Duration::from_secs(2),
        "rollback followed in {rollback_took:?}"
    );
    for instance in status["cluster"]["instances"]
        .as_array()
        .expect("instances")
    {
        assert_eq!(instance["servingDigest"], old_digest, "{status:#}");
        assert_eq!(instance["followError"], Value::Null, "{status:#}");
    }

    // A version no instance can serve (another plugin's component) recorded as the cluster's: each
    // instance tries it itself, refuses it, keeps serving, and says why.
    let bad = std::fs::read(FIXTURE_INIT_FAILS_PATH).unwrap();
    let bad_digest = slo_host::runtime::digest_of(&bad);
    let db = Database::at(&url).unwrap();
    let conn = db.checkout().unwrap();
    serving::keep_component(&conn, &bad_digest, &bad).unwrap();
    serving::record(&conn, &bad_digest, "operator", 0).unwrap();
    drop(conn);
    let refused = eventually("every instance to report the refusal", || {
        let status = servers[0].status();
        let instances = status["cluster"]["instances"].as_array()?.clone();
        instances
            .iter()
            .all(|i| {
                i["servingDigest"] == old_digest
                    && i["followError"]
                        .as_str()
                        .is_some_and(|e| e.contains(&bad_digest))
            })
            .then_some(instances)
    });
    println!("refused by every instance: {}", refused[0]["followError"]);
    for server in &servers {
        let (code, answer) = server.rpc(
            "getBulkObjectivesForSystems",
            Some(ADMIN),
            json!({"systemIds": ["sys-a"]}),
        );
        assert_eq!(code, 200, "still serving: {answer}");
    }
}

#[test]
fn a_second_live_process_cannot_take_an_instance_name() {
    let dir = fresh_dir("cluster-names");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let first = start(&dir, &url, "solo");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--instance",
            "solo",
            "--db",
            &url,
        ])
        .output()
        .expect("slo-host runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second solo must be refused");
    assert!(
        stderr.contains("instance solo is already running")
            && stderr.contains(&format!(":{}", first.child.id())),
        "{stderr}"
    );
    // Its leases were left alone: the first instance still serves.
    assert_eq!(first.status()["cluster"]["instance"], "solo");
    let (stopped, _) = first.terminate();
    assert!(stopped);
}

/// A signal is routed by whichever instance made the delivery; a dashboard's event stream on
/// any instance still sees it (relayed through `NOTIFY`).
#[test]
fn every_instance_streams_the_signals_any_instance_routes() {
    let dir = fresh_dir("cluster-events");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let a = start(&dir, &url, "events-a");
    let b = start(&dir, &url, "events-b");
    a.admin("systems", json!({"id": "api", "name": "API"}));
    let (status, created) = a.rpc(
        "createObjective",
        Some(ADMIN),
        json!({"systemId": "api", "target": 99.9, "windowDays": 7}),
    );
    assert_eq!(status, 200, "{created}");
    let streams = [
        open_event_stream(&a.base, ADMIN),
        open_event_stream(&b.base, ADMIN),
    ];
    // Several changes, made on both instances: deliveries land on either.
    for (n, health) in ["unhealthy", "healthy", "unhealthy", "healthy"]
        .iter()
        .enumerate()
    {
        let server = if n % 2 == 0 { &b } else { &a };
        server.admin("health", json!({"systemId": "api", "status": health}));
    }
    quiescent(&Database::at(&url).unwrap());
    for stream in &streams {
        eventually("four status signals on each instance's stream", || {
            let seen = stream.names();
            (seen.iter().filter(|n| *n == "slo.status.changed").count() >= 4).then_some(())
        });
    }
    for server in [a, b] {
        let (stopped, _) = server.terminate();
        assert!(stopped);
    }
    for stream in streams {
        stream.finish();
    }
}
