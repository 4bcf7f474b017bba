//! Helpers shared by the integration tests: hosts over in-memory databases with the real
//! components loaded, and a way to capture the whole database for before/after comparisons.

use std::path::Path;
use std::time::Duration;

use slo_host::artifacts;
use slo_host::capabilities::clock::Clock;
use slo_host::capabilities::sql::{Database, SqlValue};
use slo_host::host::{HostConfig, PluginHost};
use slo_host::platform::SimulatedPlatform;
use slo_host::runtime::{EngineOptions, Limits};

/// 2026-06-01T00:00:00Z, the instant the tests' virtual clocks start at.
pub const START_MS: i64 = 1_780_272_000_000;

/// Limits small enough that runaway fixtures are stopped quickly.
pub fn test_limits() -> Limits {
    Limits {
        deadline: Duration::from_millis(500),
        memory_bytes: 32 << 20,
        ..Limits::default()
    }
}

/// A host config with a virtual clock at [`START_MS`], seed 7 and [`test_limits`].
pub fn test_config() -> HostConfig {
    HostConfig {
        engine: EngineOptions::default(),
        limits: test_limits(),
        seed: Some(7),
        clock: Clock::virtual_at(START_MS),
        ..HostConfig::default()
    }
}

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A private in-memory SQLite database.
    Sqlite,
    /// A fresh database on PostgreSQL (`slo_host::postgres_cluster`).
    Postgres,
}

impl Backend {
    /// A fresh, empty database on this engine. Without PostgreSQL the panic says what to
    /// install: a PostgreSQL test never passes silently.
    pub fn database(self) -> Database {
        match self {
            Backend::Sqlite => Database::in_memory().expect("in-memory database"),
            Backend::Postgres => {
                let url = slo_host::postgres_cluster::fresh_database()
                    .unwrap_or_else(|e| panic!("{e:#}"));
                Database::at(&url).unwrap_or_else(|e| panic!("{url}: {e}"))
            }
        }
    }
}

/// A host over a fresh in-memory database with the component at `path` loaded.
pub fn host_with(path: &str, config: HostConfig) -> PluginHost {
    host_on(Backend::Sqlite, path, config)
}

/// A host over a fresh database on `backend` with the component at `path` loaded.
pub fn host_on(backend: Backend, path: &str, config: HostConfig) -> PluginHost {
    let host = PluginHost::new(config, backend.database()).expect("host starts");
    host.load_file(Path::new(path))
        .unwrap_or_else(|e| panic!("loading {path}: {e}"));
    host
}

/// A host with the misbehaving fixture loaded.
pub fn fixture_host() -> PluginHost {
    fixture_host_on(Backend::Sqlite)
}

/// A host on `backend` with the misbehaving fixture loaded.
pub fn fixture_host_on(backend: Backend) -> PluginHost {
    host_on(backend, artifacts::MISBEHAVING_FIXTURE_PATH, test_config())
}

/// A host on `backend` with the SLO plugin loaded.
pub fn slo_host_on(backend: Backend) -> PluginHost {
    host_on(backend, artifacts::SLO_PLUGIN_PATH, test_config())
}

/// A host with the SLO plugin loaded.
pub fn slo_host() -> PluginHost {
    host_with(artifacts::SLO_PLUGIN_PATH, test_config())
}

/// A host with the SLO plugin loaded over a simulated platform holding `api` (Public API)
/// and `db` (Primary DB), api depending on db; answers the host, the platform and the clock.
pub fn slo_host_on_platform() -> (PluginHost, std::sync::Arc<SimulatedPlatform>, Clock) {
    let config = test_config();
    let clock = config.clock.clone();
    let platform = std::sync::Arc::new(SimulatedPlatform::new(clock.clone()));
    platform.add_system("api", "Public API");
    platform.add_system("db", "Primary DB");
    platform.set_dependency("api", "db", true);
    let host = PluginHost::with_platform(
        config,
        Database::in_memory().expect("database"),
        platform.clone(),
    )
    .expect("host starts");
    host.load_file(Path::new(artifacts::SLO_PLUGIN_PATH))
        .expect("the SLO plugin loads");
    (host, platform, clock)
}

