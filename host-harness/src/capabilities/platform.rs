//! Calls from a plugin to other platform plugins' RPC procedures (the `platform` import).
//!
//! The runtime only routes: it hands each call to the [`PlatformServices`] the host was built
//! with. The simulated platform (catalog, health, dependencies, maintenance, incidents)
//! implements it; a bare host uses [`NoPlatform`], which answers that nothing is attached.

use crate::runtime::PluginError;

/// Platform plugins reachable from a plugin.
pub trait PlatformServices: Send + Sync {
    /// Runs `procedure` of platform plugin `plugin_id` with JSON `input`; answers JSON.
    fn call(&self, plugin_id: &str, procedure: &str, input: &str) -> Result<String, PluginError>;
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
