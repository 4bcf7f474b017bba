//! Several host processes on one PostgreSQL database: the instance registry, the version the
//! cluster serves, and the settings every member shares.
//!
//! * [`registry`]: instances and heartbeats.
//! * [`serving`]: the serving version and the components a swap kept.
//! * [`schema`]: their tables (host migration `0007_cluster`).
//!
//! How the work is shared lives with the work: the queue leases copies
//! ([`crate::capabilities::queue::Claims::Leased`]), cron firings are keyed by (job, instant)
//! (`Simulation::run_due`), platform changes compare and set the platform's version, and the
//! `serve` side (heartbeats, `LISTEN`, following swaps) is `serve::cluster`.

pub mod registry;
pub mod schema;
pub mod serving;

use std::time::Duration;

/// One instance's place in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The instance's name: unique in the cluster, kept across restarts.
    pub instance: String,
    /// How long a taken queue copy stays leased without a renewal.
    pub lease: Duration,
    /// How often the heartbeat runs (and renews the leases).
    pub heartbeat: Duration,
    /// A heartbeat older than this counts as gone.
    pub gone_after: Duration,
    /// How many due copies one take leases at once.
    pub batch: usize,
}

impl Membership {
    /// `instance` with the default timings: a 1 s heartbeat, 15 s leases, gone after 10 s,
    /// batches of 4.
    pub fn named(instance: impl Into<String>) -> Self {
        Membership {
            instance: instance.into(),
            lease: Duration::from_secs(15),
            heartbeat: Duration::from_secs(1),
            gone_after: Duration::from_secs(10),
            batch: 4,
        }
    }

    /// The default instance name: the host name and the process id.
    pub fn default_name() -> String {
        format!("{}-{}", host_name(), std::process::id())
    }

    /// The lease in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// The gone-after limit in milliseconds.
    pub fn gone_after_ms(&self) -> i64 {
        i64::try_from(self.gone_after.as_millis()).unwrap_or(i64::MAX)
    }
}

/// This machine's host name (`host` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into())
}

/// Who holds an instance name: this process, as `host:pid`.
pub fn this_process() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// Whether the process `holder` (`host:pid`) may still be running: on this host, whether
/// the pid is alive; on another host, unknowable, so yes.
fn may_be_running(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return true;
    };
    if host != host_name() {
        return true;
    }
    match pid.parse::<libc::pid_t>() {
        // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
        Ok(pid) if pid > 0 => unsafe { libc::kill(pid, 0) == 0 },
        _ => true,
    }
}

/// Refuses to start an instance under a name another live process holds: two processes with
/// one name would take back each other's leases. A name whose holder's heartbeat lapsed, or
/// whose holder on this host is dead (a `kill -9` and a restart), is free.
pub fn ensure_name_free(
    conn: &crate::capabilities::sql::SqlConnection,
    membership: &Membership,
    now: i64,
) -> anyhow::Result<()> {
    let Some((holder, heartbeat_at)) = registry::holder_of(conn, &membership.instance)? else {
        return Ok(());
    };
    let age = now.saturating_sub(heartbeat_at);
    if age <= membership.gone_after_ms() && holder != this_process() && may_be_running(&holder) {
        anyhow::bail!(
            "instance {} is already running ({holder}, heartbeat {age} ms ago): give this one another --instance, or wait until that heartbeat is {} ms old",
            membership.instance,
            membership.gone_after_ms()
        );
    }
    Ok(())
}
