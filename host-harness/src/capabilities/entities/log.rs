//! The entity framework's durable records, in the host database: the change log (one row per
//! `ENTITY_CHANGED`, whose sequence gives every change its id) and the transition log of
//! host-contract.md §1.6 (one row per changed field; none for a tombstone).
//!
//! Both are written on the connection of the transaction that made the change, so they commit
//! or roll back with it (decisions §3: no gap between the write and its history).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capabilities::sql::{Database, SqlConnection, SqlError};
use crate::sql_params;

/// The change and transition logs (a host migration, see [`crate::host_schema`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_entity_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
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

/// Who made a change (host-contract.md §1.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeActor {
    /// `system`, `user`, `application` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Principal id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChangeActor {
    /// The platform itself (`SYSTEM_ACTOR`), the actor of every change a plugin requests.
    pub fn system() -> Self {
        ChangeActor {
            kind: "system".into(),
            id: "system".into(),
            name: Some("System".into()),
        }
    }
}

/// One `ENTITY_CHANGED` event, as the change queue carries it (host-contract.md §1.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// Entity kind.
    pub kind: String,
    /// Entity id.
    pub id: String,
    /// State before; `None` on create.
    pub prev: Option<Value>,
    /// State after; `None` for a tombstone.
    pub next: Option<Value>,
    /// Changed fields → next value (`null` when dropped); `{}` for a tombstone.
    pub delta: Value,
    /// Changed fields, sorted.
    pub changed_fields: Vec<String>,
    /// Who made it.
    pub actor: ChangeActor,
    /// Host clock, epoch ms.
    pub occurred_at: i64,
    /// `change-<n>`: unique, made once per change, kept across redeliveries.
    pub change_id: String,
}

/// Transition-log text of a field value: `null` for null or absent, a string as is, JSON else.
pub fn field_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Creates the tables.
pub fn ensure_schema(db: &Database) -> Result<(), SqlError> {
    crate::host_schema::migrate(&*db.checkout()?).map(drop)
}

/// A change about to be recorded; [`record`] gives it its id.
pub struct NewChange<'a> {
    /// Kind.
    pub kind: &'a str,
    /// Id.
    pub id: &'a str,
    /// State before.
    pub prev: Option<Value>,
    /// State after.
    pub next: Option<Value>,
    /// The diff's delta.
    pub delta: Value,
    /// The diff's fields.
    pub changed_fields: Vec<String>,
    /// Who.
    pub actor: ChangeActor,
    /// When.
    pub at: i64,
}

/// Records a change on `conn` (inside the caller's transaction): its change-log row and,
/// unless it is a tombstone, one transition row per changed field. Answers the event.
pub fn record(conn: &SqlConnection, change: NewChange<'_>) -> Result<ChangeEvent, SqlError> {
    let seq: i64 = conn
        .query_row(
            "INSERT INTO _host_entity_changes (kind, entity_id, occurred_at) VALUES (?, ?, ?) RETURNING seq",
            sql_params![change.kind, change.id, change.at],
        )?
        .ok_or_else(|| SqlError::Database("the change log returned no sequence".into()))?
        .get(0)?;
    let change_id = format!("change-{seq}");
    if let Some(next) = &change.next {
        for field in &change.changed_fields {
            let from = change.prev.as_ref().map(|p| field_text(p.get(field)));
            conn.execute(
                "INSERT INTO _host_entity_transitions (kind, entity_id, field, from_value, to_value, transitioned_at) VALUES (?, ?, ?, ?, ?, ?)",
                sql_params![
                    change.kind,
                    change.id,
                    field,
                    from,
                    field_text(next.get(field)),
                    change.at
                ],
            )?;
        }
    }
    Ok(ChangeEvent {
        kind: change.kind.into(),
        id: change.id.into(),
        prev: change.prev,
        next: change.next,
        delta: change.delta,
        changed_fields: change.changed_fields,
        actor: change.actor,
        occurred_at: change.at,
        change_id,
    })
}

/// How many transition rows an entity field has.
pub fn transition_count(db: &Database, kind: &str, id: &str, field: &str) -> Result<i64, SqlError> {
    count(
        db,
        "SELECT COUNT(*) FROM _host_entity_transitions WHERE kind = ? AND entity_id = ? AND field = ?",
        sql_params![kind, id, field],
    )
}

/// How many changes were recorded for an entity.
pub fn change_count(db: &Database, kind: &str, id: &str) -> Result<i64, SqlError> {
    count(
        db,
        "SELECT COUNT(*) FROM _host_entity_changes WHERE kind = ? AND entity_id = ?",
        sql_params![kind, id],
    )
}

fn count(
    db: &Database,
    sql: &str,
    params: &[crate::capabilities::sql::SqlValue],
) -> Result<i64, SqlError> {
    Ok(db
        .checkout()?
        .query_row(sql, params)?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_gets_an_id_and_one_transition_per_field_but_a_tombstone_none() {
        let db = Database::in_memory().unwrap();
        ensure_schema(&db).unwrap();
        let conn = db.checkout().unwrap();
        let change = |prev: Option<Value>, next: Option<Value>, fields: &[&str]| NewChange {
            kind: "k",
            id: "e",
            prev,
            next,
            delta: json!({}),
            changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            actor: ChangeActor::system(),
            at: 5,
        };
        let first = record(
            &conn,
            change(None, Some(json!({"a": 1, "b": "x"})), &["a", "b"]),
        )
        .unwrap();
        let second = record(
            &conn,
            change(Some(json!({"a": 1, "b": "x"})), None, &["a", "b"]),
        )
        .unwrap();
        assert_ne!(first.change_id, second.change_id);
        drop(conn);
        assert_eq!(transition_count(&db, "k", "e", "a").unwrap(), 1);
        assert_eq!(change_count(&db, "k", "e").unwrap(), 2);
        let row = db
            .checkout()
            .unwrap()
            .query_row(
                "SELECT from_value, to_value FROM _host_entity_transitions WHERE field = 'b'",
                &[],
            )
            .unwrap()
            .unwrap();
        let (from, to): (Option<String>, String) = (row.get(0).unwrap(), row.get(1).unwrap());
        assert_eq!((from, to.as_str()), (None, "x"));
    }

    #[test]
    fn field_values_serialise_as_the_log_stores_them() {
        assert_eq!(field_text(None), "null");
        assert_eq!(field_text(Some(&json!(null))), "null");
        assert_eq!(field_text(Some(&json!("ok"))), "ok");
        assert_eq!(field_text(Some(&json!(12.5))), "12.5");
        assert_eq!(field_text(Some(&json!({"a": [1]}))), "{\"a\":[1]}");
    }
}
