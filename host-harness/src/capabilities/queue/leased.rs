//! Taking work from a queue several instances share (PostgreSQL): batches leased with
//! `FOR UPDATE SKIP LOCKED`, lapsed leases rescued, one entity's changes handed out in order,
//! leases renewed by the owner's heartbeat and released when it stops.

use super::*;

/// Extends the leases `owner` holds to `until` (its heartbeat); answers how many.
pub fn renew_leases(conn: &SqlConnection, owner: &str, until: i64) -> Result<u64, QueueError> {
    Ok(conn.execute(
        "UPDATE _host_queue_jobs SET lease_until = ? WHERE lease_owner = ? AND state = 'in_flight'",
        sql_params![until, owner],
    )?)
}

/// Puts every copy `owner` leased back in the queue (a stopping instance, or a restarted one
/// whose earlier run was killed); answers how many.
pub fn release_leases(conn: &SqlConnection, owner: &str) -> Result<u64, QueueError> {
    Ok(conn.execute(
        "UPDATE _host_queue_jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner = ? AND state = 'in_flight'",
        sql_params![owner],
    )?)
}

impl Queue {
    /// The next copy leased to this instance: from the last batch, else a new batch of due
    /// copies (and copies whose lease lapsed), taken with `FOR UPDATE SKIP LOCKED` so that
    /// instances taking at the same moment take different rows.
    pub(super) fn take_leased(
        &self,
        owner: &str,
        lease_ms: i64,
        batch: usize,
    ) -> Result<Option<Delivery>, QueueError> {
        if let Some(next) = self
            .taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            return Ok(Some(next));
        }
        let pairs: Vec<(String, String)> = self
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|(q, groups)| groups.keys().map(move |g| (q.clone(), g.clone())))
            .collect();
        if pairs.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let registered = |alias: &str| {
            vec![format!("({alias}.queue = ? AND {alias}.consumer_group = ?)"); pairs.len()]
                .join(" OR ")
        };
        let (registered_j, registered_p) = (registered("j"), registered("p"));
        let sql = format!(
            "WITH picked AS (
                SELECT j.seq, j.state AS was FROM _host_queue_jobs j
                WHERE ((j.state = 'queued' AND j.due_at <= ?) OR (j.state = 'in_flight' AND j.lease_until < ?))
                  AND ({registered_j})
                  AND (j.ordering_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM _host_queue_jobs p
                        WHERE p.queue = j.queue AND p.ordering_key = j.ordering_key
                          AND p.seq < j.seq AND p.state IN ('queued', 'in_flight')
                          AND ({registered_p})))
                ORDER BY j.priority DESC, j.due_at, j.seq
                LIMIT ?
                FOR UPDATE OF j SKIP LOCKED)
             UPDATE _host_queue_jobs q SET state = 'in_flight', lease_owner = ?, lease_until = ?,
                attempt = CASE WHEN picked.was = 'in_flight' THEN q.attempt + 1 ELSE q.attempt END
             FROM picked WHERE q.seq = picked.seq
             RETURNING q.seq, q.queue, q.consumer_group, q.job_id, q.payload, q.attempt, q.enqueued_at, q.due_at, q.priority, picked.was"
        );
        let mut params: Vec<SqlValue> = vec![now.into(), now.into()];
        for _ in 0..2 {
            for (queue, group) in &pairs {
                params.push(queue.into());
                params.push(group.into());
            }
        }
        params.push(i64::try_from(batch.max(1)).unwrap_or(1).into());
        params.push(owner.into());
        params.push(now.saturating_add(lease_ms).into());
        let conn = self.db.checkout()?;
        let rows = conn.query(&sql, &params)?;
        let mut leased = Vec::with_capacity(rows.len());
        for row in &rows {
            let (priority, d, was): (i64, Delivery, String) =
                (row.get(8)?, delivery(row)?, row.get(9)?);
            // A rescue counts as a failed attempt (its instance died or hung while handling
            // it): a job that keeps killing its instances ends as a dead letter, not in a loop.
            if was == "in_flight" && d.attempt > self.max_retries(&d.queue, &d.consumer_group) {
                conn.execute(
                    "UPDATE _host_queue_jobs SET state = 'dead', lease_owner = NULL, lease_until = NULL, last_error = ? \
                     WHERE seq = ? AND state = 'in_flight' AND lease_owner = ?",
                    sql_params![
                        format!("its instance stopped while handling it {} times", d.attempt),
                        d.seq,
                        owner
                    ],
                )?;
                tracing::warn!(
                    "dead letter: {}/{}: its instances kept stopping",
                    d.queue,
                    d.consumer_group
                );
                continue;
            }
            leased.push((priority, d));
        }
        leased.sort_by(|(pa, a), (pb, b)| {
            pb.cmp(pa)
                .then(a.due_at.cmp(&b.due_at))
                .then(a.seq.cmp(&b.seq))
        });
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        taken.extend(leased.into_iter().map(|(_, d)| d));
        Ok(taken.pop_front())
    }

    /// Puts a leased copy back in the queue untouched (its group is no longer consumed here).
    pub(super) fn release(&self, delivery: &Delivery) -> Result<(), QueueError> {
        if let Claims::Leased { owner, .. } = &self.claims {
            self.db.checkout()?.execute(
                "UPDATE _host_queue_jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL \
                 WHERE seq = ? AND state = 'in_flight' AND lease_owner = ?",
                sql_params![delivery.seq, owner],
            )?;
        }
        Ok(())
    }

    /// Puts back every copy this instance leased and has not handed out (a stopping instance).
    pub fn release_unstarted(&self) -> Result<(), QueueError> {
        let unstarted: Vec<Delivery> = self
            .taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for d in unstarted {
            self.release(&d)?;
        }
        Ok(())
    }
}
