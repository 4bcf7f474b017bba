//! A guest query's result in the columnar shape of contract 0.2.0: cell kinds row-major, and
//! each non-null value in one flat buffer of its kind. The backends write cells straight into
//! it (no list per row, no string per cell), and the runtime hands the buffers to the guest
//! as they are; a cursor pages through it with a [`PagePosition`].

use super::error::SqlError;
use super::value::SqlValue;

/// What one cell holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// NULL.
    Null,
    /// 64-bit integer.
    Integer,
    /// Double.
    Real,
    /// UTF-8 text.
    Text,
    /// Bytes.
    Blob,
}

/// The rows a guest query produced.
///
/// Cell `r × |columns| + c` is row `r`, column `c`; the `n`-th text cell is
/// `text[text_ends[n-1] .. text_ends[n]]` (from 0 for the first), blobs likewise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names in select order.
    pub columns: Vec<String>,
    /// Every cell's kind, row-major.
    pub kinds: Vec<CellKind>,
    /// The integer cells, in cell order.
    pub integers: Vec<i64>,
    /// The real cells, in cell order.
    pub reals: Vec<f64>,
    /// The text cells, concatenated.
    pub text: String,
    /// End offset of each text cell in `text`.
    pub text_ends: Vec<u32>,
    /// The blob cells, concatenated.
    pub blobs: Vec<u8>,
    /// End offset of each blob cell in `blobs`.
    pub blob_ends: Vec<u32>,
}

/// Where a cursor stands in a [`Rows`]: the next row, and where that row's values start in
/// each buffer, so that a page costs only its own cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PagePosition {
    /// The next row to hand out.
    pub row: usize,
    integers: usize,
    reals: usize,
    texts: usize,
    blobs: usize,
}

/// An end offset as the contract's `u32`; past 4 GiB the result is refused, naming the cap.
fn end_offset(len: usize, what: &str) -> Result<u32, SqlError> {
    u32::try_from(len).map_err(|_| {
        SqlError::Refused(format!(
            "the result's {what} cells pass 4 GiB, more than one answer can carry: page it with \
             LIMIT"
        ))
    })
}

