//! The host database and its connection pool.
//!
//! A file database (WAL mode) lends up to `max` connections, so reads of one invocation do not
//! wait for another's; SQLite still serialises writers. An in-memory database is private to
//! its one connection, so it lends that one connection to one invocation at a time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::connection::SqlConnection;
use super::error::SqlError;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A private in-memory database (tests, throwaway demos).
    Memory,
    /// A database file, created if missing.
    File(PathBuf),
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

/// The host database. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("location", &self.inner.location)
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

    /// Opens `location` and checks it with a first connection.
    pub fn open(location: DatabaseLocation) -> Result<Self, SqlError> {
        let max = match location {
            DatabaseLocation::Memory => 1,
            DatabaseLocation::File(_) => 4,
        };
        let first = connect(&location)?;
        Ok(Database {
            inner: Arc::new(Inner {
                location,
                max,
                pool: Mutex::new(Pool {
                    idle: vec![first],
                    open: 1,
                }),
                returned: Condvar::new(),
            }),
        })
    }

    /// Where the database lives.
    pub fn location(&self) -> &DatabaseLocation {
        &self.inner.location
    }

    /// Borrows a connection, waiting for one to come back when all are lent out.
    pub fn checkout(&self) -> Result<PooledConnection, SqlError> {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(PooledConnection {
                    conn: Some(conn),
                    home: self.inner.clone(),
                });
            }
            if pool.open < self.inner.max {
                pool.open += 1;
                drop(pool);
                return match connect(&self.inner.location) {
                    Ok(conn) => Ok(PooledConnection {
                        conn: Some(conn),
                        home: self.inner.clone(),
                    }),
                    Err(e) => {
                        self.inner
                            .pool
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .open -= 1;
                        Err(e)
                    }
                };
            }
            pool = self
                .inner
                .returned
                .wait(pool)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn connect(location: &DatabaseLocation) -> Result<SqlConnection, SqlError> {
    match location {
        DatabaseLocation::Memory => SqlConnection::open(None),
        DatabaseLocation::File(path) => SqlConnection::open(Some(path)),
    }
}

/// A connection on loan; it goes back to the pool when dropped.
pub struct PooledConnection {
    conn: Option<SqlConnection>,
    home: Arc<Inner>,
}

impl std::ops::Deref for PooledConnection {
    type Target = SqlConnection;

    fn deref(&self) -> &SqlConnection {
        // Invariant: `conn` is only taken in `drop`.
        self.conn
            .as_ref()
            .expect("pooled connection used after return")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection is never handed out again inside a transaction: roll it back first.
            // (An in-memory database lives in its one connection, so it must be kept.)
            if !conn.raw().is_autocommit() {
                if let Err(e) = conn.raw().execute_batch("ROLLBACK") {
                    tracing::error!("rolling back a returned connection failed: {e}");
                }
            }
            let mut pool = self.home.pool.lock().unwrap_or_else(|p| p.into_inner());
            if conn.raw().is_autocommit() {
                pool.idle.push(conn);
            } else {
                tracing::error!("closing a connection stuck in a transaction");
                pool.open -= 1;
            }
            self.home.returned.notify_one();
        }
    }
}
