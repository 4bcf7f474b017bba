//! Host capabilities: one module per thing the host gives a plugin, each with its own state.
//!
//! The runtime composes them into the per-invocation store ([`crate::runtime::InvocationState`]);
//! a capability never reaches into another's tables.

pub mod cache;
pub mod clock;
pub mod entities;
pub mod hooks;
pub mod log;
pub mod outbox;
pub mod platform;
pub mod queue;
pub mod scheduler;
pub mod sql;
