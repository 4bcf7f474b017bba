//! Recurring jobs on 5-field UTC cron (host-contract.md §7.1, §7.3), on the host clock.
//!
//! A job first fires at the next match strictly after it was registered (no immediate run);
//! re-registering the same job id updates it in place. The schedule lives in the host
//! database, so a restart keeps it.

use std::str::FromStr;

use super::clock::Clock;
use super::sql::{Database, SqlConnection, SqlError};
use crate::sql_params;
use chrono::{DateTime, Utc};
use croner::Cron;

/// The schedule's table (a host migration, see [`crate::host_schema`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_recurring_jobs (
    job_id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    cron TEXT NOT NULL,
    payload TEXT NOT NULL,
    next_at BIGINT NOT NULL
);
";

/// A recurring job that fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    /// The recurring job id.
    pub job_id: String,
    /// Queue to enqueue on.
    pub queue: String,
    /// JSON payload.
    pub payload: String,
    /// The instant it was due.
    pub at: i64,
}

/// Why a schedule could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The pattern is not 5-field cron.
    #[error("recurring job {job_id}: invalid cron {pattern:?}: {reason}")]
    Pattern {
        /// Job id.
        job_id: String,
        /// Pattern.
        pattern: String,
        /// Parser message.
        reason: String,
    },
    /// The database failed.
    #[error("scheduler storage: {0}")]
    Storage(#[from] SqlError),
}

fn parse(job_id: &str, pattern: &str) -> Result<Cron, ScheduleError> {
    let fields = pattern.split_whitespace().count();
    let error = |reason: String| ScheduleError::Pattern {
        job_id: job_id.into(),
        pattern: pattern.into(),
        reason,
    };
    if fields != 5 {
        return Err(error(format!(
            "expected 5 fields (minute hour day month weekday), found {fields}"
        )));
    }
    Cron::from_str(pattern).map_err(|e| error(e.to_string()))
}

/// The first match of `pattern` strictly after `after_ms`, UTC.
pub fn next_after(job_id: &str, pattern: &str, after_ms: i64) -> Result<i64, ScheduleError> {
    let cron = parse(job_id, pattern)?;
    let after = DateTime::<Utc>::from_timestamp_millis(after_ms).unwrap_or_default();
    cron.find_next_occurrence(&after, false)
        .map(|t| t.timestamp_millis())
        .map_err(|e| ScheduleError::Pattern {
            job_id: job_id.into(),
            pattern: pattern.into(),
            reason: e.to_string(),
        })
}

/// The scheduler over the host database.
pub struct Scheduler {
    db: Database,
    clock: Clock,
}

impl Scheduler {
    /// Opens the schedule in `db`.
    pub fn open(db: Database, clock: Clock) -> Result<Self, ScheduleError> {
        crate::host_schema::migrate(&*db.checkout()?)?;
        Ok(Scheduler { db, clock })
    }

    /// Registers (or updates in place) a recurring job; it first fires at the next match after
    /// now. Answers that instant.
    pub fn register(
        &self,
        job_id: &str,
        queue: &str,
        pattern: &str,
        payload: &str,
    ) -> Result<i64, ScheduleError> {
        let next = next_after(job_id, pattern, self.clock.now_ms())?;
        self.db.checkout()?.execute(
            "INSERT INTO _host_recurring_jobs (job_id, queue, cron, payload, next_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (job_id) DO UPDATE SET queue = excluded.queue, cron = excluded.cron, payload = excluded.payload, next_at = excluded.next_at",
            sql_params![job_id, queue, pattern, payload, next],
        )?;
        Ok(next)
    }

    /// Registers a recurring job unless it is already registered exactly so (same queue, cron
    /// and payload), in which case its next firing is kept. Answers whether anything changed.
    pub fn ensure(
        &self,
        job_id: &str,
        queue: &str,
        pattern: &str,
        payload: &str,
    ) -> Result<bool, ScheduleError> {
        let same = self.db.checkout()?.query_row(
            "SELECT job_id FROM _host_recurring_jobs WHERE job_id = ? AND queue = ? AND cron = ? AND payload = ?",
            sql_params![job_id, queue, pattern, payload],
        )?;
        if same.is_some() {
            return Ok(false);
        }
        self.register(job_id, queue, pattern, payload)?;
        Ok(true)
    }

