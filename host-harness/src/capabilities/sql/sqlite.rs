//! The SQLite backend: one connection with the host's settings and the guest-mode authorizer.
//!
//! Guest statements are prepared in guest mode, where the authorizer refuses transaction
//! control, savepoints, ATTACH/DETACH, PRAGMA, schema changes outside migrations and any
//! access to the host's own tables (`_host_*`). The host's statements (BEGIN, COMMIT,
//! SAVEPOINT…) run outside guest mode.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode};

use super::error::{too_many_rows_reason, SqlError, READ_ONLY_DENIAL};
use super::guest_policy;
use super::rows::Rows;
use super::value::{Row, SqlValue};
use super::HOST_TABLE_PREFIX;

/// SQLite page cache per file connection, in KiB.
const PAGE_CACHE_KIB: u64 = 64 * 1024;

/// How much of a database file SQLite may map into memory for reads.
const MMAP_BYTES: u64 = 1 << 30;

/// Compiled guest statements kept per connection (the SLO plugin uses a few dozen).
const STATEMENT_CACHE: usize = 256;

/// A connection plus its guest-mode switches.
pub struct SqliteConnection {
    conn: Connection,
    guest_mode: Arc<AtomicBool>,
    read_only: Arc<AtomicBool>,
    /// Set while a plugin migration runs: schema changes are allowed then, and only then.
    migrating: Arc<AtomicBool>,
    denial: Arc<Mutex<Option<String>>>,
}

