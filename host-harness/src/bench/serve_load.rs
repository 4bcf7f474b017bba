//! Row 9: `slo-host serve` under a mixed HTTP load: 16 clients on loopback for a fixed time,
//! each running the same cycle of reads, health pairs and creates, with requests/s, p50 and
//! p99 over every request, and a check afterwards that every outage pair was recorded exactly.
//!
//! The mix of one client's cycle (12 requests):
//! `listObjectives`, `getObjective`, `getObjectivesForSystem`, `getBulkObjectivesForSystems`,
//! `getDowntimeEvents`, `getStreaks`, `getAchievements`, `getSystemSignals`, health
//! `unhealthy` then `healthy` on the client's own system (clients 0–7; clients 8–15 read
//! `getDailySnapshots` and `getRecentMilestones` instead), `getObjective` again, and every
//! fifth cycle a `createObjective` on a spare system, deleted the cycle after (else
//! `listObjectives`): objectives churn, so the state stays the same size over the run and the
//! row measures a steady state, not a growing catalog.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Progress, Row};
use crate::artifacts::SLO_PLUGIN_COMPONENT;
use crate::serve::{CallerTable, ServeOptions, Server};

const CLIENTS: usize = 16;
const SYSTEMS: usize = 8;
const TOKEN: &str = "bench";

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    latencies: Vec<Duration>,
    /// (path and health status, latency) of every request.
    by_kind: Vec<(String, Duration)>,
    errors: Vec<String>,
    pairs: u64,
}

struct Target {
    base: String,
    agent: ureq::Agent,
}

impl Target {
    fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Target {
            base: base.to_owned(),
            agent,
        }
    }

    /// POSTs `body` to `path`; answers the status and the JSON answer.
    fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .content_type("application/json")
            .send(body.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    fn ok(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = self.post(path, body)?;
        anyhow::ensure!(status == 200, "{path}: {status} {answer}");
        Ok(answer)
    }
}

/// The objective ids per system, after setup.
struct Fixture {
    objectives: Vec<[String; 2]>,
}

fn setup(target: &Target) -> anyhow::Result<Fixture> {
    let mut objectives = Vec::new();
    target.ok("/admin/systems", &json!({"id": "spare", "name": "Spare"}))?;
    for i in 0..SYSTEMS {
        let system = format!("sys-{i}");
        target.ok(
            "/admin/systems",
            &json!({"id": system, "name": format!("System {i}")}),
        )?;
        let mut ids = Vec::new();
        for mode in ["strict", "self-only"] {
            let created = target.ok(
                "/rpc/createObjective",
                &json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode}),
            )?;
            let id = created["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("createObjective answered no id: {created}"))?;
            ids.push(id.to_owned());
        }
        objectives.push([ids[0].clone(), ids[1].clone()]);
    }
    Ok(Fixture { objectives })
}

/// One client's cycle: the requests of the module's mix, in order. `created` is the objective
/// the client created in its last cycle, deleted in this one.
fn cycle(
    client: usize,
    round: u64,
    fixture: &Fixture,
    created: Option<String>,
) -> Vec<(&'static str, Value)> {
    let own = client % SYSTEMS;
    let system = format!("sys-{own}");
    let objective = fixture.objectives[own][round as usize % 2].clone();
    let all: Vec<String> = (0..SYSTEMS).map(|i| format!("sys-{i}")).collect();
    let mut requests = vec![
        ("/rpc/listObjectives", json!({})),
        ("/rpc/getObjective", json!({"id": objective})),
        ("/rpc/getObjectivesForSystem", json!({"systemId": system})),
        (
            "/rpc/getBulkObjectivesForSystems",
            json!({"systemIds": all}),
        ),
        (
            "/rpc/getDowntimeEvents",
            json!({"objectiveId": objective, "limit": 10}),
        ),
        ("/rpc/getStreaks", json!({"systemId": system})),
        ("/rpc/getAchievements", json!({"systemId": system})),
        ("/rpc/getSystemSignals", json!({"systemIds": [system]})),
    ];
    if client < SYSTEMS {
        requests.push((
            "/admin/health",
            json!({"systemId": system, "status": "unhealthy"}),
        ));
        requests.push((
            "/admin/health",
            json!({"systemId": system, "status": "healthy"}),
        ));
    } else {
        requests.push((
            "/rpc/getDailySnapshots",
            json!({"objectiveId": objective, "startDate": "2020-01-01", "endDate": "2100-01-01"}),
        ));
        requests.push(("/rpc/getRecentMilestones", json!({"limit": 10})));
    }
    requests.push(("/rpc/getObjective", json!({"id": objective})));
    if round % 5 == 4 {
        requests.push((
            "/rpc/createObjective",
            json!({"systemId": "spare", "target": 99.0, "windowDays": 7}),
        ));
    } else if let Some(id) = created {
        requests.push(("/rpc/deleteObjective", json!({ "id": id })));
    } else {
        requests.push(("/rpc/listObjectives", json!({})));
    }
    requests
}

