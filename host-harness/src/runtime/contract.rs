//! The contract versions the host serves, and one call surface over them.
//!
//! Every version under `wit/` has its own generated binding ([`crate::bindings`] for the current
//! 0.2.0, [`crate::bindings::v0_1`] for the frozen 0.1.0), and both are linked into one linker.
//! A component is bound to the version whose exports it carries ([`bind`]); the host's code
//! then calls it through [`PluginInstance`], in the current version's types. A 0.1.0 instance
//! has its arguments and answers converted; the exports of the two versions have the same
//! shapes, so the conversion goes through serde (both bindings derive it) and cannot drift.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::state::InvocationState;
use crate::bindings::exports::checkstack::plugin::gitops;
use crate::bindings::{self as current, types as wit, v0_1, PluginManifest};

/// A contract version the host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ContractVersion {
    /// `checkstack:plugin@0.1.0`, frozen.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `checkstack:plugin@0.2.0`, current.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl ContractVersion {
    /// Every version served, oldest first.
    pub const SERVED: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];
    /// The version new plugins are built against.
    pub const CURRENT: ContractVersion = ContractVersion::V0_2;

    /// The package version, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    /// Whether a manifest's `contract-version` names this version (semver for 0.x: same major
    /// and minor, any patch).
    pub fn accepts(self, declared: &str) -> bool {
        let major_minor = |v: &str| {
            let mut parts = v.trim().split('.');
            (
                parts.next().map(str::to_owned),
                parts.next().map(str::to_owned),
            )
        };
        major_minor(declared) == major_minor(self.as_str())
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A linked component, ready to instantiate, bound to its contract version.
#[derive(Clone)]
pub enum PluginPre {
    /// Built against 0.1.0.
    V0_1(v0_1::PluginPre<InvocationState>),
    /// Built against 0.2.0.
    V0_2(current::PluginPre<InvocationState>),
}

/// Binds `instance_pre` to the contract version whose exports the component carries.
/// The error names the current version's mismatch (and that 0.1.0 did not fit either).
pub fn bind(instance_pre: InstancePre<InvocationState>) -> wasmtime::Result<PluginPre> {
    match current::PluginPre::new(instance_pre.clone()) {
        Ok(pre) => Ok(PluginPre::V0_2(pre)),
        Err(current_error) => match v0_1::PluginPre::new(instance_pre) {
            Ok(pre) => Ok(PluginPre::V0_1(pre)),
            Err(_) => Err(current_error
                .context("the component fits neither contract 0.2.0 nor the frozen 0.1.0")),
        },
    }
}

impl PluginPre {
    /// The contract version the component was bound to.
    pub fn version(&self) -> ContractVersion {
        match self {
            PluginPre::V0_1(_) => ContractVersion::V0_1,
            PluginPre::V0_2(_) => ContractVersion::V0_2,
        }
    }

    /// A fresh instance in `store`.
    pub fn instantiate(
        &self,
        store: &mut Store<InvocationState>,
    ) -> wasmtime::Result<PluginInstance> {
        Ok(match self {
            PluginPre::V0_1(pre) => PluginInstance::V0_1(pre.instantiate(&mut *store)?),
            PluginPre::V0_2(pre) => PluginInstance::V0_2(pre.instantiate(&mut *store)?),
        })
    }
}

/// One instance of a plugin, whatever its contract version, called in the current version's
/// types. Each method is the export of the same name.
pub enum PluginInstance {
    /// Built against 0.1.0: arguments and answers are converted.
    V0_1(v0_1::Plugin),
    /// Built against 0.2.0.
    V0_2(current::Plugin),
}

/// What an export call answers: a trap (outer) or the plugin's typed answer (inner).
pub type Answer<T> = wasmtime::Result<Result<T, wit::PluginError>>;

/// Converts between the two versions' generated types of the same WIT shape.
fn cross<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    Ok(serde_json::from_value(json)?)
}

/// A 0.1.0 answer in the current version's types.
fn answer<A: Serialize, B: DeserializeOwned, E: Serialize>(
    answer: wasmtime::Result<Result<A, E>>,
) -> Answer<B> {
    match answer? {
        Ok(value) => Ok(Ok(cross(&value)?)),
        Err(error) => Ok(Err(cross(&error)?)),
    }
}

type Instance = InvocationState;

// The generated export calls take `&String` for JSON text, so these do too.
#[allow(clippy::ptr_arg)]
impl PluginInstance {
    /// `manifest.describe`.
    pub fn call_describe(&self, store: &mut Store<Instance>) -> wasmtime::Result<PluginManifest> {
        match self {
            PluginInstance::V0_1(p) => cross(&p.checkstack_plugin_manifest().call_describe(store)?),
            PluginInstance::V0_2(p) => p.checkstack_plugin_manifest().call_describe(store),
        }
    }

    /// `lifecycle.init`.
    pub fn call_init(&self, store: &mut Store<Instance>) -> Answer<()> {
        match self {
            PluginInstance::V0_1(p) => answer(p.checkstack_plugin_lifecycle().call_init(store)),
            PluginInstance::V0_2(p) => p.checkstack_plugin_lifecycle().call_init(store),
        }
    }

