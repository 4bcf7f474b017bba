//! The mutate pipeline of host-contract.md §1.3, driven by the host (decisions §3):
//!
//! 1. `read([id])` through the owning plugin gives prev; a failing read stops here (apply
//!    never runs);
//! 2. `apply(kind, id, op)` runs the plugin's write in its own invocation transaction;
//! 3. inside that same transaction, before it commits: the answered state is validated against
//!    the kind's declared schema, diffed against prev (§1.5), and, when something changed, the
//!    change-log row, the transition rows and the `ENTITY_CHANGED` delivery rows are written;
//! 4. commit; the change is handed back to be published.
//!
//! So a failure at any step after `read` leaves nothing: not the plugin's write, not a history
//! row, not an event (our version of the §1.9 failure matrix, where the original could keep the
//! plugin's write without its event). A write that changes nothing commits with no event.
//! Mutations of one (kind, id) are serialised.

use serde_json::Value;

use super::diff::diff;
use super::log::{self, ChangeActor, ChangeEvent, NewChange};
use super::registry::Owner;
use crate::bindings::types::EntityOp;
use crate::host::PluginHost;
use crate::runtime::{Failure, InvocationError, PluginError};

/// A mutation to run.
#[derive(Debug, Clone)]
pub struct MutationRequest {
    /// Kind.
    pub kind: String,
    /// Entity id.
    pub id: String,
    /// The operation handed to `apply`.
    pub op: EntityOp,
    /// Who asked.
    pub actor: ChangeActor,
}

/// What a committed mutation did.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationOutcome {
    /// The validated next state (`None` after a removal).
    pub next: Option<Value>,
    /// The change, when anything changed (already recorded and enqueued).
    pub change: Option<ChangeEvent>,
}

/// Why a mutation left nothing behind.
#[derive(Debug, thiserror::Error)]
pub enum MutationError {
    /// No registered kind of that name.
    #[error("entity kind {0:?} is not registered")]
    UnknownKind(String),
    /// The kind belongs to someone other than the serving plugin.
    #[error("entity kind {kind:?} belongs to {owner}, not to the serving plugin")]
    NotOwned {
        /// The kind.
        kind: String,
        /// Its owner.
        owner: String,
    },
    /// The prev snapshot failed: `apply` did not run.
    #[error("reading prev of {kind}/{id} failed, apply did not run: {error}")]
    Read {
        /// Kind.
        kind: String,
        /// Id.
        id: String,
        /// The read's failure.
        error: Box<InvocationError>,
    },
    /// `apply`, the schema check, the history append or the emit failed: all rolled back.
    #[error("{0}")]
    Apply(Box<InvocationError>),
}

/// What the pipeline runs inside the apply's transaction before it commits: with the recorded
/// change (to enqueue its deliveries), or with `None` when the apply changed nothing (the
/// caller's bookkeeping still commits with it, so that no extra transaction is needed).
pub type Emit<'a> = dyn FnOnce(&crate::capabilities::sql::SqlConnection, Option<&ChangeEvent>) -> Result<(), String>
    + 'a;

fn rejected(message: String) -> Failure {
    Failure::Rejected {
        error: PluginError::Invalid(message),
    }
}

/// Runs `request` through the pipeline; `emit` enqueues the change's deliveries on the
/// transaction's connection.
pub fn mutate(
    host: &PluginHost,
    request: &MutationRequest,
    emit: Box<Emit<'_>>,
) -> Result<MutationOutcome, MutationError> {
    let (kind, id) = (request.kind.as_str(), request.id.as_str());
    let plugin = host.plugin().map(|p| p.id().to_owned());
    {
        let registry = host.entity_registry();
        let entry = registry
            .kind(kind)
            .ok_or_else(|| MutationError::UnknownKind(kind.into()))?;
        if plugin.as_deref().map(|p| Owner::Plugin(p.into())) != Some(entry.owner.clone()) {
            return Err(MutationError::NotOwned {
                kind: kind.into(),
                owner: entry.owner.to_string(),
            });
        }
    }
    host.with_entity_lock(kind, id, || run(host, request, emit))
}

/// The pipeline proper, under the (kind, id) lock.
fn run(
    host: &PluginHost,
    request: &MutationRequest,
    emit: Box<Emit<'_>>,
) -> Result<MutationOutcome, MutationError> {
    let (kind, id) = (request.kind.as_str(), request.id.as_str());
    let read_error = |error| MutationError::Read {
        kind: kind.into(),
        id: id.into(),
        error: Box::new(error),
    };
    let prev = host
        .read_entities(kind, &[id.to_owned()])
        .map_err(read_error)?
        .into_iter()
        .find(|s| s.id == id)
        .map(|s| serde_json::from_str::<Value>(&s.state))
        .transpose()
        .map_err(|e| {
            read_error(host.host_failure(
                &format!("entity-provider.read({kind})"),
                Failure::Rejected {
                    error: PluginError::Invalid(format!(
                        "read answered state that is not JSON: {e}"
                    )),
                },
            ))
        })?;

    let mut recorded: Option<ChangeEvent> = None;
    let mut validated: Option<Value> = None;
    let removal = matches!(request.op, EntityOp::Remove(_));
    let at = host.services().clock.now_ms();
    host.apply_entity_then(kind, id, &request.op, |answer, tx| {
        let next = match (answer, removal) {
            (None, _) => None,
            (Some(_), true) => {
                return Err(rejected(format!(
                    "apply of a removal of {kind}/{id} must answer no state"
                )))
            }
            (Some(text), false) => Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|e| rejected(format!("apply answered state that is not JSON: {e}")))?,
            ),
        };
        if let Some(state) = &next {
            let registry = host.entity_registry();
            let schema = &registry
                .kind(kind)
                .ok_or_else(|| rejected(format!("entity kind {kind:?} vanished")))?
                .schema;
            schema.validate(state).map_err(|violations| {
                rejected(format!(
                    "the state of {kind}/{id} does not match its schema: {violations}"
                ))
            })?;
        }
        validated = next.clone();
        let d = diff(prev.as_ref(), next.as_ref());
        let tx = tx.ok_or_else(|| Failure::Host {
            message: "apply ran without a transaction".into(),
        })?;
        let conn = tx.host_connection().map_err(|e| Failure::Host {
            message: format!("the transaction is gone: {e}"),
        })?;
        if d.is_empty() {
            return emit(conn, None).map_err(|e| Failure::Host {
                message: format!("the apply's bookkeeping failed, nothing was kept: {e}"),
            });
        }
        let event = log::record(
            conn,
            NewChange {
                kind,
                id,
                prev: prev.clone(),
                next,
                delta: d.delta,
                changed_fields: d.changed_fields,
                actor: request.actor.clone(),
                at,
            },
        )
        .map_err(|e| Failure::Host {
            message: format!("appending the transition rows failed, nothing was kept: {e}"),
        })?;
        emit(conn, Some(&event)).map_err(|e| Failure::Host {
            message: format!("emitting the change failed, nothing was kept: {e}"),
        })?;
        recorded = Some(event);
        Ok(())
    })
    .map_err(|e| MutationError::Apply(Box::new(e)))?;
    Ok(MutationOutcome {
        next: validated,
        change: recorded,
    })
}
