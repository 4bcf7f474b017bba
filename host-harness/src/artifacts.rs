//! The plugin components built with this crate (see `build.rs`).

/// The SLO plugin component, embedded so that `slo-host` runs it from anywhere.
pub const SLO_PLUGIN_COMPONENT: &[u8] = include_bytes!(env!("SLO_PLUGIN_WASM"));

/// Path of the SLO plugin component in the build tree.
pub const SLO_PLUGIN_PATH: &str = env!("SLO_PLUGIN_WASM");

/// Path of the misbehaving fixture component (tests only; it stays in the build tree).
pub const MISBEHAVING_FIXTURE_PATH: &str = env!("FIXTURE_MISBEHAVING_WASM");
