//! The host database and its connection pool.
//!
//! SQLite: a file database (WAL mode) lends up to `max` connections, so reads of one
//! invocation do not wait for another's; SQLite still serialises writers. An in-memory
//! database is private to its one connection, so it lends that one connection to one
//! invocation at a time. PostgreSQL: r2d2 pools the connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::connection::SqlConnection;
use super::error::SqlError;
use super::postgres::{pool_error, PgManager};
use super::sqlite::SqliteConnection;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A private in-memory SQLite database (tests, throwaway demos).
    Memory,
    /// A SQLite database file, created if missing.
    File(PathBuf),
    /// A PostgreSQL database: a `postgres://` or `postgresql://` URL (`?host=/socket/dir`
    /// for a Unix socket).
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads a `--db` argument: a `postgres://` or `postgresql://` URL is PostgreSQL,
    /// anything else a SQLite file path.
    pub fn parse(text: &str) -> Self {
        if is_postgres_url(text) {
            DatabaseLocation::Postgres(text.to_owned())
        } else {
            DatabaseLocation::File(PathBuf::from(text))
        }
    }

    /// Its short name: `in memory`, the file's path, or the URL without its password.
    pub fn name(&self) -> String {
        match self {
            DatabaseLocation::Memory => "in memory".to_owned(),
            DatabaseLocation::File(path) => path.display().to_string(),
            DatabaseLocation::Postgres(url) => redact_password(url),
        }
    }

    /// How to name it in messages, without a password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseLocation::Memory => "an in-memory SQLite database".to_owned(),
            DatabaseLocation::File(path) => {
                format!("the SQLite file {} (WAL mode)", path.display())
            }
            DatabaseLocation::Postgres(url) => {
                format!("the PostgreSQL database {}", redact_password(url))
            }
        }
    }
}

/// Whether `text` is a PostgreSQL URL.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

struct Pool {
    idle: Vec<SqlConnection>,
    open: usize,
}

struct Inner {
    location: DatabaseLocation,
    max: usize,
    pool: Mutex<Pool>,
    returned: Condvar,
}

#[derive(Clone)]
enum Pools {
    Sqlite(Arc<Inner>),
    Postgres {
        location: DatabaseLocation,
        pool: r2d2::Pool<PgManager>,
    },
}

/// The host database. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Database {
    pools: Pools,
}

/// PostgreSQL connections per host process.
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a checkout waits for a PostgreSQL connection before the database counts as
/// unavailable.
const POSTGRES_CHECKOUT_WAIT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("location", self.location())
            .finish()
    }
}

impl Database {
    /// A fresh private in-memory database.
    pub fn in_memory() -> Result<Self, SqlError> {
        Self::open(DatabaseLocation::Memory)
    }

    /// A database file at `path` (created if missing), WAL mode.
    pub fn file(path: &Path) -> Result<Self, SqlError> {
        Self::open(DatabaseLocation::File(path.to_path_buf()))
    }

    /// The database at a `--db` argument: a PostgreSQL URL or a SQLite file path.
    pub fn at(text: &str) -> Result<Self, SqlError> {
        Self::open(DatabaseLocation::parse(text))
    }

    /// Opens `location` and checks it with a first connection.
    pub fn open(location: DatabaseLocation) -> Result<Self, SqlError> {
        let max = match &location {
            DatabaseLocation::Memory => 1,
            DatabaseLocation::File(_) => 4,
            DatabaseLocation::Postgres(url) => return Self::open_postgres(url),
        };
        let first = connect(&location)?;
        Ok(Database {
            pools: Pools::Sqlite(Arc::new(Inner {
                location,
                max,
                pool: Mutex::new(Pool {
                    idle: vec![first],
                    open: 1,
                }),
                returned: Condvar::new(),
            })),
        })
    }

    fn open_postgres(url: &str) -> Result<Self, SqlError> {
        let pool = r2d2::Pool::builder()
            .max_size(POSTGRES_CONNECTIONS)
            .min_idle(Some(1))
            .connection_timeout(POSTGRES_CHECKOUT_WAIT)
            // A broken connection is found by its first statement (an `Unavailable` error)
            // and dropped on return; a check per checkout would cost a round trip each time.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(PgManager::new(url)?)
            .map_err(pool_error)?;
        Ok(Database {
            pools: Pools::Postgres {
                location: DatabaseLocation::Postgres(url.to_owned()),
                pool,
            },
        })
    }

