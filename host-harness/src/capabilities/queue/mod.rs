//! The durable work queue (host-contract.md §7 with decisions §3): jobs live in the host
//! database, so a restart of the host process loses no queued or in-flight job (in-flight ones
//! are redelivered). Every consumer group of a queue gets its own copy of every job; delivery
//! is FIFO within a priority (higher first); a job id de-duplicates while a copy is pending;
//! a failed attempt is retried after 2^attempt seconds on the host clock up to the group's
//! `max_retries`, then recorded as a dead letter.
//!
//! Two ways to take work ([`Claims`]): one process alone takes a copy without writing (its
//! handler's transaction completes it); several processes sharing a PostgreSQL queue lease
//! copies in batches with `FOR UPDATE SKIP LOCKED`, as River, Oban and graphile-worker do, and
//! rescue the copies of an instance whose lease lapsed. Copies with an ordering key (the
//! changes of one entity) are taken one at a time per key, across the queue's groups, in order, so two
//! instances never handle one entity's changes out of order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use super::clock::Clock;
use super::sql::{Database, Dialect, Row, SqlConnection, SqlError, SqlValue};
use crate::sql_params;

mod leased;
pub use leased::{release_leases, renew_leases};

/// The queue's table (a host migration, see [`crate::host_schema`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_queue_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    consumer_group TEXT NOT NULL,
    job_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    enqueued_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS _host_queue_jobs_due ON _host_queue_jobs (state, due_at);
CREATE UNIQUE INDEX IF NOT EXISTS _host_queue_jobs_pending
    ON _host_queue_jobs (queue, consumer_group, job_id) WHERE state IN ('queued', 'in_flight');
";

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Queue name.
    pub queue: String,
    /// JSON payload.
    pub payload: String,
    /// Job id; with `dedupe`, a pending job of the same id makes this enqueue a no-op.
    pub job_id: String,
    /// Whether `job_id` de-duplicates.
    pub dedupe: bool,
    /// Delay after now.
    pub delay_ms: u64,
    /// Higher first.
    pub priority: i32,
    /// Copies with the same key (in any consumer group of the queue) are handled one at a
    /// time, in enqueue order, when several instances share the queue.
    pub ordering_key: Option<String>,
}

/// One copy of a job handed to one consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The copy's row.
    pub seq: i64,
    /// Queue name.
    pub queue: String,
    /// The group this copy is for.
    pub consumer_group: String,
    /// Job id.
    pub job_id: String,
    /// JSON payload.
    pub payload: String,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// When it was enqueued.
    pub enqueued_at: i64,
    /// When it became due.
    pub due_at: i64,
}

/// A delivery that used up its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The last attempt's error.
    pub error: String,
}

/// The order due copies are taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOrder {
    /// The queue contract: priority, then FIFO.
    Fifo,
    /// Fault injection: priority, then newest first (reorders every group).
    NewestFirst,
}

/// What happened to a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Retried at this instant.
    RetryAt(i64),
    /// Out of retries: a dead letter.
    Dead,
}

/// How copies are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claims {
    /// One process consumes the queue, one delivery at a time: taking writes nothing.
    Local,
    /// Several processes share the queue (PostgreSQL): a take leases up to `batch` due copies
    /// to `owner` for `lease_ms`, skipping rows another instance is taking. The owner's
    /// heartbeat renews its leases ([`renew_leases`]); a lapsed lease makes the copy due again.
    Leased {
        /// The instance taking.
        owner: String,
        /// How long a lease lasts without renewal.
        lease_ms: i64,
        /// How many copies one take leases.
        batch: usize,
    },
}

/// The `NOTIFY` channel a leased enqueue signals, so idle instances wake at once.
pub const WAKE_CHANNEL: &str = "slo_host_jobs";

/// Why the queue could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The database failed.
    #[error("queue storage: {0}")]
    Storage(#[from] SqlError),
    /// The delivery is not in flight (already completed, or unknown).
    #[error("delivery {0} is not in flight")]
    NotInFlight(i64),
}

/// How many copies are queued or in flight in `db`'s queue (of any group). Reads only: any
/// thread may ask, without the queue's owner.
pub fn pending_count(db: &Database) -> Result<u64, QueueError> {
    let count: Option<i64> = db
        .checkout()?
        .query_row(
            "SELECT COUNT(*) FROM _host_queue_jobs WHERE state IN ('queued', 'in_flight')",
            &[],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    Ok(count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0))
}

