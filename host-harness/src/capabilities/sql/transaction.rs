//! One invocation's transaction: guest statements, savepoints, commit or rollback.

use std::time::Instant;

use super::error::SqlError;
use super::pool::PooledConnection;
use super::rows::Rows;
use super::value::SqlValue;

/// An open transaction on a pooled connection. Dropping it without [`Transaction::commit`]
/// rolls it back, so a trap or an early return can never leave work half-applied.
pub struct Transaction {
    conn: Option<PooledConnection>,
    deadline: Option<Instant>,
    /// Set when SQLite ended the transaction by itself (an interrupted write, `OR ROLLBACK`,
    /// `RAISE(ROLLBACK)`): every later statement is refused and the invocation must fail,
    /// because its earlier writes are gone and later ones would autocommit.
    lost: bool,
    /// Set when a statement found the database itself unusable (read-only, full, I/O error):
    /// the invocation then fails as a host failure, whatever the guest answers.
    fault: Option<String>,
    /// Open savepoints, oldest first: (id, the caller's mark to restore on rollback).
    savepoints: Vec<(u32, usize)>,
    next_savepoint: u32,
}

impl Transaction {
    /// Begins an immediate (write-locking) transaction on `conn`. Guest statements running past
    /// `deadline` are interrupted.
    pub fn begin(conn: PooledConnection, deadline: Option<Instant>) -> Result<Self, SqlError> {
        Self::open(conn, deadline, false)
    }

    /// Begins a read-only transaction: a deferred one (in WAL mode it never waits for, nor
    /// blocks, writers), whose guest statements may only read.
    pub fn begin_read_only(
        conn: PooledConnection,
        deadline: Option<Instant>,
    ) -> Result<Self, SqlError> {
        Self::open(conn, deadline, true)
    }

    fn open(
        conn: PooledConnection,
        deadline: Option<Instant>,
        read_only: bool,
    ) -> Result<Self, SqlError> {
        conn.begin(read_only)?;
        conn.set_read_only(read_only);
        Ok(Transaction {
            conn: Some(conn),
            deadline,
            lost: false,
            fault: None,
            savepoints: Vec::new(),
            next_savepoint: 1,
        })
    }

    /// Sets the instant after which running guest statements are interrupted (the same
    /// instant as the invocation's epoch deadline).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Whether SQLite ended the transaction behind the invocation's back.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    fn conn(&self) -> Result<&PooledConnection, SqlError> {
        if self.lost {
            return Err(lost_error());
        }
        self.conn
            .as_ref()
            .ok_or_else(|| SqlError::Database("the transaction has already ended".into()))
    }

    /// Why the database could not be used during this transaction, if it could not (see
    /// [`SqlError::Unavailable`]).
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Records whether the last statement made SQLite leave the transaction, and whether it
    /// found the database unusable.
    fn check_alive<T>(&mut self, result: Result<T, SqlError>) -> Result<T, SqlError> {
        if let (Err(SqlError::Unavailable(reason)), None) = (&result, &self.fault) {
            self.fault = Some(reason.clone());
        }
        let alive = self.conn.as_ref().is_some_and(|c| c.transaction_usable());
        if alive {
            result
        } else {
            self.lost = true;
            Err(result.err().map_or_else(lost_error, |e| {
                SqlError::Database(format!(
                    "{e}; the database rolled back the whole invocation"
                ))
            }))
        }
    }

    /// The open connection, for the host's own statements inside this transaction (its
    /// bookkeeping rows commit or roll back with the guest's writes). Never hand it to a guest.
    pub fn host_connection(&self) -> Result<&super::SqlConnection, SqlError> {
        Ok(self.conn()?)
    }

    /// Runs a guest statement that returns rows (at most [`MAX_ROWS`] rows).
    pub fn query(&mut self, statement: &str, params: &[SqlValue]) -> Result<Rows, SqlError> {
        let result = self.query_inner(statement, params);
        self.check_alive(result)
    }

    fn query_inner(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, SqlError> {
        self.query_up_to(statement, params, MAX_ROWS)
    }

    /// Runs a guest statement whose rows a cursor hands out a page at a time (at most
    /// [`MAX_CURSOR_ROWS`] rows, held by the host, not the guest).
    pub fn query_for_cursor(
        &mut self,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<Rows, SqlError> {
        let result = self.query_up_to(statement, params, MAX_CURSOR_ROWS);
        self.check_alive(result)
    }

    fn query_up_to(
        &self,
        statement: &str,
        params: &[SqlValue],
        max_rows: usize,
    ) -> Result<Rows, SqlError> {
        refuse_host_names(statement)?;
        self.conn()?
            .guest_query(statement, params, self.deadline, max_rows)
    }

    /// Runs a guest statement that returns no rows; answers the number of rows it changed.
    pub fn execute(&mut self, statement: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        let result = self.execute_inner(statement, params);
        self.check_alive(result)
    }

    fn execute_inner(&self, statement: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        refuse_host_names(statement)?;
        self.conn()?.guest_execute(statement, params, self.deadline)
    }

    /// Opens a savepoint; `mark` is what [`Transaction::rollback_to`] gives back (the outbox
    /// length, so that entries made after the savepoint can be discarded with it).
    pub fn savepoint(&mut self, mark: usize) -> Result<u32, SqlError> {
        let id = self.next_savepoint;
        let result = self.host_statement(&format!("SAVEPOINT host_sp_{id}"));
        self.check_alive(result)?;
        self.next_savepoint += 1;
        self.savepoints.push((id, mark));
        Ok(id)
    }

    fn position(&self, id: u32) -> Result<usize, SqlError> {
        self.savepoints
            .iter()
            .position(|(sp, _)| *sp == id)
            .ok_or_else(|| SqlError::Refused(format!("savepoint {id} is not open")))
    }

    /// Keeps the work since savepoint `id` and closes it (and any savepoint opened after it).
    pub fn release(&mut self, id: u32) -> Result<(), SqlError> {
        let at = self.position(id)?;
        self.host_statement(&format!("RELEASE SAVEPOINT host_sp_{id}"))?;
        self.savepoints.truncate(at);
        Ok(())
    }

    /// Undoes the work since savepoint `id`, closes it, and answers its mark.
    pub fn rollback_to(&mut self, id: u32) -> Result<usize, SqlError> {
        let at = self.position(id)?;
        self.host_statement(&format!(
            "ROLLBACK TO SAVEPOINT host_sp_{id}; RELEASE SAVEPOINT host_sp_{id}"
        ))?;
        let mark = self.savepoints[at].1;
        self.savepoints.truncate(at);
        Ok(mark)
    }

    /// Commits. On failure the transaction is rolled back and the error returned.
    pub fn commit(mut self) -> Result<(), SqlError> {
        let result = self.conn().and_then(|c| c.commit());
        if result.is_err() {
            self.rollback_inner();
        }
        if let Some(conn) = self.conn.take() {
            conn.set_read_only(false);
        }
        result
    }

    /// Rolls back and returns the connection to the pool.
    pub fn rollback(mut self) {
        self.rollback_inner();
    }

    fn rollback_inner(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.set_read_only(false);
            if let Err(e) = conn.rollback() {
                tracing::error!("rollback failed: {e}");
            }
        }
    }

    fn host_statement(&self, sql: &str) -> Result<(), SqlError> {
        self.conn()?.batch(sql)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.rollback_inner();
    }
}

