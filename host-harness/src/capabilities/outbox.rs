//! The transactional outbox (decisions A2).
//!
//! Everything an invocation asks the host to publish (queue jobs, hook emits, signals, entity
//! mutation requests, cache writes and invalidations) is buffered here and handed on only after
//! the invocation's transaction commits. A rollback, an `err` result or a trap discards it, and
//! `rollback-to` a savepoint discards what was buffered after the savepoint.
//!
//! The entries that leave the process (everything but cache writes) are also written to
//! `_host_outbox` *in the invocation's transaction* ([`persist`]): they exist exactly when the
//! invocation's writes do. Whoever routes an entry deletes its row ([`forget`]) in the
//! transaction that carries it on (the queue rows it enqueues, the entity change it makes), and
//! a host that starts over a database routes the rows it finds ([`pending`]): a crash between an
//! invocation's commit and the routing of what it published loses nothing.

use crate::capabilities::sql::{SqlConnection, SqlError};
use crate::sql_params;
use serde::{Deserialize, Serialize};

/// An entity operation requested by a plugin, as the framework will hand it back to `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "op", rename_all = "kebab-case")]
pub enum EntityOperation {
    /// Create or update; the JSON operation.
    Mutate(String),
    /// Remove (tombstone); the JSON operation.
    Remove(String),
}

/// One buffered side effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "kebab-case")]
pub enum OutboxEntry {
    /// `queue.enqueue`.
    Enqueue {
        /// Queue name.
        queue: String,
        /// JSON payload.
        payload: String,
        /// The job id (given for de-duplication, or made by the host).
        job_id: String,
        /// Whether `job_id` was given by the plugin (and so de-duplicates).
        dedupe: bool,
        /// Delay after publication.
        delay_ms: u64,
        /// Priority (higher first).
        priority: i32,
    },
    /// `hooks.emit`.
    Hook {
        /// Qualified hook id.
        hook_id: String,
        /// JSON payload.
        payload: String,
    },
    /// `signals.broadcast`.
    Signal {
        /// Signal id.
        signal_id: String,
        /// JSON payload.
        payload: String,
    },
    /// `entities.request`.
    EntityRequest {
        /// Entity kind.
        kind: String,
        /// Entity id.
        id: String,
        /// What to do.
        op: EntityOperation,
    },
    /// `cache.set`.
    CacheSet {
        /// Key.
        key: String,
        /// JSON value.
        value: String,
        /// Time to live.
        ttl_ms: u64,
    },
    /// `cache.invalidate`.
    CacheInvalidate {
        /// Keys to drop.
        keys: Vec<String>,
    },
}

/// The buffer of one invocation.
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    entries: Vec<OutboxEntry>,
}

impl Outbox {
    /// Buffers `entry`.
    pub fn push(&mut self, entry: OutboxEntry) {
        self.entries.push(entry);
    }

    /// How many entries are buffered: a mark a savepoint can roll back to.
    pub fn mark(&self) -> usize {
        self.entries.len()
    }

    /// Discards every entry buffered after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        self.entries.truncate(mark);
    }

    /// The buffered entries, in the order they were made.
    pub fn entries(&self) -> &[OutboxEntry] {
        &self.entries
    }

    /// Takes the entries for publication.
    pub fn into_entries(self) -> Vec<OutboxEntry> {
        self.entries
    }

    /// What the invocation's own pending cache writes say about `key`: `Some(Some(v))` if it
    /// set it, `Some(None)` if it invalidated it, `None` if it did neither (read the cache).
    pub fn pending_cache_value(&self, key: &str) -> Option<Option<String>> {
        self.entries.iter().rev().find_map(|e| match e {
            OutboxEntry::CacheSet { key: k, value, .. } if k == key => Some(Some(value.clone())),
            OutboxEntry::CacheInvalidate { keys } if keys.iter().any(|k| k == key) => Some(None),
            _ => None,
        })
    }
}

impl OutboxEntry {
    /// Whether the entry is a cache write, which the host applies at publication and nobody
    /// routes.
    pub fn is_cache_write(&self) -> bool {
        matches!(
            self,
            OutboxEntry::CacheSet { .. } | OutboxEntry::CacheInvalidate { .. }
        )
    }

    /// Whether the entry must survive a crash: queue jobs, hooks and entity requests. Cache
    /// writes live and die with the process's cache, and signals are fire-and-forget
    /// broadcasts to whoever listens now (at most once, as on the platform).
    pub fn is_durable(&self) -> bool {
        matches!(
            self,
            OutboxEntry::Enqueue { .. }
                | OutboxEntry::Hook { .. }
                | OutboxEntry::EntityRequest { .. }
        )
    }
}

/// The durable outbox's table (a host migration, see [`crate::host_schema`]).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _host_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    export TEXT NOT NULL,
    entry TEXT NOT NULL
)";

/// Creates the durable outbox table (idempotent).
pub fn create_table(conn: &SqlConnection) -> Result<(), SqlError> {
    crate::host_schema::migrate(conn).map(drop)
}

/// A durable entry not yet routed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    /// Its row.
    pub seq: i64,
    /// When its invocation published it, epoch ms.
    pub at_ms: i64,
    /// The plugin.
    pub plugin: String,
    /// The export that produced it.
    pub export: String,
    /// The entry.
    pub entry: OutboxEntry,
}