impl SqliteConnection {
    /// Opens `path` (or a private in-memory database when `None`) with foreign keys on and, for
    /// files, WAL mode, a busy timeout and `synchronous=NORMAL`.
    pub fn open(path: Option<&Path>) -> Result<Self, SqlError> {
        let classify = |e| classify(e, None);
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
            super::connection::count_commit();
            false // never turn the commit into a rollback
        }));
        let guest_mode = Arc::new(AtomicBool::new(false));
        let read_only = Arc::new(AtomicBool::new(false));
        let migrating = Arc::new(AtomicBool::new(false));
        let denial = Arc::new(Mutex::new(None));
        let (flag, reading, schema, slot) = (
            guest_mode.clone(),
            read_only.clone(),
            migrating.clone(),
            denial.clone(),
        );
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if !flag.load(Ordering::SeqCst) {
                return Authorization::Allow;
            }
            let refused = guest_denial(&ctx.action, schema.load(Ordering::SeqCst)).or_else(|| {
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
        Ok(SqliteConnection {
            conn,
            guest_mode,
            read_only,
            migrating,
            denial,
        })
    }

    /// Prepares a guest statement, reusing the compiled statement when the same text ran
    /// before on this connection (guest SQL is a small fixed set, run again and again). The
    /// authorizer only sees a statement when it is compiled, so a reused statement that
    /// writes is refused here when the invocation is read-only.
    fn prepare_guest<'c>(
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

    /// The raw connection (tests and SQLite-only tools).
    pub fn raw(&self) -> &Connection {
        &self.conn
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Whether the open transaction can still do work and commit (SQLite ends a transaction
    /// it cannot go on with by itself).
    pub fn transaction_usable(&self) -> bool {
        self.in_transaction()
    }

    /// Runs one or more host statements without parameters.
    pub fn batch(&self, sql: &str) -> Result<(), SqlError> {
        self.conn.execute_batch(sql).map_err(|e| classify(e, None))
    }

    /// Runs one host statement; answers the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| classify(e, None))?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| classify(e, None))?;
        Ok(changed as u64)
    }

    /// Runs one host statement that returns rows.
    pub fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError> {
        let run = || -> rusqlite::Result<Vec<Row>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let width = stmt.column_count();
            let mut cursor = stmt.query(rusqlite::params_from_iter(params.iter()))?;
            let mut rows = Vec::new();
            while let Some(row) = cursor.next()? {
                rows.push(Row(row_values(row, width)?));
            }
            Ok(rows)
        };
        run().map_err(|e| classify(e, None))
    }

    /// Begins the host's transaction: an immediate (write-locking) one, or a deferred one for
    /// reads (in WAL mode it neither waits for nor blocks writers).
    pub fn begin(&self, read_only: bool) -> Result<(), SqlError> {
        self.batch(if read_only {
            "BEGIN DEFERRED"
        } else {
            "BEGIN IMMEDIATE"
        })
    }

    /// Commits the open transaction.
    pub fn commit(&self) -> Result<(), SqlError> {
        self.batch("COMMIT")
    }

    /// Rolls the open transaction back.
    pub fn rollback(&self) -> Result<(), SqlError> {
        self.batch("ROLLBACK")
    }

    /// Runs a guest statement that returns rows (at most `max_rows`).
    pub fn guest_query(
        &self,
        statement: &str,
        params: &[SqlValue],
        deadline: Option<Instant>,
        max_rows: usize,
    ) -> Result<Rows, SqlError> {
        self.as_guest(deadline, |c| {
            let mut stmt = self.prepare_guest(c, statement)?;
            check_placeholders(&stmt, params.len())?;
            let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let width = columns.len();
            let mut rows = Rows::new(columns);
            let mut count = 0usize;
            let mut cursor = stmt.query(rusqlite::params_from_iter(params.iter()))?;
            while let Some(row) = cursor.next()? {
                if count == max_rows {
                    // Classified back into `SqlError::too_many_rows` (TOOBIG is a refusal).
                    return Err(too_big(too_many_rows_reason(max_rows)));
                }
                count += 1;
                for i in 0..width {
                    push_cell(&mut rows, row.get_ref(i)?)?;
                }
            }
            Ok(rows)
        })
    }

    /// Runs a guest statement that returns no rows; answers the number of rows it changed.
    pub fn guest_execute(
        &self,
        statement: &str,
        params: &[SqlValue],
        deadline: Option<Instant>,
    ) -> Result<u64, SqlError> {
        self.as_guest(deadline, |c| {
            let mut stmt = self.prepare_guest(c, statement)?;
            check_placeholders(&stmt, params.len())?;
            let changed = stmt.execute(rusqlite::params_from_iter(params.iter()))?;
            Ok(changed as u64)
        })
    }

    /// Runs a plugin migration (one or more statements; schema changes allowed).
    pub fn guest_migration(&self, sql: &str, deadline: Option<Instant>) -> Result<(), SqlError> {
        self.migrating.store(true, Ordering::SeqCst);
        let result = self.as_guest(deadline, |c| c.execute_batch(sql));
        self.migrating.store(false, Ordering::SeqCst);
        result
    }

    /// Runs `f` with guest restrictions on, and an optional deadline after which a running
    /// statement is interrupted. Failures are classified with the authorizer's reason.
    fn as_guest<T>(
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
            classify(e, denial)
        })
    }
}

/// Whether `action` changes the database: its data or its schema.
fn writes(action: &AuthAction<'_>) -> bool {
    changes_schema(action)
        || matches!(
            action,
            AuthAction::Insert { .. }
                | AuthAction::Update { .. }
                | AuthAction::Delete { .. }
                | AuthAction::Reindex { .. }
                | AuthAction::Analyze { .. }
        )
}

fn host_table(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with(HOST_TABLE_PREFIX)
}

/// Whether `action` changes the schema.
fn changes_schema(action: &AuthAction<'_>) -> bool {
    matches!(
        action,
        AuthAction::CreateTable { .. }
            | AuthAction::CreateIndex { .. }
            | AuthAction::CreateView { .. }
            | AuthAction::DropTable { .. }
            | AuthAction::DropIndex { .. }
            | AuthAction::DropView { .. }
            | AuthAction::AlterTable { .. }
    )
}

