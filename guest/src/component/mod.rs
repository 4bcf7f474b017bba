//! The bindings layer: the contract's exports mapped onto the service, and the host's imports
//! wrapped as the storage layer's [`Database`] and the service's [`Env`].

mod host;
mod manifest;

use crate::core::PluginError;
use crate::service::{self, entity, gitops, handlers};
use bindings::checkstack::plugin::types::{
    self as wit, Caller, EntityChange, EntityOp, EntityState, HookMeta, Job,
};
use bindings::exports::checkstack::plugin as exports;

/// Generated from `wit/0.2.0`, the current contract; the same package the host is generated from.
pub(crate) mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
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
        // Restarts the entity refresh chain when downtime is open (after a swap from a build
        // that refreshed on a minute cron); never refuses the load.
        handlers::on_init(&host::HostDatabase, &host::HostEnv);
        host::log_info(&format!(
            "slo plugin {} initialised",
            crate::manifest::VERSION
        ));
        Ok(())
    }
}

impl exports::entity_provider::Guest for SloPlugin {
    fn read(kind: String, ids: Vec<String>) -> Result<Vec<EntityState>, wit::PluginError> {
        own_kind(&kind)?;
        let states = entity::read(&host::HostDatabase, &ids).map_err(to_wit)?;
        Ok(states
            .into_iter()
            .map(|(id, state)| EntityState {
                id,
                state: state.to_string(),
            })
            .collect())
    }

    fn apply(kind: String, id: String, op: EntityOp) -> Result<Option<String>, wit::PluginError> {
        own_kind(&kind)?;
        match op {
            EntityOp::Mutate(_) => entity::apply_refresh(&host::HostDatabase, &host::HostEnv, &id)
                .map(|state| Some(state.to_string()))
                .map_err(to_wit),
            // The objective is already gone (deleted in the requesting invocation).
            EntityOp::Remove(_) => entity::apply_remove(&host::HostDatabase, &id)
                .map(|()| None)
                .map_err(to_wit),
        }
    }

    fn derive(change: EntityChange) -> Result<Vec<String>, wit::PluginError> {
        // Budget and streak thresholds are conditions over the entity, not triggers.
        own_kind(&change.kind)?;
        Ok(Vec::new())
    }
}

fn own_kind(kind: &str) -> Result<(), wit::PluginError> {
    if kind == entity::KIND {
        Ok(())
    } else {
        Err(wit::PluginError::NotFound(format!(
            "entity kind {kind:?} is not owned by the slo plugin"
        )))
    }
}

fn optional_json(
    field: &str,
    text: Option<&String>,
) -> Result<Option<serde_json::Value>, wit::PluginError> {
    text.map(|t| parse_json(field, t)).transpose()
}

impl exports::handlers::Guest for SloPlugin {
    fn on_entity_change(
        worker_group: String,
        change: EntityChange,
    ) -> Result<(), wit::PluginError> {
        let prev = optional_json("prev", change.prev.as_ref())?;
        let next = optional_json("next", change.next.as_ref())?;
        let view = handlers::Change {
            kind: &change.kind,
            id: &change.id,
            prev: prev.as_ref(),
            next: next.as_ref(),
        };
        handlers::on_entity_change(&host::HostDatabase, &host::HostEnv, &worker_group, &view)
            .map_err(to_wit)
    }

    fn on_hook(
        worker_group: String,
        hook_id: String,
        payload: String,
        _meta: HookMeta,
    ) -> Result<(), wit::PluginError> {
        let payload = parse_json("payload", &payload)?;
        handlers::on_hook(
            &host::HostDatabase,
            &host::HostEnv,
            &worker_group,
            &hook_id,
            &payload,
        )
        .map_err(to_wit)
    }

    fn on_job(job: Job) -> Result<(), wit::PluginError> {
        handlers::on_job(
            &host::HostDatabase,
            &host::HostEnv,
            &job.queue,
            &job.payload,
        )
        .map_err(to_wit)
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
        existing: Option<String>,
    ) -> Result<String, wit::PluginError> {
        if entity.kind != gitops::KIND {
            return Err(wit::PluginError::NotFound(format!(
                "GitOps kind {:?} is not served by the slo plugin",
                entity.kind
            )));
        }
        let spec = parse_json("spec", &entity.spec)?;
        gitops::reconcile(
            &host::HostDatabase,
            &host::HostEnv,
            &spec,
            existing.as_deref(),
        )
        .map_err(to_wit)
    }

    fn delete(
        kind: String,
        _name: String,
        entity_id: Option<String>,
    ) -> Result<(), wit::PluginError> {
        if kind != gitops::KIND {
            return Err(wit::PluginError::NotFound(format!(
                "GitOps kind {kind:?} is not served by the slo plugin"
            )));
        }
        gitops::delete(&host::HostDatabase, &host::HostEnv, entity_id.as_deref()).map_err(to_wit)
    }
}
