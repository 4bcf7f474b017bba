//! `sql.open-cursor` (contract 0.2.0): a query result the guest reads a page at a time.
//!
//! The host runs the statement when the cursor opens and holds its rows (an insensitive
//! cursor: later writes in the invocation do not change them); each `next` lowers one page in
//! the columnar form. The guest never holds more than a page, so a result has no row cap in
//! the guest; the host's own bound is
//! [`MAX_CURSOR_ROWS`](crate::capabilities::sql::MAX_CURSOR_ROWS).

use wasmtime::component::Resource;

use super::columnar;
use super::imports::to_wit_error;
use super::state::InvocationState;
use crate::bindings::checkstack::plugin::sql;
use crate::capabilities::sql::{PagePosition, Rows, SqlValue};

/// Largest page one `next` hands out; larger asks are cut to it.
pub const MAX_PAGE_ROWS: u32 = 10_000;

/// Most cursors one invocation may hold open at once (each holds its rows in the host).
pub const MAX_OPEN_CURSORS: usize = 16;

/// An open cursor: the statement's rows and where the next page starts.
#[derive(Debug)]
pub struct OpenCursor {
    rows: Rows,
    position: PagePosition,
}

impl InvocationState {
    /// Runs `statement` and keeps its rows behind a new cursor.
    pub(crate) fn open_cursor(
        &mut self,
        statement: String,
        params: Vec<SqlValue>,
    ) -> Result<Resource<OpenCursor>, sql::SqlError> {
        if self.open_cursors >= MAX_OPEN_CURSORS {
            return Err(sql::SqlError::Refused(format!(
                "{MAX_OPEN_CURSORS} cursors are already open in this invocation: drop one first"
            )));
        }
        let rows = self
            .timed_sql(|tx| tx.query_for_cursor(&statement, &params))
            .map_err(to_wit_error)?;
        let cursor = self
            .table
            .push(OpenCursor {
                rows,
                position: PagePosition::default(),
            })
            .map_err(|e| sql::SqlError::Database(format!("cannot keep the cursor: {e}")))?;
        self.open_cursors += 1;
        Ok(cursor)
    }
}

impl sql::HostCursor for InvocationState {
    fn next(
        &mut self,
        cursor: Resource<OpenCursor>,
        max_rows: u32,
    ) -> Result<sql::Rows, sql::SqlError> {
        if max_rows == 0 {
            return Err(sql::SqlError::Parameters(
                "cursor.next: max-rows must be at least 1".into(),
            ));
        }
        let open = self
            .table
            .get_mut(&cursor)
            .map_err(|e| sql::SqlError::Refused(format!("cursor.next: {e}")))?;
        let page = open
            .rows
            .page(&mut open.position, max_rows.min(MAX_PAGE_ROWS) as usize);
        Ok(columnar::to_wit(page))
    }

    fn drop(&mut self, cursor: Resource<OpenCursor>) -> wasmtime::Result<()> {
        self.table.delete(cursor)?;
        self.open_cursors = self.open_cursors.saturating_sub(1);
        Ok(())
    }
}