/// The queue over the host database.
pub struct Queue {
    db: Database,
    clock: Clock,
    claims: Claims,
    /// Copies leased by the last take and not handed out yet.
    taken: Mutex<VecDeque<Delivery>>,
    /// queue → consumer group → max retries.
    consumers: Mutex<BTreeMap<String, BTreeMap<String, u32>>>,
}

const COLUMNS: &str = "seq, queue, consumer_group, job_id, payload, attempt, enqueued_at, due_at";

fn delivery(row: &Row) -> Result<Delivery, SqlError> {
    Ok(Delivery {
        seq: row.get(0)?,
        queue: row.get(1)?,
        consumer_group: row.get(2)?,
        job_id: row.get(3)?,
        payload: row.get(4)?,
        attempt: row.get(5)?,
        enqueued_at: row.get(6)?,
        due_at: row.get(7)?,
    })
}

impl Queue {
    /// Opens the queue in `db`, creating its tables, and puts back every copy that was in
    /// flight when the host last stopped (it will be redelivered).
    pub fn open(db: Database, clock: Clock) -> Result<Self, QueueError> {
        Self::open_with(db, clock, Claims::Local)
    }

    /// Opens the queue with the given way of taking copies. [`Claims::Local`] puts back every
    /// copy in flight (this process was the only consumer); [`Claims::Leased`] puts back only
    /// the copies its own owner name leased in an earlier run, and needs PostgreSQL.
    pub fn open_with(db: Database, clock: Clock, claims: Claims) -> Result<Self, QueueError> {
        let conn = db.checkout()?;
        crate::host_schema::migrate(&conn)?;
        match &claims {
            Claims::Local => {
                conn.execute(
                    "UPDATE _host_queue_jobs SET state = 'queued' WHERE state = 'in_flight'",
                    &[],
                )?;
            }
            Claims::Leased { owner, .. } => {
                if conn.dialect() != Dialect::Postgres {
                    return Err(QueueError::Storage(SqlError::Refused(
                        "a queue shared by several instances needs PostgreSQL".into(),
                    )));
                }
                release_leases(&conn, owner)?;
            }
        }
        drop(conn);
        Ok(Queue {
            db,
            clock,
            claims,
            taken: Mutex::new(VecDeque::new()),
            consumers: Mutex::new(BTreeMap::new()),
        })
    }

    /// Registers `group` as a consumer of `queue` (re-registering updates `max_retries`).
    pub fn register_consumer(&self, queue: &str, group: &str, max_retries: u32) {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(queue.to_owned())
            .or_default()
            .insert(group.to_owned(), max_retries);
    }

    /// Replaces every registration with `consumers` (queue, group, max retries), as a new
    /// plugin version declares them. Copies queued for a group no longer registered are kept,
    /// not dropped: they wait, undelivered, until a version consumes them again.
    pub fn replace_consumers(&self, consumers: &[(String, String, u32)]) {
        {
            let mut map = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
            map.clear();
            for (queue, group, max_retries) in consumers {
                map.entry(queue.clone())
                    .or_default()
                    .insert(group.clone(), *max_retries);
            }
        }
        // Leased copies of a group no longer consumed go back for whoever consumes them.
        let stale: Vec<Delivery> = {
            let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
            let (keep, stale): (Vec<Delivery>, Vec<Delivery>) = taken
                .drain(..)
                .partition(|d| self.is_registered(&d.queue, &d.consumer_group));
            *taken = keep.into();
            stale
        };
        for d in stale {
            if let Err(e) = self.release(&d) {
                tracing::warn!("a leased copy {} could not be put back: {e}", d.seq);
            }
        }
    }

    fn is_registered(&self, queue: &str, group: &str) -> bool {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(queue)
            .is_some_and(|groups| groups.contains_key(group))
    }

