//! `slo_host`: the wasmtime host for Checkstack plugins.
//!
//! * [`runtime`]: the sandboxed plugin runtime (engine, linker, per-invocation store, limits,
//!   typed failures).
//! * [`capabilities`]: one module per host capability (SQL, clock, cache, log, outbox,
//!   platform calls).
//! * [`host`]: the composition a user drives: load a plugin (compile, describe, migrate,
//!   init) and invoke its exports, publishing what each committed invocation buffered.
//! * [`platform`]: the simulated platform plugins (catalog, health, dependencies,
//!   maintenance, incidents) a plugin reaches through the `platform` import.
//! * [`bench`]: `slo-host bench`, the benchmarks behind `BENCHMARKS.md`.
//! * [`serve`]: `slo-host serve`, the plugin behind an HTTP API on the real clock.
//! * [`bindings`]: generated from `wit/`.

pub mod artifacts;
pub mod bench;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod cluster;
pub mod gitops;
pub mod host;
pub mod host_schema;
pub mod inspect;
pub mod openslo;
pub mod platform;
pub mod postgres_cluster;
pub mod runtime;
pub mod scenario;
pub mod serve;