    /// Removes every recurring job whose id is not in `keep` (a new plugin version dropped
    /// them). Answers the removed ids.
    pub fn retain(&self, keep: &[String]) -> Result<Vec<String>, ScheduleError> {
        let conn = self.db.checkout()?;
        let ids = conn
            .query(
                "SELECT job_id FROM _host_recurring_jobs ORDER BY job_id",
                &[],
            )?
            .iter()
            .map(|r| r.get::<String>(0))
            .collect::<Result<Vec<_>, _>>()?;
        let gone: Vec<String> = ids.into_iter().filter(|id| !keep.contains(id)).collect();
        for id in &gone {
            conn.execute(
                "DELETE FROM _host_recurring_jobs WHERE job_id = ?",
                sql_params![id],
            )?;
        }
        Ok(gone)
    }

    /// The earliest next firing, if any job is registered.
    pub fn next_at(&self) -> Result<Option<i64>, ScheduleError> {
        let row = self
            .db
            .checkout()?
            .query_row("SELECT MIN(next_at) FROM _host_recurring_jobs", &[])?;
        Ok(row.map(|r| r.get::<Option<i64>>(0)).transpose()?.flatten())
    }

    /// Takes the earliest job due at or before `until`, advancing it to its next match.
    pub fn take_due(&self, until: i64) -> Result<Option<DueJob>, ScheduleError> {
        take_due_on(&*self.db.checkout()?, until)
    }

    /// Like [`Scheduler::take_due`], but a job that missed several firings (the host was down
    /// or busy) fires once, at its latest missed instant, and moves to its first match after
    /// `until`: a real-clock host that restarts after a day does not replay 1,440 minute runs.
    pub fn take_due_coalesced(&self, until: i64) -> Result<Option<DueJob>, ScheduleError> {
        self.take_due_coalesced_on(&*self.db.checkout()?, until)
    }

    /// [`Scheduler::take_due_coalesced`] on `conn`, inside the transaction open there (the
    /// one that records and enqueues the firing).
    pub fn take_due_coalesced_on(
        &self,
        conn: &SqlConnection,
        until: i64,
    ) -> Result<Option<DueJob>, ScheduleError> {
        let Some(mut due) = take_due_on(conn, until)? else {
            return Ok(None);
        };
        let row = conn
            .query_row(
                "SELECT cron, next_at FROM _host_recurring_jobs WHERE job_id = ?",
                sql_params![&due.job_id],
            )?
            .ok_or_else(|| {
                SqlError::Database(format!(
                    "recurring job {} vanished while firing",
                    due.job_id
                ))
            })?;
        let (pattern, mut next): (String, i64) = (row.get(0)?, row.get(1)?);
        if next > until {
            return Ok(Some(due));
        }
        while next <= until {
            due.at = next;
            next = next_after(&due.job_id, &pattern, next)?;
        }
        conn.execute(
            "UPDATE _host_recurring_jobs SET next_at = ? WHERE job_id = ?",
            sql_params![next, &due.job_id],
        )?;
        Ok(Some(due))
    }
}

