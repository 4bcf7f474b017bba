//! A `serve` process as one instance of a cluster on a shared PostgreSQL database:
//!
//! * the heartbeat thread refreshes the instance's registry row (with the version it serves
//!   and why it could not follow, if it could not) and renews its queue leases;
//! * the listener thread holds a `LISTEN` connection and wakes the driver as soon as any
//!   instance enqueues work (the driver's poll stays as the fallback), and hands the signals
//!   other instances relay to this one's event streams;
//! * [`follow`], called by the driver, swaps to (or rolls back to) the version the cluster
//!   serves when another instance changed it.
//!
//! A graceful stop leaves the registry and puts back the copies it leased and had not started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use super::live::SIGNAL_CHANNEL;
use super::shared::Shared;
use crate::capabilities::queue::{self, WAKE_CHANNEL};
use crate::cluster::{registry, serving, Membership};
use crate::platform::simulation::Simulation;

/// How often the driver looks at the cluster's serving record.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// What the instance last did about the cluster's serving version.
#[derive(Debug, Default)]
pub struct FollowState {
    /// When the serving record was last read.
    checked: Option<Instant>,
    /// A digest this instance could not serve, and why (not retried until the record changes).
    refused: Option<(String, String)>,
}

/// The cluster side of a running server.
pub struct ClusterMember {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// Joins the cluster: registers the instance, records the serving version if the cluster has
/// none yet, and starts the heartbeat and listener threads.
pub fn join(
    shared: Arc<Shared>,
    url: &str,
    address: &str,
    component: &[u8],
) -> anyhow::Result<ClusterMember> {
    let membership = shared
        .membership
        .clone()
        .ok_or_else(|| anyhow::anyhow!("not a cluster member"))?;
    let now = shared.host.services().clock.now_ms();
    {
        let conn = shared.database.checkout()?;
        let plugin = shared
            .host
            .plugin()
            .ok_or_else(|| anyhow::anyhow!("no plugin is loaded"))?;
        serving::keep_component(&conn, plugin.digest(), component)?;
        serving::record_if_absent(&conn, plugin.digest(), &membership.instance, now)?;
        let beat = beat_of(&shared, Some(address));
        registry::join(&conn, &membership.instance, now, &(&beat).into())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeat = {
        let (shared, stop, address) = (shared.clone(), stop.clone(), address.to_owned());
        let membership = membership.clone();
        std::thread::Builder::new()
            .name("slo-host-heartbeat".into())
            .spawn(move || heartbeat_loop(&shared, &membership, &stop, &address))?
    };
    let listener = {
        let (shared, stop, url) = (shared.clone(), stop.clone(), url.to_owned());
        std::thread::Builder::new()
            .name("slo-host-listen".into())
            .spawn(move || listen_loop(&shared, &url, &stop))?
    };
    Ok(ClusterMember {
        stop,
        threads: vec![heartbeat, listener],
        shared,
    })
}

impl ClusterMember {
    /// Stops the threads, puts back the unstarted copies this instance leased and leaves the
    /// registry (call after the driver stopped).
    pub fn leave(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let Some(membership) = self.shared.membership.clone() else {
            return;
        };
        let simulation = self.shared.simulation();
        if let Err(e) = simulation.queue().release_unstarted() {
            tracing::warn!("leased copies could not be put back: {e}");
        }
        drop(simulation);
        match self.shared.database.checkout() {
            Ok(conn) => {
                if let Err(e) = queue::release_leases(&conn, &membership.instance) {
                    tracing::warn!("leases could not be released: {e}");
                }
                if let Err(e) = registry::leave(&conn, &membership.instance) {
                    tracing::warn!("the registry row could not be removed: {e}");
                }
            }
            Err(e) => tracing::warn!("the cluster could not be left cleanly: {e}"),
        }
    }
}

fn beat_of(shared: &Shared, address: Option<&str>) -> OwnedBeat {
    let plugin = shared.host.plugin();
    OwnedBeat {
        address: address.map(str::to_owned),
        digest: plugin.as_ref().map(|p| p.digest().to_owned()),
        version: plugin.as_ref().map(|p| p.version().to_owned()),
        follow_error: shared
            .follow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused
            .as_ref()
            .map(|(digest, why)| format!("cannot serve {digest}: {why}")),
    }
}

/// A heartbeat's report, owned.
struct OwnedBeat {
    address: Option<String>,
    digest: Option<String>,
    version: Option<String>,
    follow_error: Option<String>,
}

impl<'a> From<&'a OwnedBeat> for registry::Beat<'a> {
    fn from(b: &'a OwnedBeat) -> Self {
        registry::Beat {
            address: b.address.as_deref(),
            serving_digest: b.digest.as_deref(),
            serving_version: b.version.as_deref(),
            follow_error: b.follow_error.as_deref(),
        }
    }
}

fn heartbeat_loop(shared: &Shared, membership: &Membership, stop: &AtomicBool, address: &str) {
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = beat_once(shared, membership, address) {
            tracing::warn!("heartbeat failed: {e}");
        }
        sleep_unless(stop, membership.heartbeat);
    }
}