/// Why a plugin may not do `action` (schema changes only while `migrating`), or `None`.
fn guest_denial(action: &AuthAction<'_>, migrating: bool) -> Option<String> {
    if !migrating && changes_schema(action) {
        return Some(guest_policy::SCHEMA_OUTSIDE_MIGRATIONS.into());
    }
    match action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some(guest_policy::TRANSACTION_CONTROL.into())
        }
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
        | AuthAction::DropTempView { .. } => Some(guest_policy::TEMPORARY_OBJECTS.into()),
        AuthAction::CreateTrigger { .. } | AuthAction::DropTrigger { .. } => {
            Some(guest_policy::TRIGGERS.into())
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

/// Plugins use positional `?` placeholders only (portable to PostgreSQL, where the host
/// rewrites them), with exactly one parameter per placeholder.
fn check_placeholders(stmt: &rusqlite::Statement<'_>, given: usize) -> rusqlite::Result<()> {
    let expected = stmt.parameter_count();
    for i in 1..=expected {
        if let Some(name) = stmt.parameter_name(i) {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_AUTH),
                Some(super::tokens::named_placeholder(name).to_string()),
            ));
        }
    }
    if expected != given {
        return Err(rusqlite::Error::InvalidParameterCount(given, expected));
    }
    Ok(())
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Integer(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            SqlValue::Real(n) => ToSqlOutput::Owned(Value::Real(*n)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// The `width` columns of `row`.
fn row_values(row: &rusqlite::Row<'_>, width: usize) -> rusqlite::Result<Vec<SqlValue>> {
    (0..width).map(|i| row.get_ref(i).map(from_ref)).collect()
}

/// A refusal SQLite-side, classified back into a [`SqlError::Refused`] with `reason`.
fn too_big(reason: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
        Some(reason),
    )
}

/// Writes one column value straight into the columnar result (text that is not UTF-8 is
/// replaced lossily, as [`from_ref`] does).
fn push_cell(rows: &mut Rows, value: ValueRef<'_>) -> rusqlite::Result<()> {
    let pushed = match value {
        ValueRef::Null => {
            rows.push_null();
            Ok(())
        }
        ValueRef::Integer(n) => {
            rows.push_integer(n);
            Ok(())
        }
        ValueRef::Real(n) => {
            rows.push_real(n);
            Ok(())
        }
        ValueRef::Text(t) => rows.push_text(&String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => rows.push_blob(b),
    };
    pushed.map_err(|e| match e {
        SqlError::Refused(reason) => too_big(reason),
        other => too_big(other.to_string()),
    })
}

/// Converts a column value read from SQLite. Text that is not UTF-8 is replaced lossily
/// (SQLite does not enforce encodings; plugins only ever write UTF-8 through this layer).
fn from_ref(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Integer(n),
        ValueRef::Real(n) => SqlValue::Real(n),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// Classifies a rusqlite error. `denial` is the authorizer's reason when it refused the
/// statement, which is far more useful than SQLite's bare "not authorized".
fn classify(error: rusqlite::Error, denial: Option<String>) -> SqlError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let text = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::ConstraintViolation => SqlError::Constraint(text),
                ErrorCode::AuthorizationForStatementDenied => {
                    SqlError::Refused(denial.unwrap_or(text))
                }
                ErrorCode::Unknown => SqlError::Syntax(text),
                ErrorCode::TooBig => SqlError::Refused(text),
                ErrorCode::OperationInterrupted => SqlError::interrupted(),
                ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied => SqlError::Unavailable(text),
                _ => SqlError::Database(text),
            }
        }
        rusqlite::Error::SqlInputError {
            msg, sql, offset, ..
        } => SqlError::Syntax(format!("{msg} at offset {offset} in {sql:?}")),
        rusqlite::Error::MultipleStatement => SqlError::multiple_statements(),
        rusqlite::Error::InvalidParameterCount(given, expected) => {
            SqlError::parameter_count(*given, *expected)
        }
        rusqlite::Error::ExecuteReturnedResults => SqlError::returns_rows(),
        _ => SqlError::Database(error.to_string()),
    }
}
