//! Calls from a plugin to other platform plugins' RPC procedures (the `platform` import).
//!
//! The runtime only routes: it hands each call to the [`PlatformServices`] the host was built
//! with. The simulated platform (catalog, health, dependencies, maintenance, incidents)
//! implements it; a bare host uses [`NoPlatform`], which answers that nothing is attached.

use super::entities::registry::NativeDeriver;
use crate::runtime::PluginError;

/// An entity kind a platform module owns (e.g. `health`), registered before any plugin's.
#[derive(Debug, Clone)]
pub struct NativeKind {
    /// The owning module, e.g. `healthcheck`.
    pub module: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// JSON Schema of its state.
    pub schema: &'static str,
    /// Its change deriver, if any.
    pub deriver: Option<NativeDeriver>,
}

/// Platform plugins reachable from a plugin.
pub trait PlatformServices: Send + Sync {
    /// Runs `procedure` of platform plugin `plugin_id` with JSON `input`; answers JSON.
    fn call(&self, plugin_id: &str, procedure: &str, input: &str) -> Result<String, PluginError>;

    /// Called before every invocation, once its transaction began: a platform whose state is
    /// shared with other hosts re-reads it here if it changed (nothing by default).
    fn before_invocation(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// The entity kinds the platform's modules own (none by default).
    fn entity_kinds(&self) -> Vec<NativeKind> {
        Vec::new()
    }
}

/// A host without platform plugins: every call is `not-found`, naming the plugin.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPlatform;

impl PlatformServices for NoPlatform {
    fn call(&self, plugin_id: &str, procedure: &str, _input: &str) -> Result<String, PluginError> {
        Err(PluginError::NotFound(format!(
            "platform plugin {plugin_id:?} is not attached to this host (procedure {procedure:?})"
        )))
    }
}
