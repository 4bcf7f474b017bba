//! The host a user drives: load a plugin, call it, see what it published.
//!
//! Loading compiles the component, links it against the contract (refusing a component whose
//! imports or exports do not match, naming the item), reads its manifest, applies its pending
//! migrations in one transaction and runs its `init`. Any failure leaves the database as it
//! was and nothing loaded. After each committed invocation the host publishes its outbox:
//! cache writes go to the cache, everything else to the publication log that the platform
//! simulation routes to queues, hooks, signals and the entity framework.

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
    ArtifactCache, CacheOutcome, CompiledPlugin, EngineOptions, ExportCall, Failure, HostServices,
    InvocationError, InvocationPlan, Invoked, Limits, PluginError, PluginIdentity, Runtime,
    TransactionMode,
};

mod versions;

pub use versions::{RollbackError, SwapReport, VersionEvent, VersionInfo};

/// Consecutive trapping invocations after which a swapped-in version is rolled back.
pub const DEFAULT_ROLLBACK_AFTER_TRAPS: u32 = 5;

/// The contract version this host serves (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

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

/// A plugin version the host has loaded.
pub struct LoadedPlugin {
    compiled: CompiledPlugin,
    manifest: PluginManifest,
    identity: PluginIdentity,
    migrations: MigrationReport,
    compile: CacheOutcome,
}

impl LoadedPlugin {
    /// Plugin id from the manifest.
    pub fn id(&self) -> &str {
        &self.identity.id
    }

    /// Plugin version from the manifest.
    pub fn version(&self) -> &str {
        &self.identity.version
    }

    /// `sha256:<hex>` of the component.
    pub fn digest(&self) -> &str {
        self.compiled.digest()
    }

    /// The manifest.
    pub fn manifest(&self) -> &PluginManifest {
        &self.manifest
    }

    /// The compiled component.
    pub fn compiled(&self) -> &CompiledPlugin {
        &self.compiled
    }

    /// What the load's migration run did.
    pub fn migrations(&self) -> &MigrationReport {
        &self.migrations
    }

    /// Whether its compiled artifact came from the cache.
    pub fn compile_outcome(&self) -> CacheOutcome {
        self.compile
    }
}

/// Why a load was refused. The previous state (database, loaded plugin) is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file could not be read.
    #[error("cannot read component {path}: {cause}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The bytes are not a valid component, or its imports/exports do not match the contract.
    #[error("component does not fit contract checkstack:plugin@{CONTRACT_VERSION}: {0}")]
    Incompatible(String),
    /// `manifest.describe` failed.
    #[error("reading the manifest failed: {0}")]
    Describe(InvocationError),
    /// The manifest is not acceptable.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// An entity kind or deriver cannot be registered.
    #[error("cannot register the plugin's entities: {0}")]
    Entities(#[from] RegistrationError),
    /// A trigger cannot be registered.
    #[error("cannot register the plugin's triggers: {0}")]
    Triggers(#[from] TriggerError),
    /// A migration failed or was changed.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// `lifecycle.init` failed (its migrations were rolled back with it).
    #[error("init failed: {0}")]
    Init(InvocationError),
    /// A swap offered a component of another plugin.
    #[error("the component is plugin {found:?}, but the serving plugin is {expected:?}: a swap keeps the plugin id")]
    DifferentPlugin {
        /// The serving plugin.
        expected: String,
        /// The candidate's.
        found: String,
    },
    /// A swap with nothing loaded.
    #[error("no plugin is loaded: load one before swapping")]
    NothingLoaded,
}

/// Who calls an RPC procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The principal kind.
    pub kind: CallerKind,
    /// The principal id, if any.
    pub id: Option<String>,
    /// Access rules held (short ids).
    pub access_rules: Vec<String>,
}

/// The kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// A person.
    User,
    /// An API key.
    Application,
    /// A backend service.
    Service,
    /// The platform.
    System,
    /// Nobody signed in.
    Anonymous,
}

