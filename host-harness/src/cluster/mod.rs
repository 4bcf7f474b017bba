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
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "host".into());
        format!("{host}-{}", std::process::id())
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
