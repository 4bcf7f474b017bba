//! The plugin's exports as the host calls them: RPC with access checks, deliveries (entity
//! changes, hooks, jobs), and the entity provider (read, apply, derive).

use super::*;

/// A host step run in a delivery handler's transaction just before it commits (see
/// [`PluginHost::deliver_entity_change_completing`]); its error rolls the handler back.
pub type Completion<'a> = &'a dyn Fn(Option<&Transaction>) -> Result<(), Failure>;

pub(super) fn no_completion(_: Option<&Transaction>) -> Result<(), Failure> {
    Ok(())
}

/// The host connection of the invocation's open transaction, for a host step that must
/// commit with it (`what` names the invocation in the failure).
pub fn open_connection<'t>(
    tx: Option<&'t Transaction>,
    what: &str,
) -> Result<&'t crate::capabilities::sql::SqlConnection, Failure> {
    tx.ok_or_else(|| format!("a {what} runs without a transaction"))
        .and_then(|tx| {
            tx.host_connection()
                .map_err(|_| format!("the {what}'s transaction has ended"))
        })
        .map_err(|message| Failure::Host { message })
}

impl PluginHost {
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
        let call = move |p: &crate::runtime::PluginInstance, store: &mut wasmtime::Store<_>| {
            p.call_handle(store, &procedure, &input, &wit_caller)
        };
        if read_only {
            self.invoke_read_only(&plugin, &export, call)
        } else {
            self.invoke(&plugin, &export, call)
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
            move |p, store| p.call_on_entity_change(store, &group, change),
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
            |p, store| p.call_on_hook(store, worker_group, hook_id, &payload, meta),
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
            |p, store| p.call_on_job(store, job),
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
        self.invoke_read_only(&plugin, &export, |p, store| p.call_read(store, kind, ids))
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
            |p, store| p.call_apply(store, kind, id, op),
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
        self.invoke_read_only(&plugin, &export, |p, store| p.call_derive(store, change))
    }
}