    /// The consumer groups of `queue`.
    pub fn groups(&self, queue: &str) -> Vec<String> {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(queue)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn max_retries(&self, queue: &str, group: &str) -> u32 {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(queue)
            .and_then(|g| g.get(group).copied())
            .unwrap_or(0)
    }

    /// Enqueues one copy of `job` per consumer group of its queue; answers how many copies
    /// were added (fewer when a de-duplicating job id is still pending for a group).
    pub fn enqueue(&self, job: &NewJob) -> Result<usize, QueueError> {
        self.enqueue_groups(job, &self.groups(&job.queue))
    }

    /// Enqueues one copy of `job` for `group` only (a subscription that filters by kind);
    /// answers whether it was added.
    pub fn enqueue_for(&self, job: &NewJob, group: &str) -> Result<bool, QueueError> {
        Ok(self.enqueue_groups(job, &[group.to_owned()])? == 1)
    }

    fn enqueue_groups(&self, job: &NewJob, groups: &[String]) -> Result<usize, QueueError> {
        let conn = self.db.checkout()?;
        self.enqueue_on(&conn, job, groups)
    }

    /// Enqueues one copy of `job` per group on `conn`, inside whatever transaction is open
    /// there (the entity framework enqueues a change in the transaction that made it).
    /// Answers how many copies were added (a pending copy of a de-duplicating id is kept).
    pub fn enqueue_on(
        &self,
        conn: &SqlConnection,
        job: &NewJob,
        groups: &[String],
    ) -> Result<usize, QueueError> {
        let now = self.clock.now_ms();
        let due = now.saturating_add(i64::try_from(job.delay_ms).unwrap_or(i64::MAX));
        let mut added = 0;
        let ordering_key = match self.claims {
            Claims::Local => None,
            Claims::Leased { .. } => job.ordering_key.as_deref(),
        };
        for group in groups {
            let pending = if job.dedupe {
                conn.query_row(
                    "SELECT seq FROM _host_queue_jobs WHERE queue = ? AND consumer_group = ? AND job_id = ? AND state IN ('queued', 'in_flight')",
                    sql_params![&job.queue, group, &job.job_id],
                )?
            } else {
                None
            };
            if pending.is_some() {
                continue;
            }
            // A host-made (non de-duplicating) id may repeat; keep it unique per pending copy.
            let job_id = if job.dedupe {
                job.job_id.clone()
            } else {
                format!("{}#{}", job.job_id, now)
            };
            conn.execute(
                "INSERT INTO _host_queue_jobs (queue, consumer_group, job_id, payload, priority, enqueued_at, due_at, state, ordering_key) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING",
                sql_params![&job.queue, group, job_id, &job.payload, job.priority, now, due, ordering_key],
            )?;
            added += 1;
        }
        if added > 0 && matches!(self.claims, Claims::Leased { .. }) {
            // Delivered at commit: idle instances wake at once instead of at their next poll.
            conn.execute(&format!("SELECT pg_notify('{WAKE_CHANNEL}', '')"), &[])?;
        }
        Ok(added)
    }

    /// Takes the next due copy (highest priority, then earliest due, then first enqueued).
    ///
    /// Taking writes nothing: the copy stays `queued` until the transaction that completes it
    /// (the handler's own, [`Queue::complete_on`]) or fails it commits. A crash in between
    /// leaves it queued, so it is redelivered, and a delivery costs no commit of its own. This
    /// holds because one driver consumes a process's queue, one delivery at a time.
    pub fn take_due(&self) -> Result<Option<Delivery>, QueueError> {
        self.take_due_in(DeliveryOrder::Fifo)
    }

    /// [`Queue::take_due`] in the given order (fault injection reverses it).
    pub fn take_due_in(&self, order: DeliveryOrder) -> Result<Option<Delivery>, QueueError> {
        if let Claims::Leased {
            owner,
            lease_ms,
            batch,
        } = &self.claims
        {
            return self.take_leased(owner, *lease_ms, *batch);
        }
        let now = self.clock.now_ms();
        let conn = self.db.checkout()?;
        let sort = match order {
            DeliveryOrder::Fifo => "priority DESC, due_at, seq",
            DeliveryOrder::NewestFirst => "priority DESC, seq DESC",
        };
        // The first due copy whose group is registered (copies of removed consumers wait).
        // Read in pages: copies of unregistered groups are rare, a backlog may be long.
        const PAGE: i64 = 64;
        let mut next = None;
        let mut offset = 0;
        'pages: loop {
            let rows = conn.query(
                &format!(
                    "SELECT {COLUMNS} FROM _host_queue_jobs WHERE state = 'queued' AND due_at <= ? ORDER BY {sort} LIMIT ? OFFSET ?"
                ),
                sql_params![now, PAGE, offset],
            )?;
            for row in &rows {
                let d = delivery(row)?;
                if self.is_registered(&d.queue, &d.consumer_group) {
                    next = Some(d);
                    break 'pages;
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
            offset += PAGE;
        }
        Ok(next)
    }

    /// The condition that a copy is still this taker's to finish.
    fn still_mine(&self) -> (&'static str, Option<&str>) {
        match &self.claims {
            Claims::Local => ("state IN ('queued', 'in_flight')", None),
            Claims::Leased { owner, .. } => {
                ("state = 'in_flight' AND lease_owner = ?", Some(owner))
            }
        }
    }

    /// Deletes delivered copies enqueued before `before_ms` (dead letters are kept for
    /// inspection): a long-running host's queue table stays the size of its recent traffic.
    /// Answers how many were deleted.
    pub fn forget_done(&self, before_ms: i64) -> Result<usize, QueueError> {
        let deleted = self.db.checkout()?.execute(
            "DELETE FROM _host_queue_jobs WHERE state = 'done' AND enqueued_at < ?",
            sql_params![before_ms],
        )?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    /// How many copies are queued or in flight (of any group): what a stopping host leaves
    /// for the next start.
    pub fn queued_count(&self) -> Result<u64, QueueError> {
        pending_count(&self.db)
    }

    /// The earliest instant a queued copy of a registered group becomes due, if any.
    pub fn next_due_at(&self) -> Result<Option<i64>, QueueError> {
        let groups = self
            .db
            .checkout()?
            .query(
                "SELECT queue, consumer_group, MIN(due_at) FROM _host_queue_jobs WHERE state = 'queued' GROUP BY queue, consumer_group",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)))
            .collect::<Result<Vec<_>, SqlError>>()?;
        Ok(groups
            .into_iter()
            .filter(|(queue, group, _)| self.is_registered(queue, group))
            .map(|(_, _, due)| due)
            .min())
    }

    fn finish(
        &self,
        seq: i64,
        sql: &str,
        params: &[super::sql::SqlValue],
    ) -> Result<(), QueueError> {
        let conn = self.db.checkout()?;
        let changed = conn.execute(sql, params)?;
        if changed == 0 {
            return Err(QueueError::NotInFlight(seq));
        }
        Ok(())
    }

    /// Marks a delivery done, on its own (see [`Queue::complete_on`] to do it inside the
    /// handler's transaction).
    pub fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let conn = self.db.checkout()?;
        self.complete_on(&conn, delivery)
    }

