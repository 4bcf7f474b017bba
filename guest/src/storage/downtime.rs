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
}

const COLUMNS: &str = "id, objective_id, system_id, start_time, end_time, duration_seconds, \
     attribution_type, upstream_system_id, upstream_system_name, source";

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
    })
}

/// Events of `objective_id` that may overlap `[window_start, window_end]`: closed ones that
/// end inside or after it and open ones, ordered by start time then id (decisions F10).
pub fn overlapping(
    db: &dyn Database,
    objective_id: &str,
    window_start: i64,
    window_end: i64,
) -> Result<Vec<DowntimeEvent>, PluginError> {
    let rows = db.query(
        &format!(
            "SELECT {COLUMNS} FROM slo_downtime_events \
             WHERE objective_id = ? AND start_time <= ? AND (end_time >= ? OR end_time IS NULL) \
             ORDER BY start_time, id"
        ),
        &[
            SqlValue::from(objective_id),
            window_end.into(),
            window_start.into(),
        ],
    )?;
    rows.iter().map(|row| from_row(&row)).collect()
}