/// The most rows one query may return; a larger result is an error naming the limit.
pub const MAX_ROWS: usize = 100_000;

/// Most rows one cursor may hold (`sql.open-cursor`, contract 0.2.0). The rows live in the
/// host while the guest pages through them, so the bound is the host's memory, far above
/// [`MAX_ROWS`]; in practice the invocation's deadline ends a larger read first.
pub const MAX_CURSOR_ROWS: usize = 10_000_000;

/// Refuses any statement that names a host table, even where the authorizer cannot see the
/// name (the new name of `ALTER TABLE … RENAME TO`).
pub(crate) fn refuse_host_names(statement: &str) -> Result<(), SqlError> {
    if statement
        .to_ascii_lowercase()
        .contains(super::HOST_TABLE_PREFIX)
    {
        Err(SqlError::Refused(format!(
            "names starting with {} belong to the host",
            super::HOST_TABLE_PREFIX
        )))
    } else {
        Ok(())
    }
}

fn lost_error() -> SqlError {
    SqlError::Database(
        "the database rolled back this invocation's transaction; it can only fail now".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::sql::Database;

    /// A statement that finds the database unusable (here: turned read-only after the
    /// transaction began) marks the transaction faulted, so the invocation fails as the host's
    /// failure whatever the guest does with the error it receives.
    #[test]
    fn a_read_only_database_marks_the_transaction_faulted() {
        let db = Database::in_memory().unwrap();
        db.checkout()
            .unwrap()
            .batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let mut tx = Transaction::begin(db.checkout().unwrap(), None).unwrap();
        assert_eq!(tx.fault(), None);
        tx.host_connection()
            .unwrap()
            .batch("PRAGMA query_only = ON")
            .unwrap();
        let error = tx
            .execute("INSERT INTO t (x) VALUES (?)", &[SqlValue::Integer(1)])
            .unwrap_err();
        assert!(matches!(error, SqlError::Unavailable(_)), "{error:?}");
        assert!(tx.fault().is_some_and(|f| f.contains("readonly")));
        // a syntax error is the guest's own and faults nothing
        drop(tx);
        db.checkout()
            .unwrap()
            .batch("PRAGMA query_only = OFF")
            .unwrap();
        let mut clean = Transaction::begin(db.checkout().unwrap(), None).unwrap();
        assert!(clean
            .execute("INSERT INTO nowhere VALUES (1)", &[])
            .is_err());
        assert_eq!(clean.fault(), None);
    }
}