    /// Marks a delivery done on `conn`, inside the transaction open there (the handler's own,
    /// so that its writes and the completion commit together). `NotInFlight` when the copy is
    /// no longer in flight: nothing must then commit.
    pub fn complete_on(&self, conn: &SqlConnection, delivery: &Delivery) -> Result<(), QueueError> {
        let (mine, owner) = self.still_mine();
        let mut params = vec![SqlValue::Integer(delivery.seq)];
        params.extend(owner.map(SqlValue::from));
        let changed = conn.execute(
            &format!("UPDATE _host_queue_jobs SET state = 'done', lease_owner = NULL, lease_until = NULL WHERE seq = ? AND {mine}"),
            &params,
        )?;
        if changed == 0 {
            return Err(QueueError::NotInFlight(delivery.seq));
        }
        Ok(())
    }

    /// Records a failed attempt: retried after 2^attempt seconds while retries remain, else a
    /// dead letter.
    pub fn fail(&self, delivery: &Delivery, error: &str) -> Result<FailOutcome, QueueError> {
        let max = self.max_retries(&delivery.queue, &delivery.consumer_group);
        let (mine, owner) = self.still_mine();
        let owner = owner.map(SqlValue::from);
        if delivery.attempt < max {
            let backoff = 1000_i64.saturating_mul(1_i64 << delivery.attempt.min(30));
            let at = self.clock.now_ms().saturating_add(backoff);
            let mut params = sql_params![at, error, delivery.seq].to_vec();
            params.extend(owner);
            self.finish(
                delivery.seq,
                &format!("UPDATE _host_queue_jobs SET state = 'queued', attempt = attempt + 1, due_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE seq = ? AND {mine}"),
                &params,
            )?;
            Ok(FailOutcome::RetryAt(at))
        } else {
            let mut params = sql_params![error, delivery.seq].to_vec();
            params.extend(owner);
            self.finish(
                delivery.seq,
                &format!("UPDATE _host_queue_jobs SET state = 'dead', last_error = ?, lease_owner = NULL, lease_until = NULL WHERE seq = ? AND {mine}"),
                &params,
            )?;
            Ok(FailOutcome::Dead)
        }
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let rows = self.db.checkout()?.query(
            &format!("SELECT {COLUMNS}, last_error FROM _host_queue_jobs WHERE state = 'dead' ORDER BY seq"),
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(DeadLetter {
                    delivery: delivery(r)?,
                    error: r.get::<Option<String>>(8)?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?)
    }
}

#[cfg(test)]
mod tests;
