//! What a compiled component imports and exports, by name: proof that a plugin asks for
//! nothing beyond the contract and the WASI interfaces Rust's std needs (all served by the
//! empty sandbox context).

use wasmtime::component::types::{ComponentExtern, ComponentItem};

use crate::runtime::{CompiledPlugin, Runtime};

/// One imported or exported instance and the functions it carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceUse {
    /// The interface name, e.g. `checkstack:plugin/sql@0.1.0`.
    pub name: String,
    /// Its functions, sorted.
    pub functions: Vec<String>,
}

fn describe<'a>(
    engine: &wasmtime::Engine,
    items: impl Iterator<Item = (&'a str, ComponentExtern<'a>)>,
) -> Vec<InterfaceUse> {
    let mut uses: Vec<InterfaceUse> = items
        .map(|(name, item)| {
            let mut functions: Vec<String> = match item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(engine)
                    .filter(|(_, i)| matches!(i.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(n, _)| n.to_owned())
                    .collect(),
                _ => Vec::new(),
            };
            functions.sort();
            InterfaceUse {
                name: name.to_owned(),
                functions,
            }
        })
        .collect();
    uses.sort_by(|a, b| a.name.cmp(&b.name));
    uses
}

/// The component's imports with their functions.
pub fn import_details(runtime: &Runtime, plugin: &CompiledPlugin) -> Vec<InterfaceUse> {
    let engine = runtime.engine().engine();
    let ty = plugin.component().component_type();
    describe(engine, ty.imports(engine))
}

/// The component's exports with their functions.
pub fn export_details(runtime: &Runtime, plugin: &CompiledPlugin) -> Vec<InterfaceUse> {
    let engine = runtime.engine().engine();
    let ty = plugin.component().component_type();
    describe(engine, ty.exports(engine))
}

/// The names of the component's imports, sorted.
pub fn imports(runtime: &Runtime, plugin: &CompiledPlugin) -> Option<Vec<String>> {
    Some(
        import_details(runtime, plugin)
            .into_iter()
            .map(|u| u.name)
            .collect(),
    )
}

/// The names of the component's exports, sorted.
pub fn exports(runtime: &Runtime, plugin: &CompiledPlugin) -> Option<Vec<String>> {
    Some(
        export_details(runtime, plugin)
            .into_iter()
            .map(|u| u.name)
            .collect(),
    )
}
