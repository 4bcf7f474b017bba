//! The storage layer: domain reads and writes as SQL statements through [`Database`].
//!
//! Every statement uses positional `?` placeholders and typed [`SqlValue`] parameters, and
//! SQL that both SQLite and PostgreSQL accept. Instants are BIGINT epoch milliseconds and
//! booleans INTEGER 0/1, so no dialect-specific type conversion is needed.

pub mod achievements;
pub mod downtime;
pub mod entity_states;
pub mod objectives;
pub mod snapshots;
pub mod streaks;
#[cfg(any(test, feature = "native"))]
pub mod test_db;
#[cfg(test)]
mod tests;

use crate::core::PluginError;

/// A typed SQL value, as a parameter or as a column of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Integer(n)
    }
}
impl From<f64> for SqlValue {
    fn from(n: f64) -> Self {
        SqlValue::Real(n)
    }
}
impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Integer(i64::from(b))
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// Rows of a query result, with the column names in select order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Row values, one list per row.
    pub rows: Vec<Vec<SqlValue>>,
}

/// The SQL the storage layer needs: implemented over the host import in the component, and by
/// any native database in tests.
pub trait Database {
    /// Runs a statement that returns rows.
    fn query(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, PluginError>;
    /// Runs a statement that returns no rows; answers the number of rows changed.
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<u64, PluginError>;
    /// Opens a savepoint: work after it (SQL and, in the component, the outbox) can be undone
    /// alone.
    fn savepoint(&self) -> Result<u32, PluginError>;
    /// Keeps the work since savepoint `id`.
    fn release(&self, id: u32) -> Result<(), PluginError>;
    /// Undoes the work since savepoint `id`.
    fn rollback_to(&self, id: u32) -> Result<(), PluginError>;
}

/// Runs `work` under a savepoint: kept if it succeeds, undone (and its error returned) if not.
pub fn isolated<T>(
    db: &dyn Database,
    work: impl FnOnce() -> Result<T, PluginError>,
) -> Result<T, PluginError> {
    let savepoint = db.savepoint()?;
    match work() {
        Ok(value) => {
            db.release(savepoint)?;
            Ok(value)
        }
        Err(error) => {
            db.rollback_to(savepoint)?;
            Err(error)
        }
    }
}

/// Typed reads of one result row by column position, with errors naming the column.
pub struct Row<'a> {
    values: &'a [SqlValue],
    columns: &'a [String],
}

impl<'a> Row<'a> {
    /// Wraps one row of `rows`.
    pub fn new(columns: &'a [String], values: &'a [SqlValue]) -> Self {
        Row { values, columns }
    }

    fn at(&self, index: usize) -> Result<&'a SqlValue, PluginError> {
        self.values
            .get(index)
            .ok_or_else(|| PluginError::Internal(format!("storage: row has no column {index}")))
    }

    fn type_error(&self, index: usize, wanted: &str) -> PluginError {
        let name = self.columns.get(index).map_or("?", String::as_str);
        PluginError::Internal(format!("storage: column {name} is not {wanted}"))
    }

    /// A non-null text column.
    pub fn text(&self, index: usize) -> Result<String, PluginError> {
        match self.at(index)? {
            SqlValue::Text(s) => Ok(s.clone()),
            _ => Err(self.type_error(index, "text")),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, index: usize) -> Result<Option<String>, PluginError> {
        match self.at(index)? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.type_error(index, "text or null")),
        }
    }

    /// A non-null integer column.
    pub fn integer(&self, index: usize) -> Result<i64, PluginError> {
        match self.at(index)? {
            SqlValue::Integer(n) => Ok(*n),
            _ => Err(self.type_error(index, "an integer")),
        }
    }

    /// A nullable integer column.
    pub fn opt_integer(&self, index: usize) -> Result<Option<i64>, PluginError> {
        match self.at(index)? {
            SqlValue::Null => Ok(None),
            SqlValue::Integer(n) => Ok(Some(*n)),
            _ => Err(self.type_error(index, "an integer or null")),
        }
    }

    /// A non-null double column (an integer-typed value is widened, as SQLite may store 100 as 100).
    pub fn real(&self, index: usize) -> Result<f64, PluginError> {
        match self.at(index)? {
            SqlValue::Real(n) => Ok(*n),
            SqlValue::Integer(n) => Ok(*n as f64),
            _ => Err(self.type_error(index, "a number")),
        }
    }

    /// A nullable double column.
    pub fn opt_real(&self, index: usize) -> Result<Option<f64>, PluginError> {
        match self.at(index)? {
            SqlValue::Null => Ok(None),
            _ => self.real(index).map(Some),
        }
    }

    /// A boolean stored as INTEGER 0/1.
    pub fn boolean(&self, index: usize) -> Result<bool, PluginError> {
        Ok(self.integer(index)? != 0)
    }
}

impl Rows {
    /// Iterates the rows as typed [`Row`] readers.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|r| Row::new(&self.columns, r))
    }
}