fn beat_once(shared: &Shared, membership: &Membership, address: &str) -> anyhow::Result<()> {
    let now = shared.host.services().clock.now_ms();
    let conn = shared.database.checkout()?;
    let owned = beat_of(shared, Some(address));
    let beat = registry::Beat::from(&owned);
    if !registry::heartbeat(&conn, &membership.instance, now, &beat)? {
        registry::join(&conn, &membership.instance, now, &beat)?;
    }
    queue::renew_leases(
        &conn,
        &membership.instance,
        now.saturating_add(membership.lease_ms()),
    )?;
    Ok(())
}

fn listen_loop(shared: &Shared, url: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = listen_once(shared, url, stop) {
            tracing::warn!("the LISTEN connection failed, polling until it is back: {e}");
            sleep_unless(stop, Duration::from_secs(1));
        }
    }
}

fn listen_once(shared: &Shared, url: &str, stop: &AtomicBool) -> anyhow::Result<()> {
    let config = url.parse::<postgres::Config>()?;
    let mut client = config.connect(postgres::NoTls)?;
    client.batch_execute(&format!("LISTEN {WAKE_CHANNEL}; LISTEN {SIGNAL_CHANNEL}"))?;
    let own = shared
        .membership
        .as_ref()
        .map(|m| m.instance.clone())
        .unwrap_or_default();
    while !stop.load(Ordering::SeqCst) {
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(Duration::from_millis(250));
            while let Some(notification) = iter.next()? {
                if notification.channel() == SIGNAL_CHANNEL {
                    shared.live.publish_relayed(notification.payload(), &own);
                } else {
                    shared.wake_driver();
                }
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
        if client.is_closed() {
            anyhow::bail!("the connection closed");
        }
    }
    Ok(())
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
}

/// Serves what the cluster serves: when another instance swapped or rolled back, this one
/// prepares that version itself (a rollback when it is this instance's previous version, a
/// swap otherwise). A version it cannot serve is refused safely (the old one keeps serving),
/// reported in its heartbeat, and not retried until the record changes. Called by the driver,
/// which holds the simulation; reads the record at most every 200 ms.
pub fn follow(shared: &Shared, simulation: &mut Simulation) -> anyhow::Result<()> {
    if shared.membership.is_none() {
        return Ok(());
    }
    {
        let mut state = shared.follow.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.is_some_and(|at| at.elapsed() < FOLLOW_EVERY) {
            return Ok(());
        }
        state.checked = Some(Instant::now());
    }
    let conn = shared.database.checkout()?;
    let Some(record) = serving::current(&conn)? else {
        return Ok(());
    };
    let serving_now = simulation.host().plugin().map(|p| p.digest().to_owned());
    if serving_now.as_deref() == Some(record.digest.as_str()) {
        return Ok(());
    }
    if shared
        .follow
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .refused
        .as_ref()
        .is_some_and(|(digest, _)| *digest == record.digest)
    {
        return Ok(());
    }
    let previous = simulation
        .host()
        .previous_plugin()
        .map(|p| p.digest().to_owned());
    let outcome = if previous.as_deref() == Some(record.digest.as_str()) {
        simulation.rollback_plugin().map_err(|e| e.to_string())
    } else {
        match serving::component(&conn, &record.digest)? {
            Some(bytes) => simulation
                .swap_plugin(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            None => Err("the cluster has no copy of that component".into()),
        }
    };
    let mut state = shared.follow.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(()) => {
            tracing::info!(
                "following {}: now serving {}",
                record.changed_by,
                record.digest
            );
            state.refused = None;
        }
        Err(why) => {
            tracing::warn!(
                "cannot serve the cluster's version {}: {why}",
                record.digest
            );
            state.refused = Some((record.digest, why));
        }
    }
    Ok(())
}

/// Records what `simulation` serves now as the cluster's serving version (after a swap or a
/// rollback made on this instance). A swap keeps the new component's `bytes` for the others;
/// a rollback's version was kept when it first served.
pub fn announce(
    shared: &Shared,
    simulation: &Simulation,
    bytes: Option<&[u8]>,
) -> anyhow::Result<()> {
    let Some(membership) = &shared.membership else {
        return Ok(());
    };
    let plugin = simulation
        .host()
        .plugin()
        .ok_or_else(|| anyhow::anyhow!("no plugin is loaded"))?;
    let conn = shared.database.checkout()?;
    if let Some(bytes) = bytes {
        serving::keep_component(&conn, plugin.digest(), bytes)?;
    }
    serving::record(
        &conn,
        plugin.digest(),
        &membership.instance,
        simulation.clock().now_ms(),
    )?;
    shared
        .follow
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .refused = None;
    Ok(())
}
