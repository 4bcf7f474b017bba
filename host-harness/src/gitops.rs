//! GitOps documents applied to the serving plugin (the `gitops` exports), and what the host
//! records of them: per (kind, name), the entity id the plugin answered and the spec it
//! applied. Applying the same document again changes nothing (the plugin is not even called);
//! a changed spec updates the recorded entity.

use serde_json::Value;

use crate::capabilities::sql::{Database, SqlConnection, SqlError};
use crate::host::{GitopsDocument, PluginHost};
use crate::runtime::InvocationError;
use crate::sql_params;

/// The record's table (host migration `0008_gitops`).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_gitops_entities (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
";

/// What applying a document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new entity, with its id.
    Created(String),
    /// The recorded entity, changed.
    Updated(String),
    /// The same spec was applied before: nothing was done.
    Unchanged(String),
}

/// Why a document could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    /// The record could not be read.
    #[error("the GitOps record: {0}")]
    Storage(#[from] SqlError),
    /// The plugin refused the document or failed.
    #[error("{0}")]
    Plugin(#[from] InvocationError),
}

/// The spec as the record keeps it: canonical JSON (keys sorted), so equal specs compare equal.
fn canonical(spec: &str) -> String {
    serde_json::from_str::<Value>(spec).map_or_else(|_| spec.to_owned(), |v| v.to_string())
}

/// Records that `document` is the entity `entity_id`, on `conn` (in the reconcile's
/// transaction).
pub fn record(
    conn: &SqlConnection,
    document: &GitopsDocument,
    entity_id: &str,
) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_gitops_entities (kind, name, entity_id, spec) VALUES (?, ?, ?, ?) \
         ON CONFLICT (kind, name) DO UPDATE SET entity_id = excluded.entity_id, spec = excluded.spec",
        sql_params![&document.kind, &document.name, entity_id, canonical(&document.spec)],
    )?;
    Ok(())
}

/// The recorded (entity id, spec) of the document `kind`/`name`.
fn recorded(
    conn: &SqlConnection,
    kind: &str,
    name: &str,
) -> Result<Option<(String, String)>, SqlError> {
    conn.query_row(
        "SELECT entity_id, spec FROM _host_gitops_entities WHERE kind = ? AND name = ?",
        sql_params![kind, name],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

/// The document name recorded for entity `entity_id` of `kind`, if it came from one.
pub fn name_of(
    conn: &SqlConnection,
    kind: &str,
    entity_id: &str,
) -> Result<Option<String>, SqlError> {
    conn.query_row(
        "SELECT name FROM _host_gitops_entities WHERE kind = ? AND entity_id = ?",
        sql_params![kind, entity_id],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// Applies `document` to the serving plugin: nothing when the recorded spec is the same,
/// else `gitops.reconcile` with the recorded entity id (none for a new document).
pub fn apply(
    host: &PluginHost,
    db: &Database,
    document: &GitopsDocument,
) -> Result<Applied, GitopsError> {
    crate::host_schema::migrate(&*db.checkout()?)?;
    let before = recorded(&*db.checkout()?, &document.kind, &document.name)?;
    if let Some((id, spec)) = &before {
        if *spec == canonical(&document.spec) {
            return Ok(Applied::Unchanged(id.clone()));
        }
    }
    let id = host.gitops_reconcile(document, before.as_ref().map(|(id, _)| id.as_str()))?;
    Ok(match before {
        Some(_) => Applied::Updated(id),
        None => Applied::Created(id),
    })
}
