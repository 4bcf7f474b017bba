//! Automations and their timers in the host database, so that a long-running host finds them
//! again after a restart: the registered definitions (`_host_automations`) and the pending
//! timers (`_host_automation_timers`), each a re-evaluation scheduled for the instant a
//! condition can turn true through time alone, or a trigger's `for:` dwell waiting to end.
//!
//! A timer is keyed by (automation, kind, source): an automation has at most one pending
//! re-evaluation, and one dwell per source entity (or hook) that started it.

use crate::capabilities::sql::{Row, SqlConnection, SqlError};
use crate::sql_params;

/// The tables (host migration `0010_automations`).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_automations (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    holds INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS _host_automation_timers (
    automation TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    basis TEXT,
    PRIMARY KEY (automation, kind, source)
);
";

/// What a timer does when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Re-evaluate a condition automation (its condition may have turned true by now).
    Recheck,
    /// End a trigger's `for:` dwell: start the run if the automation's condition still holds.
    Dwell,
}

impl TimerKind {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Recheck => "recheck",
            TimerKind::Dwell => "dwell",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "recheck" => Some(TimerKind::Recheck),
            "dwell" => Some(TimerKind::Dwell),
            _ => None,
        }
    }
}

/// A pending timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The automation.
    pub automation: String,
    /// What it does.
    pub kind: TimerKind,
    /// For a dwell, what started it (`<kind>:<id>` or `hook:<id>`); empty for a re-evaluation.
    pub source: String,
    /// When it is due, epoch ms.
    pub due_at: i64,
    /// For a dwell started by an entity change, the source's state before that change (JSON):
    /// what a later change is compared with to decide whether the dwell went stale.
    pub basis: Option<String>,
}

/// Records (or replaces) an automation's definition (its JSON form) and whether its
/// condition holds.
pub fn save_definition(
    conn: &SqlConnection,
    id: &str,
    definition: &str,
    holds: bool,
) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_automations (id, definition, holds) VALUES (?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, holds = excluded.holds",
        sql_params![id, definition, i64::from(holds)],
    )?;
    Ok(())
}

/// Records whether an automation's condition holds (its edge detection's memory).
pub fn save_holds(conn: &SqlConnection, id: &str, holds: bool) -> Result<(), SqlError> {
    conn.execute(
        "UPDATE _host_automations SET holds = ? WHERE id = ?",
        sql_params![i64::from(holds), id],
    )?;
    Ok(())
}

/// A saved automation: its id, definition (JSON) and whether its condition held.
pub type SavedAutomation = (String, String, bool);

