//! `slo-host serve`: the plugin in a long-running host on the real clock, behind an HTTP JSON
//! API on loopback.
//!
//! * [`api`]: the routes, independent of the HTTP server.
//! * [`callers`]: bearer tokens → callers.
//! * [`http`]: hyper and axum between the socket and the API: timeouts, limits, the bounded
//!   threads that run plugin work.
//! * [`component_file`]: reading a component file named by a swap or watched, safely.
//! * [`lock`]: one `serve` per SQLite file.
//! * [`metrics`]: `GET /metrics`, the Prometheus text format.
//! * [`cluster`]: heartbeats, `LISTEN`, following the cluster's serving version.
//! * `driver`: the thread that runs cron jobs and deliveries as the real clock reaches them.
//! * `watch`: `--watch`, a swap when the component file changes.
//! * `shared`: what they share.
//!
//! RPC calls run concurrently on the plugin threads; platform changes, swaps and deliveries
//! take turns on the simulation. Shutdown answers 503 to new requests, lets every request in
//! hand finish, closes the connections and lets the driver finish its tick: queued jobs stay in
//! the database for the next start.
//!
//! On PostgreSQL every server is an instance of the cluster on that database (`cluster`: the
//! registry, leases, `LISTEN`, following swaps): instances share the queue and the platform
//! state, and any of them may take any delivery.
//!
//! After a crash (even `kill -9`) nothing is half-done: a platform change commits together with
//! its change-log row, its queued deliveries and the platform state it sets; a delivery's
//! completion commits with its handler's writes. At the next start the driver delivers what
//! was queued or in flight.

pub mod api;
pub mod callers;
pub mod cluster;
pub mod component_file;
mod driver;
pub mod http;
pub mod live;
pub mod lock;
pub mod metrics;
mod platform_admin;
mod shared;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

pub use callers::{CallerTable, ADMIN_RULE};
pub use shared::WatchStatus;

use crate::capabilities::clock::Clock;
use crate::capabilities::sql::{Database, DatabaseLocation};
use crate::cluster::Membership;
use crate::host::{HostConfig, VersionInfo};
use crate::platform::simulation::{Simulation, SimulationOptions};

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (port 0: any free port; see [`Server::addr`]).
    pub listen: String,
    /// The component bytes to serve first.
    pub component: Vec<u8>,
    /// The component file, when it came from one (`--watch` watches it).
    pub component_path: Option<PathBuf>,
    /// Swap when `component_path` changes.
    pub watch: bool,
    /// The database: a SQLite file or a PostgreSQL URL (`None`: SQLite in memory, gone at
    /// exit).
    pub database: Option<DatabaseLocation>,
    /// Compiled components are cached here across starts and swaps.
    pub artifact_cache: Option<PathBuf>,
    /// Bearer tokens → callers.
    pub callers: CallerTable,
    /// Threads that run plugin work for HTTP requests.
    pub http_threads: usize,
    /// The largest component file a swap or the watcher reads.
    pub max_component_bytes: u64,
    /// The HTTP layer's timeouts and limits (`listen` and the thread count come from the
    /// fields above).
    pub http: http::HttpOptions,
    /// On PostgreSQL, this instance's name and timings in the cluster (`None`: the default
    /// name, hostname and pid, with the default timings). Ignored on SQLite.
    pub membership: Option<Membership>,
}

impl Default for ServeOptions {
    /// Loopback on the default port, the built-in SLO component, an in-memory database, no
    /// tokens, four HTTP threads.
    fn default() -> Self {
        ServeOptions {
            listen: DEFAULT_LISTEN.into(),
            component: crate::artifacts::SLO_PLUGIN_COMPONENT.to_vec(),
            component_path: None,
            watch: false,
            database: None,
            artifact_cache: None,
            callers: CallerTable::default(),
            http_threads: 4,
            max_component_bytes: component_file::DEFAULT_MAX_COMPONENT_BYTES,
            http: http::HttpOptions::default(),
            membership: None,
        }
    }
}

/// A running server. [`Server::shutdown`] (or a signal, in [`Server::run_until_signal`])
/// stops it gracefully.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<shared::Shared>,
    http: Option<http::HttpServer>,
    driver: Option<JoinHandle<()>>,
    watcher: Option<watch::ComponentWatcher>,
    cluster: Option<cluster::ClusterMember>,
    /// Held for the life of the server (file databases only).
    _lock: Option<lock::DatabaseLock>,
}

