//! The simulated platform in motion: the plugin in its host, the platform services, the durable
//! queue and the scheduler, wired the way the real platform wires them.
//!
//! * The manifest is registered at start: queue consumers, entity-change and hook
//!   subscriptions (each worker group a consumer group of an internal queue), cron jobs.
//! * Everything a committed invocation published is routed: queue jobs to the queue, hooks to
//!   their subscriptions (and the record), signals to the record, entity requests through the
//!   framework pipeline (read prev → apply → diff → transition rows → change event).
//! * Platform changes (health, catalog deletes) become `health` / `catalog-system` entity
//!   changes, delivered to the subscriptions of their kind.
//! * [`Simulation::settle`] runs everything due until nothing is left; [`Simulation::advance_to`]
//!   moves the virtual clock through every cron and delayed job due on the way, settling after
//!   each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::conditions::{self, Condition};
use super::native_kinds::{self, CATALOG_SYSTEM, HEALTH};
use super::persistence;
use super::services::{HealthStatus, SimulatedPlatform};
use crate::bindings::exports::checkstack::plugin::manifest::DeliveryMode;
use crate::bindings::types::{Actor, EntityChange, EntityOp, HookMeta, Job};
use crate::capabilities::clock::Clock;
use crate::capabilities::entities::diff::diff;
use crate::capabilities::entities::log::{self, NewChange};
use crate::capabilities::entities::{
    self as framework, ChangeActor, ChangeEvent, Deriver, MutationRequest, ENTITY_CHANGED_QUEUE,
};
use crate::capabilities::outbox::{self, EntityOperation, OutboxEntry};
use crate::capabilities::queue::{Delivery, DeliveryOrder, FailOutcome, NewJob, Queue};
use crate::capabilities::scheduler::Scheduler;
use crate::capabilities::sql::Database;
use crate::capabilities::sql::Transaction;
use crate::host::{HostConfig, PluginHost};
use crate::runtime::Failure;

/// Most deliveries one settle may run before it reports a runaway loop.
pub const SETTLE_LIMIT: usize = 100_000;

/// How the simulated platform runs: its size and the faults it injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulationOptions {
    /// Simulated host instances: a `broadcast` subscription gets one copy per instance.
    pub instances: u32,
    /// Fault injection: every delivery is made twice (at-least-once made visible).
    pub duplicate_deliveries: bool,
    /// Fault injection: within a settle, the newest due delivery goes first (reordering
    /// within every group).
    pub reorder_deliveries: bool,
}

impl Default for SimulationOptions {
    /// One instance, no faults.
    fn default() -> Self {
        SimulationOptions {
            instances: 1,
            duplicate_deliveries: false,
            reorder_deliveries: false,
        }
    }
}

/// A published hook or signal, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Emission {
    /// Hook or signal id.
    pub id: String,
    /// Payload.
    pub payload: Value,
    /// Host clock, epoch ms.
    pub at: i64,
}

/// What the simulation has recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    /// Hooks, in publication order.
    pub hooks: Vec<Emission>,
    /// Signals, in publication order.
    pub signals: Vec<Emission>,
    /// Entity changes, in publication order.
    pub entity_changes: Vec<ChangeEvent>,
    /// Trigger events: derived from entity changes, or fired by hooks, in order.
    pub trigger_events: Vec<TriggerEvent>,
    /// Automation runs: each false → true edge of a registered automation's condition.
    pub automation_runs: Vec<AutomationRun>,
}

/// One trigger event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerEvent {
    /// Qualified trigger (event) id, e.g. `healthcheck.system_degraded`.
    pub trigger: String,
    /// What fired it: `<kind>:<id>` for a change, `hook:<hook id>` for a hook.
    pub source: String,
    /// The trigger's context key, when it has one.
    pub context_key: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}

/// One run of an automation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationRun {
    /// The automation.
    pub automation: String,
    /// When, epoch ms.
    pub at: i64,
    /// What started it: the entity change that woke it (`<kind>:<id>`), or for a trigger
    /// automation the trigger event's source.
    #[serde(rename = "ref")]
    pub wake_ref: String,
}

/// A registered automation: a condition watched for false → true edges, or a trigger whose
/// events start a run when the (optional) condition holds.
struct Automation {
    id: String,
    trigger: Option<String>,
    condition: Option<Condition>,
    refs: BTreeSet<String>,
    holds: bool,
}

/// Where one subscription's deliveries go: queue consumer groups (one, or one per instance
/// for broadcast), each mapped back to the subscription's worker group.
#[derive(Debug, Default)]
struct Routes {
    /// kind → consumer groups of the change queue.
    change_groups: BTreeMap<String, Vec<String>>,
    /// consumer group → the worker group the plugin knows.
    worker_of: BTreeMap<String, String>,
    /// (hook, consumer group) pairs of hook subscriptions.
    hook_groups: BTreeSet<(String, String)>,
}

