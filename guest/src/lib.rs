//! Checkstack's SLO plugin, built as a WebAssembly component.
//!
//! Functional core, imperative shell:
//! * [`core`] knows nothing of WIT or SQL: validation, domain types and formulas. It is
//!   unit-tested natively and the same code runs inside the component.
//! * [`storage`] turns domain operations into SQL through the [`storage::Database`] trait,
//!   which the component implements over the host's SQL import.
//! * `component` (wasm32 only) binds the contract's exports to the core and the storage layer.
//! * [`manifest`] and [`migrations`] describe the plugin to the host.

pub mod core;
pub mod engine;
pub mod jobs;
pub mod manifest;
pub mod migrations;
pub mod service;
pub mod storage;
#[cfg(any(test, feature = "native"))]
pub mod test_env;

#[cfg(target_arch = "wasm32")]
mod component;
