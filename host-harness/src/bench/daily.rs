//! Row 4: the daily job (snapshots, streaks, achievements) over 1k, 10k (and, with `--full`,
//! 100k) objectives with 100 downtime events each, on a SQLite file in WAL mode: its time at
//! each size, whether it scales linearly, and the host's peak RSS (row 7's memory part).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures;
use super::measure::millis;
use super::{Engine, Progress, Row};
use crate::artifacts::SLO_PLUGIN_PATH;
use crate::bindings::types::Job;
use crate::capabilities::clock::Clock;
use crate::host::{HostConfig, PluginHost};
use crate::platform::SimulatedPlatform;
use crate::runtime::Limits;

/// Downtime events per objective.
const EVENTS_PER_OBJECTIVE: usize = 100;

/// 2026-06-10T00:00:00Z, a midnight: the job's "yesterday" is a full day of data.
const MIDNIGHT_MS: i64 = 1_781_049_600_000;

const DAY_MS: i64 = 86_400_000;

/// A host over a fresh SQLite file in `dir` with `objectives` objectives (one per system) and
/// their events written in one transaction.
fn seeded(
    dir: &Path,
    objectives: usize,
    progress: &Progress,
    engine: Engine,
) -> anyhow::Result<PluginHost> {
    let clock = Clock::virtual_at(MIDNIGHT_MS);
    let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
    for i in 0..objectives {
        platform.add_system(&format!("sys-{i}"), &format!("System {i}"));
    }
    let config = HostConfig {
        clock,
        seed: Some(7),
        // One invocation processes every objective: give it room.
        limits: Limits {
            deadline: Duration::from_secs(1800),
            memory_bytes: 2 << 30,
            ..Limits::default()
        },
        ..HostConfig::default()
    };
    let database = engine.database(Some(&dir.join("daily.db")))?;
    let host = PluginHost::with_platform(config, database, platform)?;
    host.load_file(Path::new(SLO_PLUGIN_PATH))?;
    let conn = host.services().database.checkout()?;
    conn.in_write_transaction(|conn| -> anyhow::Result<()> {
        let created = MIDNIGHT_MS - 40 * DAY_MS;
        for i in 0..objectives {
            let (id, system) = (format!("objective-{i}"), format!("sys-{i}"));
            conn.execute(
                "INSERT INTO slo_objectives (id, system_id, target, window_days, created_at, updated_at) \
                 VALUES (?, ?, 99.9, 30, ?, ?)",
                crate::sql_params![&id, &system, created, created],
            )?;
            fixtures::insert_closed_events(conn, &id, &system, EVENTS_PER_OBJECTIVE, MIDNIGHT_MS)?;
            if i % 1_000 == 999 {
                progress.tick();
            }
        }
        Ok(())
    })?;
    drop(conn);
    Ok(host)
}

/// One run of the daily job; answers its time and the part of it spent in the host's SQL.
fn run_daily(host: &PluginHost) -> anyhow::Result<(Duration, Duration)> {
    let job = Job {
        queue: "slo-daily-snapshots".into(),
        consumer_group: "slo-snapshot-worker".into(),
        id: format!("slo-daily-snapshot-run:{MIDNIGHT_MS}"),
        payload: "{}".into(),
        attempt: 1,
        enqueued_at: MIDNIGHT_MS,
    };
    let sql_before = host.invocation_counts().committed_sql_us;
    let started = Instant::now();
    host.deliver_job(&job)
        .map_err(|e| anyhow::anyhow!("the daily job failed: {e}"))?;
    let elapsed = started.elapsed();
    let sql = host.invocation_counts().committed_sql_us - sql_before;
    Ok((elapsed, Duration::from_micros(sql)))
}

/// The process's peak resident set since the last [`reset_peak_rss`], in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resets the peak resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Row 4.
pub fn rows(full: bool, progress: &Progress, engine: Engine) -> anyhow::Result<Vec<Row>> {
    let sizes: &[usize] = if full {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000]
    };
    let total: usize = sizes.iter().sum();
    progress.start("daily job: seeding and running", (total / 1_000) as u64);
    let scratch = std::env::temp_dir().join(format!("slo-bench-daily-{}", std::process::id()));
    let mut times = Vec::new();
    let mut peak = 0;
    for &size in sizes {
        let dir = scratch.join(size.to_string());
        std::fs::create_dir_all(&dir)?;
        let host = seeded(&dir, size, progress, engine)?;
        reset_peak_rss();
        let (time, sql) = run_daily(&host)?;
        peak = peak.max(peak_rss().unwrap_or(0));
        times.push((size, time, sql));
        drop(host);
        let _ = std::fs::remove_dir_all(&dir);
    }
    progress.finish();
    let _ = std::fs::remove_dir_all(&scratch);
    let time_of = |n: usize| times.iter().find(|(s, _, _)| *s == n).map(|(_, t, _)| *t);
    let ten_k = time_of(10_000).unwrap_or_default();
    let listed: Vec<String> = times
        .iter()
        .map(|(n, t, sql)| format!("{n} objectives: {} (host SQL {})", millis(*t), millis(*sql)))
        .collect();
    let scaling = match (time_of(100_000), time_of(1_000)) {
        (Some(hundred_k), _) => {
            let r = hundred_k.as_secs_f64() / ten_k.as_secs_f64();
            (format!("time(100k)/time(10k) = **{r:.1}**"), r <= 12.0)
        }
        (None, Some(one_k)) => {
            let r = ten_k.as_secs_f64() / one_k.as_secs_f64();
            (
                format!("time(10k)/time(1k) = {r:.1} (100k needs `--full`)"),
                true,
            )
        }
        _ => (String::new(), true),
    };
    Ok(vec![Row {
        number: 4,
        what: format!("daily job (one invocation: a savepoint, snapshot and streak per objective, then achievements per system) over N objectives × {EVENTS_PER_OBJECTIVE} downtime events, {}", match engine {
            Engine::Sqlite => "SQLite file in WAL mode",
            Engine::Postgres => "PostgreSQL",
        }),
        target: "10k in ≤ 1.5 s (contract 0.2.0; ≤ 2 s before); time(100k)/time(10k) ≤ 12".into(),
        result: format!(
            "{}; {}; peak host RSS {:.0} MiB",
            listed.join(", "),
            scaling.0,
            peak as f64 / 1_048_576.0
        ),
        // Without the 100k size the scaling goal is unmeasured: a report, unless 10k is slow.
        met: match (ten_k <= Duration::from_millis(1_500), full) {
            (false, _) => Some(false),
            (true, true) => Some(scaling.1),
            (true, false) => None,
        },
    }])
}
