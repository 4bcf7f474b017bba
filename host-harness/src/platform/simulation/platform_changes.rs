//! Changes to the simulated platform (health, catalog, dependencies, incident overrides): each
//! commits its platform rows with its change-log row and queued deliveries in one transaction.

use super::routing::enqueue_change;
use super::*;
use crate::platform::Maintenance;

/// The error a change's transaction answers when another instance moved the platform first.
const STALE: &str = "the platform state changed under this change";

/// `SimulationError::StalePlatform` for a transaction that failed with [`STALE`].
fn stale_or(error: SimulationError) -> SimulationError {
    match error {
        SimulationError::Host(m) if m == STALE => SimulationError::StalePlatform,
        other => other,
    }
}

impl Simulation {
    /// A platform module's change (host-contract §4.3, §5): the platform's own rows
    /// (`persist`), the change-log row and the change's queued deliveries commit in one host
    /// transaction, then the change is published. No change, no event (the platform's rows are
    /// still written). If the transaction fails, the in-memory platform is reloaded from the
    /// database, which holds the truth.
    pub(super) fn platform_change(
        &mut self,
        kind: &str,
        id: &str,
        prev: Option<Value>,
        next: Option<Value>,
        persist: &dyn Fn(&SqlConnection) -> Result<(), SqlError>,
    ) -> Result<(), SimulationError> {
        let d = diff(prev.as_ref(), next.as_ref());
        let invalid = match (d.is_empty(), &next) {
            (false, Some(state)) => self
                .host
                .entity_registry()
                .kind(kind)
                .and_then(|entry| entry.schema.validate(state).err())
                .map(|v| v.to_string()),
            _ => None,
        };
        if let Some(v) = invalid {
            self.reload_platform();
            return Err(SimulationError::Host(format!(
                "platform state of {kind}/{id} is invalid: {v}"
            )));
        }
        // The journal names the system when only its row and history changed (a health run,
        // a new system); a deletion also drops edges and overrides: others read everything.
        let journaled = (kind == HEALTH || next.is_some()).then_some(id);
        let written = self.in_host_transaction(|sim, raw| {
            if !sim
                .advance_platform_version(raw, journaled)
                .map_err(|e| e.to_string())?
            {
                return Err(STALE.into());
            }
            persist(raw).map_err(|e| e.to_string())?;
            if d.is_empty() {
                return Ok(None);
            }
            let event = log::record(
                raw,
                NewChange {
                    kind,
                    id,
                    prev,
                    next,
                    delta: d.delta,
                    changed_fields: d.changed_fields,
                    actor: ChangeActor::system(),
                    at: sim.clock.now_ms(),
                },
            )
            .map_err(|e| e.to_string())?;
            enqueue_change(sim, raw, &event)?;
            Ok(Some(event))
        });
        match written {
            Ok(Some(event)) => {
                self.published_change(event);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.reload_platform();
                Err(stale_or(e))
            }
        }
    }

    /// Writes platform rows that announce nothing (an override, a dependency edge) in one
    /// transaction that also moves the platform's version; a failure reloads the platform.
    fn save_platform(
        &mut self,
        save: &dyn Fn(&SqlConnection) -> Result<(), SqlError>,
    ) -> Result<(), SimulationError> {
        let saved = self.in_host_transaction(|sim, conn| {
            if !sim
                .advance_platform_version(conn, None)
                .map_err(|e| e.to_string())?
            {
                return Err(STALE.into());
            }
            save(conn).map_err(|e| e.to_string())
        });
        if let Err(e) = saved {
            self.reload_platform();
            return Err(stale_or(e));
        }
        Ok(())
    }

    /// Runs `work` in one immediate host transaction: commits when it answers `Ok`, rolls back
    /// otherwise.
    pub(super) fn in_host_transaction<T>(
        &self,
        work: impl FnOnce(&Self, &SqlConnection) -> Result<T, String>,
    ) -> Result<T, SimulationError> {
        let conn = self.database.checkout().map_err(host_error)?;
        conn.in_write_transaction(|conn| work(self, conn).map_err(SimulationError::Host))
    }

