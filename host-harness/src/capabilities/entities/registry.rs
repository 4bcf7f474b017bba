//! The entity registry (host-contract.md §1.1, §2): which module owns each kind, its compiled
//! state schema, and the change derivers of each kind in registration order.
//!
//! Kinds are unique across the whole platform: the platform's own modules (catalog,
//! healthcheck) register theirs first, then each plugin registers the kinds of its manifest.
//! A registration is planned against everything *other* owners hold (so a plugin's new version
//! can replace its old one) and installed only after the load succeeds; a refused plan changes
//! nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::StateSchema;
use crate::bindings::PluginManifest;

/// Who owns a kind (serves its `read`, applies its mutations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A loaded plugin, by id.
    Plugin(String),
    /// A native platform module, by name (e.g. `healthcheck`).
    Platform(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Plugin(id) => write!(f, "plugin {id}"),
            Owner::Platform(module) => write!(f, "platform module {module}"),
        }
    }
}

/// A registered kind.
#[derive(Debug)]
pub struct KindEntry {
    /// The kind.
    pub kind: String,
    /// Its owner.
    pub owner: Owner,
    /// Its compiled state schema.
    pub schema: StateSchema,
}

/// A native deriver: (prev, next) of a change to qualified trigger event ids.
pub type NativeDeriver = fn(Option<&Value>, Option<&Value>) -> Vec<String>;

/// A change deriver of one kind.
#[derive(Debug, Clone)]
pub enum Deriver {
    /// A plugin's `entity-provider.derive`, by plugin id.
    Plugin(String),
    /// A platform module's deriver.
    Platform(NativeDeriver),
}

/// Why a registration was refused. Each names the item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// A kind (entity, deriver or subscription) is empty or whitespace.
    #[error("{what} has an empty kind")]
    EmptyKind {
        /// Which declaration.
        what: String,
    },
    /// The kind is already registered by another owner, or twice in one manifest.
    #[error("entity kind {kind:?} is already registered by {owner}")]
    DuplicateKind {
        /// The kind.
        kind: String,
        /// Who holds it.
        owner: String,
    },
    /// The state schema is not an object schema that compiles.
    #[error("entity kind {kind:?}: {message}")]
    Schema {
        /// The kind.
        kind: String,
        /// What is wrong.
        message: String,
    },
}

/// A plugin's planned registration: checked, not yet installed.
#[derive(Debug)]
pub struct PlannedEntities {
    plugin: String,
    kinds: Vec<KindEntry>,
    derivers: Vec<String>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct EntityRegistry {
    kinds: BTreeMap<String, KindEntry>,
    /// kind → derivers in registration order, with their owner.
    derivers: BTreeMap<String, Vec<(Owner, Deriver)>>,
}

fn check_kind(kind: &str, what: impl FnOnce() -> String) -> Result<(), RegistrationError> {
    if kind.trim().is_empty() {
        Err(RegistrationError::EmptyKind { what: what() })
    } else {
        Ok(())
    }
}

impl EntityRegistry {
    /// Registers a platform module's kind (and its deriver, if any) at host start.
    pub fn define_platform_kind(
        &mut self,
        module: &str,
        kind: &str,
        schema: &str,
        deriver: Option<NativeDeriver>,
    ) -> Result<(), RegistrationError> {
        check_kind(kind, || format!("platform module {module}"))?;
        if let Some(existing) = self.kinds.get(kind) {
            return Err(RegistrationError::DuplicateKind {
                kind: kind.into(),
                owner: existing.owner.to_string(),
            });
        }
        let schema = StateSchema::compile(schema).map_err(|message| RegistrationError::Schema {
            kind: kind.into(),
            message,
        })?;
        let owner = Owner::Platform(module.into());
        self.kinds.insert(
            kind.into(),
            KindEntry {
                kind: kind.into(),
                owner: owner.clone(),
                schema,
            },
        );
        if let Some(d) = deriver {
            self.derivers
                .entry(kind.into())
                .or_default()
                .push((owner, Deriver::Platform(d)));
        }
        Ok(())
    }

    /// Checks a plugin's entity kinds and derivers against every other owner's, without
    /// installing them.
    pub fn plan(&self, manifest: &PluginManifest) -> Result<PlannedEntities, RegistrationError> {
        let me = Owner::Plugin(manifest.id.clone());
        let mut kinds: Vec<KindEntry> = Vec::new();
        for declared in &manifest.entity_kinds {
            let kind = declared.kind.as_str();
            check_kind(kind, || format!("an entity kind of plugin {}", manifest.id))?;
            let held_elsewhere = self.kinds.get(kind).filter(|e| e.owner != me);
            if let Some(existing) = held_elsewhere {
                return Err(RegistrationError::DuplicateKind {
                    kind: kind.into(),
                    owner: existing.owner.to_string(),
                });
            }
            if kinds.iter().any(|k| k.kind == kind) {
                return Err(RegistrationError::DuplicateKind {
                    kind: kind.into(),
                    owner: format!("{me} (declared twice)"),
                });
            }
            let schema = StateSchema::compile(&declared.state_schema).map_err(|message| {
                RegistrationError::Schema {
                    kind: kind.into(),
                    message,
                }
            })?;
            kinds.push(KindEntry {
                kind: kind.into(),
                owner: me.clone(),
                schema,
            });
        }
        let mut derivers = Vec::new();
        for kind in &manifest.change_derivers {
            check_kind(kind, || {
                format!("a change deriver of plugin {}", manifest.id)
            })?;
            // Registering the same deriver twice is harmless (§2): keep one.
            if !derivers.contains(kind) {
                derivers.push(kind.clone());
            }
        }
        Ok(PlannedEntities {
            plugin: manifest.id.clone(),
            kinds,
            derivers,
        })
    }

