//! The data of one invocation's store: the sandbox, the limiter, the transaction, the outbox
//! and handles on the shared host services.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryLimiter;
use crate::capabilities::cache::Cache;
use crate::capabilities::clock::Clock;
use crate::capabilities::log::PluginLog;
use crate::capabilities::outbox::Outbox;
use crate::capabilities::platform::{NoPlatform, PlatformServices};
use crate::capabilities::sql::{Database, Transaction};

/// The host services shared by every invocation of one host.
#[derive(Clone)]
pub struct HostServices {
    /// The host database.
    pub database: Database,
    /// The host clock.
    pub clock: Clock,
    /// The plugin cache.
    pub cache: Cache,
    /// The plugin log.
    pub log: PluginLog,
    /// Platform plugins reachable through the `platform` import.
    pub platform: Arc<dyn PlatformServices>,
    /// Seed for WASI randomness and host-made ids; `None` for real randomness.
    pub seed: Option<u64>,
    /// Whether a committing invocation writes its durable outbox entries to `_host_outbox` in
    /// its transaction (see [`crate::capabilities::outbox::persist`]): on in a plugin host,
    /// which creates the table and routes the rows.
    pub durable_outbox: bool,
    sequence: Arc<AtomicU64>,
}

impl HostServices {
    /// Services over `database` and `clock`, with an empty cache and log and no platform.
    pub fn new(database: Database, clock: Clock, seed: Option<u64>) -> Self {
        HostServices {
            database,
            cache: Cache::new(clock.clone()),
            clock,
            log: PluginLog::default(),
            platform: Arc::new(NoPlatform),
            seed,
            durable_outbox: false,
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Replaces the platform plugins.
    pub fn with_platform(mut self, platform: Arc<dyn PlatformServices>) -> Self {
        self.platform = platform;
        self
    }

    /// The next invocation sequence number (1, 2, …).
    pub fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Which plugin and export an invocation runs, for logs, ids and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationTag {
    /// Plugin id.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// Export description, e.g. `rpc.handle(getObjective)`.
    pub export: String,
    /// The invocation's sequence number.
    pub sequence: u64,
}

/// The store data of one invocation.
pub struct InvocationState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// `None` when the export may not use SQL (`manifest.describe`).
    pub(crate) transaction: Option<Transaction>,
    pub(crate) outbox: Outbox,
    pub(crate) services: HostServices,
    pub(crate) tag: InvocationTag,
    pub(crate) jobs_made: u32,
    /// When the invocation must end (WASI sleeps are capped at it).
    pub(crate) deadline: Option<std::time::Instant>,
    /// Payload bytes buffered in the outbox so far, against `outbox_limit`.
    pub(crate) outbox_bytes: usize,
    pub(crate) outbox_limit: usize,
    /// Log lines written so far by this invocation.
    pub(crate) log_lines: usize,
    /// Time spent in the host's SQL calls so far.
    pub(crate) sql_time: std::time::Duration,
    /// Who caused the invocation (the RPC caller); `None` means the `system` principal.
    pub(crate) caller: Option<crate::bindings::types::Caller>,
    /// The W3C trace id the invocation's log lines carry (see [`trace_id`]).
    pub(crate) trace_id: String,
    /// Cursors the guest holds open (`sql.open-cursor`).
    pub(crate) open_cursors: usize,
}

impl InvocationState {
    /// The invocation's id: the plugin and the host's sequence number, e.g. `slo#1234`.
    pub fn invocation_id(&self) -> String {
        format!("{}#{}", self.tag.plugin, self.tag.sequence)
    }

    /// Sets who caused the invocation, before its export is called (RPC passes its caller).
    pub fn set_caller(&mut self, caller: crate::bindings::types::Caller) {
        self.caller = Some(caller);
    }
}

/// A W3C trace id (32 lower-case hex digits, never all zero) for invocation `sequence`.
///
/// Seeded hosts (scenarios, tests) derive it from the seed, so that reports stay byte-identical
/// from run to run; otherwise it is random.
pub fn trace_id(seed: Option<u64>, sequence: u64) -> String {
    use rand::{Rng, SeedableRng};
    let base = seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
        base ^ sequence.wrapping_mul(0xd6e8_feb8_6659_fd93),
    );
    let id = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())).max(1);
    format!("{id:032x}")
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
