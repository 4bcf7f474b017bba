//! Hooks and the trigger registry (host-contract.md §6).
//!
//! A trigger is declared in a plugin's manifest with a local id; the platform knows it by its
//! qualified id `<plugin id>.<id>`. Registration refuses an empty id, a duplicate qualified
//! id and a trigger with no hook behind it (our contract has no setup-backed triggers), and
//! keeps the payload schema for introspection only: payloads are never validated when a hook
//! fires (§6.2). A hook emission fires every trigger backed by that hook, with its context key
//! taken from the payload.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::bindings::PluginManifest;

/// The category of a trigger that declares none.
pub const DEFAULT_CATEGORY: &str = "Uncategorized";

/// A registered trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerDefinition {
    /// `<plugin id>.<id>`.
    pub qualified_id: String,
    /// The declaring plugin.
    pub plugin: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Category (`Uncategorized` when none was given).
    pub category: String,
    /// The hook whose emissions fire it.
    pub hook: String,
    /// The payload's JSON Schema, for editors and introspection.
    pub payload_schema: Value,
    /// The payload field used as context key.
    pub context_key: Option<String>,
}

impl TriggerDefinition {
    /// The context key of one firing: the payload's `context_key` field as text, if any.
    pub fn context_of(&self, payload: &Value) -> Option<String> {
        let field = self.context_key.as_deref()?;
        match payload.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// Why a plugin's triggers were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// The local id is empty.
    #[error("a trigger of plugin {plugin} has an empty id")]
    EmptyId {
        /// The plugin.
        plugin: String,
    },
    /// The qualified id is taken.
    #[error("trigger {qualified_id:?} is already registered by plugin {owner}")]
    Duplicate {
        /// The qualified id.
        qualified_id: String,
        /// Who holds it.
        owner: String,
    },
    /// No hook fires the trigger.
    #[error("trigger {qualified_id:?} has no hook: a trigger must be fired by a hook")]
    NoHook {
        /// The qualified id.
        qualified_id: String,
    },
    /// The payload schema is not JSON.
    #[error("trigger {qualified_id:?}: the payload schema is not JSON: {message}")]
    PayloadSchema {
        /// The qualified id.
        qualified_id: String,
        /// The parse error.
        message: String,
    },
}

/// A plugin's checked, not yet installed, triggers.
#[derive(Debug)]
pub struct PlannedTriggers {
    plugin: String,
    triggers: Vec<TriggerDefinition>,
}

/// Every registered trigger, by qualified id.
#[derive(Debug, Default)]
pub struct TriggerRegistry {
    triggers: BTreeMap<String, TriggerDefinition>,
}

impl TriggerRegistry {
    /// Checks a plugin's triggers against every other plugin's (and against each other).
    pub fn plan(&self, manifest: &PluginManifest) -> Result<PlannedTriggers, TriggerError> {
        let plugin = manifest.id.clone();
        let mut planned: Vec<TriggerDefinition> = Vec::new();
        for t in &manifest.triggers {
            if t.id.trim().is_empty() {
                return Err(TriggerError::EmptyId { plugin });
            }
            let qualified_id = format!("{plugin}.{}", t.id);
            if let Some(existing) = self
                .triggers
                .get(&qualified_id)
                .filter(|d| d.plugin != plugin)
            {
                return Err(TriggerError::Duplicate {
                    qualified_id,
                    owner: existing.plugin.clone(),
                });
            }
            if planned.iter().any(|d| d.qualified_id == qualified_id) {
                return Err(TriggerError::Duplicate {
                    qualified_id,
                    owner: format!("{plugin} (declared twice)"),
                });
            }
            if t.hook.trim().is_empty() {
                return Err(TriggerError::NoHook { qualified_id });
            }
            let payload_schema = serde_json::from_str(&t.payload_schema).map_err(|e| {
                TriggerError::PayloadSchema {
                    qualified_id: qualified_id.clone(),
                    message: e.to_string(),
                }
            })?;
            let category = if t.category.trim().is_empty() {
                DEFAULT_CATEGORY.to_owned()
            } else {
                t.category.clone()
            };
            planned.push(TriggerDefinition {
                qualified_id,
                plugin: plugin.clone(),
                display_name: t.display_name.clone(),
                description: t.description.clone(),
                category,
                hook: t.hook.clone(),
                payload_schema,
                context_key: t.context_key.clone(),
            });
        }
        Ok(PlannedTriggers {
            plugin,
            triggers: planned,
        })
    }

