//! The `slo_downtime_events` table.

use super::{Database, Row, SqlValue};
use crate::core::window::{Attribution, EventSpan};
use crate::core::PluginError;

/// A stored downtime event (`SloDowntimeEvent`).
#[derive(Debug, Clone, PartialEq)]
pub struct DowntimeEvent {
    /// UUID.
    pub id: String,
    /// Owning objective.
    pub objective_id: String,
    /// The objective's system (for upstream events, the downstream system).
    pub system_id: String,
    /// The window-math view: times and attribution.
    pub span: EventSpan,
    /// `(end − start) / 1000`, set on close.
    pub duration_seconds: Option<f64>,
    /// `healthcheck` or `incident`; NULL is read as `healthcheck`.
    pub source: String,
    /// `orphan` when the orphan reconcile closed it; `None` otherwise.
    pub close_reason: Option<String>,
}

const COLUMNS: &str = "id, objective_id, system_id, start_time, end_time, duration_seconds, \
     attribution_type, upstream_system_id, upstream_system_name, source, close_reason";

fn from_row(row: &Row<'_>) -> Result<DowntimeEvent, PluginError> {
    let attribution_text = row.text(6)?;
    let attribution = Attribution::parse(&attribution_text).ok_or_else(|| {
        PluginError::Internal(format!(
            "storage: unknown attribution_type {attribution_text:?}"
        ))
    })?;
    Ok(DowntimeEvent {
        id: row.text(0)?,
        objective_id: row.text(1)?,
        system_id: row.text(2)?,
        span: EventSpan {
            start_ms: row.integer(3)?,
            end_ms: row.opt_integer(4)?,
            attribution,
            upstream_system_id: row.opt_text(7)?,
            upstream_system_name: row.opt_text(8)?,
        },
        duration_seconds: row.opt_real(5)?,
        source: row.opt_text(9)?.unwrap_or_else(|| "healthcheck".into()),
        close_reason: row.opt_text(10)?,
    })
}

/// A downtime event to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent<'a> {
    /// Owning objective.
    pub objective_id: &'a str,
    /// The objective's system.
    pub system_id: &'a str,
    /// Who is blamed.
    pub attribution: Attribution,
    /// The upstream system, for upstream events.
    pub upstream_system_id: Option<&'a str>,
    /// Its display name.
    pub upstream_system_name: Option<&'a str>,
    /// `healthcheck` or `incident`.
    pub source: &'a str,
}

impl DowntimeEvent {
    /// The API JSON shape (`SloDowntimeEvent`).
    pub fn to_json(&self) -> serde_json::Value {
        use crate::core::time::to_rfc3339;
        serde_json::json!({
            "id": self.id,
            "objectiveId": self.objective_id,
            "systemId": self.system_id,
            "startTime": to_rfc3339(self.span.start_ms),
            "endTime": self.span.end_ms.map(to_rfc3339),
            "durationSeconds": self.duration_seconds,
            "attributionType": self.span.attribution.as_str(),
            "upstreamSystemId": self.span.upstream_system_id,
            "upstreamSystemName": self.span.upstream_system_name,
            "source": self.source,
        })
    }
}

/// Inserts an open event with `id` starting at `now_ms`; answers it.
pub fn open(
    db: &dyn Database,
    id: &str,
    event: &NewEvent<'_>,
    now_ms: i64,
) -> Result<DowntimeEvent, PluginError> {
    db.execute(
        "INSERT INTO slo_downtime_events (id, objective_id, system_id, start_time, end_time, duration_seconds, \
         attribution_type, upstream_system_id, upstream_system_name, source) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)",
        &[
            id.into(),
            event.objective_id.into(),
            event.system_id.into(),
            now_ms.into(),
            event.attribution.as_str().into(),
            event.upstream_system_id.into(),
            event.upstream_system_name.into(),
            event.source.into(),
        ],
    )?;
    get(db, id)?
        .ok_or_else(|| PluginError::Internal(format!("downtime event {id} vanished after insert")))
}

/// Closes open event `id` at `end_ms`, clamped up to its start; `duration = (end − start) / 1000`.
/// An unknown or already closed event is a `conflict`.
pub fn close(db: &dyn Database, id: &str, end_ms: i64) -> Result<DowntimeEvent, PluginError> {
    let changed = db.execute(
        "UPDATE slo_downtime_events SET \
         end_time = CASE WHEN ? < start_time THEN start_time ELSE ? END, \
         duration_seconds = (CASE WHEN ? < start_time THEN start_time ELSE ? END - start_time) / 1000.0 \
         WHERE id = ? AND end_time IS NULL",
        &[end_ms.into(), end_ms.into(), end_ms.into(), end_ms.into(), id.into()],
    )?;
    if changed == 0 {
        return Err(PluginError::Conflict(format!(
            "Cannot close downtime event {id}: not found or already closed"
        )));
    }
    get(db, id)?
        .ok_or_else(|| PluginError::Internal(format!("downtime event {id} vanished after close")))
}

/// Closes open event `id` as an orphan (the system recovered while no one was listening) at
/// `end_ms`, marking it so that it does not count as a recovery (F29).
pub fn close_orphan(
    db: &dyn Database,
    id: &str,
    end_ms: i64,
) -> Result<DowntimeEvent, PluginError> {
    close(db, id, end_ms)?;
    db.execute(
        "UPDATE slo_downtime_events SET close_reason = 'orphan' WHERE id = ?",
        &[id.into()],
    )?;
    get(db, id)?
        .ok_or_else(|| PluginError::Internal(format!("downtime event {id} vanished after close")))
}

