//! The plugin runtime: one engine, one linker, a pre-instantiated template per loaded
//! component, and a fresh store and instance for every invocation.
//!
//! Every invocation runs inside one SQL transaction and under the [`Limits`]. It commits only
//! when the export returns `ok`; an `err`, a trap or a limit rolls it back and discards its
//! outbox, and comes back as an [`InvocationError`] naming the plugin, the export and the
//! cause. Because nothing survives between invocations, a trap cannot poison a later call.
//! The runtime knows nothing about what a plugin does: it runs exports and hands back what
//! they asked to publish.

mod artifacts;
mod columnar;
pub mod contract;
pub mod cursor;
mod engine;
mod error;
mod imports;
mod imports_v0_1;
mod limits;
mod sandbox;
mod sleep;
mod state;

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, Trap};

pub use artifacts::{ArtifactCache, CacheOutcome};
pub use engine::{engine_config, pooling_supported, EngineOptions, SandboxEngine, EPOCH_TICK};
pub use error::{Failure, InvocationError, PluginError};
pub use limits::{Limits, MemoryCapExceeded, MemoryLimiter};
pub use state::{HostServices, InvocationState, InvocationTag};

pub use contract::{ContractVersion, PluginInstance};

use crate::bindings::{types as wit, Plugin, PluginManifest};
use crate::capabilities::log::LogLevel;
use crate::capabilities::outbox::{self, Outbox, OutboxEntry};
use crate::capabilities::sql::Transaction;
use contract::PluginPre;

/// `sha256:<hex>` of component bytes: a version's identity.
pub fn digest_of(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// A compiled component, linked against the host's imports and ready to instantiate.
#[derive(Clone)]
pub struct CompiledPlugin {
    component: Component,
    pre: PluginPre,
    digest: String,
}

impl CompiledPlugin {
    /// `sha256:<hex>` of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The wasmtime component.
    pub fn component(&self) -> &Component {
        &self.component
    }

    /// The contract version the component was built against (the one whose exports it has).
    pub fn contract_version(&self) -> ContractVersion {
        self.pre.version()
    }
}

/// Who an invocation runs as, for ids and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginIdentity {
    /// Plugin id.
    pub id: String,
    /// Plugin version.
    pub version: String,
}

/// Whether an invocation gets a database transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionMode {
    /// One transaction, committed on `ok`.
    Transaction,
    /// One read-only transaction (deferred: it neither waits for nor blocks writers); guest
    /// writes are refused. For query procedures, entity reads and derivers.
    ReadOnly,
    /// No database: SQL calls are refused (for `manifest.describe`).
    NoDatabase,
}

/// The call an invocation makes into its fresh instance: the plugin's bindings and the store
/// in, the export's typed answer out. Every `invoke…` of the runtime and the host takes one.
pub trait ExportCall<R>:
    FnOnce(
    &PluginInstance,
    &mut Store<InvocationState>,
) -> wasmtime::Result<Result<R, wit::PluginError>>
{
}

impl<R, F> ExportCall<R> for F where
    F: FnOnce(
        &PluginInstance,
        &mut Store<InvocationState>,
    ) -> wasmtime::Result<Result<R, wit::PluginError>>
{
}

/// How one invocation runs: its transaction, and the limits it gets when they differ from the
/// runtime's (a swap's `init` probe runs under its own deadline and fuel budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationPlan {
    /// The transaction.
    pub mode: TransactionMode,
    /// The limits (`None`: the runtime's).
    pub limits: Option<Limits>,
}

impl From<TransactionMode> for InvocationPlan {
    /// The runtime's limits.
    fn from(mode: TransactionMode) -> Self {
        InvocationPlan { mode, limits: None }
    }
}

/// What a successful invocation produced.
#[derive(Debug)]
pub struct Invoked<R> {
    /// The export's `ok` value.
    pub value: R,
    /// What it asked to publish, in order; its transaction has committed.
    pub outbox: Vec<OutboxEntry>,
    /// For each entry of `outbox`, its `_host_outbox` row when it was written durably.
    pub durable: Vec<Option<i64>>,
    /// Measurements.
    pub stats: InvocationStats,
}

