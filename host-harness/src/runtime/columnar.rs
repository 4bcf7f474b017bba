//! Query results in contract 0.2.0's columnar form: a few flat buffers per result instead of a
//! list per row, so that a result of any size crosses into the guest in eight allocations.

use crate::bindings::checkstack::plugin::sql::{CellKind, Rows as WitRows};
use crate::capabilities::sql::{Rows, SqlError, SqlValue};

/// Encodes rows `from..to` of `rows` (cut to the rows that exist) as one columnar result.
///
/// Fails only when the text or blob buffer would pass 4 GiB, which the `u32` offsets of the
/// contract cannot address; the error names the cap.
pub fn encode(rows: &Rows, from: usize, to: usize) -> Result<WitRows, SqlError> {
    let to = to.min(rows.rows.len());
    let from = from.min(to);
    let page = &rows.rows[from..to];
    let cells = page.len() * rows.columns.len();
    let mut out = WitRows {
        columns: rows.columns.clone(),
        kinds: Vec::with_capacity(cells),
        integers: Vec::new(),
        reals: Vec::new(),
        text: String::new(),
        text_ends: Vec::new(),
        blobs: Vec::new(),
        blob_ends: Vec::new(),
    };
    for value in page.iter().flatten() {
        match value {
            SqlValue::Null => out.kinds.push(CellKind::Null),
            SqlValue::Integer(n) => {
                out.kinds.push(CellKind::Integer);
                out.integers.push(*n);
            }
            SqlValue::Real(n) => {
                out.kinds.push(CellKind::Real);
                out.reals.push(*n);
            }
            SqlValue::Text(s) => {
                out.kinds.push(CellKind::Text);
                out.text.push_str(s);
                out.text_ends.push(offset(out.text.len(), "text")?);
            }
            SqlValue::Blob(b) => {
                out.kinds.push(CellKind::Blob);
                out.blobs.extend_from_slice(b);
                out.blob_ends.push(offset(out.blobs.len(), "blob")?);
            }
        }
    }
    Ok(out)
}

fn offset(len: usize, what: &str) -> Result<u32, SqlError> {
    u32::try_from(len).map_err(|_| {
        SqlError::Refused(format!(
            "the result's {what} cells pass 4 GiB, more than one answer can address: page it \
             with LIMIT or a cursor"
        ))
    })
}

/// Decodes a columnar result back into rows: the inverse of [`encode`], for the tests. A
/// malformed result (lengths that do not add up) is an error.
#[cfg(test)]
pub fn decode(rows: &WitRows) -> Result<Vec<Vec<SqlValue>>, String> {
    let width = rows.columns.len();
    if width == 0 {
        return Ok(Vec::new());
    }
    if rows.kinds.len() % width != 0 {
        return Err(format!(
            "{} cells do not fill rows of {width} columns",
            rows.kinds.len()
        ));
    }
    let (mut ints, mut reals, mut texts, mut blobs) = (0, 0, 0, 0);
    let mut text_start = 0usize;
    let mut blob_start = 0usize;
    let mut values = Vec::with_capacity(rows.kinds.len());
    for kind in &rows.kinds {
        let value = match kind {
            CellKind::Null => SqlValue::Null,
            CellKind::Integer => {
                ints += 1;
                SqlValue::Integer(*rows.integers.get(ints - 1).ok_or("integers run short")?)
            }
            CellKind::Real => {
                reals += 1;
                SqlValue::Real(*rows.reals.get(reals - 1).ok_or("reals run short")?)
            }
            CellKind::Text => {
                texts += 1;
                let end = *rows.text_ends.get(texts - 1).ok_or("text ends run short")? as usize;
                let text = rows
                    .text
                    .get(text_start..end)
                    .ok_or("a text end is out of order or off a character boundary")?;
                text_start = end;
                SqlValue::Text(text.to_owned())
            }
            CellKind::Blob => {
                blobs += 1;
                let end = *rows.blob_ends.get(blobs - 1).ok_or("blob ends run short")? as usize;
                let blob = rows
                    .blobs
                    .get(blob_start..end)
                    .ok_or("a blob end is out of order")?;
                blob_start = end;
                SqlValue::Blob(blob.to_vec())
            }
        };
        values.push(value);
    }
    Ok(values.chunks(width).map(<[SqlValue]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        Rows {
            columns: vec!["id".into(), "n".into(), "x".into(), "b".into()],
            rows: vec![
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
                    SqlValue::Null,
                ],
            ],
        }
    }

    #[test]
    fn a_result_round_trips_through_the_flat_buffers() {
        let rows = sample();
        let encoded = encode(&rows, 0, usize::MAX).expect("encodes");
        assert_eq!(encoded.kinds.len(), 12);
        assert_eq!(encoded.integers, vec![-7, 3, i64::MAX]);
        assert_eq!(encoded.reals, vec![0.5]);
        assert_eq!(encoded.text, "é-1z");
        assert_eq!(encoded.text_ends, vec![4, 4, 5]);
        assert_eq!(encoded.blobs, vec![1, 2]);
        assert_eq!(encoded.blob_ends, vec![2, 2]);
        assert_eq!(decode(&encoded).expect("decodes"), rows.rows);
    }

    #[test]
    fn a_page_holds_only_its_rows_and_a_range_past_the_end_is_empty() {
        let rows = sample();
        let page = encode(&rows, 1, 2).expect("encodes");
        assert_eq!(decode(&page).expect("decodes"), rows.rows[1..2].to_vec());
        let past = encode(&rows, 5, 9).expect("encodes");
        assert!(past.kinds.is_empty());
        assert_eq!(past.columns, rows.columns, "an empty page still names its columns");
    }

    #[test]
    fn malformed_buffers_are_reported_not_trusted() {
        let mut encoded = encode(&sample(), 0, 3).expect("encodes");
        encoded.text_ends[0] = 1; // inside the two-byte "é"
        assert!(decode(&encoded).is_err());
        let mut short = encode(&sample(), 0, 3).expect("encodes");
        short.integers.pop();
        assert!(decode(&short).is_err());
    }
}