impl Caller {
    /// A signed-in user holding `rules`.
    pub fn user(id: &str, rules: &[&str]) -> Self {
        Caller {
            kind: CallerKind::User,
            id: Some(id.into()),
            access_rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// An anonymous caller holding `rules` (the anonymous role's grants).
    pub fn anonymous(rules: &[&str]) -> Self {
        Caller {
            kind: CallerKind::Anonymous,
            id: None,
            access_rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// Whether the caller holds `rule`, where `<scope>.manage` implies `<scope>.read`
    /// (the platform's escalation).
    pub fn holds(&self, rule: &str) -> bool {
        self.access_rules.iter().any(|held| {
            held == rule
                || rule
                    .strip_suffix(".read")
                    .is_some_and(|scope| held.strip_suffix(".manage") == Some(scope))
        })
    }

    fn to_wit(&self) -> wit::Caller {
        wit::Caller {
            kind: match self.kind {
                CallerKind::User => wit::CallerKind::User,
                CallerKind::Application => wit::CallerKind::Application,
                CallerKind::Service => wit::CallerKind::Service,
                CallerKind::System => wit::CallerKind::System,
                CallerKind::Anonymous => wit::CallerKind::Anonymous,
            },
            id: self.id.clone(),
            access_rules: self.access_rules.clone(),
        }
    }
}

/// One published side effect of a committed invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// Host clock when published, epoch ms.
    pub at_ms: i64,
    /// Plugin id.
    pub plugin: String,
    /// The export that produced it.
    pub export: String,
    /// What was published.
    pub entry: OutboxEntry,
    /// Its `_host_outbox` row, which the router deletes when it routes it (`None`: a cache
    /// write, or a read-only invocation's).
    #[serde(skip)]
    pub durable_seq: Option<i64>,
}

/// Invocation counts, overall and per export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationCounts {
    /// Every invocation.
    pub total: u64,
    /// Those that trapped or hit a limit.
    pub traps: u64,
    /// Those that returned `err` or were rejected.
    pub errors: u64,
    /// Per export name (without arguments).
    pub by_export: BTreeMap<String, u64>,
    /// Per serving version, `<version> <digest>`.
    pub by_version: BTreeMap<String, u64>,
    /// Wall time of the invocations that committed, instantiation included, in µs. Not
    /// serialised: reports stay deterministic.
    #[serde(skip)]
    pub committed_time_us: u64,
    /// Of which in the host's SQL calls, in µs (not serialised either).
    #[serde(skip)]
    pub committed_sql_us: u64,
}

/// The host: runtime, services, the loaded plugin and what it published.
pub struct PluginHost {
    runtime: Runtime,
    services: HostServices,
    plugin: RwLock<Option<Arc<LoadedPlugin>>>,
    published: Mutex<PublicationLog>,
    counts: Mutex<InvocationCounts>,
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

/// What committed invocations published, numbered from 0 in publication order. The oldest
/// entries can be forgotten (a long-running host keeps only what is not yet routed); numbers
/// never shift.
#[derive(Default)]
struct PublicationLog {
    /// How many entries were forgotten: the number of `entries[0]`.
    forgotten: usize,
    entries: std::collections::VecDeque<Publication>,
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
        crate::capabilities::outbox::create_table(database.checkout()?.raw())?;
        let mut services =
            HostServices::new(database, config.clock, config.seed).with_platform(platform);
        services.durable_outbox = true;
        Ok(PluginHost {
            runtime,
            services,
            plugin: RwLock::new(None),
            published: Mutex::new(PublicationLog::default()),
            counts: Mutex::new(InvocationCounts::default()),
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

    /// Loads the component at `path`.
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        self.load_bytes(&bytes)
    }

    /// Loads a component: compile (or take from the artifact cache), link, describe, then
    /// migrate and `init` in one transaction. Only a fully successful load replaces the
    /// current plugin (which is kept as the previous version); any failure leaves the
    /// database, the registrations and the serving version as they were.
    pub fn load_bytes(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        self.activate(bytes, None)
    }

    /// Prepares a version and, when everything succeeded, makes it the serving one.
    fn activate(
        &self,
        bytes: &[u8],
        expect_id: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let (compiled, compile) = self
            .runtime
            .compile_cached(bytes, self.cache.as_ref())
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let manifest = self
            .runtime
            .describe(&compiled, &self.services)
            .map_err(LoadError::Describe)?;
        check_manifest(&manifest)?;
        if let Some(expected) = expect_id.filter(|id| *id != manifest.id) {
            return Err(LoadError::DifferentPlugin {
                expected: expected.into(),
                found: manifest.id.clone(),
            });
        }
        let planned_entities = self.entity_registry().plan(&manifest)?;
        let planned_triggers = self.trigger_registry().plan(&manifest)?;
        let identity = PluginIdentity {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
        };
        let specs: Vec<MigrationSpec> = manifest
            .migrations
            .iter()
            .map(|m| MigrationSpec {
                id: m.id.clone(),
                sql: m.sql.clone(),
            })
            .collect();
        let mut candidate = LoadedPlugin {
            compiled,
            manifest,
            identity,
            migrations: MigrationReport::default(),
            compile,
        };
        let mut migrated: Option<Result<MigrationReport, MigrationError>> = None;
        let now = self.services.clock.now_ms();
        let plugin_id = candidate.identity.id.clone();
        let init = self.invoke_in(
            &candidate,
            "lifecycle.init",
            self.probe_plan(),
            |tx| {
                let outcome = tx
                    .ok_or_else(|| {
                        MigrationError::Host(crate::capabilities::sql::SqlError::Database(
                            "no transaction".into(),
                        ))
                    })
                    .and_then(|tx| {
                        tx.host_connection()
                            .map_err(MigrationError::Host)
                            .and_then(|conn| apply_migrations_in(conn, &plugin_id, &specs, now))
                    });
                let failed = outcome.as_ref().err().map(ToString::to_string);
                migrated = Some(outcome);
                match failed {
                    Some(message) => Err(Failure::Host { message }),
                    None => Ok(()),
                }
            },
            |plugin, store| plugin.checkstack_plugin_lifecycle().call_init(store),
            |_, _| Ok(()),
        );
        match (migrated, init) {
            (Some(Err(e)), _) => return Err(LoadError::Migration(e)),
            (_, Err(e)) => return Err(LoadError::Init(e)),
            (Some(Ok(report)), Ok(())) => candidate.migrations = report,
            (None, Ok(())) => {}
        }
        let loaded = Arc::new(candidate);
        self.entities
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .install(planned_entities);
        self.triggers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .install(planned_triggers);
        let replaced = self
            .plugin
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(loaded.clone());
        if let Some(old) = replaced {
            *self.previous.write().unwrap_or_else(|p| p.into_inner()) = Some(old);
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            plugin = loaded.id(),
            version = loaded.version(),
            digest = loaded.digest(),
            compile = ?loaded.compile_outcome(),
            "plugin version serving"
        );
        Ok(loaded)
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

    /// Calls RPC `procedure` with JSON `input` as `caller`. The host checks that the procedure
    /// exists, that `input` is JSON and that the caller holds the procedure's rules before the
    /// call reaches the plugin.
    pub fn call_rpc(
        &self,
        procedure: &str,
        input: &str,
        caller: &Caller,
    ) -> Result<String, InvocationError> {
        let export = format!("rpc.handle({procedure})");
        let plugin = self.current(&export)?;
        let reject = |error: PluginError| {
            self.count(
                &plugin,
                "rpc.handle",
                &Err(Failure::Rejected {
                    error: error.clone(),
                }),
            );
            InvocationError {
                plugin: plugin.id().into(),
                version: plugin.version().into(),
                export: export.clone(),
                failure: Failure::Rejected { error },
            }
        };
        let spec = plugin
            .manifest
            .procedures
            .iter()
            .find(|p| p.name == procedure)
            .ok_or_else(|| {
                reject(PluginError::NotFound(format!(
                    "procedure {procedure:?} does not exist"
                )))
            })?;
        if caller.kind == CallerKind::Anonymous && !spec.public {
            return Err(reject(PluginError::Denied(format!(
                "procedure {procedure:?} needs a signed-in caller"
            ))));
        }
        if let Some(missing) = spec.access.iter().find(|rule| !caller.holds(rule)) {
            return Err(reject(PluginError::Denied(format!(
                "procedure {procedure:?} needs access rule {missing:?}"
            ))));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            return Err(reject(PluginError::Invalid(format!(
                "input is not valid JSON: {e}"
            ))));
        }
        let wit_caller = caller.to_wit();
        let read_only = spec.kind
            == crate::bindings::exports::checkstack::plugin::manifest::ProcedureKind::Query;
        let procedure = procedure.to_owned();
        let input = input.to_owned();
        let call = move |p: &crate::bindings::Plugin, store: &mut wasmtime::Store<_>| {
            p.checkstack_plugin_rpc()
                .call_handle(store, &procedure, &input, &wit_caller)
        };
        if read_only {
            self.invoke_read_only(&plugin, &export, call)
        } else {
            self.invoke(&plugin, &export, call)
        }
    }

    /// Runs an export of `plugin` in a transaction, publishes its outbox after commit and
    /// counts it. `export` names it in errors and logs (`rpc.handle(x)`).
    pub fn invoke<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
    ) -> Result<R, InvocationError> {
        self.invoke_then(plugin, export, call, |_, _| Ok(()))
    }

    /// [`PluginHost::invoke`] with a host step in the invocation's transaction before it
    /// commits (see [`Runtime::invoke_then`]).
    pub fn invoke_then<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        self.invoke_around(plugin, export, |_| Ok(()), call, before_commit)
    }

    /// The general form (see [`Runtime::invoke_around`]): counts the invocation, publishes its
    /// outbox after commit, and applies the crash policy.
    pub fn invoke_around<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        before_call: impl FnOnce(Option<&Transaction>) -> Result<(), Failure>,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        self.invoke_in(
            plugin,
            export,
            TransactionMode::Transaction,
            before_call,
            call,
            before_commit,
        )
    }

    /// Runs an export in a read-only transaction (query procedures, entity reads, derivers).
    pub fn invoke_read_only<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
    ) -> Result<R, InvocationError> {
        self.invoke_in(
            plugin,
            export,
            TransactionMode::ReadOnly,
            |_| Ok(()),
            call,
            |_, _| Ok(()),
        )
    }

    /// The invocation plan of an `init` probe: a transaction, under [`ProbeBudget`].
    fn probe_plan(&self) -> InvocationPlan {
        let mut limits = self.runtime.limits();
        limits.deadline = self.init_probe.deadline;
        if self.runtime.engine().options().fuel {
            limits.fuel = Some(self.init_probe.fuel);
        }
        InvocationPlan {
            mode: TransactionMode::Transaction,
            limits: Some(limits),
        }
    }

    fn invoke_in<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        plan: impl Into<InvocationPlan>,
        before_call: impl FnOnce(Option<&Transaction>) -> Result<(), Failure>,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        let result = self.runtime.invoke_around(
            &plugin.compiled,
            &plugin.identity,
            &self.services,
            export,
            plan,
            before_call,
            call,
            before_commit,
        );
        let export_name = export.split('(').next().unwrap_or(export);
        match result {
            Ok(Invoked {
                value,
                outbox,
                durable,
                stats,
            }) => {
                self.count(plugin, export_name, &Ok(()));
                self.add_time(&stats);
                self.note_outcome(plugin, false);
                self.publish(plugin, export, outbox, durable);
                Ok(value)
            }
            Err(error) => {
                self.count(plugin, export_name, &Err(error.failure.clone()));
                match error.failure {
                    // Expected, typed outcomes: the caller handles them.
                    Failure::Returned { .. } | Failure::Rejected { .. } => {
                        self.note_outcome(plugin, false);
                        tracing::debug!("{error}")
                    }
                    Failure::Host { .. } => tracing::warn!("{error}"),
                    _ => {
                        tracing::warn!("{error}");
                        self.note_outcome(plugin, true);
                    }
                }
                Err(error)
            }
        }
    }