/// Measurements of one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvocationStats {
    /// Wall time, instantiation included.
    pub elapsed: Duration,
    /// Peak linear memory, summed over memories, in bytes.
    pub peak_memory_bytes: usize,
    /// Fuel used, when fuel metering is on.
    pub fuel_used: Option<u64>,
    /// Time spent in the host's SQL calls (part of `elapsed`).
    pub sql: Duration,
}

/// The runtime: engine, linker, limits.
pub struct Runtime {
    engine: SandboxEngine,
    linker: Linker<InvocationState>,
    limits: Limits,
}

impl Runtime {
    /// Builds the engine (with its epoch ticker) and links the contract's imports and WASI.
    pub fn new(options: EngineOptions, limits: Limits) -> wasmtime::Result<Self> {
        if limits.fuel.is_some() && !options.fuel {
            wasmtime::bail!("a fuel budget needs an engine built with fuel metering on");
        }
        let engine = SandboxEngine::new(options)?;
        let mut linker = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        sleep::cap_wasi_sleeps(&mut linker)?;
        // Every served contract version, side by side: their instances have distinct names
        // (`checkstack:plugin/sql@0.1.0`, `…@0.2.0`), so each component finds its own.
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        crate::bindings::v0_1::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        Ok(Runtime {
            engine,
            linker,
            limits,
        })
    }

    /// The limits every invocation gets.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The engine.
    pub fn engine(&self) -> &SandboxEngine {
        &self.engine
    }

