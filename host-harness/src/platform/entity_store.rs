//! What the entity framework last published per entity, and the transition log
//! (host-contract.md §1.6), in the host database.
//!
//! A plugin-backed entity whose state is computed (like `slo`) changes through the plugin's
//! own writes, which happen before it requests the mutation. The framework therefore diffs the
//! applied state against the last state it *published* (what watchers have seen), kept here
//! durably so that a restart does not announce every entity again.

use rusqlite::OptionalExtension;
use serde_json::Value;

use crate::capabilities::sql::{Database, SqlError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_entity_states (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS _host_entity_transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field TEXT NOT NULL,
    from_value TEXT,
    to_value TEXT NOT NULL,
    transitioned_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS _host_entity_transitions_lookup
    ON _host_entity_transitions (kind, entity_id, field, transitioned_at);
";

fn storage(e: rusqlite::Error) -> SqlError {
    SqlError::classify(e, None)
}

/// Transition-log text of a field value: `null` for null or absent, a string as is, JSON else.
pub fn field_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The store.
pub struct EntityStore {
    db: Database,
}

impl EntityStore {
    /// Opens the store in `db`.
    pub fn open(db: Database) -> Result<Self, SqlError> {
        db.checkout()?
            .raw()
            .execute_batch(SCHEMA)
            .map_err(storage)?;
        Ok(EntityStore { db })
    }

    /// The last published state of an entity.
    pub fn published(&self, kind: &str, id: &str) -> Result<Option<Value>, SqlError> {
        let text: Option<String> = self
            .db
            .checkout()?
            .raw()
            .query_row(
                "SELECT state FROM _host_entity_states WHERE kind = ? AND id = ?",
                [kind, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Records a published change in one transaction: the new last state (or its removal) and,
    /// unless it is a tombstone, one transition row per changed field.
    pub fn record(
        &self,
        kind: &str,
        id: &str,
        prev: Option<&Value>,
        next: Option<&Value>,
        changed_fields: &[String],
        at: i64,
    ) -> Result<(), SqlError> {
        let conn = self.db.checkout()?;
        let raw = conn.raw();
        raw.execute_batch("BEGIN IMMEDIATE").map_err(storage)?;
        let result = (|| {
            match next {
                Some(state) => {
                    raw.execute(
                        "INSERT INTO _host_entity_states (kind, id, state) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state",
                        rusqlite::params![kind, id, state.to_string()],
                    )?;
                    for field in changed_fields {
                        let from = prev.map(|p| field_text(p.get(field)));
                        raw.execute(
                            "INSERT INTO _host_entity_transitions (kind, entity_id, field, from_value, to_value, transitioned_at) VALUES (?, ?, ?, ?, ?, ?)",
                            rusqlite::params![kind, id, field, from, field_text(state.get(field)), at],
                        )?;
                    }
                }
                None => {
                    raw.execute(
                        "DELETE FROM _host_entity_states WHERE kind = ? AND id = ?",
                        [kind, id],
                    )?;
                }
            }
            Ok::<(), rusqlite::Error>(())
        })();
        match result {
            Ok(()) => raw.execute_batch("COMMIT").map_err(storage),
            Err(e) => {
                let _ = raw.execute_batch("ROLLBACK");
                Err(storage(e))
            }
        }
    }

    /// How many transition rows an entity field has (for tests and reports).
    pub fn transition_count(&self, kind: &str, id: &str, field: &str) -> Result<i64, SqlError> {
        self.db
            .checkout()?
            .raw()
            .query_row(
                "SELECT COUNT(*) FROM _host_entity_transitions WHERE kind = ? AND entity_id = ? AND field = ?",
                [kind, id, field],
                |r| r.get(0),
            )
            .map_err(storage)
    }
}
