//! Data for the benchmarks and the instruction-count check: objectives with many downtime
//! events, written by the host straight into the plugin's tables (one transaction), and the
//! computeStatus invocation measured over them.

use crate::bindings::types::{Caller, CallerKind};
use crate::capabilities::sql::SqlConnection;
use crate::host::PluginHost;
use crate::runtime::{InvocationError, Invoked, PluginIdentity, TransactionMode};
use crate::sql_params;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// The built-in SLO plugin on the real clock over `database`, with one catalog system, `api`
/// (Public API): the host the computeStatus rows measure in.
pub fn slo_host_with_api(
    database: crate::capabilities::sql::Database,
) -> anyhow::Result<PluginHost> {
    let platform = std::sync::Arc::new(crate::platform::SimulatedPlatform::new(
        crate::capabilities::clock::Clock::real(),
    ));
    platform.add_system("api", "Public API");
    let host = PluginHost::with_platform(
        crate::host::HostConfig {
            seed: Some(7),
            ..crate::host::HostConfig::default()
        },
        database,
        platform,
    )?;
    host.load_file(std::path::Path::new(crate::artifacts::SLO_PLUGIN_PATH))?;
    Ok(host)
}

/// Creates an objective on `system` through the plugin (30-day window, 99.9 %), then gives it
/// `events` closed downtime events of 60 s, evenly spread over its window, inserted by the
/// host. Answers the objective id.
pub fn objective_with_downtime(
    host: &PluginHost,
    system: &str,
    events: usize,
) -> anyhow::Result<String> {
    let admin = crate::host::Caller::user("bench", &["slo.read", "slo.manage"]);
    let input = serde_json::json!({ "systemId": system, "target": 99.9, "windowDays": 30 });
    let created: serde_json::Value =
        serde_json::from_str(&host.call_rpc("createObjective", &input.to_string(), &admin)?)?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("createObjective answered no id: {created}"))?
        .to_owned();
    let now = host.services().clock.now_ms();
    let conn = host.services().database.checkout()?;
    conn.in_write_transaction(|conn| insert_closed_events(conn, &id, system, events, now))?;
    Ok(id)
}

/// Writes `events` closed, self-attributed downtime events of 60 s for `objective_id`,
/// evenly spread over the 30 days before `until_ms`, on `conn` (inside the caller's
/// transaction).
pub fn insert_closed_events(
    conn: &SqlConnection,
    objective_id: &str,
    system: &str,
    events: usize,
    until_ms: i64,
) -> anyhow::Result<()> {
    let spacing = 30 * DAY_MS / i64::try_from(events + 1)?;
    let insert = "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, end_time, \
         duration_seconds, attribution_type, source) VALUES (?, ?, ?, ?, ?, 60, 'self', 'healthcheck')";
    for i in 0..events {
        let start = until_ms - spacing * i64::try_from(i + 1)?;
        conn.execute(
            insert,
            sql_params![
                format!("{objective_id}-event-{i}"),
                objective_id,
                system,
                start,
                start + 60_000
            ],
        )?;
    }
    Ok(())
}

/// `lifecycle.init` of the serving plugin in a fresh instance, without a database: the
/// trivial export the per-invocation measurements call.
pub fn invoke_init(host: &PluginHost) -> anyhow::Result<Invoked<()>> {
    let plugin = host
        .plugin()
        .ok_or_else(|| anyhow::anyhow!("no plugin is loaded"))?;
    let identity = PluginIdentity {
        id: plugin.id().into(),
        version: plugin.version().into(),
    };
    host.runtime()
        .invoke(
            plugin.compiled(),
            &identity,
            host.services(),
            "lifecycle.init",
            TransactionMode::NoDatabase,
            |p, store| p.call_init(store),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `getObjective` for `objective_id` with the plugin's read-through cache emptied first, so
/// that the invocation really runs computeStatus over every event; answers the invocation
/// (its stats carry the time, memory and fuel it used).
pub fn compute_status(
    host: &PluginHost,
    objective_id: &str,
) -> Result<Invoked<String>, InvocationError> {
    if let Some(plugin) = host.plugin() {
        host.services()
            .cache
            .invalidate(plugin.id(), &[format!("objective:{objective_id}")]);
    }
    read_rpc(
        host,
        "getObjective",
        &serde_json::json!({ "id": objective_id }),
    )
}

/// Calls read procedure `procedure` with `input` as a `slo.read` user, in a read-only
/// transaction, as `serve` would.
pub fn read_rpc(
    host: &PluginHost,
    procedure: &str,
    input: &serde_json::Value,
) -> Result<Invoked<String>, InvocationError> {
    let export = format!("rpc.handle({procedure})");
    let plugin = host.plugin().ok_or_else(|| {
        host.host_failure(
            &export,
            crate::runtime::Failure::Host {
                message: "no plugin is loaded".into(),
            },
        )
    })?;
    let identity = PluginIdentity {
        id: plugin.id().into(),
        version: plugin.version().into(),
    };
    let input = input.to_string();
    let caller = Caller {
        kind: CallerKind::User,
        id: Some("bench".into()),
        access_rules: vec!["slo.read".into()],
    };
    host.runtime().invoke(
        plugin.compiled(),
        &identity,
        host.services(),
        &export,
        TransactionMode::ReadOnly,
        |p, store| p.call_handle(store, procedure, &input, &caller),
    )
}
