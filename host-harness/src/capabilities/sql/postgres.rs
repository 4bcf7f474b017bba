//! The PostgreSQL backend: the synchronous `postgres` client, pooled by r2d2.
//!
//! The `sql` import means here what it means on SQLite:
//! - `?` placeholders become `$n` ([`super::tokens`]); statements are prepared once per
//!   connection and reused;
//! - values map exactly (INT2/INT4/INT8 → integer, FLOAT4/FLOAT8 → real, TEXT/VARCHAR → text,
//!   BYTEA → blob, BOOL → integer 0/1); any other column type is refused, naming the column;
//! - the guest's restrictions are checked on the statement's tokens ([`super::guest_policy`]);
//! - each guest statement runs inside an implicit savepoint, so a failed statement leaves the
//!   transaction usable, as SQLite does (PostgreSQL would abort the whole transaction);
//! - a statement still running at the invocation's deadline is cancelled by [`watchdog`];
//! - write transactions take one transaction-level advisory lock, so writers are serialised
//!   as SQLite serialises them; read-only invocations run in `READ ONLY` transactions.

mod types;
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};

use super::connection::count_commit;
use super::error::{SqlError, READ_ONLY_DENIAL};
use super::guest_policy::{self, Context};
use super::rows::Rows;
use super::tokens;
use super::value::{Row, SqlValue};
use super::SqlConnection;

/// The advisory lock every write transaction holds until it ends: the host's single-writer
/// rule, as on SQLite (an arbitrary constant: "slo-host" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x736c_6f2d_686f_7374;

/// Prepared statements kept per connection and kind (host, guest); the host and the SLO
/// plugin use a few dozen each.
const STATEMENT_CACHE: usize = 512;

/// Bumped whenever a migration changed the schema: connections then forget their prepared
/// statements (PostgreSQL refuses a cached plan whose result columns changed).
static SCHEMA_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells every connection of this process that the schema changed.
pub(super) fn schema_changed() {
    SCHEMA_GENERATION.fetch_add(1, Ordering::SeqCst);
}

struct State {
    client: Client,
    /// Host statements by their text.
    statements: HashMap<String, Statement>,
    /// Guest statements by their text: only statements that passed the guest policy get here,
    /// so a cached one is neither checked nor tokenized again.
    guest_statements: HashMap<String, Statement>,
    generation: u64,
    in_transaction: bool,
    /// The implicit savepoint of the last guest statement, which succeeded, is still open:
    /// its release rides along with the next batch instead of costing a round trip now.
    savepoint_open: bool,
    /// A statement outside any savepoint failed on the server: PostgreSQL has aborted the
    /// transaction, and its `COMMIT` would quietly roll back. Only a rollback may follow.
    aborted: bool,
}

impl State {
    /// Classifies a failure of a statement run outside the implicit savepoint; one the server
    /// saw (anything but a parameter the client could not encode) aborted the transaction.
    fn noting_abort<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T, SqlError> {
        result.map_err(|e| {
            let error = classify(e);
            if self.in_transaction && !matches!(error, SqlError::Parameters(_)) {
                self.aborted = true;
            }
            error
        })
    }

    /// `sql` preceded by the release of an open implicit savepoint, so that a host batch
    /// (a guest savepoint, say) is never nested inside it.
    fn after_release(&mut self, sql: &str) -> String {
        if std::mem::take(&mut self.savepoint_open) {
            format!("RELEASE SAVEPOINT host_statement; {sql}")
        } else {
            sql.to_owned()
        }
    }
}

/// One PostgreSQL connection with its prepared statements.
pub struct PgConnection {
    state: Mutex<State>,
    cancel: postgres::CancelToken,
    read_only: AtomicBool,
    write_transaction: AtomicBool,
    /// Set when a migration ran in the open transaction: its commit changes the schema.
    migrated: AtomicBool,
}

