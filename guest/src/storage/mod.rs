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

/// What one cell of a query result holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer,
    /// A double.
    Real,
    /// UTF-8 text.
    Text,
    /// Raw bytes.
    Blob,
}

/// A query result as flat buffers (the contract's columnar form): cells row-major, each
/// non-null value in the buffer of its kind. Reading a cell costs no allocation for numbers
/// and one copy for text, however many rows the result has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    columns: Vec<String>,
    kinds: Vec<CellKind>,
    /// For each cell, its index in the buffer of its kind.
    slots: Vec<u32>,
    integers: Vec<i64>,
    reals: Vec<f64>,
    text: String,
    text_ends: Vec<u32>,
    blobs: Vec<u8>,
    blob_ends: Vec<u32>,
}

/// The buffers of a columnar result as the host hands them over (see [`Rows::from_buffers`]).
#[derive(Debug, Default)]
pub struct Buffers {
    /// Column names, in select order.
    pub columns: Vec<String>,
    /// Kind of every cell, row-major.
    pub kinds: Vec<CellKind>,
    /// Integer cells, in cell order.
    pub integers: Vec<i64>,
    /// Real cells, in cell order.
    pub reals: Vec<f64>,
    /// Text cells, concatenated.
    pub text: String,
    /// End offset of each text cell in `text`.
    pub text_ends: Vec<u32>,
    /// Blob cells, concatenated.
    pub blobs: Vec<u8>,
    /// End offset of each blob cell in `blobs`.
    pub blob_ends: Vec<u32>,
}

fn malformed(what: &str) -> PluginError {
    PluginError::Internal(format!("storage: the host's result is malformed: {what}"))
}

/// Checks that `ends` are non-decreasing offsets within `len` (and, for text, on character
/// boundaries of `text`).
fn check_ends(ends: &[u32], len: usize, text: Option<&str>, what: &str) -> Result<(), PluginError> {
    let mut start = 0usize;
    for &end in ends {
        let end = end as usize;
        if end < start || end > len || text.is_some_and(|t| !t.is_char_boundary(end)) {
            return Err(malformed(&format!(
                "{what} offsets are out of order or out of range"
            )));
        }
        start = end;
    }
    Ok(())
}

impl Rows {
    /// Takes over the host's buffers after checking once that they add up (counts per kind,
    /// offsets in order and on character boundaries), so that reads never index out of range.
    pub fn from_buffers(b: Buffers) -> Result<Rows, PluginError> {
        let width = b.columns.len();
        if width == 0 && !b.kinds.is_empty() || width > 0 && !b.kinds.len().is_multiple_of(width) {
            return Err(malformed("the cells do not fill whole rows"));
        }
        let mut counts = [0u32; 5];
        let mut slots = Vec::with_capacity(b.kinds.len());
        for kind in &b.kinds {
            let counter = &mut counts[*kind as usize];
            slots.push(*counter);
            *counter += 1;
        }
        let [_, integers, reals, texts, blobs] = counts.map(|n| n as usize);
        if integers != b.integers.len()
            || reals != b.reals.len()
            || texts != b.text_ends.len()
            || blobs != b.blob_ends.len()
        {
            return Err(malformed("a value buffer does not match the cell kinds"));
        }
        check_ends(&b.text_ends, b.text.len(), Some(&b.text), "text")?;
        check_ends(&b.blob_ends, b.blobs.len(), None, "blob")?;
        Ok(Rows {
            columns: b.columns,
            kinds: b.kinds,
            slots,
            integers: b.integers,
            reals: b.reals,
            text: b.text,
            text_ends: b.text_ends,
            blobs: b.blobs,
            blob_ends: b.blob_ends,
        })
    }

    /// Builds a result from row-major values (native databases in tests and benchmarks).
    pub fn from_values(columns: Vec<String>, rows: Vec<Vec<SqlValue>>) -> Rows {
        let mut b = Buffers {
            columns,
            ..Buffers::default()
        };
        for value in rows.into_iter().flatten() {
            match value {
                SqlValue::Null => b.kinds.push(CellKind::Null),
                SqlValue::Integer(n) => {
                    b.kinds.push(CellKind::Integer);
                    b.integers.push(n);
                }
                SqlValue::Real(n) => {
                    b.kinds.push(CellKind::Real);
                    b.reals.push(n);
                }
                SqlValue::Text(t) => {
                    b.kinds.push(CellKind::Text);
                    b.text.push_str(&t);
                    b.text_ends.push(b.text.len() as u32);
                }
                SqlValue::Blob(x) => {
                    b.kinds.push(CellKind::Blob);
                    b.blobs.extend_from_slice(&x);
                    b.blob_ends.push(b.blobs.len() as u32);
                }
            }
        }
        // Built from whole rows, so it always adds up.
        Rows::from_buffers(b).unwrap_or_default()
    }

