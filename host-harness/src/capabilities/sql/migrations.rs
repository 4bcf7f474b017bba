//! Plugin schema migrations: applied in manifest order, each once, all pending ones of a load
//! in one transaction, recorded with a checksum in the host table `_host_migrations`.
//!
//! A failing migration rolls the whole load's migrations back (the database is left exactly as
//! it was) and refuses the load. An applied migration whose SQL has changed also refuses the
//! load: released migrations are immutable. Migrations the manifest no longer lists are
//! tolerated, so that rolling back to an older plugin version keeps working (migrations must
//! therefore be additive).

use sha2::{Digest, Sha256};

use super::error::SqlError;
use super::pool::Database;

/// One migration from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSpec {
    /// Stable id.
    pub id: String,
    /// One or more statements.
    pub sql: String,
}

/// What a migration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Ids applied now, in order.
    pub applied: Vec<String>,
    /// How many were already applied before.
    pub already_applied: usize,
}

/// Why migrations refused a load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// A migration's SQL failed; nothing of this run was kept.
    #[error("migration {id} of plugin {plugin} failed, nothing was applied: {cause}")]
    Failed {
        /// Plugin id.
        plugin: String,
        /// Migration id.
        id: String,
        /// The database's reason.
        cause: SqlError,
    },
    /// An applied migration's SQL differs from what the manifest now says.
    #[error("migration {id} of plugin {plugin} was already applied with different SQL (checksum {recorded}, now {current}); released migrations must not change")]
    Changed {
        /// Plugin id.
        plugin: String,
        /// Migration id.
        id: String,
        /// Recorded checksum.
        recorded: String,
        /// Current checksum.
        current: String,
    },
    /// The manifest lists a migration id twice.
    #[error("plugin {plugin} lists migration {id} twice")]
    Duplicate {
        /// Plugin id.
        plugin: String,
        /// Migration id.
        id: String,
    },
    /// The host's own bookkeeping failed.
    #[error("migration bookkeeping failed: {0}")]
    Host(SqlError),
}

/// How long one migration may run before it is interrupted (and the load refused).
pub const MIGRATION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// The ledger of applied plugin migrations (a host migration, see [`crate::host_schema`]).
pub const PLUGIN_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _host_migrations (
    plugin_id TEXT NOT NULL,
    migration_id TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (plugin_id, migration_id)
)";

/// The sha256 of a migration's SQL, hex.
pub fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Applies the pending migrations of `plugin` in order, at host time `now_ms`.
pub fn apply_migrations(
    db: &Database,
    plugin: &str,
    migrations: &[MigrationSpec],
    now_ms: i64,
) -> Result<MigrationReport, MigrationError> {
    check_unique(plugin, migrations)?;
    let conn = db.checkout().map_err(MigrationError::Host)?;
    crate::host_schema::migrate(&conn).map_err(MigrationError::Host)?;
    conn.in_write_transaction(|conn| run_pending(conn, plugin, migrations, now_ms))
}

impl From<SqlError> for MigrationError {
    fn from(e: SqlError) -> Self {
        MigrationError::Host(e)
    }
}

/// Applies the pending migrations on `conn`, inside a transaction the caller owns (a load runs
/// them in the transaction of `init`, so that a refused `init` undoes them).
pub fn apply_migrations_in(
    conn: &super::SqlConnection,
    plugin: &str,
    migrations: &[MigrationSpec],
    now_ms: i64,
) -> Result<MigrationReport, MigrationError> {
    check_unique(plugin, migrations)?;
    if !conn.in_transaction() {
        crate::host_schema::migrate(conn).map_err(MigrationError::Host)?;
    } else {
        conn.create_host_tables(PLUGIN_MIGRATIONS_TABLE)
            .map_err(MigrationError::Host)?;
    }
    run_pending(conn, plugin, migrations, now_ms)
}

fn check_unique(plugin: &str, migrations: &[MigrationSpec]) -> Result<(), MigrationError> {
    for (i, m) in migrations.iter().enumerate() {
        if migrations[..i].iter().any(|earlier| earlier.id == m.id) {
            return Err(MigrationError::Duplicate {
                plugin: plugin.into(),
                id: m.id.clone(),
            });
        }
    }
    Ok(())
}

