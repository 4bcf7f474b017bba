//! `slo-host serve`: the plugin in a long-running host on the real clock, behind an HTTP JSON
//! API on loopback.
//!
//! * [`api`]: the routes, independent of the HTTP server.
//! * [`callers`]: bearer tokens → callers.
//! * `http`: worker threads between the listener and the API.
//! * `driver`: the thread that runs cron jobs and deliveries as the real clock reaches them.
//! * `watch`: `--watch`, a swap when the component file changes.
//! * `shared`: what they share.
//!
//! RPC calls run concurrently on the HTTP threads; platform changes, swaps and deliveries take
//! turns on the simulation. Shutdown stops taking requests, lets every request in hand finish,
//! lets the driver finish its tick, and saves the platform's state: queued jobs stay in the
//! database for the next start.

pub mod api;
pub mod callers;
mod driver;
mod http;
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
use crate::capabilities::sql::Database;
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
    /// The SQLite file (`None`: in memory, gone at exit).
    pub database: Option<PathBuf>,
    /// Compiled components are cached here across starts and swaps.
    pub artifact_cache: Option<PathBuf>,
    /// Bearer tokens → callers.
    pub callers: CallerTable,
    /// HTTP worker threads.
    pub http_threads: usize,
}

/// A running server. [`Server::shutdown`] (or a signal, in [`Server::run_until_signal`])
/// stops it gracefully.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<shared::Shared>,
    listener: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    driver: Option<JoinHandle<()>>,
    watcher: Option<watch::ComponentWatcher>,
}

/// What a graceful shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Deliveries still queued in the database (they run at the next start).
    pub queued: u64,
}

impl Server {
    /// Starts a server: opens the database, loads the component, restores the platform state a
    /// previous run saved, and starts listening, the driver and (with `watch`) the watcher.
    pub fn start(options: ServeOptions) -> anyhow::Result<Server> {
        if options.watch && options.component_path.is_none() {
            anyhow::bail!("--watch needs --plugin: the built-in component has no file to watch");
        }
        let database = match &options.database {
            Some(path) => Database::file(path)
                .with_context(|| format!("cannot open the database {}", path.display()))?,
            None => Database::in_memory()?,
        };
        let config = HostConfig {
            clock: Clock::real(),
            artifact_cache: options.artifact_cache.clone(),
            ..HostConfig::default()
        };
        let simulation = Simulation::start_with(
            config,
            database,
            &options.component,
            SimulationOptions::default(),
        )
        .context("the component could not be loaded")?;
        let shared = Arc::new(shared::Shared::new(
            simulation,
            options.callers,
            options.database,
        )?);
        let listener = Arc::new(
            tiny_http::Server::http(&options.listen)
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?,
        );
        let addr = listener
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow::anyhow!("{} is not an IP address", options.listen))?;
        let watcher = match (&options.component_path, options.watch) {
            (Some(path), true) => Some(watch::watch(shared.clone(), path)?),
            _ => None,
        };
        let workers = http::spawn_workers(&shared, &listener, options.http_threads)?;
        let driver = Some(driver::spawn(shared.clone())?);
        Ok(Server {
            addr,
            shared,
            listener,
            workers,
            driver,
            watcher,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

    /// Stops taking requests, finishes the requests in hand and the driver's tick, stops the
    /// watcher, and saves the platform's state. Queued jobs stay in the database.
    pub fn shutdown(mut self) -> anyhow::Result<Stopped> {
        self.shared.stop();
        self.watcher.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        self.listener.unblock();
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
        let simulation = self.shared.simulation();
        shared::save_platform(&simulation)?;
        let queued = simulation.queue().queued_count()?;
        Ok(Stopped { queued })
    }
}
