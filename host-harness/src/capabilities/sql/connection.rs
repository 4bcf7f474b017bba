//! One SQLite connection with the host's settings and the guest-mode authorizer.
//!
//! Guest statements are prepared in guest mode, where the authorizer refuses transaction
//! control, savepoints, ATTACH/DETACH, PRAGMA and any access to the host's own tables
//! (`_host_*`). The host's statements (BEGIN, COMMIT, SAVEPOINT…) run outside guest mode.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

use super::error::SqlError;

/// Prefix of the tables the host owns; plugins can neither read nor write them.
pub const HOST_TABLE_PREFIX: &str = "_host_";

/// Why a write is refused in a read-only invocation.
const READ_ONLY_DENIAL: &str =
    "this invocation is read-only (a query procedure, an entity read or a \
                                deriver): writes belong in a mutation";

/// SQLite page cache per file connection, in KiB.
const PAGE_CACHE_KIB: u64 = 64 * 1024;

/// How much of a database file SQLite may map into memory for reads.
const MMAP_BYTES: u64 = 1 << 30;

/// Compiled guest statements kept per connection (the SLO plugin uses a few dozen).
const STATEMENT_CACHE: usize = 256;

/// A connection plus its guest-mode switch.
pub struct SqlConnection {
    conn: Connection,
    guest_mode: Arc<AtomicBool>,
    read_only: Arc<AtomicBool>,
    denial: Arc<Mutex<Option<String>>>,
}

/// Write transactions committed on every host connection of this process (SQLite's commit
/// hook, which read transactions do not reach): benchmarks divide it by the work done (row 5:
/// commits per health transition).
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// How many transactions host connections have committed so far in this process.
pub fn commits_so_far() -> u64 {
    COMMITS.load(Ordering::Relaxed)
}

impl SqlConnection {
    /// Opens `path` (or a private in-memory database when `None`) with foreign keys on and, for
    /// files, WAL mode, a busy timeout and `synchronous=NORMAL`.
    pub fn open(path: Option<&Path>) -> Result<Self, SqlError> {
        let classify = |e| SqlError::classify(e, None);
        let conn = match path {
            Some(p) => Connection::open(p).map_err(classify)?,
            None => Connection::open_in_memory().map_err(classify)?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(classify)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(classify)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if path.is_some() {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(classify)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(classify)?;
            // SQLite's default page cache is 2 MB: a job that reads every objective's events
            // (row 4 of BENCHMARKS.md) then rereads pages from the OS on every query. A
            // larger cache plus memory-mapped reads keep the working set close.
            conn.pragma_update(None, "cache_size", -(PAGE_CACHE_KIB as i64))
                .map_err(classify)?;
            conn.pragma_update(None, "mmap_size", MMAP_BYTES as i64)
                .map_err(classify)?;
        }
        conn.commit_hook(Some(|| {
            COMMITS.fetch_add(1, Ordering::Relaxed);
            false // never turn the commit into a rollback
        }));
        let guest_mode = Arc::new(AtomicBool::new(false));
        let read_only = Arc::new(AtomicBool::new(false));
        let denial = Arc::new(Mutex::new(None));
        let (flag, reading, slot) = (guest_mode.clone(), read_only.clone(), denial.clone());
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if !flag.load(Ordering::SeqCst) {
                return Authorization::Allow;
            }
            let refused = guest_denial(&ctx.action).or_else(|| {
                (reading.load(Ordering::SeqCst) && writes(&ctx.action))
                    .then(|| READ_ONLY_DENIAL.to_owned())
            });
            match refused {
                None => Authorization::Allow,
                Some(reason) => {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
                    Authorization::Deny
                }
            }
        }));
        Ok(SqlConnection {
            conn,
            guest_mode,
            read_only,
            denial,
        })
    }

    /// Prepares a guest statement, reusing the compiled statement when the same text ran
    /// before on this connection (guest SQL is a small fixed set, run again and again). The
    /// authorizer only sees a statement when it is compiled, so a reused statement that
    /// writes is refused here when the invocation is read-only.
    pub fn prepare_guest<'c>(
        &self,
        conn: &'c Connection,
        statement: &str,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        let stmt = conn.prepare_cached(statement)?;
        if self.read_only.load(Ordering::SeqCst) && !stmt.readonly() {
            *self.denial.lock().unwrap_or_else(|p| p.into_inner()) = Some(READ_ONLY_DENIAL.into());
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_AUTH),
                None,
            ));
        }
        Ok(stmt)
    }

    /// Makes guest statements read-only (or writable again).
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }

    /// The raw connection, for host statements.
    pub fn raw(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` with guest restrictions on, and an optional deadline after which a running
    /// statement is interrupted. Failures are classified with the authorizer's reason.
    pub fn as_guest<T>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, SqlError> {
        *self.denial.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(deadline) = deadline {
            self.conn
                .progress_handler(10_000, Some(move || Instant::now() > deadline));
        }
        self.guest_mode.store(true, Ordering::SeqCst);
        let result = f(&self.conn);
        self.guest_mode.store(false, Ordering::SeqCst);
        if deadline.is_some() {
            self.conn.progress_handler(0, None::<fn() -> bool>);
        }
        result.map_err(|e| {
            let denial = self.denial.lock().unwrap_or_else(|p| p.into_inner()).take();
            SqlError::classify(e, denial)
        })
    }
}

/// Whether `action` changes the database.
fn writes(action: &AuthAction<'_>) -> bool {
    matches!(
        action,
        AuthAction::Insert { .. }
            | AuthAction::Update { .. }
            | AuthAction::Delete { .. }
            | AuthAction::CreateTable { .. }
            | AuthAction::CreateIndex { .. }
            | AuthAction::CreateView { .. }
            | AuthAction::DropTable { .. }
            | AuthAction::DropIndex { .. }
            | AuthAction::DropView { .. }
            | AuthAction::AlterTable { .. }
            | AuthAction::Reindex { .. }
            | AuthAction::Analyze { .. }
    )
}

fn host_table(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with(HOST_TABLE_PREFIX)
}

/// Why a plugin may not do `action`, or `None` when it may.
fn guest_denial(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Some(
            "transaction control belongs to the host: each invocation is one transaction; \
             use the sql savepoint/release/rollback-to functions"
                .into(),
        ),
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Some("ATTACH and DETACH are not allowed for plugins".into())
        }
        AuthAction::Pragma { pragma_name, .. } => {
            Some(format!("PRAGMA {pragma_name} is not allowed for plugins"))
        }
        // Temporary objects outlive the invocation on a pooled connection and can shadow
        // other tables; triggers run later with whatever rights the writer has; virtual
        // tables reach outside the database.
        AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. }
        | AuthAction::DropTempIndex { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropTempView { .. } => {
            Some("temporary tables, indexes, views and triggers are not allowed for plugins".into())
        }
        AuthAction::CreateTrigger { .. } | AuthAction::DropTrigger { .. } => {
            Some("triggers are not allowed for plugins".into())
        }
        AuthAction::CreateVtable { .. } | AuthAction::DropVtable { .. } => {
            Some("virtual tables are not allowed for plugins".into())
        }
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
            if host_table(table_name) =>
        {
            Some(format!("table {table_name} belongs to the host"))
        }
        _ => None,
    }
}
