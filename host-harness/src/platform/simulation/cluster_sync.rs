//! What keeps one cluster instance's simulation in step with the others sharing its database:
//! the platform state's version (re-read when another instance changed it, compared and set
//! by every change), and the sweep that routes outbox rows a dead instance committed but never
//! routed and drops the broadcast copies no gone instance will take.

use super::*;

/// The advisory lock a cluster's platform changes take, one at a time ("slo-plat").
const PLATFORM_LOCK_KEY: i64 = 0x736c_6f2d_706c_6174;

/// An instance silent this long leaves the registry (and `/admin/status`).
const FORGET_INSTANCES_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// How often a cluster instance looks for orphaned outbox rows.
const ORPHAN_SWEEP_EVERY_MS: i64 = 5_000;

impl Simulation {
    /// Re-reads the platform state when another instance changed it since this one loaded
    /// it (one read when nothing changed); remembers the version it reflects as the base of
    /// the next change.
    pub(super) fn sync_platform(&mut self) -> Result<(), SimulationError> {
        if let Some(version) = self.platform.refresh().map_err(SimulationError::Host)? {
            self.platform_version = version;
        }
        Ok(())
    }

    /// In a cluster, moves the platform state's version on by one, on `conn` inside the
    /// change's transaction, provided no other instance moved it since the change's base was
    /// read ([`Simulation::sync_platform`]).
    /// Answers `false` when one did: the change must roll back and be made again on fresh
    /// state. Outside a cluster this process is the only writer: nothing to compare.
    ///
    /// The journal records `system` as what this version changed (`None`: something the
    /// journal does not narrow down; other instances then read everything).
    pub(super) fn advance_platform_version(
        &self,
        conn: &SqlConnection,
        system: Option<&str>,
    ) -> Result<bool, SqlError> {
        if self.membership.is_none() {
            return Ok(true);
        }
        let changed = conn.execute(
            "INSERT INTO _host_platform_version (id, version) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET version = _host_platform_version.version + 1 \
             WHERE _host_platform_version.version = ?",
            crate::sql_params![self.platform_version],
        )?;
        if changed != 1 {
            return Ok(false);
        }
        crate::platform::state_sync::journal(conn, self.platform_version + 1, system)?;
        Ok(true)
    }

    /// Runs a platform change. In a cluster, the change holds the cluster's platform lock
    /// from before it reads the platform state until after it committed: it starts from every
    /// change committed before it, and no other instance's change comes in between. (A
    /// transaction-level advisory lock in a transaction of its own, taken before the change's
    /// write transaction: always in that order, so they cannot deadlock.) The version compare
    /// stays as a check; a change that finds the version moved anyway is made again.
    pub(super) fn with_fresh_platform(
        &mut self,
        mut change: impl FnMut(&mut Self) -> Result<(), SimulationError>,
    ) -> Result<(), SimulationError> {
        if self.membership.is_none() {
            return change(self);
        }
        let lock = self.database.checkout().map_err(host_error)?;
        lock.begin(true)?;
        if let Err(e) = lock.execute(
            "SELECT pg_advisory_xact_lock(?)",
            crate::sql_params![PLATFORM_LOCK_KEY],
        ) {
            let _ = lock.rollback();
            return Err(e.into());
        }
        let outcome = self.change_on_fresh_platform(&mut change);
        // Ends the lock's transaction (it wrote nothing): the lock goes with it.
        let _ = lock.rollback();
        outcome
    }

    fn change_on_fresh_platform(
        &mut self,
        change: &mut impl FnMut(&mut Self) -> Result<(), SimulationError>,
    ) -> Result<(), SimulationError> {
        for _ in 0..3 {
            self.sync_platform()?;
            match change(self) {
                Err(SimulationError::StalePlatform) => {
                    tracing::warn!("the platform version moved under the platform lock");
                    self.reload_platform();
                }
                Ok(()) => {
                    self.platform_version += 1;
                    self.platform
                        .committed_locally(self.platform_version)
                        .map_err(SimulationError::Host)?;
                    return Ok(());
                }
                other => return other,
            }
        }
        Err(SimulationError::Host(
            "the platform state kept changing during this change: try again".into(),
        ))
    }

    /// In a cluster, routes the outbox rows older than the gone-after limit: an instance died
    /// between committing them and routing them. Routing deletes each row in the transaction
    /// that carries it on, so a row the slow owner routes meanwhile is routed once.
    pub(super) fn sweep_orphans(&mut self) -> Result<(), SimulationError> {
        let Some(gone_after) = self.membership.as_ref().map(|m| m.gone_after_ms()) else {
            return Ok(());
        };
        let now = self.clock.now_ms();
        if now.saturating_sub(self.last_orphan_sweep) < ORPHAN_SWEEP_EVERY_MS {
            return Ok(());
        }
        self.last_orphan_sweep = now;
        let before = now.saturating_sub(gone_after);
        let conn = self.database.checkout().map_err(host_error)?;
        registry::forget_long_gone(&conn, now.saturating_sub(FORGET_INSTANCES_AFTER_MS))?;
        for gone in registry::gone_names(&conn, now, gone_after)? {
            let forgotten = registry::forget_broadcasts_of(&conn, &gone)?;
            if forgotten > 0 {
                tracing::info!("dropped {forgotten} broadcast copies of gone instance {gone}");
            }
        }
        let up_to = outbox::last_seq_before(&conn, before)?;
        if up_to == 0 {
            return Ok(());
        }
        let orphans: Vec<_> = outbox::pending(&conn, up_to)
            .map_err(SimulationError::Host)?
            .into_iter()
            .filter(|p| p.at_ms < before)
            .collect();
        drop(conn);
        let count = orphans.len();
        let mut leftover = Vec::new();
        for p in orphans {
            self.route_once(p.entry, p.seq, p.at_ms, &mut leftover)?;
        }
        self.forget_outbox_rows(&leftover)?;
        if count > 0 {
            tracing::info!("routed {count} publications a stopped instance had not routed");
        }
        Ok(())
    }

    /// Routes one durable publication; when routing fails because its row is already gone
    /// (another instance routed it), skips it.
    pub(super) fn route_once(
        &mut self,
        entry: OutboxEntry,
        seq: i64,
        at_ms: i64,
        leftover: &mut Vec<i64>,
    ) -> Result<(), SimulationError> {
        match self.route(entry, Some(seq), at_ms, leftover) {
            Ok(()) => Ok(()),
            Err(e) => {
                let conn = self.database.checkout().map_err(host_error)?;
                if outbox::exists(&conn, seq)? {
                    Err(e)
                } else {
                    tracing::info!("outbox row {seq} was routed by another instance");
                    Ok(())
                }
            }
        }
    }
}
