//! Host bindings generated from the contract in `wit/`, one module per contract version.
//!
//! The crate root of this module is the current contract (`wit/0.2.0`): the host's own code
//! speaks its types. [`v0_1`] is the frozen 0.1.0 snapshot, kept so that plugins built against
//! it still load; `runtime::contract` adapts between the two.

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "checkstack:plugin/plugin",
    additional_derives: [serde::Serialize, serde::Deserialize],
    with: {
        "checkstack:plugin/sql.cursor": crate::runtime::cursor::OpenCursor,
    },
});

pub use checkstack::plugin::types;
pub use exports::checkstack::plugin::manifest::PluginManifest;

/// The frozen contract 0.1.0 (`wit/0.1.0`), for plugins built against it.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "checkstack:plugin/plugin",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}