impl Routes {
    fn groups(worker_group: &str, mode: DeliveryMode, instances: u32) -> Vec<String> {
        match mode {
            DeliveryMode::WorkQueue => vec![worker_group.to_owned()],
            DeliveryMode::Broadcast => (0..instances.max(1))
                .map(|n| format!("{worker_group}@instance-{n}"))
                .collect(),
        }
    }
}

/// Enqueues a change's deliveries for every subscription of its kind, on `conn` (inside the
/// transaction that recorded the change).
fn enqueue_change(
    queue: &Queue,
    routes: &Routes,
    conn: &rusqlite::Connection,
    event: &ChangeEvent,
) -> Result<(), String> {
    let Some(groups) = routes.change_groups.get(&event.kind) else {
        return Ok(());
    };
    let payload = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let job = NewJob {
        queue: ENTITY_CHANGED_QUEUE.into(),
        payload,
        job_id: event.change_id.clone(),
        dedupe: true,
        delay_ms: 0,
        priority: 0,
    };
    queue
        .enqueue_on(conn, &job, groups)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why the simulation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// Host, queue or scheduler failure.
    #[error("{0}")]
    Host(String),
    /// A settle did not come to rest.
    #[error(
        "settling did not finish after {SETTLE_LIMIT} deliveries: a plugin keeps producing work"
    )]
    Runaway,
}

fn host_error(e: impl std::fmt::Display) -> SimulationError {
    SimulationError::Host(e.to_string())
}

fn system_actor() -> Actor {
    Actor {
        kind: "system".into(),
        id: "system".into(),
        name: Some("System".into()),
    }
}

/// The WIT form of a change, as handlers and derivers receive it.
fn to_wit_change(event: &ChangeEvent) -> EntityChange {
    EntityChange {
        kind: event.kind.clone(),
        id: event.id.clone(),
        prev: event.prev.as_ref().map(Value::to_string),
        next: event.next.as_ref().map(Value::to_string),
        delta: event.delta.to_string(),
        changed_fields: event.changed_fields.clone(),
        actor: Actor {
            kind: event.actor.kind.clone(),
            id: event.actor.id.clone(),
            name: event.actor.name.clone(),
        },
        occurred_at: event.occurred_at,
        change_id: event.change_id.clone(),
    }
}

/// The running simulation.
pub struct Simulation {
    host: Arc<PluginHost>,
    platform: Arc<SimulatedPlatform>,
    database: Database,
    queue: Queue,
    scheduler: Scheduler,
    clock: Clock,
    options: SimulationOptions,
    routes: Routes,
    records: Records,
    routed: usize,
    automations: Vec<Automation>,
    /// The host generation whose manifest the routes mirror.
    generation: u64,
    /// Hooks emitted by this process: with the clock, it makes every emission's job id unique
    /// (also across restarts over one database, and after [`Simulation::trim_history`]).
    hooks_emitted: u64,
    /// The last outbox row an earlier run over this database left (see
    /// [`Simulation::recover_outbox`]).
    earlier_outbox: i64,
}

impl Simulation {
    /// Starts a host over `database` with the simulated platform, loads `component` and
    /// registers its manifest (one instance, no faults).
    pub fn start(
        config: HostConfig,
        database: Database,
        component: &[u8],
    ) -> Result<Self, SimulationError> {
        Self::start_with(config, database, component, SimulationOptions::default())
    }

    /// [`Simulation::start`] with explicit options.
    pub fn start_with(
        config: HostConfig,
        database: Database,
        component: &[u8],
        options: SimulationOptions,
    ) -> Result<Self, SimulationError> {
        let clock = config.clock.clone();
        let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
        let host = Arc::new(
            PluginHost::with_platform(config, database.clone(), platform.clone())
                .map_err(host_error)?,
        );
        let queue = Queue::open(database.clone(), clock.clone()).map_err(host_error)?;
        let scheduler = Scheduler::open(database.clone(), clock.clone()).map_err(host_error)?;
        persistence::create_tables(database.checkout().map_err(host_error)?.raw())
            .map_err(host_error)?;
        // Rows up to here were left by an earlier run; later ones are this run's own.
        let earlier_outbox =
            outbox::last_seq(database.checkout().map_err(host_error)?.raw()).map_err(host_error)?;
        host.load_bytes(component).map_err(host_error)?;
        let mut sim = Simulation {
            host,
            platform,
            database,
            queue,
            scheduler,
            clock,
            options,
            routes: Routes::default(),
            records: Records::default(),
            routed: 0,
            automations: Vec::new(),
            generation: 0,
            hooks_emitted: 0,
            earlier_outbox,
        };
        sim.sync_registrations()?;
        sim.route_publications()?;
        Ok(sim)
    }