    /// Installs a plan, replacing whatever the same plugin had registered before.
    pub fn install(&mut self, planned: PlannedEntities) {
        let me = Owner::Plugin(planned.plugin);
        self.kinds.retain(|_, entry| entry.owner != me);
        for list in self.derivers.values_mut() {
            list.retain(|(owner, _)| *owner != me);
        }
        for entry in planned.kinds {
            self.kinds.insert(entry.kind.clone(), entry);
        }
        if let Owner::Plugin(id) = &me {
            for kind in planned.derivers {
                self.derivers
                    .entry(kind)
                    .or_default()
                    .push((me.clone(), Deriver::Plugin(id.clone())));
            }
        }
    }

    /// The entry of `kind`, if registered.
    pub fn kind(&self, kind: &str) -> Option<&KindEntry> {
        self.kinds.get(kind)
    }

    /// Every registered kind, by name.
    pub fn kinds(&self) -> impl Iterator<Item = &KindEntry> {
        self.kinds.values()
    }

    /// The derivers of `kind`, in registration order.
    pub fn derivers(&self, kind: &str) -> Vec<Deriver> {
        self.derivers
            .get(kind)
            .map(|list| list.iter().map(|(_, d)| d.clone()).collect())
            .unwrap_or_default()
    }
}

/// The union of derived trigger event ids in order: empty ids dropped, duplicates removed
/// (first seen wins).
pub fn union_of_events(lists: impl IntoIterator<Item = Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in lists.into_iter().flatten() {
        if !id.trim().is_empty() && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::checkstack::plugin::manifest::EntityKind;

    const OBJECT: &str = r#"{"type":"object"}"#;

    fn manifest(id: &str, kinds: &[(&str, &str)], derivers: &[&str]) -> PluginManifest {
        PluginManifest {
            id: id.into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            display_name: id.into(),
            access_rules: vec![],
            entity_kinds: kinds
                .iter()
                .map(|(k, s)| EntityKind {
                    kind: (*k).into(),
                    state_schema: (*s).into(),
                })
                .collect(),
            change_derivers: derivers.iter().map(|d| (*d).into()).collect(),
            non_reactive: vec![],
            hooks: vec![],
            signals: vec![],
            triggers: vec![],
            entity_subscriptions: vec![],
            hook_subscriptions: vec![],
            queue_consumers: vec![],
            recurring_jobs: vec![],
            migrations: vec![],
            procedures: vec![],
            gitops_kinds: vec![],
            commands: vec![],
        }
    }

    fn with_health() -> EntityRegistry {
        let mut registry = EntityRegistry::default();
        registry
            .define_platform_kind("healthcheck", "health", OBJECT, Some(|_, _| vec![]))
            .unwrap();
        registry
    }

    #[test]
    fn a_kind_is_unique_across_the_platform() {
        let mut registry = with_health();
        let error = registry
            .plan(&manifest("p", &[("health", OBJECT)], &[]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "entity kind \"health\" is already registered by platform module healthcheck"
        );
        registry.install(
            registry
                .plan(&manifest("p", &[("x", OBJECT)], &[]))
                .unwrap(),
        );
        let error = registry
            .plan(&manifest("q", &[("x", OBJECT)], &[]))
            .unwrap_err();
        assert!(error.to_string().contains("by plugin p"), "{error}");
        let twice = registry
            .plan(&manifest("q", &[("y", OBJECT), ("y", OBJECT)], &[]))
            .unwrap_err();
        assert!(twice.to_string().contains("declared twice"), "{twice}");
    }

    #[test]
    fn a_new_version_replaces_its_own_kinds() {
        let mut registry = with_health();
        registry.install(
            registry
                .plan(&manifest("p", &[("x", OBJECT)], &["x"]))
                .unwrap(),
        );
        registry.install(
            registry
                .plan(&manifest("p", &[("z", OBJECT)], &["health"]))
                .unwrap(),
        );
        assert!(registry.kind("x").is_none());
        assert!(registry.kind("z").is_some());
        assert!(registry.derivers("x").is_empty());
        let health = registry.derivers("health");
        assert!(matches!(health[0], Deriver::Platform(_)));
        assert!(matches!(&health[1], Deriver::Plugin(p) if p == "p"));
    }

    #[test]
    fn empty_kinds_and_bad_schemas_are_refused() {
        let registry = with_health();
        assert!(matches!(
            registry.plan(&manifest("p", &[("  ", OBJECT)], &[])),
            Err(RegistrationError::EmptyKind { .. })
        ));
        assert!(matches!(
            registry.plan(&manifest("p", &[], &[""])),
            Err(RegistrationError::EmptyKind { .. })
        ));
        let error = registry
            .plan(&manifest("p", &[("x", r#"{"type":"array"}"#)], &[]))
            .unwrap_err();
        assert!(matches!(error, RegistrationError::Schema { ref kind, .. } if kind == "x"));
    }

    #[test]
    fn derived_events_are_a_deduplicated_union_in_order() {
        let events = union_of_events([
            vec!["a.x".into(), "".into(), "a.y".into()],
            vec!["a.x".into(), "b.z".into()],
        ]);
        assert_eq!(events, ["a.x", "a.y", "b.z"]);
    }
}
