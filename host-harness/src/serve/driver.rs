//! The driver: the background thread that keeps the platform moving on the real clock. It
//! enqueues each recurring job when its cron instant comes, delivers every due job (health
//! changes, hooks, retries, what RPC calls published), and sleeps until the next instant or
//! until woken.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::shared::Shared;

/// The longest the driver sleeps without looking at the queue (a retry enqueued by another
/// thread, or a clock that jumped, is noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The longest a cluster instance's driver sleeps: it also notices, this often, that another
/// instance swapped the version the cluster serves (a `LISTEN` wakes it for new work).
const CLUSTER_MAX_SLEEP: Duration = Duration::from_millis(200);

/// After a failed tick (the database is locked, say), wait this long before the next.
const AFTER_FAILURE: Duration = Duration::from_millis(500);

/// How many entries of each record list a long-running host keeps.
const KEEP_RECORDS: usize = 256;

/// How long delivered queue copies are kept (dead letters are kept for good).
const KEEP_DELIVERED_MS: i64 = 60 * 60 * 1000;

/// Starts the driver thread; it returns once shutdown has begun and its last tick is done.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("slo-host-driver".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let max_sleep = if shared.membership.is_some() {
        CLUSTER_MAX_SLEEP
    } else {
        MAX_SLEEP
    };
    while !shared.is_stopping() {
        let sleep = match tick(shared) {
            Ok(Some(next_due_at)) => {
                let now = shared.simulation().clock().now_ms();
                let until = u64::try_from(next_due_at.saturating_sub(now)).unwrap_or(0);
                Duration::from_millis(until).min(max_sleep)
            }
            Ok(None) => max_sleep,
            Err(error) => {
                tracing::warn!("driver tick failed, retrying: {error}");
                AFTER_FAILURE
            }
        };
        if !sleep.is_zero() {
            shared.wait_for_work(sleep);
        }
    }
}

/// Runs everything due now; answers when the next thing is due.
fn tick(shared: &Shared) -> Result<Option<i64>, String> {
    let mut simulation = shared.simulation();
    super::cluster::follow(shared, &mut simulation).map_err(|e| e.to_string())?;
    let next = simulation.run_due().map_err(|e| e.to_string())?;
    simulation
        .trim_history(KEEP_RECORDS, KEEP_DELIVERED_MS)
        .map_err(|e| e.to_string())?;
    Ok(next)
}