    /// Where the database lives.
    pub fn location(&self) -> &DatabaseLocation {
        match &self.pools {
            Pools::Sqlite(inner) => &inner.location,
            Pools::Postgres { location, .. } => location,
        }
    }

    /// Borrows a connection, waiting for one to come back when all are lent out.
    pub fn checkout(&self) -> Result<PooledConnection, SqlError> {
        let inner = match &self.pools {
            Pools::Sqlite(inner) => inner,
            Pools::Postgres { pool, .. } => {
                return pool
                    .get()
                    .map(|conn| PooledConnection {
                        lent: Lent::Postgres(conn),
                    })
                    .map_err(pool_error)
            }
        };
        let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(PooledConnection::sqlite(conn, inner));
            }
            if pool.open < inner.max {
                pool.open += 1;
                drop(pool);
                return match connect(&inner.location) {
                    Ok(conn) => Ok(PooledConnection::sqlite(conn, inner)),
                    Err(e) => {
                        inner.pool.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                        Err(e)
                    }
                };
            }
            pool = inner.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn connect(location: &DatabaseLocation) -> Result<SqlConnection, SqlError> {
    let conn = match location {
        DatabaseLocation::Memory => SqliteConnection::open(None)?,
        DatabaseLocation::File(path) => SqliteConnection::open(Some(path))?,
        DatabaseLocation::Postgres(_) => {
            return Err(SqlError::Database(
                "PostgreSQL connections come from the r2d2 pool".into(),
            ))
        }
    };
    Ok(SqlConnection::sqlite(conn))
}

enum Lent {
    Sqlite {
        conn: Option<SqlConnection>,
        home: Arc<Inner>,
    },
    Postgres(r2d2::PooledConnection<PgManager>),
}

/// A connection on loan; it goes back to the pool when dropped, outside any transaction.
pub struct PooledConnection {
    lent: Lent,
}

impl PooledConnection {
    fn sqlite(conn: SqlConnection, home: &Arc<Inner>) -> Self {
        PooledConnection {
            lent: Lent::Sqlite {
                conn: Some(conn),
                home: home.clone(),
            },
        }
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = SqlConnection;

    fn deref(&self) -> &SqlConnection {
        match &self.lent {
            // Invariant: `conn` is only taken in `drop`.
            Lent::Sqlite { conn, .. } => {
                conn.as_ref().expect("pooled connection used after return")
            }
            Lent::Postgres(conn) => conn,
        }
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        // PostgreSQL: r2d2's `has_broken` rolls back on return.
        let Lent::Sqlite { conn, home } = &mut self.lent else {
            return;
        };
        if let Some(conn) = conn.take() {
            // A connection is never handed out again inside a transaction: roll it back first.
            // (An in-memory database lives in its one connection, so it must be kept.)
            if let Err(e) = conn.rollback() {
                tracing::error!("rolling back a returned connection failed: {e}");
            }
            let mut pool = home.pool.lock().unwrap_or_else(|p| p.into_inner());
            if !conn.in_transaction() {
                pool.idle.push(conn);
            } else {
                tracing::error!("closing a connection stuck in a transaction");
                pool.open -= 1;
            }
            home.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_postgres_and_paths_sqlite() {
        assert_eq!(
            DatabaseLocation::parse("postgres://u@h/db"),
            DatabaseLocation::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("postgresql:///db?host=/tmp/x"),
            DatabaseLocation::Postgres("postgresql:///db?host=/tmp/x".into())
        );
        assert_eq!(
            DatabaseLocation::parse("data/slo.db"),
            DatabaseLocation::File("data/slo.db".into())
        );
    }

    #[test]
    fn descriptions_hide_passwords() {
        assert_eq!(
            DatabaseLocation::Postgres("postgres://me:secret@db:5432/slo".into()).describe(),
            "the PostgreSQL database postgres://me:***@db:5432/slo"
        );
        assert_eq!(
            DatabaseLocation::Postgres("postgres://me@db/slo".into()).describe(),
            "the PostgreSQL database postgres://me@db/slo"
        );
    }
}
