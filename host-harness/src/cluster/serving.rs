//! The version the cluster serves. A swap or a rollback on any instance records the digest it
//! now serves, with the component's bytes, in the same database every instance reads; the
//! other instances follow (see `serve::cluster`).

use crate::capabilities::sql::{SqlConnection, SqlError, SqlValue};
use crate::sql_params;

/// The cluster's serving record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingRecord {
    /// The component digest every instance should serve.
    pub digest: String,
    /// When it was recorded, epoch ms.
    pub changed_at: i64,
    /// The instance that recorded it.
    pub changed_by: String,
}

/// Keeps a component's `bytes` under its `digest`, so every instance can prepare it.
pub fn keep_component(conn: &SqlConnection, digest: &str, bytes: &[u8]) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_components (digest, bytes) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
        &[SqlValue::Text(digest.to_owned()), SqlValue::Blob(bytes.to_vec())],
    )?;
    Ok(())
}

/// Records `digest` (whose bytes were kept) as the version the cluster serves.
pub fn record(conn: &SqlConnection, digest: &str, by: &str, now: i64) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_cluster_serving (id, digest, changed_at, changed_by) VALUES (1, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
        sql_params![digest, now, by],
    )?;
    Ok(())
}

/// Records `digest` as serving unless a record exists (the first instance of a new cluster).
/// Answers the record that holds afterwards.
pub fn record_if_absent(
    conn: &SqlConnection,
    digest: &str,
    by: &str,
    now: i64,
) -> Result<ServingRecord, SqlError> {
    conn.execute(
        "INSERT INTO _host_cluster_serving (id, digest, changed_at, changed_by) VALUES (1, ?, ?, ?) \
         ON CONFLICT (id) DO NOTHING",
        sql_params![digest, now, by],
    )?;
    current(conn)?.ok_or_else(|| SqlError::Database("the serving record vanished".into()))
}

/// The cluster's serving record, if any instance recorded one.
pub fn current(conn: &SqlConnection) -> Result<Option<ServingRecord>, SqlError> {
    conn.query_row(
        "SELECT digest, changed_at, changed_by FROM _host_cluster_serving WHERE id = 1",
        &[],
    )?
    .map(|r| {
        Ok(ServingRecord {
            digest: r.get(0)?,
            changed_at: r.get(1)?,
            changed_by: r.get(2)?,
        })
    })
    .transpose()
}

/// The bytes kept under `digest`.
pub fn component(conn: &SqlConnection, digest: &str) -> Result<Option<Vec<u8>>, SqlError> {
    conn.query_row(
        "SELECT bytes FROM _host_components WHERE digest = ?",
        sql_params![digest],
    )?
    .map(|r| r.get::<Vec<u8>>(0))
    .transpose()
}