    /// Compiles `bytes` and checks that every import is one the host provides and every
    /// export of the contract is present. The error names what is missing or mismatched.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<CompiledPlugin> {
        self.compile_cached(bytes, None)
            .map(|(compiled, _)| compiled)
    }

    /// [`Runtime::compile`] through an artifact cache: a component compiled before (same
    /// digest, same engine configuration) is deserialised instead of compiled; a fresh compile
    /// is stored. The link check runs either way.
    pub fn compile_cached(
        &self,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> wasmtime::Result<(CompiledPlugin, CacheOutcome)> {
        let digest = digest_of(bytes);
        let engine = self.engine.engine();
        let (component, outcome) = match cache {
            None => (Component::new(engine, bytes)?, CacheOutcome::Off),
            Some(cache) => match cache.load(engine, &digest) {
                Some(component) => (component, CacheOutcome::Hit),
                None => {
                    let component = Component::new(engine, bytes)?;
                    if let Err(e) = cache.store(&digest, &component) {
                        tracing::warn!("cannot cache the compiled component {digest}: {e:#}");
                    }
                    (component, CacheOutcome::Miss)
                }
            },
        };
        let instance_pre = self.linker.instantiate_pre(&component)?;
        let pre = contract::bind(instance_pre)?;
        Ok((
            CompiledPlugin {
                component,
                pre,
                digest,
            },
            outcome,
        ))
    }

    /// Calls `manifest.describe` (no database; the export must be pure).
    pub fn describe(
        &self,
        compiled: &CompiledPlugin,
        services: &HostServices,
    ) -> Result<PluginManifest, InvocationError> {
        let identity = PluginIdentity {
            id: "(loading)".into(),
            version: compiled.digest.clone(),
        };
        let invoked = self.invoke(
            compiled,
            &identity,
            services,
            "manifest.describe",
            TransactionMode::NoDatabase,
            |plugin, store| Ok(Ok(plugin.call_describe(store)?)),
        )?;
        if !invoked.outbox.is_empty() {
            return Err(InvocationError {
                plugin: identity.id,
                version: identity.version,
                export: "manifest.describe".into(),
                failure: Failure::Rejected {
                    error: PluginError::Invalid(
                        "manifest.describe must not publish anything".into(),
                    ),
                },
            });
        }
        Ok(invoked.value)
    }

    /// Runs one export in a fresh instance: `call` receives the instance's bindings and the
    /// store. The transaction commits only when `call` answers `Ok(Ok(_))`.
    pub fn invoke<R>(
        &self,
        compiled: &CompiledPlugin,
        identity: &PluginIdentity,
        services: &HostServices,
        export: &str,
        mode: TransactionMode,
        call: impl ExportCall<R>,
    ) -> Result<Invoked<R>, InvocationError> {
        self.invoke_then(compiled, identity, services, export, mode, call, |_, _| {
            Ok(())
        })
    }

    /// [`Runtime::invoke`] with a host step inside the invocation's transaction: after the
    /// export answers `ok` and before the commit, `before_commit` sees the answer and the open
    /// transaction (for the host's own rows, such as the entity framework's transition log
    /// and change event). Its error fails the invocation and rolls everything back.
    #[allow(clippy::too_many_arguments)]
    pub fn invoke_then<R>(
        &self,
        compiled: &CompiledPlugin,
        identity: &PluginIdentity,
        services: &HostServices,
        export: &str,
        mode: TransactionMode,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<Invoked<R>, InvocationError> {
        self.invoke_around(
            compiled,
            identity,
            services,
            export,
            mode,
            |_| Ok(()),
            call,
            before_commit,
        )
    }

    /// The most general invocation: `before_call` runs host statements in the transaction
    /// before the export is called (a load's migrations, so that they commit only together
    /// with `init`), and `before_commit` after it answered `ok`. An error from either fails
    /// the invocation and rolls everything back.
    #[allow(clippy::too_many_arguments)]
    pub fn invoke_around<R>(
        &self,
        compiled: &CompiledPlugin,
        identity: &PluginIdentity,
        services: &HostServices,
        export: &str,
        plan: impl Into<InvocationPlan>,
        before_call: impl FnOnce(Option<&Transaction>) -> Result<(), Failure>,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<Invoked<R>, InvocationError> {
        let started = Instant::now();
        let InvocationPlan { mode, limits } = plan.into();
        let limits = limits.unwrap_or(self.limits);
        if limits.fuel.is_some() && !self.engine.options().fuel {
            return Err(InvocationError {
                plugin: identity.id.clone(),
                version: identity.version.clone(),
                export: export.to_owned(),
                failure: Failure::Host {
                    message: "a fuel budget needs an engine built with fuel metering on".into(),
                },
            });
        }
        let fail = |failure| InvocationError {
            plugin: identity.id.clone(),
            version: identity.version.clone(),
            export: export.to_owned(),
            failure,
        };
        let sequence = services.next_sequence();
        let mut transaction = match mode {
            TransactionMode::NoDatabase => None,
            TransactionMode::Transaction | TransactionMode::ReadOnly => {
                let conn = services.database.checkout().map_err(|e| {
                    fail(Failure::Host {
                        message: format!("database unavailable: {e}"),
                    })
                })?;
                let begun = if mode == TransactionMode::ReadOnly {
                    Transaction::begin_read_only(conn, None)
                } else {
                    Transaction::begin(conn, None)
                };
                Some(begun.map_err(|e| {
                    fail(Failure::Host {
                        message: format!("cannot begin a transaction: {e}"),
                    })
                })?)
            }
        };
        // One deadline for wasm (epoch) and SQL (progress handler), counted from here: time
        // spent waiting for a connection is not charged to the plugin.
        before_call(transaction.as_ref()).map_err(fail)?;
        // A platform shared with other hosts catches up now, under the transaction's locks.
        services.platform.before_invocation().map_err(|e| {
            fail(Failure::Host {
                message: e.to_string(),
            })
        })?;
        let deadline = Instant::now() + limits.deadline;
        if let Some(tx) = transaction.as_mut() {
            tx.set_deadline(deadline);
        }
        let seed = services
            .seed
            .map(|s| s ^ sequence.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let sandbox = sandbox::sandbox(&services.clock, seed);
        let state = InvocationState {
            wasi: sandbox.ctx,
            table: Default::default(),
            limiter: MemoryLimiter::new(&limits),
            transaction,
            outbox: Outbox::default(),
            services: services.clone(),
            tag: InvocationTag {
                plugin: identity.id.clone(),
                version: identity.version.clone(),
                export: export.to_owned(),
                sequence,
            },
            jobs_made: 0,
            deadline: Some(deadline),
            outbox_bytes: 0,
            outbox_limit: limits.outbox_bytes,
            log_lines: 0,
            sql_time: Duration::ZERO,
            caller: None,
            trace_id: state::trace_id(services.seed, sequence),
            open_cursors: 0,
        };
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(SandboxEngine::ticks_for(limits.deadline));
        store.epoch_deadline_trap();
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel).map_err(|e| {
                fail(Failure::Host {
                    message: format!("cannot set fuel: {e}"),
                })
            })?;
        }

        let outcome = compiled
            .pre
            .instantiate(&mut store)
            .and_then(|plugin| call(&plugin, &mut store));
        let fuel_used = limits
            .fuel
            .and_then(|f| store.get_fuel().ok().map(|left| f - left));
        let mut state = store.into_data();
        let stdout = sandbox::output_text(&sandbox.stdout);
        let stderr = sandbox::output_text(&sandbox.stderr);
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            state.write_log(LogLevel::Info, format!("stdout: {line}"));
        }
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            state.write_log(LogLevel::Warn, format!("stderr: {line}"));
        }
        let stats = InvocationStats {
            elapsed: started.elapsed(),
            peak_memory_bytes: state.limiter.peak_bytes(),
            fuel_used,
            sql: state.sql_time,
        };
        let InvocationState {
            transaction,
            outbox,
            ..
        } = state;

        let overran = Instant::now() >= deadline;
        let fault = transaction
            .as_ref()
            .and_then(Transaction::fault)
            .map(str::to_owned);
        match outcome {
            // The database itself failed (read-only, full, I/O): the host's failure, not the
            // plugin's, whatever the plugin answered.
            Ok(_) if fault.is_some() => Err(fail(Failure::Host {
                message: format!(
                    "the database cannot be used: {}; nothing was kept",
                    fault.unwrap_or_default()
                ),
            })),
            // Still running at its deadline: the epoch interrupt only fires inside wasm, so a
            // guest that spent its time in host calls (a capped sleep) is stopped here.
            Ok(_) if overran => Err(fail(Failure::Deadline {
                limit: limits.deadline,
            })),
            Ok(Ok(_)) if transaction.as_ref().is_some_and(Transaction::is_lost) => {
                Err(fail(Failure::Host {
                    message: "the database rolled back the invocation's transaction (an \
                              interrupted or rolled-back statement), so its `ok` cannot be \
                              committed; nothing was kept"
                        .into(),
                }))
            }
            Ok(Ok(value)) => {
                before_commit(&value, transaction.as_ref()).map_err(fail)?;
                let entries = outbox.into_entries();
                let durable = match &transaction {
                    Some(tx)
                        if mode == TransactionMode::Transaction
                            && services.durable_outbox
                            && entries.iter().any(OutboxEntry::is_durable) =>
                    {
                        let conn = tx.host_connection().map_err(|e| {
                            fail(Failure::Host {
                                message: format!("the outbox cannot be written: {e}"),
                            })
                        })?;
                        outbox::persist(
                            conn,
                            services.clock.now_ms(),
                            &identity.id,
                            export,
                            &entries,
                        )
                        .map_err(|message| fail(Failure::Host { message }))?
                    }
                    _ => vec![None; entries.len()],
                };
                if let Some(tx) = transaction {
                    tx.commit().map_err(|e| {
                        fail(Failure::Host {
                            message: format!("commit failed, nothing was kept: {e}"),
                        })
                    })?;
                }
                Ok(Invoked {
                    value,
                    outbox: entries,
                    durable,
                    stats,
                })
            }
            Ok(Err(error)) => {
                drop(transaction);
                Err(fail(Failure::Returned {
                    error: error.into(),
                }))
            }
            Err(error) => {
                drop(transaction);
                Err(fail(classify(error, &stderr, &limits)))
            }
        }
    }
}

/// Turns a wasmtime error from instantiation or a call, under `limits`, into a typed failure.
fn classify(error: wasmtime::Error, stderr: &str, limits: &Limits) -> Failure {
    if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
        return Failure::MemoryCap {
            limit_bytes: cap.cap,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::Deadline {
            limit: limits.deadline,
        },
        Some(Trap::OutOfFuel) => Failure::FuelExhausted {
            fuel: limits.fuel.unwrap_or(0),
        },
        Some(trap) => {
            let panic: Vec<&str> = stderr
                .lines()
                .skip_while(|l| !l.contains("panicked at"))
                .take(3)
                .collect();
            let message = if panic.is_empty() {
                trap.to_string()
            } else {
                format!("{trap} ({})", panic.join(" "))
            };
            Failure::Trap { message }
        }
        None => Failure::Trap {
            message: format!("{error:#}"),
        },
    }
}