    /// Installs a plan, replacing the plugin's earlier triggers.
    pub fn install(&mut self, planned: PlannedTriggers) {
        self.triggers.retain(|_, d| d.plugin != planned.plugin);
        for t in planned.triggers {
            self.triggers.insert(t.qualified_id.clone(), t);
        }
    }

    /// The triggers a hook emission fires, by qualified id.
    pub fn fired_by(&self, hook: &str) -> Vec<&TriggerDefinition> {
        self.triggers.values().filter(|t| t.hook == hook).collect()
    }

    /// A trigger by qualified id.
    pub fn get(&self, qualified_id: &str) -> Option<&TriggerDefinition> {
        self.triggers.get(qualified_id)
    }

    /// Every trigger, by qualified id (for introspection).
    pub fn all(&self) -> impl Iterator<Item = &TriggerDefinition> {
        self.triggers.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::checkstack::plugin::manifest::Trigger;

    fn trigger(id: &str, hook: &str) -> Trigger {
        Trigger {
            id: id.into(),
            display_name: id.into(),
            description: String::new(),
            category: String::new(),
            hook: hook.into(),
            payload_schema: r#"{"type":"object"}"#.into(),
            context_key: Some("systemId".into()),
        }
    }

    fn manifest(id: &str, triggers: Vec<Trigger>) -> PluginManifest {
        PluginManifest {
            id: id.into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            display_name: id.into(),
            access_rules: vec![],
            entity_kinds: vec![],
            change_derivers: vec![],
            non_reactive: vec![],
            hooks: vec![],
            signals: vec![],
            triggers,
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

    #[test]
    fn triggers_are_qualified_and_fired_by_their_hook() {
        let mut registry = TriggerRegistry::default();
        let plan = registry
            .plan(&manifest(
                "slo",
                vec![trigger("weekly.digest", "slo.weekly.digest")],
            ))
            .unwrap();
        registry.install(plan);
        let fired = registry.fired_by("slo.weekly.digest");
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].qualified_id, "slo.weekly.digest");
        assert_eq!(fired[0].category, DEFAULT_CATEGORY);
        assert_eq!(
            fired[0].context_of(&serde_json::json!({"systemId": "api"})),
            Some("api".into())
        );
        assert!(registry.fired_by("other").is_empty());
    }

    #[test]
    fn duplicates_and_hookless_triggers_are_refused() {
        let mut registry = TriggerRegistry::default();
        registry.install(
            registry
                .plan(&manifest("a", vec![trigger("x", "h")]))
                .unwrap(),
        );
        // the same plugin may re-register (a new version)
        assert!(registry
            .plan(&manifest("a", vec![trigger("x", "h")]))
            .is_ok());
        let twice = registry
            .plan(&manifest("b", vec![trigger("y", "h"), trigger("y", "h")]))
            .unwrap_err();
        assert!(matches!(twice, TriggerError::Duplicate { .. }));
        let hookless = registry
            .plan(&manifest("b", vec![trigger("z", " ")]))
            .unwrap_err();
        assert_eq!(
            hookless.to_string(),
            "trigger \"b.z\" has no hook: a trigger must be fired by a hook"
        );
        assert!(matches!(
            registry.plan(&manifest("b", vec![trigger("", "h")])),
            Err(TriggerError::EmptyId { .. })
        ));
        // plugin "a.b" with trigger "c" and plugin "a" with trigger "b.c" collide
        registry.install(
            registry
                .plan(&manifest("a.b", vec![trigger("c", "h")]))
                .unwrap(),
        );
        let collide = registry
            .plan(&manifest("a", vec![trigger("b.c", "h")]))
            .unwrap_err();
        assert_eq!(
            collide.to_string(),
            "trigger \"a.b.c\" is already registered by plugin a.b"
        );
    }
}