fn client(
    client: usize,
    target: &Target,
    fixture: &Fixture,
    stop: &AtomicBool,
    done: &AtomicU64,
) -> ClientLog {
    let mut log = ClientLog::default();
    let mut round = 0;
    let mut created: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        for (path, body) in cycle(client, round, fixture, created.take()) {
            let started = Instant::now();
            match target.post(path, &body) {
                Ok((200, answer)) => {
                    if path == "/rpc/createObjective" {
                        created = answer["id"].as_str().map(str::to_owned);
                    }
                    if path == "/admin/health" && body["status"] == "healthy" {
                        // a pair counts once its `healthy` half changed the platform
                        if answer["changed"] == true {
                            log.pairs += 1;
                        } else {
                            log.errors
                                .push(format!("health pair not a change: {answer}"));
                        }
                    }
                }
                Ok((status, answer)) => log.errors.push(format!("{path}: {status} {answer}")),
                Err(e) => log.errors.push(format!("{path}: {e}")),
            }
            let took = started.elapsed();
            log.latencies.push(took);
            let kind = match body["status"].as_str() {
                Some(status) => format!("{path} {status}"),
                None => path.to_owned(),
            };
            log.by_kind.push((kind, took));
            done.fetch_add(1, Ordering::Relaxed);
        }
        round += 1;
    }
    log
}

/// Checks that every system's objectives hold exactly one closed event per pair sent.
fn check_pairs(target: &Target, fixture: &Fixture, pairs: &[u64]) -> anyhow::Result<()> {
    for (system, ids) in fixture.objectives.iter().enumerate() {
        for id in ids {
            let answer = target.ok(
                "/rpc/getDowntimeEvents",
                &json!({"objectiveId": id, "limit": 1000}),
            )?;
            let events = answer["events"].as_array().map_or(0, Vec::len) as u64;
            let open = answer["events"]
                .as_array()
                .map_or(0, |e| e.iter().filter(|e| e["endTime"].is_null()).count());
            anyhow::ensure!(
                events == pairs[system] && open == 0,
                "sys-{system} objective {id}: {events} events ({open} open) for {} pairs",
                pairs[system]
            );
        }
    }
    Ok(())
}

/// The request kinds by mean latency, slowest first: `kind mean ms` for the four slowest.
fn slowest_kinds(logs: &[ClientLog]) -> String {
    let mut totals: std::collections::BTreeMap<&str, (Duration, u32)> = Default::default();
    for (kind, took) in logs.iter().flat_map(|l| &l.by_kind) {
        let entry = totals.entry(kind.as_str()).or_default();
        entry.0 += *took;
        entry.1 += 1;
    }
    let mut means: Vec<(&str, f64)> = totals
        .into_iter()
        .map(|(kind, (sum, n))| (kind, sum.as_secs_f64() * 1000.0 / f64::from(n.max(1))))
        .collect();
    means.sort_by(|a, b| b.1.total_cmp(&a.1));
    means
        .iter()
        .take(4)
        .map(|(kind, ms)| format!("`{kind}` {ms:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Row 9.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let seconds = if quick { 5 } else { 30 };
    let scratch = std::env::temp_dir().join(format!("slo-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut callers = CallerTable::default();
    callers.add_flag(&format!("{TOKEN}=bench:slo.read,slo.manage,host.admin"))?;
    let server = Server::start(ServeOptions {
        listen: "127.0.0.1:0".into(),
        component: SLO_PLUGIN_COMPONENT.to_vec(),
        component_path: None,
        watch: false,
        database: Some(crate::capabilities::sql::DatabaseLocation::File(
            scratch.join("serve.db"),
        )),
        artifact_cache: None,
        callers,
        ..ServeOptions::default()
    })?;
    let base = format!("http://{}", server.addr());
    let fixture = Arc::new(setup(&Target::new(&base))?);
    progress.start("serve mixed load (s)", seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (fixture, stop, done, base) =
                (fixture.clone(), stop.clone(), done.clone(), base.clone());
            std::thread::spawn(move || client(n, &Target::new(&base), &fixture, &stop, &done))
        })
        .collect();
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        progress.tick();
    }
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<ClientLog> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let elapsed = started.elapsed();
    progress.finish();
    let mut pairs = vec![0; SYSTEMS];
    for (n, log) in logs.iter().enumerate() {
        pairs[n % SYSTEMS] += log.pairs;
    }
    let target = Target::new(&base);
    let exact = check_pairs(&target, &fixture, &pairs);
    server.shutdown()?;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut latencies: Vec<Duration> = logs.iter().flat_map(|l| l.latencies.clone()).collect();
    latencies.sort();
    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    let count = latencies.len();
    let at = |q: f64| {
        latencies
            .get(((count as f64 * q) as usize).min(count.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let (p50, p99) = (at(0.50), at(0.99));
    let slowest = slowest_kinds(&logs);
    let rps = count as f64 / elapsed.as_secs_f64();
    let total_pairs: u64 = pairs.iter().sum();
    let verdict = match (&exact, errors.first()) {
        (Ok(()), None) => format!("no errors, all {total_pairs} outage pairs exact"),
        (Ok(()), Some(first)) => format!("**{} errors** (first: {first})", errors.len()),
        (Err(e), _) => format!("**pairs not exact**: {e}"),
    };
    Ok(vec![Row {
        number: 9,
        what: format!(
            "`serve` under a mixed load: {CLIENTS} clients × {seconds} s on loopback, a file database; each client's cycle of 12 requests is 9–10 reads of every kind, a health pair on its own system (8 systems × 2 objectives) or 2 more reads, and a create every 5th cycle deleted the cycle after"
        ),
        target: "≥ 1,000 requests/s, p99 ≤ 50 ms, every pair exact".into(),
        result: format!(
            "**{rps:.0} requests/s**, p50 {:.1} ms, p99 {:.1} ms ({count} requests); {verdict}. Mean by kind, slowest first: {slowest}",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        ),
        met: Some(
            rps >= 1000.0
                && p99 <= Duration::from_millis(50)
                && exact.is_ok()
                && errors.is_empty(),
        ),
    }])
}
