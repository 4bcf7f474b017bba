//! The entity framework (host-contract.md §1–§3, with decisions §3): the registry of kinds and
//! derivers, state schemas, the canonical diff, the change and transition logs, and the
//! host-driven mutate pipeline.
//!
//! Every change, whoever makes it (a plugin's mutation or a platform module's write), is
//! recorded in the transaction that made it and delivered through one internal queue,
//! [`ENTITY_CHANGED_QUEUE`], with one consumer group per subscription.

pub mod diff;
pub mod log;
pub mod pipeline;
pub mod registry;
pub mod schema;

pub use log::{ChangeActor, ChangeEvent};
pub use pipeline::{mutate, MutationError, MutationOutcome, MutationRequest};
pub use registry::{Deriver, EntityRegistry, Owner, RegistrationError};

/// The internal hook (and queue) every entity change travels on.
pub const ENTITY_CHANGED_QUEUE: &str = "automation.entity.changed";
