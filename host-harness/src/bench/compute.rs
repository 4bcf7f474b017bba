//! Row 3: computeStatus over an objective with 1,000 downtime events, the plugin's own code
//! compiled natively (on a native SQLite with the same migrations and SQL) against the same
//! code inside the component (SQL through host calls, a fresh instance per call, the
//! read-only transaction). Both answer `getObjective` with the read-through cache emptied.

use std::time::{Duration, Instant};

use serde_json::json;
use slo_plugin::service::rpc::handle_rpc;
use slo_plugin::storage::test_db::TestDb;
use slo_plugin::storage::{Database as _, SqlValue};
use slo_plugin::test_env::FakeEnv;

use super::fixtures;
use super::instructions::EVENTS;
use super::measure::{interleaved, micros, ratio};
use super::{Engine, Progress, Row};

/// Row 3's goal: the component at most this many times as slow as native code (SQLite).
const TARGET_RATIO: f64 = 1.3;

/// The plugin natively: a migrated SQLite with one objective and `events` events.
fn native(events: usize) -> anyhow::Result<(TestDb, FakeEnv, String)> {
    let db = TestDb::new();
    let env = FakeEnv::new();
    let input = json!({ "systemId": "api", "target": 99.9, "windowDays": 30 });
    let created = handle_rpc(&db, &env, "createObjective", &input)
        .map_err(|e| anyhow::anyhow!("native createObjective: {e:?}"))?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id"))?
        .to_owned();
    let now = env.now.get();
    let spacing = 30 * 86_400_000 / i64::try_from(events + 1)?;
    for i in 0..events {
        let start = now - spacing * i64::try_from(i + 1)?;
        db.execute(
            "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, end_time, \
             duration_seconds, attribution_type, source) VALUES (?, ?, 'api', ?, ?, 60, 'self', 'healthcheck')",
            &[
                SqlValue::Text(format!("{id}-event-{i}")),
                SqlValue::Text(id.clone()),
                SqlValue::Integer(start),
                SqlValue::Integer(start + 60_000),
            ],
        )
        .map_err(|e| anyhow::anyhow!("native insert: {e:?}"))?;
    }
    Ok((db, env, id))
}

/// Row 3.
pub fn rows(quick: bool, progress: &Progress, engine: Engine) -> anyhow::Result<Vec<Row>> {
    let (batches, per_batch) = if quick { (5, 5) } else { (20, 20) };
    progress.start("computeStatus native vs wasm", batches as u64);
    let (db, env, native_id) = native(EVENTS)?;
    let native_input = json!({ "id": native_id });
    let host = fixtures::slo_host_with_api(engine.database(None)?)?;
    let wasm_id = fixtures::objective_with_downtime(&host, "api", EVENTS)?;
    let (wasm, native) = interleaved(
        batches,
        per_batch,
        || {
            if let Err(e) = fixtures::compute_status(&host, &wasm_id) {
                panic!("computeStatus in the component failed: {e}");
            }
        },
        || {
            env.cache.borrow_mut().clear();
            if let Err(e) = handle_rpc(&db, &env, "getObjective", &native_input) {
                panic!("computeStatus natively failed: {e:?}");
            }
        },
        || progress.tick(),
    );
    // The profile behind the ratio: where each side spends its time.
    let samples = 20u32;
    let mut host_sql = Duration::ZERO;
    let mut wasm_total = Duration::ZERO;
    for _ in 0..samples {
        let invoked = fixtures::compute_status(&host, &wasm_id)
            .map_err(|e| anyhow::anyhow!("computeStatus in the component failed: {e}"))?;
        host_sql += invoked.stats.sql;
        wasm_total += invoked.stats.elapsed;
    }
    let now = env.now.get();
    let started = Instant::now();
    for _ in 0..samples {
        slo_plugin::storage::downtime::overlapping_spans(
            &db,
            &native_id,
            now - 31 * 86_400_000,
            now,
        )
        .map_err(|e| anyhow::anyhow!("native query: {e:?}"))?;
    }
    let native_sql = started.elapsed() / samples;
    let (host_sql, wasm_total) = (host_sql / samples, wasm_total / samples);
    progress.finish();
    let slowdown = ratio(wasm.median, native.median);
    Ok(vec![Row {
        number: 3,
        what: format!("computeStatus (`getObjective`, cache emptied) over an objective with {EVENTS} downtime events: the plugin's code natively on a native SQLite vs inside the component (host calls, fresh instance, transaction included) on {}", engine.name()),
        target: format!("≤ {TARGET_RATIO}× (contract 0.2.0; ≤ 1.5× before)"),
        result: format!(
            "component {} vs native {} per call (medians of {batches} interleaved batches of {per_batch}): **{slowdown:.2}×**. Profile: in the component {} of {} are the host's SQL ({} and row conversion), the rest is instantiation, the boundary (columnar rows lowered into guest memory) and the guest's decoding and arithmetic; natively the same query and decoding take {}, the arithmetic and JSON the rest",
            micros(wasm.median),
            micros(native.median),
            micros(host_sql),
            micros(wasm_total),
            engine.name(),
            micros(native_sql)
        ),
        // The goal is SQLite's; on PostgreSQL the ratio shows the engine's cost.
        met: (engine == Engine::Sqlite).then_some(slowdown <= TARGET_RATIO),
    }])
}