/// Every row of every table (host tables included), ordered, for exact before/after equality.
pub fn database_contents(db: &Database) -> Vec<(String, Vec<Vec<SqlValue>>)> {
    let conn = db.checkout().expect("connection");
    let mut tables = conn.table_names().expect("list tables");
    tables.sort();
    tables
        .into_iter()
        .map(|table| {
            let rows = conn
                .query(&format!("SELECT * FROM \"{table}\" ORDER BY 1"), &[])
                .expect("rows")
                .into_iter()
                .map(|row| row.0)
                .collect();
            (table, rows)
        })
        .collect()
}

/// Every scenario file: `tests/scenarios/*.json` and the bundled demo scenarios of
/// `host-harness/scenarios/` (what `slo-host demo` runs), sorted.
pub fn scenario_files() -> Vec<std::path::PathBuf> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<std::path::PathBuf> = [
        root.join("scenarios"),
        root.join("../host-harness/scenarios"),
    ]
    .iter()
    .flat_map(|dir| {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
    })
    .filter(|p| p.extension().is_some_and(|x| x == "json"))
    .collect();
    files.sort();
    files
}

/// Calls the fixture plugin's RPC `procedure` anonymously in `sim`'s host; its JSON answer.
pub fn call(
    sim: &slo_host::platform::Simulation,
    procedure: &str,
    input: serde_json::Value,
) -> serde_json::Value {
    let out = sim
        .host()
        .call_rpc(
            procedure,
            &input.to_string(),
            &slo_host::host::Caller::anonymous(&[]),
        )
        .unwrap_or_else(|e| panic!("{procedure}: {e}"));
    serde_json::from_str(&out).expect("a JSON answer")
}

/// What the fixture plugin recorded receiving in worker group `group` (its `deliveries`
/// procedure).
pub fn deliveries(sim: &slo_host::platform::Simulation, group: &str) -> Vec<serde_json::Value> {
    call(sim, "deliveries", serde_json::json!({}))
        .as_array()
        .expect("a list")
        .iter()
        .filter(|d| d["group"] == group)
        .cloned()
        .collect()
}

/// The copies of `queue`'s jobs still queued or in flight in `db`'s durable queue, oldest
/// first, as (job id, due instant).
pub fn pending_jobs(db: &Database, queue: &str) -> Vec<(String, i64)> {
    let conn = db.checkout().expect("connection");
    conn.query(
        "SELECT job_id, due_at FROM _host_queue_jobs WHERE queue = ? AND state IN ('queued', 'in_flight') ORDER BY seq",
        &[SqlValue::from(queue)],
    )
    .expect("pending jobs")
    .iter()
    .map(|row| (row.get(0).expect("job id"), row.get(1).expect("due")))
    .collect()
}

/// The queue the SLO plugin's `slo` entity refresh runs on: while downtime is open, one
/// delayed job (due a minute after the last run) is always queued there.
pub const REFRESH_QUEUE: &str = "slo-entity-refresh";

/// How many copies in `db`'s queue are queued or in flight, leaving out the refresh job that
/// waits for its minute (not due by `now_ms`): what "the queue drained" means while an outage
/// keeps the refresh going.
pub fn pending_but_the_waiting_refresh(db: &Database, now_ms: i64) -> i64 {
    let conn = db.checkout().expect("connection");
    conn.query_row(
        "SELECT COUNT(*) FROM _host_queue_jobs WHERE state IN ('queued', 'in_flight') \
         AND NOT (queue = ? AND state = 'queued' AND due_at > ?)",
        &[SqlValue::from(REFRESH_QUEUE), SqlValue::from(now_ms)],
    )
    .expect("pending copies")
    .map_or(0, |row| row.get(0).expect("a count"))
}
