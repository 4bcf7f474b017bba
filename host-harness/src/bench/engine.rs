//! The database engine a benchmark row runs on: SQLite (the rows' home) or PostgreSQL.
//!
//! PostgreSQL rows use `SLO_BENCH_DATABASE_URL` when it is set (a server where the benchmark
//! may create databases), else the throwaway cluster of [`crate::postgres_cluster`] (a Unix
//! socket, `fsync=off`, `synchronous_commit=off`: like the SQLite rows' `synchronous=NORMAL`,
//! a power loss may lose the last commits, a crashed process loses nothing).

use std::path::Path;

use super::Row;
use crate::capabilities::sql::Database;
use crate::postgres_cluster;

/// The variable naming a PostgreSQL server for the benchmarks.
pub const BENCH_DATABASE_URL: &str = "SLO_BENCH_DATABASE_URL";

/// A database engine for rows 3, 4 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: in memory (row 3) or a WAL file (rows 4, 5).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Engine {
    /// Every engine, SQLite first.
    pub const ALL: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];

    /// Its name in a row.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }

    /// A fresh database: a SQLite file at `file` (in memory when `None`), or a new PostgreSQL
    /// database.
    pub fn database(self, file: Option<&Path>) -> anyhow::Result<Database> {
        Ok(match (self, file) {
            (Engine::Sqlite, Some(path)) => Database::file(path)?,
            (Engine::Sqlite, None) => Database::in_memory()?,
            (Engine::Postgres, _) => {
                let url = match std::env::var(BENCH_DATABASE_URL) {
                    Ok(server) if !server.trim().is_empty() => {
                        postgres_cluster::fresh_database_on(&server)?
                    }
                    _ => postgres_cluster::fresh_database()?,
                };
                Database::at(&url)?
            }
        })
    }

    /// Runs a row's measurement on this engine. On PostgreSQL a failure (no server, say)
    /// becomes the row's result instead of ending the whole run.
    pub fn rows(
        self,
        number: u32,
        measure: impl FnOnce() -> anyhow::Result<Vec<Row>>,
    ) -> anyhow::Result<Vec<Row>> {
        match (self, measure()) {
            (_, Ok(rows)) => Ok(rows),
            (Engine::Sqlite, Err(e)) => Err(e),
            (Engine::Postgres, Err(e)) => Ok(vec![Row {
                number,
                what: "the same on PostgreSQL".into(),
                target: "measured".into(),
                result: format!("not measured: {e:#}"),
                met: Some(false),
            }]),
        }
    }
}