/// Writes the durable `entries` on `conn`, inside the invocation's open transaction; answers
/// each entry's row (`None` for cache writes, which are not kept).
pub fn persist(
    conn: &SqlConnection,
    at_ms: i64,
    plugin: &str,
    export: &str,
    entries: &[OutboxEntry],
) -> Result<Vec<Option<i64>>, String> {
    let mut seqs = Vec::with_capacity(entries.len());
    for entry in entries {
        if !entry.is_durable() {
            seqs.push(None);
            continue;
        }
        let text = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        let seq = conn
            .query_row(
                "INSERT INTO _host_outbox (at_ms, plugin, export, entry) VALUES (?, ?, ?, ?) RETURNING seq",
                sql_params![at_ms, plugin, export, text],
            )
            .and_then(|row| {
                row.ok_or_else(|| SqlError::Database("no sequence returned".into()))?
                    .get::<i64>(0)
            })
            .map_err(|e| format!("the outbox cannot be written: {e}"))?;
        seqs.push(Some(seq));
    }
    Ok(seqs)
}

/// Deletes the rows of routed entries, on `conn` (inside the transaction that routed them). A
/// row already gone was routed by another instance (it swept it up as an orphan): that is an
/// error, so the transaction that would route it a second time rolls back.
pub fn forget(conn: &SqlConnection, seqs: &[i64]) -> Result<(), SqlError> {
    for seq in seqs {
        let deleted = conn.execute("DELETE FROM _host_outbox WHERE seq = ?", sql_params![*seq])?;
        if deleted == 0 {
            return Err(SqlError::Constraint(format!(
                "outbox row {seq} was already routed"
            )));
        }
    }
    Ok(())
}

/// Whether outbox row `seq` is still waiting to be routed.
pub fn exists(conn: &SqlConnection, seq: i64) -> Result<bool, SqlError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM _host_outbox WHERE seq = ?",
            sql_params![seq],
        )?
        .is_some())
}

/// The newest row written before `before_ms` (0 when there is none): in a cluster, rows that
/// old were left by an instance that died between its commit and its routing.
pub fn last_seq_before(conn: &SqlConnection, before_ms: i64) -> Result<i64, SqlError> {
    Ok(conn
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM _host_outbox WHERE at_ms < ?",
            sql_params![before_ms],
        )?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0))
}

/// The newest outbox row (0 when there is none): rows up to it were written before this call.
pub fn last_seq(conn: &SqlConnection) -> Result<i64, SqlError> {
    Ok(conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM _host_outbox", &[])?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0))
}

/// Every durable entry not yet routed up to row `up_to`, oldest first (what a crash left
/// between commits and routing). An unreadable row is reported, never skipped silently.
pub fn pending(conn: &SqlConnection, up_to: i64) -> Result<Vec<PendingEntry>, String> {
    let rows = conn
        .query(
            "SELECT seq, at_ms, plugin, export, entry FROM _host_outbox WHERE seq <= ? ORDER BY seq",
            sql_params![up_to],
        )
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let read = || -> Result<(i64, i64, String, String, String), SqlError> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        };
        let (seq, at_ms, plugin, export, text) = read().map_err(|e| e.to_string())?;
        let entry = serde_json::from_str(&text)
            .map_err(|e| format!("outbox row {seq} is unreadable: {e}"))?;
        out.push(PendingEntry {
            seq,
            at_ms,
            plugin,
            export,
            entry,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_entries_round_trip_and_cache_writes_are_not_kept() {
        let db = crate::capabilities::sql::Database::in_memory().unwrap();
        let conn = db.checkout().unwrap();
        create_table(&conn).unwrap();
        let entries = vec![
            hook(1),
            OutboxEntry::Signal {
                signal_id: "s".into(),
                payload: "{}".into(),
            },
            OutboxEntry::EntityRequest {
                kind: "slo".into(),
                id: "o1".into(),
                op: EntityOperation::Mutate("{}".into()),
            },
        ];
        let seqs = persist(&conn, 5, "slo", "rpc.handle(x)", &entries).unwrap();
        assert!(seqs[0].is_some() && seqs[1].is_none() && seqs[2].is_some());
        assert_eq!(last_seq(&conn).unwrap(), seqs[2].unwrap());
        assert_eq!(pending(&conn, seqs[0].unwrap()).unwrap().len(), 1);
        let left = pending(&conn, i64::MAX).unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].entry, entries[0]);
        assert_eq!(left[1].entry, entries[2]);
        assert_eq!(
            (left[1].at_ms, left[1].export.as_str()),
            (5, "rpc.handle(x)")
        );
        forget(&conn, &[left[0].seq]).unwrap();
        assert_eq!(pending(&conn, i64::MAX).unwrap().len(), 1);
    }

    fn hook(n: u32) -> OutboxEntry {
        OutboxEntry::Hook {
            hook_id: format!("h{n}"),
            payload: "{}".into(),
        }
    }

    #[test]
    fn rollback_to_mark_discards_only_later_entries() {
        let mut outbox = Outbox::default();
        outbox.push(hook(1));
        let mark = outbox.mark();
        outbox.push(hook(2));
        outbox.rollback_to(mark);
        outbox.push(hook(3));
        assert_eq!(outbox.into_entries(), vec![hook(1), hook(3)]);
    }

    #[test]
    fn pending_cache_value_sees_the_latest_write() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.pending_cache_value("k"), None);
        outbox.push(OutboxEntry::CacheSet {
            key: "k".into(),
            value: "1".into(),
            ttl_ms: 10,
        });
        assert_eq!(outbox.pending_cache_value("k"), Some(Some("1".into())));
        outbox.push(OutboxEntry::CacheInvalidate {
            keys: vec!["k".into()],
        });
        assert_eq!(outbox.pending_cache_value("k"), Some(None));
    }
}
