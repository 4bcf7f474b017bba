//! `slo-host openslo export|import` and `slo-host validate`: OpenSLO v1 out of and into the
//! plugin's database, and the offline check of OpenSLO and GitOps files for CI pipelines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{component_bytes, open_database, RunOptions};
use crate::gitops::{self, Applied};
use crate::host::{Caller, HostConfig};
use crate::openslo::documents::{self, DocumentError};
use crate::openslo::export::{self, Exported};
use crate::openslo::import::{self, Imported, GITOPS_KIND};
use crate::openslo::validate;
use crate::platform::Simulation;

/// The plugin in its simulated platform over the database the options name, with the
/// platform state saved there.
fn simulation(options: &RunOptions) -> anyhow::Result<Simulation> {
    let component = component_bytes(options.plugin.as_deref())?;
    let mut sim = Simulation::start(HostConfig::default(), open_database(options)?, &component)?;
    sim.restore_platform()?;
    sim.recover_outbox()?;
    Ok(sim)
}

/// Writes every objective as OpenSLO to `out` (stdout when `None`).
pub fn export(options: &RunOptions, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let sim = simulation(options)?;
    let answer = sim.host().call_rpc(
        "listObjectives",
        "{}",
        &Caller::user("openslo-export", &["slo.read"]),
    )?;
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    let conn = sim.database().checkout()?;
    let mut objectives = Vec::new();
    let mut names = BTreeMap::new();
    for row in answer["objectives"].as_array().into_iter().flatten() {
        let objective = row["objective"].clone();
        let id = objective["id"].as_str().unwrap_or_default().to_owned();
        let system = objective["systemId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        names.insert(system.clone(), sim.platform().system_name(&system));
        let name = gitops::name_of(&conn, GITOPS_KIND, &id)?.unwrap_or(id);
        objectives.push(Exported { name, objective });
    }
    let text = documents::to_yaml(&export::documents(&objectives, &names))
        .map_err(|e| anyhow::anyhow!("the export could not be written: {e}"))?;
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn report(errors: &[DocumentError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!("{} error(s)", errors.len());
    ExitCode::FAILURE
}

/// Creates and updates objectives (and catalog systems, for `Service` documents) from OpenSLO
/// files, through the plugin's GitOps path. Every document is checked before anything is
/// applied; a second import of the same files changes nothing.
pub fn import(options: &RunOptions, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let docs = match documents::read_files(files) {
        Ok(docs) => docs,
        Err(errors) => return Ok(report(&errors)),
    };
    let mut converted = Vec::new();
    let mut errors = Vec::new();
    for doc in &docs {
        match import::convert(doc) {
            Ok(c) => converted.push((doc, c)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Ok(report(&errors));
    }
    let mut sim = simulation(options)?;
    let (mut created, mut updated, mut unchanged, mut systems) = (0, 0, 0, 0);
    for (_, imported) in &converted {
        if let Imported::Service { id, name } = imported {
            if !sim.platform().has_system(id) {
                sim.add_system(id, name)?;
                systems += 1;
            }
        }
    }
    for (doc, imported) in &converted {
        let Imported::Objective(document) = imported else {
            continue;
        };
        let applied = gitops::apply(sim.host(), sim.database(), document)
            .map_err(|e| DocumentError::at(doc, "spec", e.to_string()));
        match applied {
            Ok(Applied::Created(_)) => created += 1,
            Ok(Applied::Updated(_)) => updated += 1,
            Ok(Applied::Unchanged(_)) => unchanged += 1,
            Err(e) => {
                sim.settle()?;
                return Ok(report(&[e]));
            }
        }
    }
    sim.settle()?;
    println!(
        "imported {} document(s): {created} objective(s) created, {updated} updated, {unchanged} unchanged; {systems} system(s) added",
        converted.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks OpenSLO and GitOps files offline; non-zero with every error when one is refused.
pub fn validate(plugin: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let docs = match documents::read_files(files) {
        Ok(docs) => docs,
        Err(errors) => return Ok(report(&errors)),
    };
    let host = crate::host::PluginHost::new(
        HostConfig::default(),
        crate::capabilities::sql::Database::in_memory()?,
    )?;
    let loaded = host.load_bytes(&component_bytes(plugin)?)?;
    let schema = loaded
        .manifest()
        .gitops_kinds
        .iter()
        .find(|k| k.kind == GITOPS_KIND)
        .map(|k| serde_json::from_str(&k.spec_schema))
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("the plugin declares no GitOps {GITOPS_KIND} kind"))?;
    let errors = validate::validate(&docs, &schema);
    if errors.is_empty() {
        println!("{} document(s) valid", docs.len());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(report(&errors))
    }
}
