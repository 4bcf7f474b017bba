//! The plugin components built with this crate (see `build.rs`).

/// The SLO plugin component, embedded so that `slo-host` runs it from anywhere.
pub const SLO_PLUGIN_COMPONENT: &[u8] = include_bytes!(env!("SLO_PLUGIN_WASM"));

/// Path of the SLO plugin component in the build tree.
pub const SLO_PLUGIN_PATH: &str = env!("SLO_PLUGIN_WASM");

/// Path of the misbehaving fixture component (tests only; it stays in the build tree).
pub const MISBEHAVING_FIXTURE_PATH: &str = env!("FIXTURE_MISBEHAVING_WASM");

/// Path of the next SLO release (feature `next`: version 0.2.0, one more migration, the read
/// procedure `getPluginInfo`), for hot-swap tests and demos.
pub const SLO_PLUGIN_NEXT_PATH: &str = env!("SLO_PLUGIN_NEXT_WASM");

/// A version of the fixture whose `init` fails after its migration ran (a swap must refuse it).
pub const FIXTURE_INIT_FAILS_PATH: &str = env!("FIXTURE_INIT_FAILS_WASM");

/// The smallest plugin the contract allows (every export does nothing): the baseline of the
/// per-invocation overhead benchmark.
pub const FIXTURE_EMPTY_PATH: &str = env!("FIXTURE_EMPTY_WASM");

/// A version of the fixture whose `init` never returns (the swap's probe budget must stop it).
pub const FIXTURE_INIT_SPINS_PATH: &str = env!("FIXTURE_INIT_SPINS_WASM");

/// A version of the fixture whose second migration fails halfway (a swap must refuse it).
pub const FIXTURE_MIGRATION_FAILS_PATH: &str = env!("FIXTURE_MIGRATION_FAILS_WASM");

/// A version of the fixture that declares contract 0.9.0, which no host serves (a swap must
/// refuse it).
pub const FIXTURE_FUTURE_CONTRACT_PATH: &str = env!("FIXTURE_FUTURE_CONTRACT_WASM");

/// A second healthy version (0.1.1) of the fixture.
pub const FIXTURE_SECOND_PATH: &str = env!("FIXTURE_SECOND_WASM");

/// Today's SLO plugin built against the frozen contract 0.1.0 (release 0.1.0, built from
/// commit 70bcf10 before the plugin moved to 0.2.0), committed as a binary so that every later
/// host is tested against exactly what 0.1.0 plugins in the field are.
pub const FROZEN_SLO_PLUGIN_0_1_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/frozen/slo-plugin-contract-0.1.0.wasm"
);

/// The digest of [`FROZEN_SLO_PLUGIN_0_1_PATH`]: a changed binary is a different fixture.
pub const FROZEN_SLO_PLUGIN_0_1_DIGEST: &str =
    "sha256:5bb9210633e8ba5e536128d43c1c46c505c5376ebfc4c39627b37a3102da3b3e";
