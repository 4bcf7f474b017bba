//! Query results as contract 0.2.0 hands them to the guest. The backends already write the
//! columnar shape ([`Rows`]), so a whole result moves into the answer without a copy; only
//! the cell kinds are mapped to the binding's enum.

use crate::bindings::checkstack::plugin::sql::{CellKind as WitKind, Rows as WitRows};
use crate::capabilities::sql::{CellKind, Rows};

/// `rows` as the binding's record, its buffers moved, not copied.
pub fn to_wit(rows: Rows) -> WitRows {
    WitRows {
        columns: rows.columns,
        kinds: rows
            .kinds
            .into_iter()
            .map(|kind| match kind {
                CellKind::Null => WitKind::Null,
                CellKind::Integer => WitKind::Integer,
                CellKind::Real => WitKind::Real,
                CellKind::Text => WitKind::Text,
                CellKind::Blob => WitKind::Blob,
            })
            .collect(),
        integers: rows.integers,
        reals: rows.reals,
        text: rows.text,
        text_ends: rows.text_ends,
        blobs: rows.blobs,
        blob_ends: rows.blob_ends,
    }
}