    /// Delivers an entity change to the subscription `worker_group` (`handlers.on-entity-change`).
    pub fn deliver_entity_change(
        &self,
        worker_group: &str,
        change: &wit::EntityChange,
    ) -> Result<(), InvocationError> {
        self.deliver_entity_change_completing(worker_group, change, &no_completion)
    }

    /// [`PluginHost::deliver_entity_change`], with `complete` run in the handler's transaction
    /// before it commits (the durable queue marks the delivery done there, so that the
    /// handler's writes and the delivery's completion commit together or not at all).
    pub fn deliver_entity_change_completing(
        &self,
        worker_group: &str,
        change: &wit::EntityChange,
        complete: Completion<'_>,
    ) -> Result<(), InvocationError> {
        let plugin = self.current("handlers.on-entity-change")?;
        let export = format!("handlers.on-entity-change({worker_group})");
        let group = worker_group.to_owned();
        self.invoke_then(
            &plugin,
            &export,
            move |p, store| {
                p.checkstack_plugin_handlers()
                    .call_on_entity_change(store, &group, change)
            },
            |_, tx| complete(tx),
        )
    }

    /// Delivers a hook emission to the subscription `worker_group` (`handlers.on-hook`).
    pub fn deliver_hook(
        &self,
        worker_group: &str,
        hook_id: &str,
        payload: &str,
        meta: &wit::HookMeta,
    ) -> Result<(), InvocationError> {
        self.deliver_hook_completing(worker_group, hook_id, payload, meta, &no_completion)
    }

