//! The simulated platform plugins a Checkstack plugin calls through the `platform` import:
//! catalog, healthcheck, dependency, maintenance and incident, each answering the procedures
//! and shapes the SLO plugin uses (host-contract.md §3–5, slo-behaviour.md §7.3).
//!
//! This is the data side: systems, health (effective, with incident overrides), the
//! dependency graph, maintenance windows and health history. Emitting the `health` and
//! `catalog-system` entity changes when it changes is the entity framework's job.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::capabilities::clock::{parse_rfc3339, to_rfc3339, Clock};
use crate::capabilities::platform::PlatformServices;
use crate::runtime::PluginError;

/// A health status as the healthcheck plugin reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Every check passes.
    Healthy,
    /// Some checks fail.
    Degraded,
    /// The system is down.
    Unhealthy,
}

impl HealthStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// A recorded maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Maintenance {
    /// The system.
    pub system_id: String,
    /// Start, epoch ms.
    pub start_ms: i64,
    /// End, epoch ms.
    pub end_ms: i64,
    /// `scheduled`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct System {
    name: String,
    health: HealthStatus,
}

#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct State {
    systems: BTreeMap<String, System>,
    /// (source, target): source depends on target.
    dependencies: BTreeSet<(String, String)>,
    overrides: BTreeSet<String>,
    maintenance: Vec<Maintenance>,
    /// (system, at, status) health check runs, in time order.
    history: Vec<(String, i64, HealthStatus)>,
    health_service_down: bool,
}

/// The simulated platform. Thread-safe; every mutation is immediate.
pub struct SimulatedPlatform {
    clock: Clock,
    state: Mutex<State>,
    /// In a cluster, the link that keeps the state equal to the shared database's.
    sync: OnceLock<super::state_sync::PlatformSync>,
}

fn not_found(what: String) -> PluginError {
    PluginError::NotFound(what)
}

fn parse<T: for<'de> Deserialize<'de>>(procedure: &str, input: &str) -> Result<T, PluginError> {
    serde_json::from_str(input).map_err(|e| PluginError::Invalid(format!("{procedure}: {e}")))
}

fn parse_instant(field: &str, text: &str) -> Result<i64, PluginError> {
    parse_rfc3339(text).ok_or_else(|| {
        PluginError::Invalid(format!(
            "{field}: expected an RFC 3339 instant, found {text:?}"
        ))
    })
}

impl SimulatedPlatform {
    /// An empty platform on `clock`.
    pub fn new(clock: Clock) -> Self {
        SimulatedPlatform {
            clock,
            state: Mutex::new(State::default()),
            sync: OnceLock::new(),
        }
    }

    /// Shares the platform state through `db` with the other instances of a cluster: from now
    /// on [`SimulatedPlatform::refresh`] (which the host calls before every invocation)
    /// re-reads the state whenever another instance changed it.
    pub fn share_through(&self, db: crate::capabilities::sql::Database) {
        let _ = self.sync.set(super::state_sync::PlatformSync::new(db));
    }

    /// In a cluster, re-reads the state if another instance changed it; answers the version
    /// the state reflects (`None` outside a cluster).
    pub fn refresh(&self) -> Result<Option<i64>, String> {
        match self.sync.get() {
            None => Ok(None),
            Some(sync) => sync
                .refresh(
                    |saved| self.restore_persisted(saved).map_err(|e| e.to_string()),
                    |systems, history| self.apply_saved(systems, history),
                )
                .map(Some),
        }
    }

    /// In a cluster, records that the state reflects `version`.
    pub fn set_loaded_version(&self, version: i64) {
        if let Some(sync) = self.sync.get() {
            sync.set_loaded(version);
        }
    }