/// Every saved automation, by id.
pub fn definitions(conn: &SqlConnection) -> Result<Vec<SavedAutomation>, SqlError> {
    conn.query(
        "SELECT id, definition, holds FROM _host_automations ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get::<i64>(2)? != 0)))
    .collect()
}

/// Sets a timer (replacing one with the same key).
pub fn set(conn: &SqlConnection, timer: &Timer) -> Result<(), SqlError> {
    insert(
        conn,
        timer,
        "DO UPDATE SET due_at = excluded.due_at, basis = excluded.basis",
    )
}

/// Sets a timer unless one with the same key is pending (a dwell already running is not
/// restarted).
pub fn set_if_absent(conn: &SqlConnection, timer: &Timer) -> Result<(), SqlError> {
    insert(conn, timer, "DO NOTHING")
}

fn insert(conn: &SqlConnection, timer: &Timer, on_conflict: &str) -> Result<(), SqlError> {
    conn.execute(
        &format!(
            "INSERT INTO _host_automation_timers (automation, kind, source, due_at, basis) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (automation, kind, source) {on_conflict}"
        ),
        sql_params![
            timer.automation.as_str(),
            timer.kind.as_str(),
            timer.source.as_str(),
            timer.due_at,
            timer.basis.as_deref()
        ],
    )?;
    Ok(())
}

/// Removes a timer; answers whether one was pending.
pub fn clear(
    conn: &SqlConnection,
    automation: &str,
    kind: TimerKind,
    source: &str,
) -> Result<bool, SqlError> {
    Ok(conn.execute(
        "DELETE FROM _host_automation_timers WHERE automation = ? AND kind = ? AND source = ?",
        sql_params![automation, kind.as_str(), source],
    )? > 0)
}

/// Every pending timer, soonest first.
pub fn pending(conn: &SqlConnection) -> Result<Vec<Timer>, SqlError> {
    conn.query(
        "SELECT automation, kind, source, due_at, basis FROM _host_automation_timers \
         ORDER BY due_at, automation, kind, source",
        &[],
    )?
    .iter()
    .filter_map(|row| timer_of(row).transpose())
    .collect()
}

/// The soonest due instant of any pending timer.
pub fn next_due(conn: &SqlConnection) -> Result<Option<i64>, SqlError> {
    match conn.query_row("SELECT MIN(due_at) FROM _host_automation_timers", &[])? {
        Some(row) => row.get::<Option<i64>>(0),
        None => Ok(None),
    }
}

/// Takes the timers due at or before `now` (soonest first), deleting them: whoever deletes a
/// timer fires it.
pub fn take_due(conn: &SqlConnection, now: i64) -> Result<Vec<Timer>, SqlError> {
    let due: Vec<Timer> = pending(conn)?
        .into_iter()
        .take_while(|t| t.due_at <= now)
        .collect();
    let mut taken = Vec::with_capacity(due.len());
    for timer in due {
        if clear(conn, &timer.automation, timer.kind, &timer.source)? {
            taken.push(timer);
        }
    }
    Ok(taken)
}

fn timer_of(row: &Row) -> Result<Option<Timer>, SqlError> {
    let kind: String = row.get(1)?;
    let Some(kind) = TimerKind::parse(&kind) else {
        return Ok(None);
    };
    Ok(Some(Timer {
        automation: row.get(0)?,
        kind,
        source: row.get(2)?,
        due_at: row.get(3)?,
        basis: row.get(4)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::sql::Database;

    #[test]
    fn timers_are_replaced_by_key_and_taken_once_in_due_order() {
        let db = Database::in_memory().unwrap();
        let conn = db.checkout().unwrap();
        crate::host_schema::migrate(&conn).unwrap();
        let timer = |automation: &str, kind, source: &str, due_at| Timer {
            automation: automation.into(),
            kind,
            source: source.into(),
            due_at,
            basis: None,
        };
        set(&conn, &timer("a", TimerKind::Recheck, "", 50)).unwrap();
        set(&conn, &timer("a", TimerKind::Recheck, "", 30)).unwrap();
        set(&conn, &timer("b", TimerKind::Dwell, "health:api", 20)).unwrap();
        set(&conn, &timer("b", TimerKind::Dwell, "health:db", 90)).unwrap();
        set_if_absent(&conn, &timer("b", TimerKind::Dwell, "health:db", 95)).unwrap();
        assert_eq!(next_due(&conn).unwrap(), Some(20));
        let taken = take_due(&conn, 30).unwrap();
        assert_eq!(
            taken,
            vec![
                timer("b", TimerKind::Dwell, "health:api", 20),
                timer("a", TimerKind::Recheck, "", 30)
            ]
        );
        assert!(take_due(&conn, 30).unwrap().is_empty());
        let left = pending(&conn).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].due_at, 90, "a running dwell is not restarted");
        assert!(clear(&conn, "b", TimerKind::Dwell, "health:db").unwrap());
        assert_eq!(next_due(&conn).unwrap(), None);
        save_definition(&conn, "a", "{}", false).unwrap();
        save_definition(&conn, "a", "{\"when\":\"true\"}", false).unwrap();
        save_holds(&conn, "a", true).unwrap();
        assert_eq!(
            definitions(&conn).unwrap(),
            vec![("a".to_owned(), "{\"when\":\"true\"}".to_owned(), true)]
        );
    }
}
