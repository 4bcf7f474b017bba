//! A native [`Database`] over an in-memory SQLite with the plugin's migrations applied, so
//! that the storage layer's SQL is tested on a real database before it runs in the component.

use rusqlite::types::{Value as RValue, ValueRef};
use rusqlite::Connection;

use super::{Database, Rows, SqlValue};
use crate::core::PluginError;
use crate::migrations::MIGRATIONS;

/// An in-memory database with every migration applied and foreign keys on.
pub struct TestDb {
    conn: Connection,
    savepoints: std::cell::Cell<u32>,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    /// A fresh, migrated database.
    pub fn new() -> Self {
        let conn = Connection::open_in_memory().expect("in-memory sqlite");
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        for m in MIGRATIONS {
            conn.execute_batch(m.sql)
                .unwrap_or_else(|e| panic!("migration {}: {e}", m.id));
        }
        TestDb {
            conn,
            savepoints: std::cell::Cell::new(0),
        }
    }
}

fn to_sql(v: &SqlValue) -> RValue {
    match v {
        SqlValue::Null => RValue::Null,
        SqlValue::Integer(n) => RValue::Integer(*n),
        SqlValue::Real(n) => RValue::Real(*n),
        SqlValue::Text(s) => RValue::Text(s.clone()),
        SqlValue::Blob(b) => RValue::Blob(b.clone()),
    }
}

fn error(e: rusqlite::Error) -> PluginError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            PluginError::Conflict(format!("constraint: {e}"))
        }
        _ => PluginError::Internal(format!("sql: {e}")),
    }
}

impl Database for TestDb {
    fn query(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, PluginError> {
        let mut all = None;
        self.query_pages(statement, params, u32::MAX, &mut |rows| {
            all = Some(rows);
            Ok(false)
        })?;
        match all {
            Some(rows) => Ok(rows),
            None => {
                let stmt = self.conn.prepare(statement).map_err(error)?;
                let columns = stmt.column_names().into_iter().map(str::to_owned).collect();
                Ok(Rows::from_values(columns, Vec::new()))
            }
        }
    }

    fn query_pages(
        &self,
        statement: &str,
        params: &[SqlValue],
        page_rows: u32,
        page: &mut dyn FnMut(Rows) -> Result<bool, PluginError>,
    ) -> Result<(), PluginError> {
        let mut stmt = self.conn.prepare(statement).map_err(error)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let params: Vec<RValue> = params.iter().map(to_sql).collect();
        let mut cursor = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(error)?;
        let page_rows = page_rows.max(1) as usize;
        let mut rows = Vec::new();
        while let Some(row) = cursor.next().map_err(error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(error)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(n) => SqlValue::Integer(n),
                    ValueRef::Real(n) => SqlValue::Real(n),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                });
            }
            rows.push(values);
            if rows.len() == page_rows
                && !page(Rows::from_values(
                    columns.clone(),
                    std::mem::take(&mut rows),
                ))?
            {
                return Ok(());
            }
        }
        if !rows.is_empty() {
            page(Rows::from_values(columns, rows))?;
        }
        Ok(())
    }

    fn savepoint(&self) -> Result<u32, PluginError> {
        let id = self.savepoints.get() + 1;
        self.savepoints.set(id);
        self.conn
            .execute_batch(&format!("SAVEPOINT sp_{id}"))
            .map_err(error)?;
        Ok(id)
    }

    fn release(&self, id: u32) -> Result<(), PluginError> {
        self.conn
            .execute_batch(&format!("RELEASE SAVEPOINT sp_{id}"))
            .map_err(error)
    }

    fn rollback_to(&self, id: u32) -> Result<(), PluginError> {
        self.conn
            .execute_batch(&format!(
                "ROLLBACK TO SAVEPOINT sp_{id}; RELEASE SAVEPOINT sp_{id}"
            ))
            .map_err(error)
    }

    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<u64, PluginError> {
        let params: Vec<RValue> = params.iter().map(to_sql).collect();
        self.conn
            .execute(statement, rusqlite::params_from_iter(params))
            .map(|n| n as u64)
            .map_err(error)
    }
}
