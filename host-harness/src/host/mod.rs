//! The host a user drives: load a plugin, call it, see what it published.
//!
//! Loading compiles the component, links it against the contract (refusing a component whose
//! imports or exports do not match, naming the item), reads its manifest, applies its pending
//! migrations in one transaction and runs its `init`. Any failure leaves the database as it
//! was and nothing loaded. After each committed invocation the host publishes its outbox:
//! cache writes go to the cache, everything else to the publication log that the platform
//! simulation routes to queues, hooks, signals and the entity framework.
//!
//! * `mod.rs`: the host's config and [`PluginHost`] itself (services, registries, locks).
//! * `load`: loading and its checks ([`LoadedPlugin`], [`LoadError`]).
//! * `caller`: [`Caller`]s and their access rules.
//! * `invoke`: the invoke wrappers, invocation counts and the crash policy's bookkeeping.
//! * `exports`: RPC, deliveries and the entity provider as the host calls them.
//! * `publications`: the publication log.
//! * `versions`: hot swap and rollback.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use serde::Serialize;

use crate::bindings::{types as wit, PluginManifest};
use crate::capabilities::clock::Clock;
use crate::capabilities::entities::{EntityRegistry, RegistrationError};
use crate::capabilities::hooks::{TriggerError, TriggerRegistry};
use crate::capabilities::outbox::OutboxEntry;
use crate::capabilities::sql::Transaction;
use crate::capabilities::sql::{
    apply_migrations_in, Database, MigrationError, MigrationReport, MigrationSpec,
};
use crate::runtime::{
    ArtifactCache, CacheOutcome, CompiledPlugin, ContractVersion, EngineOptions, ExportCall,
    Failure, HostServices, InvocationError, InvocationPlan, Invoked, Limits, PluginError,
    PluginIdentity, Runtime, TransactionMode,
};

mod caller;
mod exports;
mod gitops;
mod invoke;
mod load;
pub mod metrics;
mod publications;
mod versions;

pub use caller::{Caller, CallerKind};
pub use exports::{open_connection, Completion};
pub use gitops::GitopsDocument;
pub use invoke::InvocationCounts;
pub use load::{LoadError, LoadedPlugin};
pub use publications::Publication;
use publications::PublicationLog;

pub use versions::{RollbackError, SwapReport, VersionEvent, VersionInfo};

/// Consecutive trapping invocations after which a swapped-in version is rolled back.
pub const DEFAULT_ROLLBACK_AFTER_TRAPS: u32 = 5;

/// The current contract version (the WIT package in `wit/0.2.0`). The host also serves every
/// frozen version in [`ContractVersion::SERVED`](crate::runtime::ContractVersion::SERVED).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// How to build a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Engine-wide options.
    pub engine: EngineOptions,
    /// Per-invocation limits.
    pub limits: Limits,
    /// Seed for deterministic randomness and ids; `None` for real randomness.
    pub seed: Option<u64>,
    /// The clock plugins see.
    pub clock: Clock,
    /// Where compiled components are cached (keyed by engine and digest); `None` compiles
    /// every load.
    pub artifact_cache: Option<std::path::PathBuf>,
    /// Roll back to the previous version after this many consecutive trapping invocations of
    /// the serving one (`None`: never).
    pub rollback_after_traps: Option<u32>,
    /// The budget of a load's or swap's `init` probe.
    pub init_probe: ProbeBudget,
}

/// The budget a candidate version's `init` runs under before it may serve: a wall-clock
/// deadline, and an instruction (fuel) budget that applies when the engine meters fuel
/// ([`EngineOptions::fuel`]; off by default, because metering slows every invocation). A
/// probe that runs out of either refuses the version, leaving the old one serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeBudget {
    /// Wall-clock budget of the probe.
    pub deadline: std::time::Duration,
    /// Fuel budget of the probe, when the engine meters fuel.
    pub fuel: u64,
}

impl Default for ProbeBudget {
    /// 2 s and 1,000,000,000 units of fuel: `init` prepares, it does not compute.
    fn default() -> Self {
        ProbeBudget {
            deadline: std::time::Duration::from_secs(2),
            fuel: 1_000_000_000,
        }
    }
}

impl Default for HostConfig {
    /// Default limits, real clock, real randomness.
    fn default() -> Self {
        HostConfig {
            engine: EngineOptions::default(),
            limits: Limits::default(),
            seed: None,
            clock: Clock::real(),
            artifact_cache: None,
            rollback_after_traps: Some(DEFAULT_ROLLBACK_AFTER_TRAPS),
            init_probe: ProbeBudget::default(),
        }
    }
}