impl Rows {
    /// An empty result with these columns.
    pub fn new(columns: Vec<String>) -> Self {
        Rows {
            columns,
            ..Rows::default()
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.kinds
            .len()
            .checked_div(self.columns.len())
            .unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a NULL cell.
    pub fn push_null(&mut self) {
        self.kinds.push(CellKind::Null);
    }

    /// Appends an integer cell.
    pub fn push_integer(&mut self, n: i64) {
        self.kinds.push(CellKind::Integer);
        self.integers.push(n);
    }

    /// Appends a real cell.
    pub fn push_real(&mut self, n: f64) {
        self.kinds.push(CellKind::Real);
        self.reals.push(n);
    }

    /// Appends a text cell.
    pub fn push_text(&mut self, text: &str) -> Result<(), SqlError> {
        self.text.push_str(text);
        let end = end_offset(self.text.len(), "text")?;
        self.kinds.push(CellKind::Text);
        self.text_ends.push(end);
        Ok(())
    }

    /// Appends a blob cell.
    pub fn push_blob(&mut self, blob: &[u8]) -> Result<(), SqlError> {
        self.blobs.extend_from_slice(blob);
        let end = end_offset(self.blobs.len(), "blob")?;
        self.kinds.push(CellKind::Blob);
        self.blob_ends.push(end);
        Ok(())
    }

    /// Appends a cell of any kind.
    pub fn push(&mut self, value: &SqlValue) -> Result<(), SqlError> {
        match value {
            SqlValue::Null => self.push_null(),
            SqlValue::Integer(n) => self.push_integer(*n),
            SqlValue::Real(n) => self.push_real(*n),
            SqlValue::Text(t) => self.push_text(t)?,
            SqlValue::Blob(b) => self.push_blob(b)?,
        }
        Ok(())
    }

    /// Builds a result from row-major values (tests, and hosts that read rows as values).
    pub fn from_values(columns: Vec<String>, rows: &[Vec<SqlValue>]) -> Result<Rows, SqlError> {
        let mut out = Rows::new(columns);
        for value in rows.iter().flatten() {
            out.push(value)?;
        }
        Ok(out)
    }

    /// The rows as row-major values (contract 0.1.0's shape).
    pub fn to_values(&self) -> Vec<Vec<SqlValue>> {
        let page = self;
        let width = self.columns.len().max(1);
        let mut values = Vec::with_capacity(page.kinds.len());
        let (mut i, mut r, mut t, mut b) = (0, 0, 0, 0);
        for kind in &page.kinds {
            values.push(match kind {
                CellKind::Null => SqlValue::Null,
                CellKind::Integer => {
                    i += 1;
                    SqlValue::Integer(page.integers[i - 1])
                }
                CellKind::Real => {
                    r += 1;
                    SqlValue::Real(page.reals[r - 1])
                }
                CellKind::Text => {
                    t += 1;
                    SqlValue::Text(page.text_cell(t - 1).to_owned())
                }
                CellKind::Blob => {
                    b += 1;
                    SqlValue::Blob(page.blob_cell(b - 1).to_vec())
                }
            });
        }
        values.chunks(width).map(<[SqlValue]>::to_vec).collect()
    }

    fn text_cell(&self, n: usize) -> &str {
        let start = n.checked_sub(1).map_or(0, |p| self.text_ends[p] as usize);
        &self.text[start..self.text_ends[n] as usize]
    }

    fn blob_cell(&self, n: usize) -> &[u8] {
        let start = n.checked_sub(1).map_or(0, |p| self.blob_ends[p] as usize);
        &self.blobs[start..self.blob_ends[n] as usize]
    }

    /// The next at most `max_rows` rows from `position` (moved past them), as a result of their
    /// own; no rows once the result is exhausted. The page's offsets start at 0.
    pub fn page(&self, position: &mut PagePosition, max_rows: usize) -> Rows {
        let width = self.columns.len();
        let total = self.len();
        let from = position.row.min(total);
        let to = from.saturating_add(max_rows).min(total);
        let kinds = &self.kinds[from * width..to * width];
        let count = |kind: CellKind| kinds.iter().filter(|k| **k == kind).count();
        let (ints, reals, texts, blobs) = (
            count(CellKind::Integer),
            count(CellKind::Real),
            count(CellKind::Text),
            count(CellKind::Blob),
        );
        let text_base = position
            .texts
            .checked_sub(1)
            .map_or(0, |p| self.text_ends[p]);
        let text_end = (position.texts + texts)
            .checked_sub(1)
            .map_or(0, |p| self.text_ends[p]);
        let blob_base = position
            .blobs
            .checked_sub(1)
            .map_or(0, |p| self.blob_ends[p]);
        let blob_end = (position.blobs + blobs)
            .checked_sub(1)
            .map_or(0, |p| self.blob_ends[p]);
        let page = Rows {
            columns: self.columns.clone(),
            kinds: kinds.to_vec(),
            integers: self.integers[position.integers..position.integers + ints].to_vec(),
            reals: self.reals[position.reals..position.reals + reals].to_vec(),
            text: self.text[text_base as usize..text_end.max(text_base) as usize].to_owned(),
            text_ends: self.text_ends[position.texts..position.texts + texts]
                .iter()
                .map(|end| end - text_base)
                .collect(),
            blobs: self.blobs[blob_base as usize..blob_end.max(blob_base) as usize].to_vec(),
            blob_ends: self.blob_ends[position.blobs..position.blobs + blobs]
                .iter()
                .map(|end| end - blob_base)
                .collect(),
        };
        *position = PagePosition {
            row: to,
            integers: position.integers + ints,
            reals: position.reals + reals,
            texts: position.texts + texts,
            blobs: position.blobs + blobs,
        };
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Vec<SqlValue>> {
        vec![
            vec![
                SqlValue::Text("é-1".into()),
                SqlValue::Integer(-7),
                SqlValue::Real(0.5),
                SqlValue::Blob(vec![1, 2]),
            ],
            vec![
                SqlValue::Text(String::new()),
                SqlValue::Null,
                SqlValue::Integer(3),
                SqlValue::Blob(Vec::new()),
            ],
            vec![
                SqlValue::Text("z".into()),
                SqlValue::Integer(i64::MAX),
                SqlValue::Null,
                SqlValue::Blob(vec![9]),
            ],
        ]
    }

    fn columns() -> Vec<String> {
        vec!["id".into(), "n".into(), "x".into(), "b".into()]
    }

    #[test]
    fn values_round_trip_through_the_flat_buffers() {
        let rows = Rows::from_values(columns(), &sample()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.integers, vec![-7, 3, i64::MAX]);
        assert_eq!(rows.reals, vec![0.5]);
        assert_eq!(rows.text, "é-1z");
        assert_eq!(rows.text_ends, vec![4, 4, 5]);
        assert_eq!(rows.blobs, vec![1, 2, 9]);
        assert_eq!(rows.blob_ends, vec![2, 2, 3]);
        assert_eq!(rows.to_values(), sample());
    }

    #[test]
    fn pages_hand_out_every_row_once_with_offsets_from_zero() {
        let rows = Rows::from_values(columns(), &sample()).unwrap();
        let mut position = PagePosition::default();
        let mut seen = Vec::new();
        for size in [1, 1, 5] {
            let page = rows.page(&mut position, size);
            assert_eq!(page.columns, columns(), "every page names its columns");
            if let Some(first) = page.text_ends.first() {
                assert!(page.text.get(..*first as usize).is_some());
            }
            seen.extend(page.to_values());
        }
        assert_eq!(seen, sample());
        let past = rows.page(&mut position, 10);
        assert!(past.is_empty() && past.kinds.is_empty());
    }
}