fn run_pending(
    conn: &super::SqlConnection,
    plugin: &str,
    migrations: &[MigrationSpec],
    now_ms: i64,
) -> Result<MigrationReport, MigrationError> {
    let mut report = MigrationReport::default();
    for m in migrations {
        let current = checksum(&m.sql);
        let recorded: Option<String> = conn
            .query_row(
                "SELECT checksum FROM _host_migrations WHERE plugin_id = ? AND migration_id = ?",
                crate::sql_params![plugin, &m.id],
            )
            .and_then(|row| row.map(|r| r.get(0)).transpose())
            .map_err(MigrationError::Host)?;
        match recorded {
            Some(recorded) if recorded == current => report.already_applied += 1,
            Some(recorded) => {
                return Err(MigrationError::Changed {
                    plugin: plugin.into(),
                    id: m.id.clone(),
                    recorded,
                    current,
                })
            }
            None => {
                let deadline = std::time::Instant::now() + MIGRATION_DEADLINE;
                super::transaction::refuse_host_names(&m.sql)
                    .and_then(|()| conn.guest_migration(&m.sql, Some(deadline)))
                    .map_err(|cause| MigrationError::Failed {
                        plugin: plugin.into(),
                        id: m.id.clone(),
                        cause,
                    })?;
                conn.execute(
                    "INSERT INTO _host_migrations (plugin_id, migration_id, checksum, applied_at) VALUES (?, ?, ?, ?)",
                    crate::sql_params![plugin, &m.id, &current, now_ms],
                )
                .map_err(MigrationError::Host)?;
                report.applied.push(m.id.clone());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, sql: &str) -> MigrationSpec {
        MigrationSpec {
            id: id.into(),
            sql: sql.into(),
        }
    }

    fn tables(db: &Database) -> Vec<String> {
        let conn = db.checkout().unwrap();
        conn.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
    }

    #[test]
    fn applies_each_migration_once_in_order() {
        let db = Database::in_memory().unwrap();
        let list = [
            spec("0", "CREATE TABLE a (x INTEGER);"),
            spec("1", "CREATE TABLE b (y INTEGER);"),
        ];
        let first = apply_migrations(&db, "p", &list, 1).unwrap();
        assert_eq!(first.applied, vec!["0", "1"]);
        let second = apply_migrations(&db, "p", &list, 2).unwrap();
        assert_eq!(
            second,
            MigrationReport {
                applied: vec![],
                already_applied: 2
            }
        );
    }

    #[test]
    fn a_failing_migration_leaves_the_database_as_it_was() {
        let db = Database::in_memory().unwrap();
        apply_migrations(&db, "p", &[spec("0", "CREATE TABLE a (x INTEGER);")], 1).unwrap();
        let before = tables(&db);
        let list = [
            spec("0", "CREATE TABLE a (x INTEGER);"),
            spec("1", "CREATE TABLE b (y INTEGER);"),
            spec("2", "CREATE TABLE broken (;"),
        ];
        let err = apply_migrations(&db, "p", &list, 2).unwrap_err();
        assert!(
            matches!(&err, MigrationError::Failed { id, .. } if id == "2"),
            "{err}"
        );
        assert_eq!(tables(&db), before, "table b must have been rolled back");
    }

    #[test]
    fn a_changed_migration_refuses_the_load() {
        let db = Database::in_memory().unwrap();
        apply_migrations(&db, "p", &[spec("0", "CREATE TABLE a (x INTEGER);")], 1).unwrap();
        let err =
            apply_migrations(&db, "p", &[spec("0", "CREATE TABLE a (x TEXT);")], 2).unwrap_err();
        assert!(matches!(err, MigrationError::Changed { .. }), "{err}");
    }

    #[test]
    fn migrations_may_not_touch_host_tables_or_control_transactions() {
        let db = Database::in_memory().unwrap();
        for sql in [
            "DROP TABLE _host_migrations;",
            "COMMIT;",
            "PRAGMA foreign_keys = OFF;",
        ] {
            let err = apply_migrations(&db, "p", &[spec("0", sql)], 1).unwrap_err();
            assert!(
                matches!(
                    &err,
                    MigrationError::Failed {
                        cause: SqlError::Refused(_),
                        ..
                    }
                ),
                "{sql}: {err}"
            );
        }
    }

    #[test]
    fn duplicate_ids_are_rejected_before_anything_runs() {
        let db = Database::in_memory().unwrap();
        let list = [
            spec("0", "CREATE TABLE a (x INTEGER);"),
            spec("0", "CREATE TABLE b (x INTEGER);"),
        ];
        assert!(matches!(
            apply_migrations(&db, "p", &list, 1),
            Err(MigrationError::Duplicate { .. })
        ));
        assert!(tables(&db).is_empty());
    }
}
