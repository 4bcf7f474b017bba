//! Keeping the in-memory platform of one cluster instance equal to the platform state in the
//! shared database. Every platform change made in a cluster moves a version row in the same
//! transaction (`_host_platform_version`, see `simulation::cluster_sync`) and notes in a
//! journal which system it changed; an instance whose loaded version is behind reads those
//! systems' rows and the new health history rows (or everything, when the journal cannot
//! say). The host asks before every invocation, after the invocation's
//! transaction began: a write transaction holds the cluster's write lock by then, so the
//! plugin sees every platform change committed before it, never an older state.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;

use super::persistence;
use super::HealthStatus;
use crate::capabilities::sql::{Database, SqlConnection, SqlError};

/// A platform's link to the shared database.
#[derive(Debug)]
pub struct PlatformSync {
    db: Database,
    /// The version the in-memory state was loaded at (or made at, by a local change).
    loaded: AtomicI64,
    /// The last health history row the in-memory state holds.
    history_seq: AtomicI64,
}

/// What a refresh must read.
enum Catchup {
    /// Nothing changed.
    None,
    /// Only these systems' rows (and new history rows) changed.
    Systems(Vec<String>),
    /// Something the journal does not narrow down: read everything.
    Everything,
}

/// How many journal entries are kept (a refresh further behind reads everything).
const JOURNAL_KEPT: i64 = 10_000;

/// In a cluster, records in the journal that `version` changed `system` (`None`: something
/// else, such as dependencies, overrides or a deletion), on `conn` inside the change's
/// transaction; now and then trims old entries.
pub fn journal(conn: &SqlConnection, version: i64, system: Option<&str>) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_platform_journal (version, system_id) VALUES (?, ?)",
        crate::sql_params![version, system],
    )?;
    if version % 1_000 == 0 {
        conn.execute(
            "DELETE FROM _host_platform_journal WHERE version <= ?",
            crate::sql_params![version - JOURNAL_KEPT],
        )?;
    }
    Ok(())
}

impl PlatformSync {
    /// A link to `db`; the first refresh loads.
    pub fn new(db: Database) -> Self {
        PlatformSync {
            db,
            loaded: AtomicI64::new(-1),
            history_seq: AtomicI64::new(0),
        }
    }

    /// The version the in-memory state reflects.
    pub fn loaded(&self) -> i64 {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Records that the in-memory state reflects `version`.
    pub fn set_loaded(&self, version: i64) {
        self.loaded.store(version, Ordering::SeqCst);
    }

    /// Records that a change this instance made (in memory, then in the database) committed
    /// as `version`. Called under the platform lock, so the newest history row is the change's
    /// own: it is already in memory, and a later refresh must not append it again.
    pub fn committed_locally(&self, version: i64) -> Result<(), SqlError> {
        let conn = self.db.checkout()?;
        let last: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM _host_platform_history",
                &[],
            )?
            .map(|r| r.get(0))
            .transpose()?
            .unwrap_or(0);
        self.history_seq.store(last, Ordering::SeqCst);
        self.set_loaded(version);
        Ok(())
    }

    /// Brings the in-memory state up to the stored version, in one read when nothing changed:
    /// the systems the journal names (and the new history rows) when it can, else everything
    /// through `restore`. Answers the version the state reflects afterwards.
    pub fn refresh(
        &self,
        restore: impl FnOnce(Value) -> Result<(), String>,
        apply: impl FnOnce(&[(String, Option<(String, HealthStatus)>)], &[(String, i64, HealthStatus)]),
    ) -> Result<i64, String> {
        let conn = self.db.checkout().map_err(|e| e.to_string())?;
        let loaded = self.loaded();
        let (stored, catchup) = self.catchup(&conn, loaded).map_err(|e| e.to_string())?;
        match catchup {
            Catchup::None => {}
            Catchup::Systems(ids) => {
                let mut systems = Vec::with_capacity(ids.len());
                for id in ids {
                    let saved = persistence::load_system(&conn, &id).map_err(|e| e.to_string())?;
                    systems.push((id, saved));
                }
                let rows =
                    persistence::history_since(&conn, self.history_seq.load(Ordering::SeqCst))
                        .map_err(|e| e.to_string())?;
                if let Some((seq, ..)) = rows.last() {
                    self.history_seq.store(*seq, Ordering::SeqCst);
                }
                let history: Vec<(String, i64, HealthStatus)> = rows
                    .into_iter()
                    .map(|(_, id, at, status)| (id, at, status))
                    .collect();
                apply(&systems, &history);
            }
            Catchup::Everything => {
                if let Some((saved, seq)) =
                    persistence::load_at(&conn).map_err(|e| e.to_string())?
                {
                    restore(saved)?;
                    self.history_seq.store(seq, Ordering::SeqCst);
                }
            }
        }
        self.set_loaded(stored);
        Ok(stored)
    }

    /// The stored version and what changed since `loaded`, in one query.
    fn catchup(&self, conn: &SqlConnection, loaded: i64) -> Result<(i64, Catchup), SqlError> {
        let rows = conn.query(
            "SELECT v.version, j.version, j.system_id FROM _host_platform_version v \
             LEFT JOIN _host_platform_journal j ON j.version > ? WHERE v.id = 1 ORDER BY j.version",
            crate::sql_params![loaded],
        )?;
        let Some(first) = rows.first() else {
            // No change was ever recorded: the state is what the tables hold.
            let catchup = if loaded < 0 {
                Catchup::Everything
            } else {
                Catchup::None
            };
            return Ok((0, catchup));
        };
        let stored: i64 = first.get(0)?;
        if stored == loaded {
            return Ok((stored, Catchup::None));
        }
        if loaded < 0 {
            return Ok((stored, Catchup::Everything));
        }
        let mut expected = loaded + 1;
        let mut systems = Vec::new();
        for row in &rows {
            let (version, system): (Option<i64>, Option<String>) = (row.get(1)?, row.get(2)?);
            match (version, system) {
                (Some(v), Some(id)) if v == expected => {
                    if !systems.contains(&id) {
                        systems.push(id);
                    }
                    expected += 1;
                }
                _ => return Ok((stored, Catchup::Everything)),
            }
        }
        if expected <= stored {
            // The journal was trimmed past what this instance has.
            return Ok((stored, Catchup::Everything));
        }
        Ok((stored, Catchup::Systems(systems)))
    }
}
