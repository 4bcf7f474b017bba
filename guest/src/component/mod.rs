//! The bindings layer: the contract's exports mapped onto the service, and the host's imports
//! wrapped as the storage layer's [`Database`] and the service's [`Env`].

mod host;
mod manifest;

use crate::core::PluginError;
use crate::service;
use bindings::checkstack::plugin::types::{
    self as wit, Caller, EntityChange, EntityOp, EntityState, HookMeta, Job,
};
use bindings::exports::checkstack::plugin as exports;

/// Generated from `wit/`; the same package the host is generated from.
pub(crate) mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "checkstack:plugin/plugin",
    });
}

struct SloPlugin;

bindings::export!(SloPlugin with_types_in bindings);

fn to_wit(error: PluginError) -> wit::PluginError {
    match error {
        PluginError::Invalid(m) => wit::PluginError::Invalid(m),
        PluginError::NotFound(m) => wit::PluginError::NotFound(m),
        PluginError::Denied(m) => wit::PluginError::Denied(m),
        PluginError::Conflict(m) => wit::PluginError::Conflict(m),
        PluginError::Internal(m) => wit::PluginError::Internal(m),
    }
}

fn parse_json(field: &str, text: &str) -> Result<serde_json::Value, wit::PluginError> {
    serde_json::from_str(text)
        .map_err(|e| wit::PluginError::Invalid(format!("{field}: malformed JSON: {e}")))
}

impl exports::manifest::Guest for SloPlugin {
    fn describe() -> exports::manifest::PluginManifest {
        manifest::describe()
    }
}

impl exports::lifecycle::Guest for SloPlugin {
    fn init() -> Result<(), wit::PluginError> {
        host::log_info(&format!(
            "slo plugin {} initialised",
            crate::manifest::VERSION
        ));
        Ok(())
    }
}

impl exports::entity_provider::Guest for SloPlugin {
    fn read(kind: String, _ids: Vec<String>) -> Result<Vec<EntityState>, wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "entity kind {kind:?} is not owned by this plugin version"
        )))
    }

    fn apply(kind: String, _id: String, _op: EntityOp) -> Result<Option<String>, wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "entity kind {kind:?} is not owned by this plugin version"
        )))
    }

    fn derive(change: EntityChange) -> Result<Vec<String>, wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "no change deriver for kind {:?}",
            change.kind
        )))
    }
}

impl exports::handlers::Guest for SloPlugin {
    fn on_entity_change(
        worker_group: String,
        _change: EntityChange,
    ) -> Result<(), wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "no entity subscription {worker_group:?}"
        )))
    }

    fn on_hook(
        worker_group: String,
        _hook_id: String,
        _payload: String,
        _meta: HookMeta,
    ) -> Result<(), wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "no hook subscription {worker_group:?}"
        )))
    }

    fn on_job(job: Job) -> Result<(), wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "no consumer for queue {:?}",
            job.queue
        )))
    }
}

impl exports::rpc::Guest for SloPlugin {
    fn handle(
        procedure: String,
        input: String,
        _caller: Caller,
    ) -> Result<String, wit::PluginError> {
        let input = parse_json("input", &input)?;
        let output = service::handle_rpc(&host::HostDatabase, &host::HostEnv, &procedure, &input)
            .map_err(to_wit)?;
        Ok(output.to_string())
    }
}

impl exports::gitops::Guest for SloPlugin {
    fn reconcile(
        entity: exports::gitops::GitopsEntity,
        _existing: Option<String>,
    ) -> Result<String, wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "GitOps kind {:?} is not served by this plugin version",
            entity.kind
        )))
    }

    fn delete(
        kind: String,
        _name: String,
        _entity_id: Option<String>,
    ) -> Result<(), wit::PluginError> {
        Err(wit::PluginError::NotFound(format!(
            "GitOps kind {kind:?} is not served by this plugin version"
        )))
    }
}