    /// Mirrors the serving version's manifest when it changed (a load, a swap, a rollback,
    /// the crash policy): queue consumers and subscriptions (a removed consumer's queued
    /// copies are kept, undelivered), broadcast copies per instance, and recurring jobs (new
    /// ones registered, changed ones updated in place, removed ones cancelled).
    fn sync_registrations(&mut self) -> Result<(), SimulationError> {
        let generation = self.host.generation();
        if generation == self.generation {
            return Ok(());
        }
        let plugin = self
            .host
            .plugin()
            .ok_or_else(|| host_error("no plugin is loaded"))?;
        let manifest = plugin.manifest();
        let mut routes = Routes::default();
        let mut consumers: Vec<(String, String, u32)> = manifest
            .queue_consumers
            .iter()
            .map(|c| (c.queue.clone(), c.consumer_group.clone(), c.max_retries))
            .collect();
        for s in &manifest.entity_subscriptions {
            for group in Routes::groups(&s.worker_group, s.delivery, self.options.instances) {
                consumers.push((ENTITY_CHANGED_QUEUE.into(), group.clone(), s.max_retries));
                routes
                    .change_groups
                    .entry(s.kind.clone())
                    .or_default()
                    .push(group.clone());
                routes.worker_of.insert(group, s.worker_group.clone());
            }
        }
        for s in &manifest.hook_subscriptions {
            for group in Routes::groups(&s.worker_group, s.delivery, self.options.instances) {
                consumers.push((s.hook.clone(), group.clone(), s.max_retries));
                routes.hook_groups.insert((s.hook.clone(), group.clone()));
                routes.worker_of.insert(group, s.worker_group.clone());
            }
        }
        self.queue.replace_consumers(&consumers);
        for j in &manifest.recurring_jobs {
            self.scheduler
                .ensure(&j.job_id, &j.queue, &j.cron, &j.payload)
                .map_err(host_error)?;
        }
        let keep: Vec<String> = manifest
            .recurring_jobs
            .iter()
            .map(|j| j.job_id.clone())
            .collect();
        self.scheduler.retain(&keep).map_err(host_error)?;
        self.routes = routes;
        self.generation = generation;
        Ok(())
    }

    /// Hot-swaps the plugin to `component` (see [`PluginHost::swap_bytes`]) and mirrors the new
    /// manifest; answers what the swap did.
    pub fn swap_plugin(
        &mut self,
        component: &[u8],
    ) -> Result<crate::host::SwapReport, SimulationError> {
        let report = self.host.swap_bytes(component).map_err(host_error)?;
        self.sync_registrations()?;
        self.settle()?;
        Ok(report)
    }

    /// Rolls the plugin back to its previous version and mirrors its manifest.
    pub fn rollback_plugin(&mut self) -> Result<(), SimulationError> {
        self.host.rollback().map_err(host_error)?;
        self.sync_registrations()?;
        self.settle()
    }

    /// Turns on fault injection: every delivery is made twice.
    pub fn set_duplicate_deliveries(&mut self, on: bool) {
        self.options.duplicate_deliveries = on;
    }

    /// Turns on fault injection: the newest due delivery goes first.
    pub fn set_reorder_deliveries(&mut self, on: bool) {
        self.options.reorder_deliveries = on;
    }

    /// The options it runs with.
    pub fn options(&self) -> SimulationOptions {
        self.options
    }

    /// The host.
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// A handle on the host for other threads (RPC callers, a swapper) while the simulation
    /// runs: the host is shared, the simulation notices version changes by generation.
    pub fn host_handle(&self) -> Arc<PluginHost> {
        self.host.clone()
    }

    /// The platform services.
    pub fn platform(&self) -> &SimulatedPlatform {
        &self.platform
    }

