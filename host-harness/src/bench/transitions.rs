//! Row 5: end-to-end health transitions per second through the simulated platform: 1,000
//! systems with 2 objectives each, every transition recorded in the change log, delivered
//! through the durable queue (a SQLite file in WAL mode) to each of its subscriptions, and
//! settled (entity refreshes included), with the time split between the plugin's
//! invocations (and their SQL) and the host's own work (queue, change log, routing).

use std::time::{Duration, Instant};

use super::measure::micros;
use super::{Engine, Progress, Row};
use crate::artifacts::SLO_PLUGIN_COMPONENT;
use crate::capabilities::clock::Clock;
use crate::capabilities::sql::commits_so_far;
use crate::host::HostConfig;
use crate::platform::{HealthStatus, Simulation};
use crate::sql_params;

/// Systems in row 5's catalog (each with 2 objectives).
pub(super) const SYSTEMS: usize = 1_000;

/// 2026-06-01T00:00:00Z.
const START_MS: i64 = 1_780_272_000_000;

/// Virtual time between two transitions. 2,000 transitions span 20 s, less than the minute
/// after which the `slo` entity refresh of open outages runs (a delayed queue job, which
/// settling delivers once due): the row measures transitions, not that per-minute refresh
/// (row 12's outage variant shows what the refresh costs). At 1 s a step, the 200 transitions
/// of `--quick` carried ~720 refreshes: 9.6 commits and 19.8 invocations each instead of 6.0
/// and 9.0.
const TRANSITION_STEP: Duration = Duration::from_millis(10);

fn setup(dir: &std::path::Path, progress: &Progress, engine: Engine) -> anyhow::Result<Simulation> {
    let config = HostConfig {
        clock: Clock::virtual_at(START_MS),
        seed: Some(7),
        ..HostConfig::default()
    };
    let mut sim = Simulation::start(
        config,
        engine.database(Some(&dir.join("transitions.db")))?,
        SLO_PLUGIN_COMPONENT,
    )?;
    catalog(&mut sim, progress, START_MS)?;
    Ok(sim)
}

/// Row 5's catalog on `sim`: [`SYSTEMS`] systems (added through the platform, settled), each
/// with a strict and a self-only objective created at `now` (written directly: creating them
/// through the RPC would time the setup, not the transitions).
pub(super) fn catalog(sim: &mut Simulation, progress: &Progress, now: i64) -> anyhow::Result<()> {
    for i in 0..SYSTEMS {
        sim.add_system(&format!("sys-{i}"), &format!("System {i}"))?;
        if i % 100 == 99 {
            progress.tick();
        }
    }
    sim.settle()?;
    let conn = sim.database().checkout()?;
    conn.in_write_transaction(|conn| -> anyhow::Result<()> {
        let insert = "INSERT INTO slo_objectives (id, system_id, target, window_days, dependency_exclusion, created_at, updated_at) \
             VALUES (?, ?, ?, 30, ?, ?, ?)";
        for i in 0..SYSTEMS {
            let system = format!("sys-{i}");
            for (suffix, target, mode) in [("strict", 99.9, "strict"), ("self", 99.5, "self-only")] {
                conn.execute(
                    insert,
                    sql_params![format!("{system}-{suffix}"), &system, target, mode, now, now],
                )?;
            }
        }
        Ok(())
    })
}

/// Row 5.
pub fn rows(quick: bool, progress: &Progress, engine: Engine) -> anyhow::Result<Vec<Row>> {
    let transitions = if quick { 200 } else { 2_000 };
    progress.start(
        "health transitions",
        (SYSTEMS / 100 + transitions / 100) as u64,
    );
    let dir = std::env::temp_dir().join(format!("slo-bench-transitions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut sim = setup(&dir, progress, engine)?;
    let before = sim.host().invocation_counts();
    let commits_before = commits_so_far();
    let started = Instant::now();
    for k in 0..transitions {
        let system = format!("sys-{}", k % SYSTEMS);
        let status = if (k / SYSTEMS).is_multiple_of(2) {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Healthy
        };
        sim.clock().advance(TRANSITION_STEP)?;
        sim.set_health(&system, status)?;
        sim.settle()?;
        if k % 100 == 99 {
            progress.tick();
        }
    }
    let elapsed = started.elapsed();
    let commits = commits_so_far() - commits_before;
    let after = sim.host().invocation_counts();
    progress.finish();
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    let n = u32::try_from(transitions)?;
    let per = elapsed / n;
    let invocations = after.total - before.total;
    let invoked = Duration::from_micros(after.committed_time_us - before.committed_time_us) / n;
    let sql = Duration::from_micros(after.committed_sql_us - before.committed_sql_us) / n;
    let host = per.saturating_sub(invoked);
    let rate = f64::from(n) / elapsed.as_secs_f64();
    Ok(vec![Row {
        number: 5,
        what: format!("end-to-end health transitions ({SYSTEMS} systems × 2 objectives; each change logged, queued durably in {}, delivered to its 3 subscriptions and settled, `slo` entity refreshes included)", match engine {
            Engine::Sqlite => "a WAL SQLite file",
            Engine::Postgres => "PostgreSQL",
        }),
        target: "report transitions/s, the breakdown and commits; aim ≥ 2,000/s and ≤ 4 commits per transition".into(),
        result: format!(
            "**{rate:.0} transitions/s** over {transitions}; per transition {}: plugin invocations {} ({:.1} each, of which host SQL {}), host (queue, change log, entity pipeline, routing) {}; **{:.1} write commits** per transition",
            micros(per),
            micros(invoked),
            invocations as f64 / f64::from(n),
            micros(sql),
            micros(host),
            commits as f64 / f64::from(n)
        ),
        met: Some(rate >= 2_000.0 && commits as f64 <= 4.0 * f64::from(n)),
    }])
}
