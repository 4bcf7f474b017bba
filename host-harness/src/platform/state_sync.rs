//! Keeping the in-memory platform of one cluster instance equal to the platform state in the
//! shared database. Every platform change made in a cluster moves a version row in the same
//! transaction (`_host_platform_version`, compared and set, see
//! `simulation::cluster_sync`); an instance re-reads the state whenever the version differs
//! from the one it loaded. The host asks before every invocation, after the invocation's
//! transaction began: a write transaction holds the cluster's write lock by then, so the
//! plugin sees every platform change committed before it, never an older state.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;

use super::persistence;
use crate::capabilities::sql::{Database, SqlConnection, SqlError};

/// The platform state's version in the database (0 before any cluster change).
pub fn stored_version(conn: &SqlConnection) -> Result<i64, SqlError> {
    Ok(conn
        .query_row(
            "SELECT version FROM _host_platform_version WHERE id = 1",
            &[],
        )?
        .map(|r| r.get::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// A platform's link to the shared database.
#[derive(Debug)]
pub struct PlatformSync {
    db: Database,
    /// The version the in-memory state was loaded at (or made at, by a local change).
    loaded: AtomicI64,
}

impl PlatformSync {
    /// A link to `db`; the first refresh loads.
    pub fn new(db: Database) -> Self {
        PlatformSync {
            db,
            loaded: AtomicI64::new(-1),
        }
    }

    /// The version the in-memory state reflects.
    pub fn loaded(&self) -> i64 {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Records that the in-memory state reflects `version` (a local change committed it).
    pub fn set_loaded(&self, version: i64) {
        self.loaded.store(version, Ordering::SeqCst);
    }

    /// Reloads through `restore` when the stored version differs from the loaded one; answers
    /// the version the state reflects afterwards. One read when nothing changed.
    pub fn refresh(
        &self,
        restore: impl FnOnce(Value) -> Result<(), String>,
    ) -> Result<i64, String> {
        let conn = self.db.checkout().map_err(|e| e.to_string())?;
        let stored = stored_version(&conn).map_err(|e| e.to_string())?;
        if stored == self.loaded() {
            return Ok(stored);
        }
        // Read the version first: a change committed during the load makes the next refresh
        // load again, never the other way round.
        if let Some(saved) = persistence::load(&conn).map_err(|e| e.to_string())? {
            restore(saved)?;
        }
        self.set_loaded(stored);
        Ok(stored)
    }
}