impl PgConnection {
    /// Wraps a connected client.
    pub fn new(client: Client) -> Self {
        let cancel = client.cancel_token();
        PgConnection {
            state: Mutex::new(State {
                client,
                statements: HashMap::new(),
                guest_statements: HashMap::new(),
                generation: SCHEMA_GENERATION.load(Ordering::SeqCst),
                in_transaction: false,
                savepoint_open: false,
                aborted: false,
            }),
            cancel,
            read_only: AtomicBool::new(false),
            write_transaction: AtomicBool::new(false),
            migrated: AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the server connection is gone.
    pub fn is_closed(&self) -> bool {
        self.state().client.is_closed()
    }

    /// Whether a transaction is open on the server (an aborted one included: it still needs
    /// its rollback).
    pub fn in_transaction(&self) -> bool {
        let state = self.state();
        state.in_transaction && !state.client.is_closed()
    }

    /// Whether the open transaction can still do work and commit.
    pub fn transaction_usable(&self) -> bool {
        let state = self.state();
        state.in_transaction && !state.aborted && !state.client.is_closed()
    }

    /// Runs one or more host statements without parameters.
    pub fn batch(&self, sql: &str) -> Result<(), SqlError> {
        let mut state = self.state();
        let sql = state.after_release(sql);
        let result = state.client.batch_execute(&sql);
        state.noting_abort(result)
    }

    /// Runs one host statement; answers the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let mut state = self.state();
        let statement = prepare(&mut state, sql)?;
        let result = state.client.execute(&statement, &as_params(params));
        state.noting_abort(result)
    }

    /// Runs one host statement that returns rows.
    pub fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, SqlError> {
        let mut state = self.state();
        let statement = prepare(&mut state, sql)?;
        let result = state.client.query(&statement, &as_params(params));
        let rows = state.noting_abort(result)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| types::read(row, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }

    /// Begins a transaction. A write transaction takes the host's write lock, a read-only
    /// one is `READ ONLY`; both in one round trip.
    pub fn begin(&self, read_only: bool) -> Result<(), SqlError> {
        let sql = if read_only {
            "BEGIN READ ONLY".to_owned()
        } else {
            format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        };
        let mut state = self.state();
        let started = Instant::now();
        state.client.batch_execute(&sql).map_err(|e| {
            let _ = state.client.batch_execute("ROLLBACK");
            classify(e)
        })?;
        if !read_only {
            super::connection::count_write_begin(started.elapsed());
        }
        state.in_transaction = true;
        state.aborted = false;
        self.write_transaction.store(!read_only, Ordering::SeqCst);
        Ok(())
    }

    /// Commits the open transaction.
    pub fn commit(&self) -> Result<(), SqlError> {
        let mut state = self.state();
        let result = if state.aborted {
            let _ = state.client.batch_execute("ROLLBACK");
            Err(SqlError::Database(
                "a statement failed and PostgreSQL aborted the transaction; nothing was kept"
                    .into(),
            ))
        } else {
            state.client.batch_execute("COMMIT").map_err(classify)
        };
        state.in_transaction = false;
        state.aborted = false;
        state.savepoint_open = false;
        if result.is_ok() && self.write_transaction.swap(false, Ordering::SeqCst) {
            count_commit();
        }
        if self.migrated.swap(false, Ordering::SeqCst) {
            schema_changed();
        }
        result
    }

    /// Rolls the open transaction back.
    pub fn rollback(&self) -> Result<(), SqlError> {
        let mut state = self.state();
        state.in_transaction = false;
        state.savepoint_open = false;
        state.aborted = false;
        self.write_transaction.store(false, Ordering::SeqCst);
        self.migrated.store(false, Ordering::SeqCst);
        state.client.batch_execute("ROLLBACK").map_err(classify)
    }

    /// Makes guest statements read-only (the transaction is `READ ONLY` anyway).
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }

    /// The prepared form of a guest statement: checked against the guest policy, its
    /// placeholders numbered and prepared the first time, from the cache afterwards.
    fn guest_statement(
        state: &mut State,
        statement: &str,
        given: usize,
    ) -> Result<Statement, SqlError> {
        refresh_generation(state);
        let prepared = match state.guest_statements.get(statement) {
            Some(prepared) => prepared.clone(),
            None => {
                let statements = tokens::statements(statement)?;
                match statements.as_slice() {
                    [] => return Err(SqlError::Syntax("the statement is empty".into())),
                    [one] => guest_policy::check(one, Context::Invocation)?,
                    _ => return Err(SqlError::multiple_statements()),
                }
                let (numbered, expected) = tokens::number_placeholders(statement)?;
                if expected != given {
                    return Err(SqlError::parameter_count(given, expected));
                }
                let prepared = state.client.prepare(&numbered).map_err(classify)?;
                if state.guest_statements.len() >= STATEMENT_CACHE {
                    state.guest_statements.clear();
                }
                state
                    .guest_statements
                    .insert(statement.to_owned(), prepared.clone());
                prepared
            }
        };
        let expected = prepared.params().len();
        if expected != given {
            return Err(SqlError::parameter_count(given, expected));
        }
        Ok(prepared)
    }

    /// Runs `work` inside an implicit savepoint and under the deadline watchdog: a failure
    /// rolls back to the savepoint, so the transaction goes on as it would on SQLite.
    fn guarded<T>(
        &self,
        deadline: Option<Instant>,
        work: impl FnOnce(&mut State) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(SqlError::interrupted());
        }
        let mut state = self.state();
        // One round trip before the statement: release the previous statement's savepoint
        // (if it is still open) and open this one's.
        let open = state.after_release("SAVEPOINT host_statement");
        state.client.batch_execute(&open).map_err(classify)?;
        let result = {
            let _watch = deadline.map(|d| watchdog::watch(d, self.cancel.clone()));
            work(&mut state)
        };
        if result.is_ok() {
            // Released with the next batch or statement; a commit releases it anyway.
            state.savepoint_open = true;
        } else {
            let undone = state.client.batch_execute(
                "ROLLBACK TO SAVEPOINT host_statement; RELEASE SAVEPOINT host_statement",
            );
            state.noting_abort(undone)?;
        }
        result
    }

