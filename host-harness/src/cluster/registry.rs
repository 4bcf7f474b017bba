//! The instance registry: every `serve` process on a shared database has a row, refreshed by
//! its heartbeat. An instance whose heartbeat is older than the gone-after limit counts as
//! gone: its leased queue copies are rescued when their leases lapse, and it gets no more
//! broadcast copies.

use serde::Serialize;

use crate::capabilities::sql::{Row, SqlConnection, SqlError};
use crate::sql_params;

/// One instance as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRow {
    /// The instance's name (`--instance`).
    pub name: String,
    /// When it (last) started, epoch ms.
    pub started_at: i64,
    /// Its last heartbeat, epoch ms.
    pub heartbeat_at: i64,
    /// Where its HTTP API listens.
    pub address: Option<String>,
    /// The digest of the component it serves.
    pub serving_digest: Option<String>,
    /// The plugin version it serves.
    pub serving_version: Option<String>,
    /// Why it could not follow the cluster's serving version, if it could not.
    pub follow_error: Option<String>,
}

/// What an instance reports with each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beat<'a> {
    /// Where its HTTP API listens.
    pub address: Option<&'a str>,
    /// The digest of the component it serves.
    pub serving_digest: Option<&'a str>,
    /// The plugin version it serves.
    pub serving_version: Option<&'a str>,
    /// Why it could not follow the cluster's serving version.
    pub follow_error: Option<&'a str>,
}

const COLUMNS: &str =
    "name, started_at, heartbeat_at, address, serving_digest, serving_version, follow_error";

fn instance(row: &Row) -> Result<InstanceRow, SqlError> {
    Ok(InstanceRow {
        name: row.get(0)?,
        started_at: row.get(1)?,
        heartbeat_at: row.get(2)?,
        address: row.get(3)?,
        serving_digest: row.get(4)?,
        serving_version: row.get(5)?,
        follow_error: row.get(6)?,
    })
}

/// Records that `name` (re)started at `now`, held by this process: a restarted instance
/// keeps its name and row.
pub fn join(conn: &SqlConnection, name: &str, now: i64, beat: &Beat<'_>) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_instances (name, started_at, heartbeat_at, address, serving_digest, serving_version, follow_error, holder) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, \
         heartbeat_at = excluded.heartbeat_at, address = excluded.address, serving_digest = excluded.serving_digest, \
         serving_version = excluded.serving_version, follow_error = excluded.follow_error, holder = excluded.holder",
        sql_params![
            name,
            now,
            now,
            beat.address,
            beat.serving_digest,
            beat.serving_version,
            beat.follow_error,
            super::this_process()
        ],
    )?;
    Ok(())
}

/// The process holding `name` (`host:pid`) and its last heartbeat, if the name is registered.
pub fn holder_of(conn: &SqlConnection, name: &str) -> Result<Option<(String, i64)>, SqlError> {
    conn.query_row(
        "SELECT COALESCE(holder, ''), heartbeat_at FROM _host_instances WHERE name = ?",
        sql_params![name],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

/// Refreshes `name`'s heartbeat and what it reports. Answers `false` when its row is gone (a
/// clean leave, or removed by an operator); the caller joins again.
pub fn heartbeat(
    conn: &SqlConnection,
    name: &str,
    now: i64,
    beat: &Beat<'_>,
) -> Result<bool, SqlError> {
    let changed = conn.execute(
        "UPDATE _host_instances SET heartbeat_at = ?, address = ?, serving_digest = ?, serving_version = ?, follow_error = ? WHERE name = ?",
        sql_params![
            now,
            beat.address,
            beat.serving_digest,
            beat.serving_version,
            beat.follow_error,
            name
        ],
    )?;
    Ok(changed > 0)
}

/// Removes `name` from the registry (a graceful stop).
pub fn leave(conn: &SqlConnection, name: &str) -> Result<(), SqlError> {
    conn.execute(
        "DELETE FROM _host_instances WHERE name = ?",
        sql_params![name],
    )?;
    Ok(())
}

/// Every registered instance, by name (live or not: compare `heartbeat_at`).
pub fn all(conn: &SqlConnection) -> Result<Vec<InstanceRow>, SqlError> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM _host_instances ORDER BY name"),
        &[],
    )?
    .iter()
    .map(instance)
    .collect()
}

/// The names of the instances whose heartbeat is at most `gone_after_ms` old at `now`.
pub fn live_names(
    conn: &SqlConnection,
    now: i64,
    gone_after_ms: i64,
) -> Result<Vec<String>, SqlError> {
    conn.query(
        "SELECT name FROM _host_instances WHERE heartbeat_at >= ? ORDER BY name",
        sql_params![now.saturating_sub(gone_after_ms)],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The names of the instances whose heartbeat is older than `gone_after_ms` at `now`.
pub fn gone_names(
    conn: &SqlConnection,
    now: i64,
    gone_after_ms: i64,
) -> Result<Vec<String>, SqlError> {
    conn.query(
        "SELECT name FROM _host_instances WHERE heartbeat_at < ? ORDER BY name",
        sql_params![now.saturating_sub(gone_after_ms)],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Deletes the broadcast copies still pending for a gone instance (consumer groups
/// `worker@instance`): a broadcast reaches the instances that are live, and a copy nobody
/// will take would stay pending for ever. Answers how many were deleted.
pub fn forget_broadcasts_of(conn: &SqlConnection, instance: &str) -> Result<u64, SqlError> {
    let suffix = format!("@{instance}");
    conn.execute(
        "DELETE FROM _host_queue_jobs WHERE state IN ('queued', 'in_flight') \
         AND length(consumer_group) > ? AND substr(consumer_group, length(consumer_group) - ? + 1) = ?",
        sql_params![
            i64::try_from(suffix.len()).unwrap_or(i64::MAX),
            i64::try_from(suffix.len()).unwrap_or(i64::MAX),
            suffix
        ],
    )
}

/// Removes the rows of instances whose last heartbeat is older than `before` (a day, say):
/// instances renamed or scaled away for good. Answers how many.
pub fn forget_long_gone(conn: &SqlConnection, before: i64) -> Result<u64, SqlError> {
    conn.execute(
        "DELETE FROM _host_instances WHERE heartbeat_at < ?",
        sql_params![before],
    )
}