/// How long a shutdown waits for plugin work in hand.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How long a shutdown keeps answering 503 before it closes the listener.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(250);

/// What a graceful shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Deliveries still queued in the database (they run at the next start).
    pub queued: u64,
}

impl Server {
    /// Starts a server: locks and opens the database, loads the component, restores the
    /// platform state a previous run saved, and starts listening, the driver and (with
    /// `watch`) the watcher.
    pub fn start(options: ServeOptions) -> anyhow::Result<Server> {
        if options.watch && options.component_path.is_none() {
            anyhow::bail!("--watch needs --plugin: the built-in component has no file to watch");
        }
        // One `serve` per SQLite file. PostgreSQL serialises writers itself (an advisory
        // lock per write transaction).
        let lock = match &options.database {
            Some(DatabaseLocation::File(path)) => Some(lock::DatabaseLock::acquire(path)?),
            _ => None,
        };
        let database = match &options.database {
            Some(location) => Database::open(location.clone())
                .with_context(|| format!("cannot open {}", location.describe()))?,
            None => Database::in_memory()?,
        };
        let config = HostConfig {
            clock: Clock::real(),
            artifact_cache: options.artifact_cache.clone(),
            ..HostConfig::default()
        };
        // Every `serve` on PostgreSQL is an instance of the cluster on that database.
        let membership = match &options.database {
            Some(DatabaseLocation::Postgres(_)) => Some(
                options
                    .membership
                    .clone()
                    .unwrap_or_else(|| Membership::named(Membership::default_name())),
            ),
            _ => None,
        };
        if let Some(m) = &membership {
            // Before anything takes back leases under this name.
            let conn = database.checkout()?;
            crate::host_schema::migrate(&conn)?;
            crate::cluster::ensure_name_free(&conn, m, Clock::real().now_ms())?;
        }
        let simulation = Simulation::start_member(
            config,
            database,
            &options.component,
            SimulationOptions::default(),
            membership,
        )
        .context("the component could not be loaded")?;
        let shared = Arc::new(shared::Shared::new(
            simulation,
            options.callers,
            options.max_component_bytes,
        )?);
        let http = http::HttpServer::start(
            shared.clone(),
            &http::HttpOptions {
                listen: options.listen.clone(),
                plugin_threads: options.http_threads,
                ..options.http.clone()
            },
        )?;
        let cluster = match &options.database {
            Some(DatabaseLocation::Postgres(url)) => Some(cluster::join(
                shared.clone(),
                url,
                &http.addr().to_string(),
                &options.component,
            )?),
            _ => None,
        };
        let watcher = match (&options.component_path, options.watch) {
            (Some(path), true) => Some(watch::watch(shared.clone(), path)?),
            _ => None,
        };
        let driver = Some(driver::spawn(shared.clone())?);
        Ok(Server {
            addr: http.addr(),
            shared,
            http: Some(http),
            driver,
            watcher,
            cluster,
            _lock: lock,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This instance's place in the cluster on its PostgreSQL database, if it is in one.
    pub fn membership(&self) -> Option<&Membership> {
        self.shared.membership.as_ref()
    }

    /// The version serving now.
    pub fn serving(&self) -> Option<VersionInfo> {
        self.shared.host.plugin().map(|p| VersionInfo::of(&p))
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub fn run_until_signal(self) -> anyhow::Result<Stopped> {
        let signalled = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, signalled.clone())?;
        }
        while !signalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.shutdown()
    }

    /// Answers 503 to new requests, finishes the requests in hand, closes the connections,
    /// stops the watcher and lets the driver finish its tick. Queued jobs stay in the database.
    pub fn shutdown(mut self) -> anyhow::Result<Stopped> {
        self.shared.stop();
        self.watcher.take();
        if let Some(http) = self.http.take() {
            http.drain(SHUTDOWN_LINGER, DRAIN_LIMIT);
            http.stop();
        }
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
        if let Some(member) = self.cluster.take() {
            member.leave();
        }
        let simulation = self.shared.simulation();
        let queued = simulation.queue().queued_count()?;
        Ok(Stopped { queued })
    }
}