    /// Runs a guest statement that returns rows (at most `max_rows`).
    pub fn guest_query(
        &self,
        statement: &str,
        params: &[SqlValue],
        deadline: Option<Instant>,
        max_rows: usize,
    ) -> Result<Rows, SqlError> {
        self.guarded(deadline, |state| {
            let prepared = Self::guest_statement(state, statement, params.len())?;
            let columns: Vec<String> = prepared
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect();
            let mut rows = Rows::new(columns);
            let mut count = 0usize;
            let mut cursor = state
                .client
                .query_raw(&prepared, as_params(params))
                .map_err(classify)?;
            use postgres::fallible_iterator::FallibleIterator;
            while let Some(row) = cursor.next().map_err(classify)? {
                if count == max_rows {
                    return Err(SqlError::too_many_rows(max_rows));
                }
                count += 1;
                for i in 0..row.len() {
                    rows.push(&types::read(&row, i)?)?;
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
        self.guarded(deadline, |state| {
            let prepared = Self::guest_statement(state, statement, params.len())?;
            if !prepared.columns().is_empty() {
                return Err(SqlError::returns_rows());
            }
            state
                .client
                .execute(&prepared, &as_params(params))
                .map_err(classify)
        })
    }

    /// Runs a plugin migration: each statement checked, then all in one batch.
    pub fn guest_migration(&self, sql: &str, deadline: Option<Instant>) -> Result<(), SqlError> {
        for statement in tokens::statements(sql)? {
            guest_policy::check(&statement, Context::Migration)?;
            if let Some(name) = statement.iter().find_map(|t| match t {
                tokens::Token::Placeholder(p) | tokens::Token::NamedParameter(p) => Some(*p),
                _ => None,
            }) {
                return Err(SqlError::Refused(format!(
                    "a migration takes no parameters, but names {name}"
                )));
            }
        }
        self.migrated.store(true, Ordering::SeqCst);
        schema_changed();
        self.guarded(deadline, |state| {
            state.client.batch_execute(sql).map_err(classify)
        })
    }
}

/// The statement for `sql` (host SQL with `?` placeholders), prepared once per connection.
fn prepare(state: &mut State, sql: &str) -> Result<Statement, SqlError> {
    if let Some(statement) = cached(state, sql) {
        return Ok(statement);
    }
    let (numbered, _) = tokens::number_placeholders(sql)?;
    prepare_numbered(state, sql, &numbered)
}

/// Forgets every prepared statement when a migration changed the schema since.
fn refresh_generation(state: &mut State) {
    let generation = SCHEMA_GENERATION.load(Ordering::SeqCst);
    if state.generation != generation {
        state.statements.clear();
        state.guest_statements.clear();
        state.generation = generation;
    }
}

fn cached(state: &mut State, sql: &str) -> Option<Statement> {
    refresh_generation(state);
    state.statements.get(sql).cloned()
}

/// The statement for `sql`, already numbered as `numbered`, prepared once per connection.
fn prepare_numbered(state: &mut State, sql: &str, numbered: &str) -> Result<Statement, SqlError> {
    if let Some(statement) = cached(state, sql) {
        return Ok(statement);
    }
    let statement = state.client.prepare(numbered).map_err(classify)?;
    if state.statements.len() >= STATEMENT_CACHE {
        state.statements.clear();
    }
    state.statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

fn as_params(params: &[SqlValue]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// Classifies a PostgreSQL error by its SQLSTATE.
fn classify(error: postgres::Error) -> SqlError {
    let Some(db) = error.as_db_error() else {
        if error.is_closed() {
            return SqlError::Unavailable(format!("the database connection is closed: {error}"));
        }
        let text = error.to_string();
        if text.contains("serializing parameter") {
            return SqlError::Parameters(match std::error::Error::source(&error) {
                Some(cause) => format!("{text}: {cause}"),
                None => text,
            });
        }
        return SqlError::Unavailable(text);
    };
    let message = match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_owned(),
    };
    let code = db.code();
    let class = &code.code()[..2];
    if *code == SqlState::QUERY_CANCELED {
        return SqlError::interrupted();
    }
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return SqlError::Refused(READ_ONLY_DENIAL.into());
    }
    if code.code() == "42601" && message.contains("multiple commands") {
        return SqlError::multiple_statements();
    }
    match class {
        "23" => SqlError::Constraint(message),
        "42" => SqlError::Syntax(message),
        "08" | "53" | "58" | "57" | "XX" => SqlError::Unavailable(message),
        _ => SqlError::Database(message),
    }
}

/// An r2d2 manager of PostgreSQL connections for the host.
#[derive(Debug)]
pub struct PgManager {
    config: postgres::Config,
}

impl PgManager {
    /// A manager for the database at `url` (a `postgres://` URL or a `key=value` string).
    pub fn new(url: &str) -> Result<Self, SqlError> {
        let mut config = url.parse::<postgres::Config>().map_err(|e| {
            SqlError::Unavailable(format!("the PostgreSQL address is not valid: {e}"))
        })?;
        // The host's idempotent DDL (`IF NOT EXISTS`) would log a NOTICE per table on every
        // start; warnings and errors still come through. Options the URL sets come first.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c client_min_messages=warning"),
            None => "-c client_min_messages=warning".to_owned(),
        };
        config.options(&options);
        Ok(PgManager { config })
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = SqlConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<SqlConnection, postgres::Error> {
        let client = self.config.connect(NoTls)?;
        Ok(SqlConnection::postgres(PgConnection::new(client)))
    }

    fn is_valid(&self, conn: &mut SqlConnection) -> Result<(), postgres::Error> {
        match conn.as_postgres() {
            Some(pg) => pg.state().client.simple_query("").map(|_| ()),
            None => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut SqlConnection) -> bool {
        let Some(pg) = conn.as_postgres() else {
            return true;
        };
        // A connection goes back to the pool outside any transaction.
        if pg.in_transaction() {
            if let Err(e) = pg.rollback() {
                tracing::error!("rolling back a returned connection failed: {e}");
                return true;
            }
        }
        pg.set_read_only(false);
        pg.is_closed()
    }
}

/// A pool failure (no connection within the wait, or the server refused one) as an
/// unavailable database: the host's failure, never the plugin's.
pub fn pool_error(error: r2d2::Error) -> SqlError {
    SqlError::Unavailable(format!("no PostgreSQL connection: {error}"))
}
