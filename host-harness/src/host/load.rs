//! Loading a plugin: compile, link, read and check the manifest, migrate and `init` in one
//! transaction, register its entity kinds and triggers, and make it the serving version.

use super::*;

/// A plugin version the host has loaded.
pub struct LoadedPlugin {
    pub(super) compiled: CompiledPlugin,
    pub(super) manifest: PluginManifest,
    pub(super) identity: PluginIdentity,
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
    #[error("component does not fit contract checkstack:plugin@{CONTRACT_VERSION} (or the frozen 0.1.0): {0}")]
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

impl PluginHost {
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
    pub(super) fn activate(
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
        check_manifest(&manifest, compiled.contract_version())?;
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
            |plugin, store| plugin.call_init(store),
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
}

/// Refuses a manifest the host cannot register: empty ids, a contract version the host does
/// not serve or that differs from the one the component's exports were bound to (`bound`),
/// duplicate procedures.
pub(super) fn check_manifest(
    manifest: &PluginManifest,
    bound: ContractVersion,
) -> Result<(), LoadError> {
    if manifest.id.trim().is_empty() {
        return Err(LoadError::Manifest("the plugin id is empty".into()));
    }
    if manifest.version.trim().is_empty() {
        return Err(LoadError::Manifest(format!(
            "plugin {} has an empty version",
            manifest.id
        )));
    }
    let declared = &manifest.contract_version;
    if !ContractVersion::SERVED.iter().any(|v| v.accepts(declared)) {
        let served: Vec<&str> = ContractVersion::SERVED.iter().map(|v| v.as_str()).collect();
        return Err(LoadError::Manifest(format!(
            "plugin {} was built against contract {declared}, this host serves {}",
            manifest.id,
            served.join(" and ")
        )));
    }
    if !bound.accepts(declared) {
        return Err(LoadError::Manifest(format!(
            "plugin {} declares contract {declared}, but its exports are those of contract {bound}",
            manifest.id
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
pub(super) fn check_subscriptions(manifest: &PluginManifest) -> Result<(), LoadError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions_match_on_major_and_minor() {
        assert!(ContractVersion::V0_1.accepts("0.1.0"));
        assert!(ContractVersion::V0_1.accepts("0.1.7"));
        assert!(!ContractVersion::V0_1.accepts("0.2.0"));
        assert!(ContractVersion::V0_2.accepts("0.2.0"));
        assert!(!ContractVersion::V0_2.accepts("1.2.0"));
        assert!(!ContractVersion::SERVED.iter().any(|v| v.accepts("0.3.0")));
    }
}