/// Hard-deletes event `id`; answers whether it existed.
pub fn delete(db: &dyn Database, id: &str) -> Result<bool, PluginError> {
    Ok(db.execute("DELETE FROM slo_downtime_events WHERE id = ?", &[id.into()])? > 0)
}

/// The event with `id`.
pub fn get(db: &dyn Database, id: &str) -> Result<Option<DowntimeEvent>, PluginError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM slo_downtime_events WHERE id = ?"),
        &[id.into()],
    )?;
    let first = rows.iter().next().map(|row| from_row(&row)).transpose();
    first
}

fn select(
    db: &dyn Database,
    condition: &str,
    params: &[SqlValue],
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let rows = db.query(
        &format!(
            "SELECT {COLUMNS} FROM slo_downtime_events WHERE {condition} ORDER BY start_time, id"
        ),
        params,
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}

/// Open events of a system (any objective, attribution and source), oldest first.
pub fn open_for_system(
    db: &dyn Database,
    system_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    select(
        db,
        "system_id = ? AND end_time IS NULL",
        &[system_id.into()],
    )
}

/// The objectives that have at least one open event (one query for a whole job, instead of
/// one per objective).
pub fn objectives_with_open_events(
    db: &dyn Database,
) -> Result<std::collections::HashSet<String>, PluginError> {
    let rows = db.query(
        "SELECT DISTINCT objective_id FROM slo_downtime_events WHERE end_time IS NULL",
        &[],
    )?;
    rows.iter().map(|row| row.text(0)).collect()
}

/// Whether more than `n` events are open, of any objective (reads at most `n + 1` rows of the
/// open-events index).
pub fn more_open_than(db: &dyn Database, n: usize) -> Result<bool, PluginError> {
    let limit = i64::try_from(n).unwrap_or(i64::MAX - 1) + 1;
    let rows = db.query(
        "SELECT objective_id FROM slo_downtime_events WHERE end_time IS NULL LIMIT ?",
        &[limit.into()],
    )?;
    let open = rows.iter().count();
    Ok(open > n)
}

/// Open events of an objective, oldest first.
pub fn open_for_objective(
    db: &dyn Database,
    objective_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    select(
        db,
        "objective_id = ? AND end_time IS NULL",
        &[objective_id.into()],
    )
}

/// Open self-attributed events of a system.
pub fn open_self(db: &dyn Database, system_id: &str) -> Result<Vec<DowntimeEvent>, PluginError> {
    select(
        db,
        "system_id = ? AND attribution_type = 'self' AND end_time IS NULL",
        &[system_id.into()],
    )
}

/// Open events of a system attributed to `upstream_system_id`.
pub fn open_upstream(
    db: &dyn Database,
    system_id: &str,
    upstream_system_id: &str,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    select(
        db,
        "system_id = ? AND attribution_type = 'upstream' AND upstream_system_id = ? AND end_time IS NULL",
        &[system_id.into(), upstream_system_id.into()],
    )
}

/// The `limit` most recent events of an objective, newest first (ties by id, descending).
pub fn recent(
    db: &dyn Database,
    objective_id: &str,
    limit: i64,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let rows = db.query(
        &format!(
            "SELECT {COLUMNS} FROM slo_downtime_events WHERE objective_id = ? \
             ORDER BY start_time DESC, id DESC LIMIT ?"
        ),
        &[objective_id.into(), limit.into()],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}

/// The events of `objective_id` that may overlap `[window_start, window_end]` (closed ones
/// that end inside or after it, and open ones), ordered by start time then id (decisions
/// F10), as their window-math view ([`EventSpan`]): the only columns computeStatus reads.
/// Ids, sources and durations are not fetched, so a status over a thousand events moves a
/// fraction of the data across the host boundary.
pub fn overlapping_spans(
    db: &dyn Database,
    objective_id: &str,
    window_start: i64,
    window_end: i64,
) -> Result<Vec<EventSpan>, PluginError> {
    let rows = db.query(
        // The attribution comes as a number: one string fewer per row to allocate and parse.
        "SELECT start_time, end_time, \
         CASE attribution_type WHEN 'self' THEN 0 WHEN 'upstream' THEN 1 END, \
         upstream_system_id, upstream_system_name \
         FROM slo_downtime_events \
         WHERE objective_id = ? AND start_time <= ? AND (end_time >= ? OR end_time IS NULL) \
         ORDER BY start_time, id",
        &[
            SqlValue::from(objective_id),
            window_end.into(),
            window_start.into(),
        ],
    )?;
    rows.iter()
        .map(|row| {
            let attribution = match row.opt_integer(2)? {
                Some(0) => Attribution::SelfCaused,
                Some(1) => Attribution::Upstream,
                _ => {
                    return Err(PluginError::Internal(
                        "storage: an event's attribution_type is neither self nor upstream".into(),
                    ))
                }
            };
            Ok(EventSpan {
                start_ms: row.integer(0)?,
                end_ms: row.opt_integer(1)?,
                attribution,
                upstream_system_id: row.opt_text(3)?,
                upstream_system_name: row.opt_text(4)?,
            })
        })
        .collect()
}
