//! `slo-host inspect`: a component's manifest, imports and exports.

use std::path::Path;
use std::process::ExitCode;

use comfy_table::Table;
use serde_json::json;

use super::component_bytes;
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};
use crate::inspect::{export_details, import_details};

/// Prints what the component asks for and offers.
pub fn run(plugin: Option<&Path>, as_json: bool) -> anyhow::Result<ExitCode> {
    let host = PluginHost::new(HostConfig::default(), Database::in_memory()?)?;
    let bytes = component_bytes(plugin)?;
    let compiled = host.runtime().compile(&bytes)?;
    let manifest = host.runtime().describe(&compiled, host.services())?;
    let imports = import_details(host.runtime(), &compiled);
    let exports = export_details(host.runtime(), &compiled);
    if as_json {
        let out = json!({
            "digest": compiled.digest(),
            "sizeBytes": bytes.len(),
            "manifest": manifest,
            "imports": imports,
            "exports": exports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "plugin {} {} (contract {})",
        manifest.id, manifest.version, manifest.contract_version
    );
    println!("{} , {} bytes", compiled.digest(), bytes.len());
    for (title, uses) in [("imports", &imports), ("exports", &exports)] {
        let mut table = Table::new();
        table.set_header(vec![title, "functions"]);
        for u in uses {
            table.add_row(vec![u.name.clone(), u.functions.join(", ")]);
        }
        println!("{table}");
    }
    let mut procedures = Table::new();
    procedures.set_header(vec!["procedure", "kind", "access", "public"]);
    for p in &manifest.procedures {
        procedures.add_row(vec![
            p.name.clone(),
            format!("{:?}", p.kind).to_lowercase(),
            p.access.join(", "),
            p.public.to_string(),
        ]);
    }
    println!("{procedures}");
    let migrations: Vec<&str> = manifest.migrations.iter().map(|m| m.id.as_str()).collect();
    println!("migrations: {}", migrations.join(", "));
    Ok(ExitCode::SUCCESS)
}