    /// In a cluster, records that a change made here committed as `version` (see
    /// [`super::state_sync::PlatformSync::committed_locally`]).
    pub fn committed_locally(&self, version: i64) -> Result<(), String> {
        match self.sync.get() {
            Some(sync) => sync.committed_locally(version).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything the platform holds (systems, health, dependencies, overrides, maintenance,
    /// history), as JSON: a long-running host saves it so that a restart over the same
    /// database finds the catalog it left.
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(&*self.state()).unwrap_or(Value::Null)
    }

    /// Replaces everything the platform holds with a [`SimulatedPlatform::snapshot`]. Nothing
    /// is emitted: the changes that built it were emitted when they happened.
    pub fn restore(&self, snapshot: Value) -> Result<(), serde_json::Error> {
        let restored: State = serde_json::from_value(snapshot)?;
        *self.state() = restored;
        Ok(())
    }

    /// Replaces the persistent part of the platform (systems, dependencies, overrides,
    /// maintenance windows, history) with what `persistence::load` read, keeping the scenario
    /// device that lives in memory only (the health-service fault).
    pub fn restore_persisted(&self, saved: Value) -> Result<(), serde_json::Error> {
        let mut restored: State = serde_json::from_value(saved)?;
        let mut state = self.state();
        restored.health_service_down = state.health_service_down;
        *state = restored;
        Ok(())
    }

    /// Applies what another cluster instance changed, as read from the database: the saved
    /// rows of some systems (`None`: deleted) and the health history rows after the last one
    /// read. Nothing is emitted.
    pub fn apply_saved(
        &self,
        systems: &[(String, Option<(String, HealthStatus)>)],
        history: &[(String, i64, HealthStatus)],
    ) {
        let mut state = self.state();
        for (id, saved) in systems {
            match saved {
                Some((name, health)) => {
                    state.systems.insert(
                        id.clone(),
                        System {
                            name: name.clone(),
                            health: *health,
                        },
                    );
                }
                None => {
                    state.systems.remove(id);
                }
            }
        }
        state.history.extend(history.iter().cloned());
    }

    /// The catalog system a GitOps reference names (`kind` `System`, case-insensitive): the
    /// system with that id, else the one system with that catalog name. Other kinds (health
    /// check configurations, say) are not simulated: `None`.
    pub fn resolve_system_ref(&self, kind: &str, name: &str) -> Option<String> {
        if !kind.eq_ignore_ascii_case("system") {
            return None;
        }
        let state = self.state();
        if state.systems.contains_key(name) {
            return Some(name.to_owned());
        }
        let mut named = state.systems.iter().filter(|(_, s)| s.name == name);
        match (named.next(), named.next()) {
            (Some((id, _)), None) => Some(id.clone()),
            _ => None,
        }
    }

    /// Every system: id, catalog name and effective health, sorted by id.
    pub fn systems(&self) -> Vec<(String, String, HealthStatus)> {
        let state = self.state();
        state
            .systems
            .iter()
            .filter_map(|(id, s)| Some((id.clone(), s.name.clone(), effective(&state, id)?)))
            .collect()
    }

    /// A system's catalog name and check health (before incident overrides), if it exists.
    pub fn raw_system(&self, id: &str) -> Option<(String, HealthStatus)> {
        self.state()
            .systems
            .get(id)
            .map(|s| (s.name.clone(), s.health))
    }

    /// Adds (or renames) a catalog system; new systems start healthy.
    pub fn add_system(&self, id: &str, name: &str) {
        let now = self.clock.now_ms();
        let mut state = self.state();
        let fresh = !state.systems.contains_key(id);
        state
            .systems
            .entry(id.to_owned())
            .and_modify(|s| s.name = name.to_owned())
            .or_insert(System {
                name: name.to_owned(),
                health: HealthStatus::Healthy,
            });
        if fresh {
            state
                .history
                .push((id.to_owned(), now, HealthStatus::Healthy));
        }
    }

    /// Removes a catalog system and its dependency edges; answers whether it existed.
    pub fn remove_system(&self, id: &str) -> bool {
        let mut state = self.state();
        state.dependencies.retain(|(s, t)| s != id && t != id);
        state.overrides.remove(id);
        state.systems.remove(id).is_some()
    }

    /// The catalog name of a system (its id when unknown).
    pub fn system_name(&self, id: &str) -> String {
        self.state()
            .systems
            .get(id)
            .map_or_else(|| id.to_owned(), |s| s.name.clone())
    }

    /// Whether the system exists.
    pub fn has_system(&self, id: &str) -> bool {
        self.state().systems.contains_key(id)
    }

    /// Sets a system's check health; answers the previous effective status, or `None` for an
    /// unknown system.
    pub fn set_health(&self, id: &str, health: HealthStatus) -> Option<HealthStatus> {
        let now = self.clock.now_ms();
        let mut state = self.state();
        let before = effective(&state, id)?;
        if let Some(system) = state.systems.get_mut(id) {
            system.health = health;
        }
        state.history.push((id.to_owned(), now, health));
        Some(before)
    }

    /// Since when (epoch ms) the system's check health has been what it is now: the first run
    /// of the trailing streak of equal statuses in its history. `None` for an unknown system.
    /// While an incident override holds the system down, the streak is not known (overrides
    /// keep no history): `None`.
    pub fn health_since(&self, id: &str) -> Option<i64> {
        let state = self.state();
        let current = state.systems.get(id)?.health;
        if effective(&state, id) != Some(current) {
            return None;
        }
        let mut since = None;
        for (system, at, status) in state.history.iter().rev() {
            if system != id {
                continue;
            }
            if *status != current {
                break;
            }
            since = Some(*at);
        }
        since
    }

    /// The effective health (checks plus incident overrides) of a system.
    pub fn health(&self, id: &str) -> Option<HealthStatus> {
        effective(&self.state(), id)
    }

    /// Adds or removes the edge "source depends on target".
    pub fn set_dependency(&self, source: &str, target: &str, present: bool) {
        let mut state = self.state();
        let edge = (source.to_owned(), target.to_owned());
        if present {
            state.dependencies.insert(edge);
        } else {
            state.dependencies.remove(&edge);
        }
    }

    /// Sets or clears an incident health override (an active override makes the system
    /// effectively unhealthy).
    pub fn set_override(&self, id: &str, active: bool) {
        let mut state = self.state();
        if active {
            state.overrides.insert(id.to_owned());
        } else {
            state.overrides.remove(id);
        }
    }

    /// Records a maintenance window.
    pub fn add_maintenance(&self, window: Maintenance) {
        self.state().maintenance.push(window);
    }

    /// Makes the health service fail (every health call errors), or work again.
    pub fn set_health_service_down(&self, down: bool) {
        self.state().health_service_down = down;
    }

    /// Systems that depend directly on `id`, sorted.
    pub fn downstreams(&self, id: &str) -> Vec<String> {
        self.state()
            .dependencies
            .iter()
            .filter(|(_, t)| t == id)
            .map(|(s, _)| s.clone())
            .collect()
    }
}

fn effective(state: &State, id: &str) -> Option<HealthStatus> {
    let system = state.systems.get(id)?;
    Some(if state.overrides.contains(id) {
        HealthStatus::Unhealthy
    } else {
        system.health
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefInput {
    kind: String,
    entity_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemInput {
    system_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DependenciesInput {
    system_id: String,
    direction: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemsInput {
    system_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RangeInput {
    system_ids: Vec<String>,
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryInput {
    system_id: String,
    start_date: String,
    #[serde(default)]
    status_filter: Vec<HealthStatus>,
    limit: Option<usize>,
}

impl PlatformServices for SimulatedPlatform {
    fn before_invocation(&self) -> Result<(), PluginError> {
        self.refresh().map(drop).map_err(|e| {
            PluginError::Internal(format!("the platform state could not be read: {e}"))
        })
    }

    fn entity_kinds(&self) -> Vec<crate::capabilities::platform::NativeKind> {
        super::native_kinds::kinds()
    }

    fn call(&self, plugin_id: &str, procedure: &str, input: &str) -> Result<String, PluginError> {
        let answer = match (plugin_id, procedure) {
            ("healthcheck", "getSystemHealthStatus") => {
                let SystemInput { system_id } = parse(procedure, input)?;
                let state = self.state();
                if state.health_service_down {
                    return Err(PluginError::Internal(
                        "healthcheck service unavailable".into(),
                    ));
                }
                let status = effective(&state, &system_id)
                    .ok_or_else(|| not_found(format!("system {system_id:?}")))?;
                json!({ "status": status.as_str() })
            }
            ("healthcheck", "getHistory") => {
                let input: HistoryInput = parse(procedure, input)?;
                let since = parse_instant("startDate", &input.start_date)?;
                let state = self.state();
                if state.health_service_down {
                    return Err(PluginError::Internal(
                        "healthcheck service unavailable".into(),
                    ));
                }
                let runs: Vec<Value> = state
                    .history
                    .iter()
                    .filter(|(s, at, status)| {
                        *s == input.system_id
                            && *at >= since
                            && (input.status_filter.is_empty() || input.status_filter.contains(status))
                    })
                    .take(input.limit.unwrap_or(usize::MAX))
                    .map(|(_, at, status)| json!({ "timestamp": to_rfc3339(*at), "status": status.as_str() }))
                    .collect();
                json!({ "runs": runs })
            }
            ("catalog", "getSystem") => {
                let SystemInput { system_id } = parse(procedure, input)?;
                let state = self.state();
                let system = state
                    .systems
                    .get(&system_id)
                    .ok_or_else(|| not_found(format!("system {system_id:?}")))?;
                json!({ "id": system_id, "name": system.name })
            }
            ("gitops", "resolveEntityRef") => {
                let RefInput { kind, entity_name } = parse(procedure, input)?;
                json!({ "entityId": self.resolve_system_ref(&kind, &entity_name) })
            }
            ("dependency", "getDependencies") => {
                let DependenciesInput {
                    system_id,
                    direction,
                } = parse(procedure, input)?;
                let state = self.state();
                let edges: Vec<Value> = state
                    .dependencies
                    .iter()
                    .filter(|(source, target)| match direction.as_str() {
                        "upstream" => *source == system_id,
                        _ => *target == system_id,
                    })
                    .map(|(source, target)| json!({ "sourceSystemId": source, "targetSystemId": target }))
                    .collect();
                json!({ "dependencies": edges })
            }
            ("incident", "getActiveHealthOverrides") => {
                let SystemsInput { system_ids } = parse(procedure, input)?;
                let state = self.state();
                let overrides: serde_json::Map<String, Value> = system_ids
                    .into_iter()
                    .map(|id| {
                        let active = state.overrides.contains(&id);
                        let list = if active {
                            json!([{ "systemId": id, "status": "unhealthy" }])
                        } else {
                            json!([])
                        };
                        (id, list)
                    })
                    .collect();
                json!({ "overrides": overrides })
            }
            ("maintenance", "getMaintenanceWindowsForRange") => {
                let RangeInput {
                    system_ids,
                    from,
                    to,
                } = parse(procedure, input)?;
                let (from, to) = (parse_instant("from", &from)?, parse_instant("to", &to)?);
                let state = self.state();
                let maintenances: serde_json::Map<String, Value> = system_ids
                    .into_iter()
                    .map(|id| {
                        let list: Vec<Value> = state
                            .maintenance
                            .iter()
                            .filter(|m| m.system_id == id && m.start_ms <= to && m.end_ms >= from)
                            .map(|m| json!({ "startAt": to_rfc3339(m.start_ms), "endAt": to_rfc3339(m.end_ms), "status": m.status }))
                            .collect();
                        (id, Value::Array(list))
                    })
                    .collect();
                json!({ "maintenances": maintenances })
            }
            _ => {
                return Err(not_found(format!(
                    "platform procedure {plugin_id}.{procedure} is not simulated"
                )))
            }
        };
        Ok(answer.to_string())
    }
}

#[cfg(test)]
mod tests;
