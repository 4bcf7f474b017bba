//! Typed SQL values, result rows, and the conversions the host's own statements use.
//!
//! Both backends speak these types: a parameter is a [`SqlValue`], a row is a list of them.
//! The host's statements bind with [`crate::sql_params!`] and read with [`Row::get`], so the
//! code above `capabilities::sql` never sees a driver's types.

use serde::Serialize;

use super::error::SqlError;

/// A typed SQL value, as a parameter or a result column.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// 64-bit integer.
    Integer(i64),
    /// Double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl SqlValue {
    /// The contract's name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            SqlValue::Null => "null",
            SqlValue::Integer(_) => "integer",
            SqlValue::Real(_) => "real",
            SqlValue::Text(_) => "text",
            SqlValue::Blob(_) => "blob",
        }
    }
}

/// One row of a host statement's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<SqlValue>);

impl Row {
    /// Column `index` as `T`; a missing column or a value of another type is an error naming
    /// both (the host's tables are its own, so this is a bug or a damaged database).
    pub fn get<T: FromSqlValue>(&self, index: usize) -> Result<T, SqlError> {
        let value = self.0.get(index).ok_or_else(|| {
            SqlError::Database(format!(
                "column {index} is missing: the row has {}",
                self.0.len()
            ))
        })?;
        T::from_sql_value(value).ok_or_else(|| {
            SqlError::Database(format!(
                "column {index} holds a {} where {} was expected",
                value.type_name(),
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A Rust type a column converts into (see [`Row::get`]).
pub trait FromSqlValue: Sized {
    /// The value as `Self`, or `None` when the types do not fit.
    fn from_sql_value(value: &SqlValue) -> Option<Self>;
}

impl FromSqlValue for i64 {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromSqlValue for i32 {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        i64::from_sql_value(value).and_then(|n| i32::try_from(n).ok())
    }
}

impl FromSqlValue for u32 {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        i64::from_sql_value(value).and_then(|n| u32::try_from(n).ok())
    }
}

impl FromSqlValue for u64 {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        i64::from_sql_value(value).and_then(|n| u64::try_from(n).ok())
    }
}

impl FromSqlValue for bool {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        i64::from_sql_value(value).map(|n| n != 0)
    }
}

impl FromSqlValue for f64 {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Real(n) => Some(*n),
            // SQLite stores a whole REAL as an integer when the column has no REAL affinity.
            SqlValue::Integer(n) => Some(*n as f64),
            _ => None,
        }
    }
}

impl FromSqlValue for String {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromSqlValue for Vec<u8> {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl FromSqlValue for SqlValue {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        Some(value.clone())
    }
}

impl<T: FromSqlValue> FromSqlValue for Option<T> {
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Null => Some(None),
            other => T::from_sql_value(other).map(Some),
        }
    }
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Integer(n)
    }
}

impl From<i32> for SqlValue {
    fn from(n: i32) -> Self {
        SqlValue::Integer(i64::from(n))
    }
}

impl From<u32> for SqlValue {
    fn from(n: u32) -> Self {
        SqlValue::Integer(i64::from(n))
    }
}

impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Integer(i64::from(b))
    }
}

impl From<f64> for SqlValue {
    fn from(n: f64) -> Self {
        SqlValue::Real(n)
    }
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

impl From<&String> for SqlValue {
    fn from(s: &String) -> Self {
        SqlValue::Text(s.clone())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(b: Vec<u8>) -> Self {
        SqlValue::Blob(b)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

impl<T: Clone + Into<SqlValue>> From<&Option<T>> for SqlValue {
    fn from(value: &Option<T>) -> Self {
        value.clone().map_or(SqlValue::Null, Into::into)
    }
}

/// Parameters for a host statement: `sql_params![a, b]` is `&[SqlValue::from(a), …]`.
#[macro_export]
macro_rules! sql_params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::capabilities::sql::SqlValue::from($value)),*][..]
    };
}
