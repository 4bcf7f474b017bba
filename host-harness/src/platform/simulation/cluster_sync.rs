//! What keeps one cluster instance's simulation in step with the others sharing its database:
//! the platform state's version (re-read when another instance changed it, compared and set
//! by every change), and the sweep that routes outbox rows a dead instance committed but never
//! routed and drops the broadcast copies no gone instance will take.

use super::*;

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
    pub(super) fn advance_platform_version(&self, conn: &SqlConnection) -> Result<bool, SqlError> {
        if self.membership.is_none() {
            return Ok(true);
        }
        let changed = conn.execute(
            "INSERT INTO _host_platform_version (id, version) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET version = _host_platform_version.version + 1 \
             WHERE _host_platform_version.version = ?",
            crate::sql_params![self.platform_version],
        )?;
        Ok(changed == 1)
    }

    /// Runs a platform change, made again on fresh state when another instance changed the
    /// platform first (at most a few times).
    pub(super) fn with_fresh_platform(
        &mut self,
        mut change: impl FnMut(&mut Self) -> Result<(), SimulationError>,
    ) -> Result<(), SimulationError> {
        for _ in 0..8 {
            if self.membership.is_some() {
                self.sync_platform()?;
            }
            match change(self) {
                Err(SimulationError::StalePlatform) => {
                    self.reload_platform();
                }
                Ok(()) => {
                    if self.membership.is_some() {
                        self.platform_version += 1;
                        self.platform.set_loaded_version(self.platform_version);
                    }
                    return Ok(());
                }
                other => return other,
            }
        }
        Err(SimulationError::Host(
            "other instances kept changing the platform during this change: try again".into(),
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
