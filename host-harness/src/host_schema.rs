//! The host's own tables (`_host_*`), created and changed by ordered host migrations, on
//! either engine.
//!
//! Each migration is written once, in SQLite's spelling, and translated for PostgreSQL by
//! [`crate::capabilities::sql::Dialect::host_schema`]. Applied ids are recorded in
//! `_host_schema`; pending ones run in one write transaction (so two processes starting on one
//! database apply each exactly once). A migration is never edited once released: a later
//! change is a new migration. The first ones use `IF NOT EXISTS`, so a database made before
//! this table existed adopts them without change.

use crate::capabilities::sql::{SqlConnection, SqlError};
use crate::capabilities::{entities, outbox, queue, scheduler, sql};
use crate::platform::persistence;
use crate::sql_params;

/// One host migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMigration {
    /// Stable id, recorded once applied.
    pub id: &'static str,
    /// Statements in SQLite's spelling.
    pub sql: &'static str,
}

/// Every host migration, in the order they apply.
pub const MIGRATIONS: &[HostMigration] = &[
    HostMigration {
        id: "0001_plugin_migrations",
        sql: sql::PLUGIN_MIGRATIONS_TABLE,
    },
    HostMigration {
        id: "0002_queue",
        sql: queue::SCHEMA,
    },
    HostMigration {
        id: "0003_recurring_jobs",
        sql: scheduler::SCHEMA,
    },
    HostMigration {
        id: "0004_outbox",
        sql: outbox::SCHEMA,
    },
    HostMigration {
        id: "0005_entity_log",
        sql: entities::log::SCHEMA,
    },
    HostMigration {
        id: "0006_platform",
        sql: persistence::SCHEMA,
    },
    HostMigration {
        id: "0007_cluster",
        sql: crate::cluster::schema::SCHEMA,
    },
    HostMigration {
        id: "0008_gitops",
        sql: crate::gitops::SCHEMA,
    },
    HostMigration {
        id: "0009_platform_maintenance",
        sql: persistence::MAINTENANCE_SCHEMA,
    },
    HostMigration {
        id: "0010_automations",
        sql: crate::platform::simulation::timers::SCHEMA,
    },
];

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS _host_schema (
    id TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)";

fn applied(conn: &SqlConnection) -> Result<Vec<String>, SqlError> {
    conn.query("SELECT id FROM _host_schema", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Applies the pending host migrations on `conn` (outside any transaction); answers the ids
/// applied now. Cheap when nothing is pending: one read.
pub fn migrate(conn: &SqlConnection) -> Result<Vec<&'static str>, SqlError> {
    conn.create_host_tables(LEDGER)?;
    let done = applied(conn)?;
    if MIGRATIONS.iter().all(|m| done.iter().any(|d| d == m.id)) {
        return Ok(Vec::new());
    }
    conn.in_write_transaction(|conn| {
        // Another process may have applied them meanwhile: decide under the write lock.
        let done = applied(conn)?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut now_applied = Vec::new();
        for migration in MIGRATIONS {
            if done.iter().any(|d| d == migration.id) {
                continue;
            }
            conn.create_host_tables(migration.sql)?;
            conn.execute(
                "INSERT INTO _host_schema (id, applied_at) VALUES (?, ?)",
                sql_params![migration.id, now],
            )?;
            now_applied.push(migration.id);
        }
        Ok(now_applied)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::sql::Database;

    #[test]
    fn migrations_apply_once_and_create_every_host_table() {
        let db = Database::in_memory().unwrap();
        let conn = db.checkout().unwrap();
        assert_eq!(migrate(&conn).unwrap().len(), MIGRATIONS.len());
        assert!(migrate(&conn).unwrap().is_empty());
        let tables = conn.table_names().unwrap();
        for table in [
            "_host_migrations",
            "_host_queue_jobs",
            "_host_recurring_jobs",
            "_host_outbox",
            "_host_entity_changes",
            "_host_platform_systems",
            "_host_schema",
            "_host_instances",
            "_host_cron_firings",
        ] {
            assert!(
                tables.iter().any(|t| t == table),
                "{table} missing: {tables:?}"
            );
        }
    }

    #[test]
    fn ids_are_unique() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert!(MIGRATIONS[..i].iter().all(|e| e.id != m.id), "{}", m.id);
        }
    }
}