    /// Column names, in select order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.kinds
            .len()
            .checked_div(self.columns.len())
            .unwrap_or(0)
    }

    /// Whether the result has no rows.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Iterates the rows as typed [`Row`] readers.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        let width = self.columns.len();
        (0..self.len()).map(move |r| Row {
            rows: self,
            first: r * width,
        })
    }

    /// The value of row `row`, column `column`, if both exist.
    pub fn value(&self, row: usize, column: usize) -> Option<SqlValue> {
        let width = self.columns.len();
        if column >= width || row >= self.len() {
            return None;
        }
        Some(self.cell(row * width + column))
    }

    fn cell(&self, cell: usize) -> SqlValue {
        let slot = self.slots[cell] as usize;
        match self.kinds[cell] {
            CellKind::Null => SqlValue::Null,
            CellKind::Integer => SqlValue::Integer(self.integers[slot]),
            CellKind::Real => SqlValue::Real(self.reals[slot]),
            CellKind::Text => SqlValue::Text(self.text_at(slot).to_owned()),
            CellKind::Blob => {
                let start = slot
                    .checked_sub(1)
                    .map_or(0, |p| self.blob_ends[p] as usize);
                SqlValue::Blob(self.blobs[start..self.blob_ends[slot] as usize].to_vec())
            }
        }
    }

    fn text_at(&self, slot: usize) -> &str {
        let start = slot
            .checked_sub(1)
            .map_or(0, |p| self.text_ends[p] as usize);
        &self.text[start..self.text_ends[slot] as usize]
    }
}

/// The SQL the storage layer needs: implemented over the host import in the component, and by
/// any native database in tests.
pub trait Database {
    /// Runs a statement that returns rows.
    fn query(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, PluginError>;
    /// Reads a result of any size a page at a time (the host's cursor): `page` gets at most
    /// `page_rows` rows per call, in order, until the rows run out or it answers `false`.
    /// The rows are those the statement produced when the read began.
    fn query_pages(
        &self,
        statement: &str,
        params: &[SqlValue],
        page_rows: u32,
        page: &mut dyn FnMut(Rows) -> Result<bool, PluginError>,
    ) -> Result<(), PluginError>;
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

/// Rows per page when a whole table is read through the cursor ([`read_all`]).
pub const PAGE_ROWS: u32 = 5_000;

/// Every row `statement` produces, decoded by `decode`, read a page at a time through the
/// host's cursor: unlike [`Database::query`], no row cap applies (the daily job pages past
/// 100,000 objectives this way).
pub fn read_all<T>(
    db: &dyn Database,
    statement: &str,
    params: &[SqlValue],
    decode: impl Fn(&Row<'_>) -> Result<T, PluginError>,
) -> Result<Vec<T>, PluginError> {
    let mut all = Vec::new();
    db.query_pages(statement, params, PAGE_ROWS, &mut |rows| {
        all.reserve(rows.len());
        for row in rows.iter() {
            all.push(decode(&row)?);
        }
        Ok(true)
    })?;
    Ok(all)
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
    rows: &'a Rows,
    /// The row's first cell.
    first: usize,
}

impl<'a> Row<'a> {
    /// The kind and buffer slot of column `index`.
    fn at(&self, index: usize) -> Result<(CellKind, usize), PluginError> {
        if index >= self.rows.columns.len() {
            return Err(PluginError::Internal(format!(
                "storage: row has no column {index}"
            )));
        }
        let cell = self.first + index;
        Ok((self.rows.kinds[cell], self.rows.slots[cell] as usize))
    }

    fn type_error(&self, index: usize, wanted: &str) -> PluginError {
        let name = self.rows.columns.get(index).map_or("?", String::as_str);
        PluginError::Internal(format!("storage: column {name} is not {wanted}"))
    }

    /// A non-null text column, borrowed from the result.
    pub fn str(&self, index: usize) -> Result<&'a str, PluginError> {
        match self.at(index)? {
            (CellKind::Text, slot) => Ok(self.rows.text_at(slot)),
            _ => Err(self.type_error(index, "text")),
        }
    }

    /// A non-null text column.
    pub fn text(&self, index: usize) -> Result<String, PluginError> {
        self.str(index).map(str::to_owned)
    }

    /// A nullable text column.
    pub fn opt_text(&self, index: usize) -> Result<Option<String>, PluginError> {
        match self.at(index)? {
            (CellKind::Null, _) => Ok(None),
            (CellKind::Text, slot) => Ok(Some(self.rows.text_at(slot).to_owned())),
            _ => Err(self.type_error(index, "text or null")),
        }
    }

    /// A non-null integer column.
    pub fn integer(&self, index: usize) -> Result<i64, PluginError> {
        match self.at(index)? {
            (CellKind::Integer, slot) => Ok(self.rows.integers[slot]),
            _ => Err(self.type_error(index, "an integer")),
        }
    }

    /// A nullable integer column.
    pub fn opt_integer(&self, index: usize) -> Result<Option<i64>, PluginError> {
        match self.at(index)? {
            (CellKind::Null, _) => Ok(None),
            (CellKind::Integer, slot) => Ok(Some(self.rows.integers[slot])),
            _ => Err(self.type_error(index, "an integer or null")),
        }
    }

    /// A non-null double column (an integer-typed value is widened, as SQLite may store 100 as 100).
    pub fn real(&self, index: usize) -> Result<f64, PluginError> {
        match self.at(index)? {
            (CellKind::Real, slot) => Ok(self.rows.reals[slot]),
            (CellKind::Integer, slot) => Ok(self.rows.integers[slot] as f64),
            _ => Err(self.type_error(index, "a number")),
        }
    }

    /// A nullable double column.
    pub fn opt_real(&self, index: usize) -> Result<Option<f64>, PluginError> {
        match self.at(index)? {
            (CellKind::Null, _) => Ok(None),
            _ => self.real(index).map(Some),
        }
    }

    /// A boolean stored as INTEGER 0/1.
    pub fn boolean(&self, index: usize) -> Result<bool, PluginError> {
        Ok(self.integer(index)? != 0)
    }
}