    /// Restores the platform (systems, health, dependencies, overrides, history) a previous
    /// run over this database saved: a long-running host calls it at start. Nothing is
    /// emitted (those changes were emitted when they happened). Answers whether anything was
    /// saved.
    pub fn restore_platform(&mut self) -> Result<bool, SimulationError> {
        if self.membership.is_some() {
            // In a cluster the state is read through the platform's link to the database.
            self.platform.set_loaded_version(-1);
            self.sync_platform()?;
            return Ok(true);
        }
        let conn = self.database.checkout().map_err(host_error)?;
        let saved = persistence::load(&conn).map_err(host_error)?;
        drop(conn);
        match saved {
            Some(saved) => {
                self.platform.restore_persisted(saved).map_err(|e| {
                    SimulationError::Host(format!("the saved platform state is unreadable: {e}"))
                })?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// After a failed platform write: the in-memory platform goes back to what the database
    /// holds (a write that did not commit did not happen).
    pub(super) fn reload_platform(&mut self) {
        if let Err(e) = self.restore_platform() {
            tracing::error!("the platform could not be reloaded after a failed write: {e}");
        }
    }

    pub(super) fn health_state(&self, system: &str) -> Option<Value> {
        self.platform.health(system).map(native_kinds::health_state)
    }

    /// Changes a system's health through the entity framework (a `health` entity change).
    pub fn set_health(
        &mut self,
        system: &str,
        status: HealthStatus,
    ) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| sim.set_health_once(system, status))
    }

    fn set_health_once(
        &mut self,
        system: &str,
        status: HealthStatus,
    ) -> Result<(), SimulationError> {
        let prev = self.health_state(system);
        if self.platform.set_health(system, status).is_none() {
            return Ok(()); // an unknown system has no health to change
        }
        let next = self.health_state(system);
        let name = self.platform.system_name(system);
        let at = self.clock.now_ms();
        self.platform_change(HEALTH, system, prev, next, &|conn| {
            persistence::save_system(conn, system, &name, status)?;
            persistence::append_history(conn, system, at, status)
        })
    }

    /// Sets or clears an incident override and emits `incident.lifecycle.changed`. The
    /// override changes the systems' *effective* health (what `getSystemHealthStatus` answers)
    /// but writes no `health` entity: only check runs do, as on the real platform.
    pub fn set_incident(
        &mut self,
        systems: &[String],
        active: bool,
    ) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| {
            for system in systems {
                sim.platform.set_override(system, active);
            }
            sim.save_platform(&|conn| {
                for system in systems {
                    persistence::save_override(conn, system, active)?;
                }
                Ok(())
            })
        })?;
        self.emit_hook(
            "incident.lifecycle.changed",
            json!({ "systemIds": systems }),
        )
    }

    /// Deletes a catalog system (a `catalog-system` tombstone).
    pub fn delete_system(&mut self, system: &str) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| {
            let name = sim.platform.system_name(system);
            if sim.platform.remove_system(system) {
                let prev = native_kinds::catalog_state(&name);
                sim.platform_change(CATALOG_SYSTEM, system, Some(prev), None, &|conn| {
                    persistence::delete_system(conn, system)
                })?;
            }
            Ok(())
        })
    }

    /// Adds or removes the dependency edge "source depends on target" (saved at once).
    pub fn set_dependency(
        &mut self,
        source: &str,
        target: &str,
        present: bool,
    ) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| {
            sim.platform.set_dependency(source, target, present);
            sim.save_platform(&|conn| persistence::save_dependency(conn, source, target, present))
        })
    }

    /// Records a maintenance window (saved at once; it announces nothing, as on the platform,
    /// where the maintenance service is asked rather than heard from).
    pub fn add_maintenance(&mut self, window: Maintenance) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| {
            sim.platform.add_maintenance(window.clone());
            sim.save_platform(&|conn| persistence::save_maintenance(conn, &window))
        })
    }

    /// Adds a catalog system (a `catalog-system` create).
    pub fn add_system(&mut self, id: &str, name: &str) -> Result<(), SimulationError> {
        self.with_fresh_platform(|sim| sim.add_system_once(id, name))
    }

    fn add_system_once(&mut self, id: &str, name: &str) -> Result<(), SimulationError> {
        let existed = self.platform.has_system(id);
        self.platform.add_system(id, name);
        let (saved_name, health) = self
            .platform
            .raw_system(id)
            .ok_or_else(|| host_error(format!("system {id} vanished while being added")))?;
        let at = self.clock.now_ms();
        let persist = |conn: &SqlConnection| {
            persistence::save_system(conn, id, &saved_name, health)?;
            if !existed {
                persistence::append_history(conn, id, at, health)?;
            }
            Ok(())
        };
        let (prev, next) = if existed {
            (None, None) // a rename: the catalog entity's state has no name change to emit here
        } else {
            (None, Some(native_kinds::catalog_state(name)))
        };
        self.platform_change(CATALOG_SYSTEM, id, prev, next, &persist)
    }
}
