//! Host bindings generated from the contract in `wit/` (the same package the guests use).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "checkstack:plugin/plugin",
    additional_derives: [serde::Serialize],
});

pub use checkstack::plugin::types;
pub use exports::checkstack::plugin::manifest::PluginManifest;