    /// A handle on the platform for other threads (it is thread-safe): reading it never waits
    /// for the simulation.
    pub fn platform_handle(&self) -> Arc<SimulatedPlatform> {
        self.platform.clone()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The host database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// What was recorded so far.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// A platform module's change (host-contract §4.3, §5): the platform's own rows
    /// (`persist`), the change-log row and the change's queued deliveries commit in one host
    /// transaction, then the change is published. No change, no event (the platform's rows are
    /// still written). If the transaction fails, the in-memory platform is reloaded from the
    /// database, which holds the truth.
    fn platform_change(
        &mut self,
        kind: &str,
        id: &str,
        prev: Option<Value>,
        next: Option<Value>,
        persist: &dyn Fn(&rusqlite::Connection) -> rusqlite::Result<()>,
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
        let written = self.in_host_transaction(|sim, raw| {
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
            enqueue_change(&sim.queue, &sim.routes, raw, &event)?;
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
                Err(e)
            }
        }
    }

    /// Runs `work` in one immediate host transaction: commits when it answers `Ok`, rolls back
    /// otherwise.
    fn in_host_transaction<T>(
        &self,
        work: impl FnOnce(&Self, &rusqlite::Connection) -> Result<T, String>,
    ) -> Result<T, SimulationError> {
        let conn = self.database.checkout().map_err(host_error)?;
        let raw = conn.raw();
        raw.execute_batch("BEGIN IMMEDIATE").map_err(host_error)?;
        match work(self, raw) {
            Ok(value) => {
                raw.execute_batch("COMMIT").map_err(host_error)?;
                Ok(value)
            }
            Err(e) => {
                let _ = raw.execute_batch("ROLLBACK");
                Err(SimulationError::Host(e))
            }
        }
    }

    /// Restores the platform (systems, health, dependencies, overrides, history) a previous
    /// run over this database saved: a long-running host calls it at start. Nothing is
    /// emitted (those changes were emitted when they happened). Answers whether anything was
    /// saved.
    pub fn restore_platform(&mut self) -> Result<bool, SimulationError> {
        let conn = self.database.checkout().map_err(host_error)?;
        let saved = persistence::load(conn.raw()).map_err(host_error)?;
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
    fn reload_platform(&mut self) {
        if let Err(e) = self.restore_platform() {
            tracing::error!("the platform could not be reloaded after a failed write: {e}");
        }
    }

    /// After a change committed: record it, derive its trigger events, wake automations.
    fn published_change(&mut self, event: ChangeEvent) {
        let source = format!("{}:{}", event.kind, event.id);
        for trigger in self.derive(&event) {
            self.trigger_fired(&trigger, &source, None);
        }
        let (kind, id) = (event.kind.clone(), event.id.clone());
        self.records.entity_changes.push(event);
        self.wake_automations(&kind, &id);
    }

    /// host-contract §2: every deriver of the change's kind in registration order; a failing
    /// deriver is skipped; the union without empty ids or duplicates.
    fn derive(&self, event: &ChangeEvent) -> Vec<String> {
        let derivers = self.host.entity_registry().derivers(&event.kind);
        let lists = derivers.into_iter().map(|deriver| match deriver {
            Deriver::Platform(derive) => derive(event.prev.as_ref(), event.next.as_ref()),
            Deriver::Plugin(plugin) => match self.host.derive_events(&to_wit_change(event)) {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!("deriver of plugin {plugin} for {} skipped: {e}", event.kind);
                    Vec::new()
                }
            },
        });
        framework::registry::union_of_events(lists.collect::<Vec<_>>())
    }

    /// Records a trigger event and starts the automations it triggers (when their condition,
    /// if any, holds now).
    fn trigger_fired(&mut self, trigger: &str, source: &str, context_key: Option<String>) {
        let at = self.clock.now_ms();
        self.records.trigger_events.push(TriggerEvent {
            trigger: trigger.into(),
            source: source.into(),
            context_key,
            at,
        });
        let started: Vec<String> = self
            .automations
            .iter()
            .filter(|a| a.trigger.as_deref() == Some(trigger))
            .filter(|a| {
                a.condition
                    .as_ref()
                    .is_none_or(|c| conditions::evaluate(c, &|k, i| self.resolve(k, i)))
            })
            .map(|a| a.id.clone())
            .collect();
        for automation in started {
            self.records.automation_runs.push(AutomationRun {
                automation,
                at,
                wake_ref: source.into(),
            });
        }
    }

    /// An entity's current state as a condition sees it: platform kinds from the platform,
    /// plugin kinds through the owner's `read`.
    fn resolve(&self, kind: &str, id: &str) -> Option<Value> {
        match kind {
            HEALTH => self.platform.health(id).map(native_kinds::health_state),
            CATALOG_SYSTEM => self
                .platform
                .has_system(id)
                .then(|| native_kinds::catalog_state(&self.platform.system_name(id))),
            _ => self
                .host
                .read_entities(kind, &[id.to_owned()])
                .ok()?
                .into_iter()
                .find(|s| s.id == id)
                .and_then(|s| serde_json::from_str(&s.state).ok()),
        }
    }

    /// Every trigger id an automation may name: the registered triggers and what the
    /// platform's derivers produce.
    fn known_trigger(&self, trigger: &str) -> bool {
        self.host.trigger_registry().get(trigger).is_some()
            || native_kinds::DERIVED_EVENTS.contains(&trigger)
    }

    /// Registers an automation. With `when` only, its condition is evaluated now for the
    /// baseline and a run is recorded on every later false → true edge. With a `trigger`, a
    /// run is recorded on each of the trigger's events at which `when` (if given) holds.
    pub fn register_automation(
        &mut self,
        id: &str,
        when: Option<&Value>,
        trigger: Option<&str>,
    ) -> Result<(), SimulationError> {
        let condition = when
            .map(conditions::parse)
            .transpose()
            .map_err(host_error)?;
        if let Some(t) = trigger {
            if !self.known_trigger(t) {
                return Err(SimulationError::Host(format!(
                    "automation {id}: trigger {t:?} is not registered"
                )));
            }
        } else if condition.is_none() {
            return Err(SimulationError::Host(format!(
                "automation {id}: needs a condition, a trigger or both"
            )));
        }
        let refs = match (&condition, trigger) {
            (Some(c), None) => conditions::wake_refs(c),
            _ => BTreeSet::new(),
        };
        let holds = condition
            .as_ref()
            .is_some_and(|c| conditions::evaluate(c, &|k, i| self.resolve(k, i)));
        self.automations.push(Automation {
            id: id.to_owned(),
            trigger: trigger.map(str::to_owned),
            condition,
            refs,
            holds,
        });
        Ok(())
    }

    fn wake_automations(&mut self, kind: &str, id: &str) {
        let exact = format!("{kind}:{id}");
        let wildcard = format!("{kind}:*");
        let woken: Vec<usize> = (0..self.automations.len())
            .filter(|i| {
                self.automations[*i].refs.contains(&exact)
                    || self.automations[*i].refs.contains(&wildcard)
            })
            .collect();
        for i in woken {
            let Some(condition) = &self.automations[i].condition else {
                continue;
            };
            let now_holds = conditions::evaluate(condition, &|k, e| self.resolve(k, e));
            let automation = &mut self.automations[i];
            if now_holds && !automation.holds {
                self.records.automation_runs.push(AutomationRun {
                    automation: automation.id.clone(),
                    at: self.clock.now_ms(),
                    wake_ref: exact.clone(),
                });
            }
            automation.holds = now_holds;
        }
    }

    fn health_state(&self, system: &str) -> Option<Value> {
        self.platform.health(system).map(native_kinds::health_state)
    }

    /// Changes a system's health through the entity framework (a `health` entity change).
    pub fn set_health(
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
        for system in systems {
            self.platform.set_override(system, active);
        }
        let saved = self.in_host_transaction(|_, conn| {
            for system in systems {
                persistence::save_override(conn, system, active).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        if let Err(e) = saved {
            self.reload_platform();
            return Err(e);
        }
        self.emit_hook(
            "incident.lifecycle.changed",
            json!({ "systemIds": systems }),
        )
    }

    /// Deletes a catalog system (a `catalog-system` tombstone).
    pub fn delete_system(&mut self, system: &str) -> Result<(), SimulationError> {
        let name = self.platform.system_name(system);
        if self.platform.remove_system(system) {
            let prev = native_kinds::catalog_state(&name);
            self.platform_change(CATALOG_SYSTEM, system, Some(prev), None, &|conn| {
                persistence::delete_system(conn, system)
            })?;
        }
        Ok(())
    }

    /// Adds or removes the dependency edge "source depends on target" (saved at once).
    pub fn set_dependency(
        &mut self,
        source: &str,
        target: &str,
        present: bool,
    ) -> Result<(), SimulationError> {
        self.platform.set_dependency(source, target, present);
        let saved = self.in_host_transaction(|_, conn| {
            persistence::save_dependency(conn, source, target, present).map_err(|e| e.to_string())
        });
        if saved.is_err() {
            self.reload_platform();
        }
        saved
    }

    /// Adds a catalog system (a `catalog-system` create).
    pub fn add_system(&mut self, id: &str, name: &str) -> Result<(), SimulationError> {
        let existed = self.platform.has_system(id);
        self.platform.add_system(id, name);
        let (saved_name, health) = self
            .platform
            .raw_system(id)
            .ok_or_else(|| host_error(format!("system {id} vanished while being added")))?;
        let at = self.clock.now_ms();
        let persist = |conn: &rusqlite::Connection| {
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

    /// Records a hook emission, enqueues it for the hook's subscriptions and fires the
    /// triggers it backs.
    fn emit_hook(&mut self, hook: &str, payload: Value) -> Result<(), SimulationError> {
        self.emit_hook_routed(hook, payload, &[])
    }

    /// [`Simulation::emit_hook`] for a plugin's emission: its outbox rows (`seqs`) are deleted
    /// in the transaction that enqueues it.
    fn emit_hook_routed(
        &mut self,
        hook: &str,
        payload: Value,
        seqs: &[i64],
    ) -> Result<(), SimulationError> {
        self.records.hooks.push(Emission {
            id: hook.into(),
            payload: payload.clone(),
            at: self.clock.now_ms(),
        });
        self.hooks_emitted += 1;
        let job = NewJob {
            queue: hook.into(),
            payload: payload.to_string(),
            job_id: format!("hook-{}-{}", self.clock.now_ms(), self.hooks_emitted),
            dedupe: true,
            delay_ms: 0,
            priority: 0,
        };
        let groups = self.queue.groups(hook);
        if !(groups.is_empty() && seqs.is_empty()) {
            self.in_host_transaction(|sim, conn| {
                sim.queue
                    .enqueue_on(conn, &job, &groups)
                    .map_err(|e| e.to_string())?;
                outbox::forget(conn, seqs).map_err(|e| e.to_string())
            })?;
        }
        let fired: Vec<(String, Option<String>)> = self
            .host
            .trigger_registry()
            .fired_by(hook)
            .into_iter()
            .map(|t| (t.qualified_id.clone(), t.context_of(&payload)))
            .collect();
        for (trigger, context) in fired {
            self.trigger_fired(&trigger, &format!("hook:{hook}"), context);
        }
        Ok(())
    }

    /// Routes every publication the host made since the last call.
    fn route_publications(&mut self) -> Result<(), SimulationError> {
        let fresh = self.host.published_since(self.routed);
        self.routed += fresh.len();
        let mut leftover = Vec::new();
        for p in fresh {
            self.route(p.entry, p.durable_seq, p.at_ms, &mut leftover)?;
        }
        self.forget_outbox_rows(&leftover)
    }

    /// Routes what an earlier run over this database committed but did not route (it stopped
    /// in between, by a crash): the rows of the durable outbox it left, oldest first. A host
    /// that resumes a database calls it once at start, after [`Simulation::restore_platform`].
    /// Answers how many it routed.
    pub fn recover_outbox(&mut self) -> Result<usize, SimulationError> {
        let up_to = std::mem::take(&mut self.earlier_outbox);
        if up_to == 0 {
            return Ok(0);
        }
        let pending = outbox::pending(self.database.checkout().map_err(host_error)?.raw(), up_to)
            .map_err(SimulationError::Host)?;
        let count = pending.len();
        let mut leftover = Vec::new();
        for p in pending {
            self.route(p.entry, Some(p.seq), p.at_ms, &mut leftover)?;
        }
        self.forget_outbox_rows(&leftover)?;
        if count > 0 {
            tracing::info!(
                "routed {count} publications an earlier run committed but had not routed"
            );
        }
        Ok(count)
    }

    /// Deletes outbox rows whose routing wrote nothing to carry their deletion (a mutation
    /// that changed nothing or failed), in one transaction.
    fn forget_outbox_rows(&self, seqs: &[i64]) -> Result<(), SimulationError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.in_host_transaction(|_, conn| outbox::forget(conn, seqs).map_err(|e| e.to_string()))
    }

    /// Routes one publication. Its outbox row (`seq`) is deleted in the transaction that carries
    /// it on; when there is none, it is added to `leftover`.
    fn route(
        &mut self,
        entry: OutboxEntry,
        seq: Option<i64>,
        at_ms: i64,
        leftover: &mut Vec<i64>,
    ) -> Result<(), SimulationError> {
        let seqs: Vec<i64> = seq.into_iter().collect();
        match entry {
            OutboxEntry::Enqueue {
                queue,
                payload,
                job_id,
                dedupe,
                delay_ms,
                priority,
            } => {
                let job = NewJob {
                    queue,
                    payload,
                    job_id,
                    dedupe,
                    delay_ms,
                    priority,
                };
                let groups = self.queue.groups(&job.queue);
                if groups.is_empty() && seqs.is_empty() {
                    return Ok(());
                }
                self.in_host_transaction(|sim, conn| {
                    sim.queue
                        .enqueue_on(conn, &job, &groups)
                        .map_err(|e| e.to_string())?;
                    outbox::forget(conn, &seqs).map_err(|e| e.to_string())
                })?;
            }
            OutboxEntry::Hook { hook_id, payload } => {
                let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                self.emit_hook_routed(&hook_id, payload, &seqs)?;
            }
            OutboxEntry::Signal { signal_id, payload } => {
                let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                self.records.signals.push(Emission {
                    id: signal_id,
                    payload,
                    at: at_ms,
                });
            }
            OutboxEntry::EntityRequest { kind, id, op } => {
                if !self.run_mutation(&kind, &id, op, &seqs) {
                    leftover.extend(seqs);
                }
            }
            OutboxEntry::CacheSet { .. } | OutboxEntry::CacheInvalidate { .. } => {}
        }
        Ok(())
    }

    /// A plugin's mutation request through the framework pipeline (host-contract §1.3 with
    /// decisions §3). A failed mutation leaves nothing and is logged; the requesting
    /// invocation has already committed, as on the real platform. The request's outbox rows
    /// (`seqs`) are deleted in the transaction that records the change; answers whether that
    /// happened (no change, or a failure, leaves them to the caller).
    fn run_mutation(&mut self, kind: &str, id: &str, op: EntityOperation, seqs: &[i64]) -> bool {
        let request = MutationRequest {
            kind: kind.into(),
            id: id.into(),
            op: match op {
                EntityOperation::Mutate(j) => EntityOp::Mutate(j),
                EntityOperation::Remove(j) => EntityOp::Remove(j),
            },
            actor: ChangeActor::system(),
        };
        let (queue, routes) = (&self.queue, &self.routes);
        let outcome = framework::mutate(
            &self.host,
            &request,
            Box::new(move |conn, event| {
                enqueue_change(queue, routes, conn, event)?;
                outbox::forget(conn, seqs).map_err(|e| e.to_string())
            }),
        );
        match outcome {
            Ok(done) => match done.change {
                Some(change) => {
                    self.published_change(change);
                    true
                }
                None => false,
            },
            Err(e) => {
                tracing::warn!("entity mutation {kind}/{id} left nothing: {e}");
                false
            }
        }
    }

    /// Hands `delivery` to the plugin. With `complete`, the delivery is marked done in the
    /// handler's own transaction (its writes and the completion commit together, so a crash
    /// between them cannot happen: it can only redeliver a delivery that left nothing).
    fn dispatch(&self, delivery: &Delivery, complete: bool) -> Result<(), String> {
        let worker = self
            .routes
            .worker_of
            .get(&delivery.consumer_group)
            .cloned()
            .unwrap_or_else(|| delivery.consumer_group.clone());
        let completion = |tx: Option<&Transaction>| -> Result<(), Failure> {
            if !complete {
                return Ok(());
            }
            let conn = tx
                .ok_or("a delivery runs without a transaction")
                .and_then(|tx| {
                    tx.host_connection()
                        .map_err(|_| "the handler's transaction has ended")
                })
                .map_err(|message| Failure::Host {
                    message: message.into(),
                })?;
            self.queue
                .complete_on(conn.raw(), delivery)
                .map_err(|e| Failure::Host {
                    message: format!("completing the delivery failed: {e}"),
                })
        };
        let outcome = if delivery.queue == ENTITY_CHANGED_QUEUE {
            let event: ChangeEvent = serde_json::from_str(&delivery.payload)
                .map_err(|e| format!("malformed change payload: {e}"))?;
            self.host
                .deliver_entity_change_completing(&worker, &to_wit_change(&event), &completion)
        } else if self
            .routes
            .hook_groups
            .contains(&(delivery.queue.clone(), delivery.consumer_group.clone()))
        {
            let meta = HookMeta {
                emission_id: delivery.job_id.clone(),
                actor: system_actor(),
                emitted_at: delivery.enqueued_at,
            };
            self.host.deliver_hook_completing(
                &worker,
                &delivery.queue,
                &delivery.payload,
                &meta,
                &completion,
            )
        } else {
            let job = Job {
                queue: delivery.queue.clone(),
                consumer_group: delivery.consumer_group.clone(),
                id: delivery.job_id.clone(),
                payload: delivery.payload.clone(),
                attempt: delivery.attempt,
                enqueued_at: delivery.enqueued_at,
            };
            self.host.deliver_job_completing(&job, &completion)
        };
        outcome.map_err(|e| e.to_string())
    }

    /// Runs every due delivery and routes what it publishes, until nothing is due.
    pub fn settle(&mut self) -> Result<(), SimulationError> {
        self.route_publications()?;
        let order = if self.options.reorder_deliveries {
            DeliveryOrder::NewestFirst
        } else {
            DeliveryOrder::Fifo
        };
        for _ in 0..SETTLE_LIMIT {
            let Some(delivery) = self.queue.take_due_in(order).map_err(host_error)? else {
                return Ok(());
            };
            // Fault injection: deliver every copy twice (at-least-once delivery made visible);
            // handlers must be idempotent. The last handler run completes the delivery.
            let duplicate = self.options.duplicate_deliveries;
            let outcome = match self.dispatch(&delivery, !duplicate) {
                Ok(()) if duplicate => {
                    self.route_publications()?;
                    self.dispatch(&delivery, true)
                }
                other => other,
            };
            if let Err(error) = outcome {
                if let FailOutcome::Dead = self.queue.fail(&delivery, &error).map_err(host_error)? {
                    tracing::warn!(
                        "dead letter: {}/{}: {error}",
                        delivery.queue,
                        delivery.consumer_group
                    );
                }
            }
            self.route_publications()?;
            self.sync_registrations()?;
        }
        Err(SimulationError::Runaway)
    }
    /// Enqueues a recurring job's run now, as the scheduler would.
    pub fn run_job_now(&mut self, queue: &str) -> Result<(), SimulationError> {
        let plugin = self.host.plugin().ok_or_else(|| host_error("no plugin"))?;
        let payload = plugin
            .manifest()
            .recurring_jobs
            .iter()
            .find(|j| j.queue == queue)
            .map_or_else(|| "{}".to_owned(), |j| j.payload.clone());
        let job_id = format!("{queue}:manual:{}", self.clock.now_ms());
        self.queue
            .enqueue(&NewJob {
                queue: queue.into(),
                payload,
                job_id,
                dedupe: true,
                delay_ms: 0,
                priority: 0,
            })
            .map_err(host_error)?;
        self.settle()
    }

    /// One tick of a host on the real clock: every recurring job due by now is enqueued once
    /// (missed firings coalesce into one run, see [`Scheduler::take_due_coalesced`]), then
    /// everything due runs. Answers when the next cron firing or delayed job is due.
    pub fn run_due(&mut self) -> Result<Option<i64>, SimulationError> {
        let now = self.clock.now_ms();
        while let Some(due) = self.scheduler.take_due_coalesced(now).map_err(host_error)? {
            self.enqueue_recurring(due)?;
        }
        self.settle()?;
        self.next_due_at()
    }

    /// When the next cron firing or delayed (retrying) job is due, if any.
    pub fn next_due_at(&self) -> Result<Option<i64>, SimulationError> {
        let cron = self.scheduler.next_at().map_err(host_error)?;
        let delayed = self.queue.next_due_at().map_err(host_error)?;
        Ok([cron, delayed].into_iter().flatten().min())
    }

    /// Forgets history a long-running host no longer needs: the host's publications already
    /// routed, queue copies delivered more than `keep_delivered_ms` ago, and all but the
    /// newest `keep` entries of every record list. (The platform's health history is kept:
    /// the plugin asks it when a system first recovered after an instant, which any trim could
    /// answer wrongly.) Routing is unaffected; reports built
    /// afterwards show only what was kept.
    pub fn trim_history(
        &mut self,
        keep: usize,
        keep_delivered_ms: i64,
    ) -> Result<(), SimulationError> {
        self.host.forget_published(self.routed);
        let before = self.clock.now_ms().saturating_sub(keep_delivered_ms);
        self.queue.forget_done(before).map_err(host_error)?;

        let records = &mut self.records;
        trim_front(&mut records.hooks, keep);
        trim_front(&mut records.signals, keep);
        trim_front(&mut records.entity_changes, keep);
        trim_front(&mut records.trigger_events, keep);
        trim_front(&mut records.automation_runs, keep);
        Ok(())
    }

    fn enqueue_recurring(
        &mut self,
        due: crate::capabilities::scheduler::DueJob,
    ) -> Result<(), SimulationError> {
        let job_id = format!("{}:{}", due.job_id, due.at);
        self.queue
            .enqueue(&NewJob {
                queue: due.queue,
                payload: due.payload,
                job_id,
                dedupe: true,
                delay_ms: 0,
                priority: 0,
            })
            .map_err(host_error)?;
        Ok(())
    }

    /// Moves the clock to `target`, running every cron and delayed job due on the way at its
    /// own instant, oldest first, settling after each.
    pub fn advance_to(&mut self, target: i64) -> Result<(), SimulationError> {
        while let Some(at) = self.next_due_at()?.filter(|t| *t <= target) {
            if at > self.clock.now_ms() {
                self.clock.set_ms(at).map_err(host_error)?;
            }
            while let Some(due) = self
                .scheduler
                .take_due(self.clock.now_ms())
                .map_err(host_error)?
            {
                self.enqueue_recurring(due)?;
            }
            self.settle()?;
        }
        if target > self.clock.now_ms() {
            self.clock.set_ms(target).map_err(host_error)?;
        }
        self.settle()
    }
}

/// Drops all but the last `keep` entries of `list`.
fn trim_front<T>(list: &mut Vec<T>, keep: usize) {
    let excess = list.len().saturating_sub(keep);
    list.drain(..excess);
}