    /// [`PluginHost::deliver_hook`] with `complete` in the handler's transaction (see
    /// [`PluginHost::deliver_entity_change_completing`]).
    pub fn deliver_hook_completing(
        &self,
        worker_group: &str,
        hook_id: &str,
        payload: &str,
        meta: &wit::HookMeta,
        complete: Completion<'_>,
    ) -> Result<(), InvocationError> {
        let plugin = self.current("handlers.on-hook")?;
        let export = format!("handlers.on-hook({worker_group})");
        let payload = payload.to_owned();
        self.invoke_then(
            &plugin,
            &export,
            |p, store| {
                p.checkstack_plugin_handlers().call_on_hook(
                    store,
                    worker_group,
                    hook_id,
                    &payload,
                    meta,
                )
            },
            |_, tx| complete(tx),
        )
    }

    /// Delivers a queue job (`handlers.on-job`).
    pub fn deliver_job(&self, job: &wit::Job) -> Result<(), InvocationError> {
        self.deliver_job_completing(job, &no_completion)
    }

    /// [`PluginHost::deliver_job`] with `complete` in the handler's transaction (see
    /// [`PluginHost::deliver_entity_change_completing`]).
    pub fn deliver_job_completing(
        &self,
        job: &wit::Job,
        complete: Completion<'_>,
    ) -> Result<(), InvocationError> {
        let plugin = self.current("handlers.on-job")?;
        let export = format!("handlers.on-job({})", job.queue);
        self.invoke_then(
            &plugin,
            &export,
            |p, store| p.checkstack_plugin_handlers().call_on_job(store, job),
            |_, tx| complete(tx),
        )
    }