/// Takes the earliest job due at or before `until` on `conn`, advancing it to its next match.
fn take_due_on(conn: &SqlConnection, until: i64) -> Result<Option<DueJob>, ScheduleError> {
    let row = conn.query_row(
        "SELECT job_id, queue, cron, payload, next_at FROM _host_recurring_jobs WHERE next_at <= ? ORDER BY next_at, job_id LIMIT 1",
        sql_params![until],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (job_id, queue, pattern, payload, at): (String, String, String, String, i64) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    );
    let next = next_after(&job_id, &pattern, at)?;
    conn.execute(
        "UPDATE _host_recurring_jobs SET next_at = ? WHERE job_id = ?",
        sql_params![next, &job_id],
    )?;
    Ok(Some(DueJob {
        job_id,
        queue,
        payload,
        at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn missed_firings_coalesce_into_one_run_at_the_latest_missed_instant() {
        let clock = Clock::virtual_at(ms("2026-06-30T10:00:30Z"));
        let s = Scheduler::open(Database::in_memory().unwrap(), clock.clone()).unwrap();
        s.register("refresh", "slo-refresh", "* * * * *", "{}")
            .unwrap();
        clock.set_ms(ms("2026-06-30T12:00:10Z")).unwrap();
        let due = s.take_due_coalesced(clock.now_ms()).unwrap().unwrap();
        assert_eq!(iso(due.at), "2026-06-30T12:00:00+00:00");
        assert!(s.take_due_coalesced(clock.now_ms()).unwrap().is_none());
        assert_eq!(
            iso(s.next_at().unwrap().unwrap()),
            "2026-06-30T12:01:00+00:00"
        );
    }

    #[test]
    fn daily_job_fires_at_midnight_across_a_month_boundary_never_at_registration() {
        let clock = Clock::virtual_at(ms("2026-06-30T00:00:00Z"));
        let s = Scheduler::open(Database::in_memory().unwrap(), clock).unwrap();
        let first = s
            .register("daily", "slo-daily-snapshots", "0 0 * * *", "{}")
            .unwrap();
        assert_eq!(
            iso(first),
            "2026-07-01T00:00:00+00:00",
            "not at the registration instant"
        );
        let mut fired = Vec::new();
        while let Some(due) = s.take_due(ms("2026-07-02T00:00:00Z")).unwrap() {
            fired.push(iso(due.at));
        }
        assert_eq!(
            fired,
            ["2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00"]
        );
    }

    #[test]
    fn weekly_job_fires_on_monday_at_nine() {
        // 2026-06-03 is a Wednesday
        let next = next_after("weekly", "0 9 * * 1", ms("2026-06-03T12:00:00Z")).unwrap();
        assert_eq!(iso(next), "2026-06-08T09:00:00+00:00");
        let after_that = next_after("weekly", "0 9 * * 1", next).unwrap();
        assert_eq!(iso(after_that), "2026-06-15T09:00:00+00:00");
    }

    /// A swap to a version that no longer declares a job (the SLO plugin's minute refresh
    /// became a self-enqueuing job) cancels it: it never fires again.
    #[test]
    fn a_job_the_new_version_no_longer_declares_is_cancelled() {
        let clock = Clock::virtual_at(ms("2026-06-01T00:00:30Z"));
        let s = Scheduler::open(Database::in_memory().unwrap(), clock).unwrap();
        s.register("daily", "slo-daily-snapshots", "0 0 * * *", "{}")
            .unwrap();
        s.register("refresh", "slo-entity-refresh", "* * * * *", "{}")
            .unwrap();
        assert_eq!(
            s.next_at().unwrap().map(iso).as_deref(),
            Some("2026-06-01T00:01:00+00:00")
        );
        assert_eq!(s.retain(&["daily".to_owned()]).unwrap(), ["refresh"]);
        assert!(s.take_due(ms("2026-06-01T23:59:59Z")).unwrap().is_none());
        assert_eq!(
            s.next_at().unwrap().map(iso).as_deref(),
            Some("2026-06-02T00:00:00+00:00")
        );
        assert!(s.retain(&["daily".to_owned()]).unwrap().is_empty());
    }

    #[test]
    fn re_registering_updates_in_place_and_bad_patterns_are_named() {
        let clock = Clock::virtual_at(ms("2026-06-01T00:00:00Z"));
        let s = Scheduler::open(Database::in_memory().unwrap(), clock).unwrap();
        s.register("job", "q", "0 0 * * *", "{}").unwrap();
        s.register("job", "q", "30 * * * *", "{}").unwrap();
        assert_eq!(
            s.next_at().unwrap().map(iso).as_deref(),
            Some("2026-06-01T00:30:00+00:00")
        );
        let err = s.register("bad", "q", "0 0 * *", "{}").unwrap_err();
        assert!(
            err.to_string().contains("bad") && err.to_string().contains("5 fields"),
            "{err}"
        );
        assert!(s.register("worse", "q", "61 0 * * *", "{}").is_err());
    }
}