/// The host: runtime, services, the loaded plugin and what it published.
pub struct PluginHost {
    runtime: Runtime,
    services: HostServices,
    plugin: RwLock<Option<Arc<LoadedPlugin>>>,
    published: Mutex<PublicationLog>,
    counts: Mutex<InvocationCounts>,
    metrics: metrics::HostMetrics,
    entities: RwLock<EntityRegistry>,
    triggers: RwLock<TriggerRegistry>,
    entity_locks: Mutex<HashMap<EntityKey, Arc<Mutex<()>>>>,
    previous: RwLock<Option<Arc<LoadedPlugin>>>,
    cache: Option<ArtifactCache>,
    rollback_after_traps: Option<u32>,
    init_probe: ProbeBudget,
    /// (digest, consecutive trapping invocations) of the serving version.
    trap_streak: Mutex<(String, u32)>,
    events: Mutex<Vec<VersionEvent>>,
    generation: std::sync::atomic::AtomicU64,
}

/// An entity's (kind, id).
type EntityKey = (String, String);

/// Holds the serialisation lock of one (kind, id) while a mutation runs.
pub struct EntityGuard {
    lock: Arc<Mutex<()>>,
}

impl EntityGuard {
    fn hold<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }
}

impl PluginHost {
    /// A host over `database` with `config` and no platform plugins.
    pub fn new(config: HostConfig, database: Database) -> wasmtime::Result<Self> {
        Self::with_platform(
            config,
            database,
            Arc::new(crate::capabilities::platform::NoPlatform),
        )
    }

    /// A host over `database` whose plugins reach `platform` through the `platform` import.
    pub fn with_platform(
        config: HostConfig,
        database: Database,
        platform: Arc<dyn crate::capabilities::platform::PlatformServices>,
    ) -> wasmtime::Result<Self> {
        let runtime = Runtime::new(config.engine, config.limits)?;
        let cache = config
            .artifact_cache
            .as_deref()
            .map(|dir| ArtifactCache::open(dir, runtime.engine().engine()))
            .transpose()?;
        let mut entities = EntityRegistry::default();
        for native in platform.entity_kinds() {
            entities.define_platform_kind(
                native.module,
                native.kind,
                native.schema,
                native.deriver,
            )?;
        }
        crate::capabilities::entities::log::ensure_schema(&database)?;
        crate::capabilities::outbox::create_table(&*database.checkout()?)?;
        let mut services =
            HostServices::new(database, config.clock, config.seed).with_platform(platform);
        services.durable_outbox = true;
        Ok(PluginHost {
            runtime,
            services,
            plugin: RwLock::new(None),
            published: Mutex::new(PublicationLog::default()),
            counts: Mutex::new(InvocationCounts::default()),
            metrics: metrics::HostMetrics::default(),
            entities: RwLock::new(entities),
            triggers: RwLock::new(TriggerRegistry::default()),
            entity_locks: Mutex::new(HashMap::new()),
            previous: RwLock::new(None),
            cache,
            rollback_after_traps: config.rollback_after_traps,
            init_probe: config.init_probe,
            trap_streak: Mutex::new((String::new(), 0)),
            events: Mutex::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The shared services (database, clock, cache, log, platform).
    pub fn services(&self) -> &HostServices {
        &self.services
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The entity registry: platform kinds and the loaded plugin's.
    pub fn entity_registry(&self) -> RwLockReadGuard<'_, EntityRegistry> {
        self.entities.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The trigger registry.
    pub fn trigger_registry(&self) -> RwLockReadGuard<'_, TriggerRegistry> {
        self.triggers.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Serialises mutations of one (kind, id): runs `f` while holding its lock.
    pub fn with_entity_lock<T>(&self, kind: &str, id: &str, f: impl FnOnce() -> T) -> T {
        let key = (kind.to_owned(), id.to_owned());
        let guard = EntityGuard {
            lock: self
                .entity_locks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.clone())
                .or_default()
                .clone(),
        };
        let out = guard.hold(f);
        drop(guard);
        let mut locks = self.entity_locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(&key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(&key);
        }
        out
    }

    /// An error of `export` of the serving plugin that the host, not the plugin, raised.
    pub fn host_failure(&self, export: &str, failure: Failure) -> InvocationError {
        let (plugin, version) = self.plugin().map_or_else(
            || ("(none)".to_owned(), "-".to_owned()),
            |p| (p.id().to_owned(), p.version().to_owned()),
        );
        InvocationError {
            plugin,
            version,
            export: export.into(),
            failure,
        }
    }

    /// The plugin currently serving, if any.
    pub fn plugin(&self) -> Option<Arc<LoadedPlugin>> {
        self.plugin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn current(&self, export: &str) -> Result<Arc<LoadedPlugin>, InvocationError> {
        self.plugin().ok_or_else(|| InvocationError {
            plugin: "(none)".into(),
            version: "-".into(),
            export: export.into(),
            failure: Failure::Host {
                message: "no plugin is loaded".into(),
            },
        })
    }
}