    /// Reads entities of `kind` through the owning plugin (`entity-provider.read`).
    pub fn read_entities(
        &self,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<wit::EntityState>, InvocationError> {
        let plugin = self.current("entity-provider.read")?;
        let export = format!("entity-provider.read({kind})");
        self.invoke_read_only(&plugin, &export, |p, store| {
            p.checkstack_plugin_entity_provider()
                .call_read(store, kind, ids)
        })
    }

    /// Applies an entity operation through the owning plugin (`entity-provider.apply`);
    /// answers the next state (`None` after a removal). Prefer
    /// [`crate::capabilities::entities::mutate`], which runs the whole framework pipeline.
    pub fn apply_entity(
        &self,
        kind: &str,
        id: &str,
        op: &wit::EntityOp,
    ) -> Result<Option<String>, InvocationError> {
        self.apply_entity_then(kind, id, op, |_, _| Ok(()))
    }

    /// [`PluginHost::apply_entity`] with a host step in its transaction before the commit.
    pub fn apply_entity_then(
        &self,
        kind: &str,
        id: &str,
        op: &wit::EntityOp,
        before_commit: impl FnOnce(&Option<String>, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<Option<String>, InvocationError> {
        let plugin = self.current("entity-provider.apply")?;
        let export = format!("entity-provider.apply({kind})");
        self.invoke_then(
            &plugin,
            &export,
            |p, store| {
                p.checkstack_plugin_entity_provider()
                    .call_apply(store, kind, id, op)
            },
            before_commit,
        )
    }

    /// Maps a change to trigger event ids through the plugin's `entity-provider.derive`.
    pub fn derive_events(
        &self,
        change: &wit::EntityChange,
    ) -> Result<Vec<String>, InvocationError> {
        let plugin = self.current("entity-provider.derive")?;
        let export = format!("entity-provider.derive({})", change.kind);
        self.invoke_read_only(&plugin, &export, |p, store| {
            p.checkstack_plugin_entity_provider()
                .call_derive(store, change)
        })
    }

    fn add_time(&self, stats: &crate::runtime::InvocationStats) {
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.committed_time_us = counts
            .committed_time_us
            .saturating_add(micros(stats.elapsed));
        counts.committed_sql_us = counts.committed_sql_us.saturating_add(micros(stats.sql));
    }

    fn count(&self, plugin: &LoadedPlugin, export: &str, outcome: &Result<(), Failure>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total += 1;
        *counts.by_export.entry(export.to_owned()).or_default() += 1;
        *counts
            .by_version
            .entry(format!("{} {}", plugin.version(), plugin.digest()))
            .or_default() += 1;
        match outcome {
            Ok(()) => {}
            Err(Failure::Returned { .. } | Failure::Rejected { .. }) => counts.errors += 1,
            Err(_) => counts.traps += 1,
        }
    }

    fn publish(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        outbox: Vec<OutboxEntry>,
        durable: Vec<Option<i64>>,
    ) {
        let at_ms = self.services.clock.now_ms();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        for (entry, durable_seq) in outbox.into_iter().zip(durable) {
            match &entry {
                OutboxEntry::CacheSet { key, value, ttl_ms } => {
                    self.services
                        .cache
                        .set(plugin.id(), key, value.clone(), *ttl_ms)
                }
                OutboxEntry::CacheInvalidate { keys } => {
                    self.services.cache.invalidate(plugin.id(), keys)
                }
                _ => {}
            }
            published.entries.push_back(Publication {
                at_ms,
                plugin: plugin.id().into(),
                export: export.into(),
                entry,
                durable_seq,
            });
        }
    }

    /// What was published after the first `from` publications, in order (cheap to call
    /// repeatedly with a growing `from`). Numbers count forgotten publications too.
    pub fn published_since(&self, from: usize) -> Vec<Publication> {
        let log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let skip = from.saturating_sub(log.forgotten).min(log.entries.len());
        log.entries.range(skip..).cloned().collect()
    }

    /// Everything published and not forgotten, in publication order.
    pub fn published(&self) -> Vec<Publication> {
        let log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        log.entries.iter().cloned().collect()
    }

    /// Forgets the first `upto` publications (those a router has already handled), so that a
    /// long-running host's log stays bounded.
    pub fn forget_published(&self, upto: usize) {
        let mut log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let drop = upto.saturating_sub(log.forgotten).min(log.entries.len());
        log.entries.drain(..drop);
        log.forgotten += drop;
    }

    /// Invocation counts so far.
    pub fn invocation_counts(&self) -> InvocationCounts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A host step run in a delivery handler's transaction just before it commits (see
/// [`PluginHost::deliver_entity_change_completing`]); its error rolls the handler back.
pub type Completion<'a> = &'a dyn Fn(Option<&Transaction>) -> Result<(), Failure>;

fn no_completion(_: Option<&Transaction>) -> Result<(), Failure> {
    Ok(())
}

/// Refuses a manifest the host cannot register: empty ids, a different contract version,
/// duplicate procedures.
fn check_manifest(manifest: &PluginManifest) -> Result<(), LoadError> {
    if manifest.id.trim().is_empty() {
        return Err(LoadError::Manifest("the plugin id is empty".into()));
    }
    if manifest.version.trim().is_empty() {
        return Err(LoadError::Manifest(format!(
            "plugin {} has an empty version",
            manifest.id
        )));
    }
    if !contract_compatible(&manifest.contract_version) {
        return Err(LoadError::Manifest(format!(
            "plugin {} was built against contract {}, this host serves {CONTRACT_VERSION}",
            manifest.id, manifest.contract_version
        )));
    }
    for (i, p) in manifest.procedures.iter().enumerate() {
        if manifest.procedures[..i].iter().any(|q| q.name == p.name) {
            return Err(LoadError::Manifest(format!(
                "procedure {:?} is declared twice",
                p.name
            )));
        }
    }
    check_subscriptions(manifest)
}

/// host-contract.md §3.1 and §6.2: a subscription needs a kind (or hook) and a worker group,
/// and a plugin's worker groups are unique across its entity and hook subscriptions (the event
/// bus namespaces them per plugin).
fn check_subscriptions(manifest: &PluginManifest) -> Result<(), LoadError> {
    let mut groups: Vec<&str> = Vec::new();
    let entity = manifest.entity_subscriptions.iter().map(|s| {
        (
            "an entity subscription",
            s.kind.as_str(),
            s.worker_group.as_str(),
        )
    });
    let hook = manifest.hook_subscriptions.iter().map(|s| {
        (
            "a hook subscription",
            s.hook.as_str(),
            s.worker_group.as_str(),
        )
    });
    for (what, target, group) in entity.chain(hook) {
        if target.trim().is_empty() {
            return Err(LoadError::Manifest(format!(
                "{what} (worker group {group:?}) has an empty kind or hook"
            )));
        }
        if group.trim().is_empty() {
            return Err(LoadError::Manifest(format!(
                "{what} of {target:?} has an empty worker group"
            )));
        }
        if groups.contains(&group) {
            return Err(LoadError::Manifest(format!(
                "worker group {group:?} is used by two subscriptions"
            )));
        }
        groups.push(group);
    }
    Ok(())
}

/// Semver compatibility for a 0.x contract: same major and minor.
fn contract_compatible(version: &str) -> bool {
    let major_minor = |v: &str| {
        let mut parts = v.split('.');
        (
            parts.next().map(str::to_owned),
            parts.next().map(str::to_owned),
        )
    };
    major_minor(version) == major_minor(CONTRACT_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_implies_read_but_not_the_reverse() {
        let manager = Caller::user("u", &["slo.manage"]);
        assert!(manager.holds("slo.read"));
        assert!(manager.holds("slo.manage"));
        let reader = Caller::user("u", &["slo.read"]);
        assert!(!reader.holds("slo.manage"));
        assert!(!Caller::user("u", &["other.manage"]).holds("slo.read"));
    }

    #[test]
    fn contract_versions_match_on_major_and_minor() {
        assert!(contract_compatible("0.1.0"));
        assert!(contract_compatible("0.1.7"));
        assert!(!contract_compatible("0.2.0"));
        assert!(!contract_compatible("1.1.0"));
    }
}
