//! Row 10: row 5's end-to-end health transitions on a cluster: 1, 2 and 3 instances (each its
//! own host, connection pool, leased queue and driver thread, in this process) sharing one
//! PostgreSQL database. Each instance changes the health of its own share of the systems and
//! settles whatever the shared queue hands it; the clock is the real one. Reported: the rate,
//! the CPU this process and the whole machine used, the scaling against one instance, the time
//! in plugin invocations and the time spent waiting for the cluster's write lock (every write
//! transaction holds it: the serial part that bounds the scaling).

use std::time::{Duration, Instant};

use super::measure::micros;
use super::transitions::{self, SYSTEMS};
use super::{Engine, Progress, Row};
use crate::artifacts::SLO_PLUGIN_COMPONENT;
use crate::capabilities::clock::Clock;
use crate::capabilities::queue::pending_count;
use crate::capabilities::sql::{write_begin_us_so_far, Database};
use crate::cluster::Membership;
use crate::host::HostConfig;
use crate::platform::simulation::SimulationOptions;
use crate::platform::{HealthStatus, Simulation};

/// CPU seconds this process used so far (user + system).
fn process_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// (busy, total) jiffies of the whole machine, from `/proc/stat`.
fn machine_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

fn instance(url: &str, name: &str) -> anyhow::Result<Simulation> {
    // Real randomness: instances with one seed would mint the same ids.
    let config = HostConfig {
        clock: Clock::real(),
        seed: None,
        ..HostConfig::default()
    };
    Ok(Simulation::start_member(
        config,
        Database::at(url)?,
        SLO_PLUGIN_COMPONENT,
        SimulationOptions::default(),
        Some(Membership::named(name)),
    )?)
}

/// One measurement: `count` instances, `transitions` in all.
struct Run {
    rate: f64,
    process_cores: f64,
    machine_busy: f64,
    per: Duration,
    invoked: Duration,
    lock_wait: Duration,
}

fn run(count: usize, transitions: usize, progress: &Progress) -> anyhow::Result<Run> {
    let url = match Engine::Postgres.database(None)?.location() {
        crate::capabilities::sql::DatabaseLocation::Postgres(url) => url.clone(),
        other => anyhow::bail!("expected PostgreSQL, got {}", other.describe()),
    };
    let mut sims = (0..count)
        .map(|n| instance(&url, &format!("bench-{n}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = sims[0].clock().now_ms();
    transitions::catalog(&mut sims[0], progress, now)?;
    let db = Database::at(&url)?;
    let invoked_before: u64 = sims
        .iter()
        .map(|s| s.host().invocation_counts().committed_time_us)
        .sum();
    let (cpu_before, machine_before) = (process_cpu(), machine_jiffies());
    let lock_before = write_begin_us_so_far();
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = sims
            .iter_mut()
            .enumerate()
            .map(|(n, sim)| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut k = n;
                    while k < transitions {
                        let system = format!("sys-{}", k % SYSTEMS);
                        let status = if (k / SYSTEMS).is_multiple_of(2) {
                            HealthStatus::Unhealthy
                        } else {
                            HealthStatus::Healthy
                        };
                        sim.set_health(&system, status)?;
                        sim.settle()?;
                        k += count;
                    }
                    // Then help drain what the others left queued.
                    while pending_count(sim.database())? > 0 {
                        sim.settle()?;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("an instance panicked"))??;
        }
        Ok(())
    })?;
    anyhow::ensure!(pending_count(&db)? == 0, "the queue did not drain");
    let elapsed = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    let lock_wait = write_begin_us_so_far() - lock_before;
    let (busy_after, total_after) = machine_jiffies();
    let machine_busy =
        (busy_after - machine_before.0) as f64 / (total_after - machine_before.1).max(1) as f64;
    let invoked_after: u64 = sims
        .iter()
        .map(|s| s.host().invocation_counts().committed_time_us)
        .sum();
    let n = u32::try_from(transitions)?;
    progress.tick();
    Ok(Run {
        rate: f64::from(n) / elapsed.as_secs_f64(),
        process_cores: cpu / elapsed.as_secs_f64(),
        machine_busy,
        per: elapsed / n,
        invoked: Duration::from_micros(invoked_after - invoked_before) / n,
        lock_wait: Duration::from_micros(lock_wait) / n,
    })
}

/// Row 10.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let transitions = if quick { 300 } else { 2_000 };
    progress.start("cluster transitions", 3 * (SYSTEMS / 100 + 1) as u64);
    let runs = (1..=3)
        .map(|count| run(count, transitions, progress))
        .collect::<anyhow::Result<Vec<_>>>()?;
    progress.finish();
    let one = runs[0].rate;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "{} instance{}: **{:.0}/s** (×{:.2}), host process {:.2} cores, machine {:.0}% busy; per transition {}: plugin invocations {}, waiting for the write lock {} (summed over instances)",
                i + 1,
                if i == 0 { "" } else { "s" },
                r.rate,
                r.rate / one,
                r.process_cores,
                r.machine_busy * 100.0,
                micros(r.per),
                micros(r.invoked),
                micros(r.lock_wait)
            )
        })
        .collect();
    let three = runs[2].rate / one;
    Ok(vec![Row {
        number: 10,
        what: format!("row 5 on a cluster: 1, 2 and 3 instances on one PostgreSQL database ({SYSTEMS} systems × 2 objectives, {transitions} transitions spread over the instances, real clock, leased queue), on {cores} cores"),
        target: "linear scaling: 3 instances ≈ 3× one (report what this machine gives)".into(),
        result: parts.join("; "),
        met: Some(three >= 2.5),
    }])
}