    /// `rpc.handle`, with `caller` also set as the invocation's context caller.
    pub fn call_handle(
        &self,
        store: &mut Store<Instance>,
        procedure: &str,
        input: &String,
        caller: &wit::Caller,
    ) -> Answer<String> {
        store.data_mut().set_caller(caller.clone());
        match self {
            PluginInstance::V0_1(p) => answer(p.checkstack_plugin_rpc().call_handle(
                store,
                procedure,
                input,
                &cross(caller)?,
            )),
            PluginInstance::V0_2(p) => p
                .checkstack_plugin_rpc()
                .call_handle(store, procedure, input, caller),
        }
    }

    /// `handlers.on-entity-change`.
    pub fn call_on_entity_change(
        &self,
        store: &mut Store<Instance>,
        worker_group: &str,
        change: &wit::EntityChange,
    ) -> Answer<()> {
        match self {
            PluginInstance::V0_1(p) => {
                answer(p.checkstack_plugin_handlers().call_on_entity_change(
                    store,
                    worker_group,
                    &cross(change)?,
                ))
            }
            PluginInstance::V0_2(p) => {
                p.checkstack_plugin_handlers()
                    .call_on_entity_change(store, worker_group, change)
            }
        }
    }

    /// `handlers.on-hook`.
    pub fn call_on_hook(
        &self,
        store: &mut Store<Instance>,
        worker_group: &str,
        hook_id: &str,
        payload: &String,
        meta: &wit::HookMeta,
    ) -> Answer<()> {
        match self {
            PluginInstance::V0_1(p) => answer(p.checkstack_plugin_handlers().call_on_hook(
                store,
                worker_group,
                hook_id,
                payload,
                &cross(meta)?,
            )),
            PluginInstance::V0_2(p) => p.checkstack_plugin_handlers().call_on_hook(
                store,
                worker_group,
                hook_id,
                payload,
                meta,
            ),
        }
    }

    /// `handlers.on-job`.
    pub fn call_on_job(&self, store: &mut Store<Instance>, job: &wit::Job) -> Answer<()> {
        match self {
            PluginInstance::V0_1(p) => answer(
                p.checkstack_plugin_handlers()
                    .call_on_job(store, &cross(job)?),
            ),
            PluginInstance::V0_2(p) => p.checkstack_plugin_handlers().call_on_job(store, job),
        }
    }

    /// `entity-provider.read`.
    pub fn call_read(
        &self,
        store: &mut Store<Instance>,
        kind: &str,
        ids: &[String],
    ) -> Answer<Vec<wit::EntityState>> {
        match self {
            PluginInstance::V0_1(p) => answer(
                p.checkstack_plugin_entity_provider()
                    .call_read(store, kind, ids),
            ),
            PluginInstance::V0_2(p) => p
                .checkstack_plugin_entity_provider()
                .call_read(store, kind, ids),
        }
    }

    /// `entity-provider.apply`.
    pub fn call_apply(
        &self,
        store: &mut Store<Instance>,
        kind: &str,
        id: &str,
        op: &wit::EntityOp,
    ) -> Answer<Option<String>> {
        match self {
            PluginInstance::V0_1(p) => answer(p.checkstack_plugin_entity_provider().call_apply(
                store,
                kind,
                id,
                &cross(op)?,
            )),
            PluginInstance::V0_2(p) => p
                .checkstack_plugin_entity_provider()
                .call_apply(store, kind, id, op),
        }
    }

    /// `entity-provider.derive`.
    pub fn call_derive(
        &self,
        store: &mut Store<Instance>,
        change: &wit::EntityChange,
    ) -> Answer<Vec<String>> {
        match self {
            PluginInstance::V0_1(p) => answer(
                p.checkstack_plugin_entity_provider()
                    .call_derive(store, &cross(change)?),
            ),
            PluginInstance::V0_2(p) => p
                .checkstack_plugin_entity_provider()
                .call_derive(store, change),
        }
    }

    /// `gitops.reconcile`.
    pub fn call_reconcile(
        &self,
        store: &mut Store<Instance>,
        entity: &gitops::GitopsEntity,
        existing_entity_id: Option<&str>,
    ) -> Answer<String> {
        match self {
            PluginInstance::V0_1(p) => answer(p.checkstack_plugin_gitops().call_reconcile(
                store,
                &cross(entity)?,
                existing_entity_id,
            )),
            PluginInstance::V0_2(p) => {
                p.checkstack_plugin_gitops()
                    .call_reconcile(store, entity, existing_entity_id)
            }
        }
    }

    /// `gitops.delete`.
    pub fn call_delete(
        &self,
        store: &mut Store<Instance>,
        kind: &str,
        name: &str,
        entity_id: Option<&str>,
    ) -> Answer<()> {
        match self {
            PluginInstance::V0_1(p) => answer(
                p.checkstack_plugin_gitops()
                    .call_delete(store, kind, name, entity_id),
            ),
            PluginInstance::V0_2(p) => p
                .checkstack_plugin_gitops()
                .call_delete(store, kind, name, entity_id),
        }
    }
}
