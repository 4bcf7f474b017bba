//! What the HTTP threads, the driver and the component watcher share: the host, the
//! simulated platform in motion, the token table, and the signals between them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::callers::CallerTable;
use super::live::{relay_message, LiveFeed, SIGNAL_CHANNEL};
use crate::capabilities::sql::Database;
use crate::host::{PluginHost, SwapReport};
use crate::platform::simulation::Emission;
use crate::platform::simulation::Simulation;
use crate::platform::SimulatedPlatform;
use crate::sql_params;

/// The component watcher's last word, shown by `/admin/status`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    /// The watched component file.
    pub path: PathBuf,
    /// Swaps the watcher made.
    pub swaps: u64,
    /// The last swap it made.
    pub last_swap: Option<SwapReport>,
    /// Why its last attempt was refused (cleared by the next successful swap).
    pub last_error: Option<String>,
}

/// The shared state of a running server.
pub struct Shared {
    /// The host (RPC calls go straight to it, concurrently).
    pub host: Arc<PluginHost>,
    /// The platform, for reads that must not wait for the simulation.
    pub platform: Arc<SimulatedPlatform>,
    /// The host database, for reads that must not wait for the simulation.
    pub database: Database,
    simulation: Mutex<Simulation>,
    /// Bearer tokens → callers.
    pub callers: CallerTable,
    /// The largest component file a swap or the watcher reads.
    pub max_component_bytes: u64,
    /// Set when shutdown begins: no new work is taken.
    pub stopping: AtomicBool,
    /// The watcher's state, when `--watch` is on.
    pub watch: Mutex<Option<WatchStatus>>,
    /// When the server started.
    pub started: Instant,
    /// This instance's place in a cluster (a PostgreSQL database), if it is in one.
    pub membership: Option<crate::cluster::Membership>,
    /// What the instance last did about the cluster's serving version.
    pub follow: Mutex<super::cluster::FollowState>,
    /// The signals routed here, for `GET /events`.
    pub live: LiveFeed,
    wake: (Mutex<bool>, Condvar),
}

impl Shared {
    /// Shares `simulation` (already started), restoring the platform state a previous run
    /// saved in its database.
    pub fn new(
        mut simulation: Simulation,
        callers: CallerTable,
        max_component_bytes: u64,
    ) -> anyhow::Result<Self> {
        simulation.restore_platform()?;
        simulation.restore_automations()?;
        if simulation.membership().is_none() {
            // In a cluster, rows another instance has not routed yet are not orphans: the
            // driver's periodic sweep takes only rows older than the gone-after limit.
            simulation.recover_outbox()?;
        }
        let live = LiveFeed::default();
        let feed = live.clone();
        let relay = simulation
            .membership()
            .map(|m| (m.instance.clone(), simulation.database().clone()));
        simulation.on_signal(Box::new(move |signal| {
            feed.publish(signal);
            if let Some((instance, database)) = &relay {
                relay_signal(database, instance, signal);
            }
        }));
        Ok(Shared {
            live,
            membership: simulation.membership().cloned(),
            follow: Mutex::new(super::cluster::FollowState::default()),
            host: simulation.host_handle(),
            platform: simulation.platform_handle(),
            database: simulation.database().clone(),
            simulation: Mutex::new(simulation),
            callers,
            max_component_bytes,
            stopping: AtomicBool::new(false),
            watch: Mutex::new(None),
            started: Instant::now(),
            wake: (Mutex::new(false), Condvar::new()),
        })
    }

    /// Exclusive use of the simulation (platform changes, swaps, the driver's ticks).
    pub fn simulation(&self) -> MutexGuard<'_, Simulation> {
        self.simulation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Begins shutdown and wakes the driver so that it notices.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.live.close();
        self.wake_driver();
    }

    /// Tells the driver there is new work (an RPC published something).
    pub fn wake_driver(&self) {
        let (flag, signal) = &self.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        signal.notify_all();
    }

    /// Waits until woken or `timeout` passed, whichever comes first.
    pub fn wait_for_work(&self, timeout: Duration) {
        let (flag, signal) = &self.wake;
        let mut woken = flag.lock().unwrap_or_else(|p| p.into_inner());
        if !*woken {
            woken = signal
                .wait_timeout(woken, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
    }

    /// The watcher's state, locked.
    pub fn watch_status(&self) -> MutexGuard<'_, Option<WatchStatus>> {
        self.watch.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Relays a signal this instance routed to the cluster's other instances (`NOTIFY`, outside any
/// transaction: it is sent at once). A failure costs those instances' dashboards one refresh,
/// never the routing: it is logged and dropped.
fn relay_signal(database: &Database, instance: &str, signal: &Emission) {
    let message = relay_message(instance, signal);
    let sent = database
        .checkout()
        .map_err(|e| e.to_string())
        .and_then(|conn| {
            conn.execute(
                "SELECT pg_notify(?, ?)",
                sql_params![SIGNAL_CHANNEL, message.as_str()],
            )
            .map(drop)
            .map_err(|e| e.to_string())
        });
    if let Err(e) = sent {
        tracing::warn!("could not relay signal {} to the cluster: {e}", signal.id);
    }
}
