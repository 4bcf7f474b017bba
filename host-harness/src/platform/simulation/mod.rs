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
//!
//! The parts: `mod.rs` (the simulation and its registrations), `schedule` (what falls due on
//! the clock: cron, delayed jobs, automation timers), `platform_changes` (platform changes
//! committed with their change rows and deliveries), `routing` (publications through the
//! durable outbox; deliveries to the plugin), `automations` (derivers, triggers, automation
//! runs, dwells), `timers` (automations and their timers in the database) and `records` (what
//! reports show).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
use crate::capabilities::queue::{
    Claims, Delivery, DeliveryOrder, FailOutcome, NewJob, Queue, QueueError,
};
use crate::capabilities::scheduler::Scheduler;
use crate::capabilities::sql::Transaction;
use crate::capabilities::sql::{Database, SqlConnection, SqlError};
use crate::cluster::{registry, Membership};
use crate::host::{HostConfig, PluginHost};
use crate::runtime::Failure;

/// Most deliveries one settle may run before it reports a runaway loop.
pub const SETTLE_LIMIT: usize = 100_000;

/// Most deliveries one settle of a cluster instance runs before it lets others use the
/// simulation (the rest stay queued, for the next tick or another instance).
const CLUSTER_SETTLE_SLICE: usize = 32;

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

mod automations;
mod cluster_sync;
mod platform_changes;
mod records;
mod routing;
mod schedule;
pub mod timers;

use automations::Automation;
pub use records::{AutomationRun, Emission, Records, TriggerEvent};
use routing::Routes;

/// Why the simulation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// Host, queue or scheduler failure.
    #[error("{0}")]
    Host(String),
    /// Another cluster instance changed the platform first: the change is made again.
    #[error("the platform state changed under this change")]
    StalePlatform,
    /// A settle did not come to rest.
    #[error(
        "settling did not finish after {SETTLE_LIMIT} deliveries: a plugin keeps producing work"
    )]
    Runaway,
}

impl From<SqlError> for SimulationError {
    fn from(e: SqlError) -> Self {
        SimulationError::Host(e.to_string())
    }
}

fn host_error(e: impl std::fmt::Display) -> SimulationError {
    SimulationError::Host(e.to_string())
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
    /// Whether an automation was ever registered here: until then no timer can be pending
    /// and the timer table is not read.
    timed_automations: bool,
    /// The host generation whose manifest the routes mirror.
    generation: u64,
    /// Hooks emitted by this process: with the clock, it makes every emission's job id unique
    /// (also across restarts over one database, and after [`Simulation::trim_history`]).
    hooks_emitted: u64,
    /// The last outbox row an earlier run over this database left (see
    /// [`Simulation::recover_outbox`]).
    earlier_outbox: i64,
    /// This instance's place in a cluster sharing the database, if it is in one.
    membership: Option<Membership>,
    /// In a cluster, the platform state's version the change being made is based on (see
    /// `cluster_sync`).
    platform_version: i64,
    /// When the last sweep for orphaned outbox rows ran (cluster members only).
    last_orphan_sweep: i64,
    /// Told of every signal as it is routed (`serve`'s live feed).
    signal_listener: Option<SignalListener>,
}

/// A function told of every signal the simulation routes, as it is recorded (see
/// [`Simulation::on_signal`]).
pub type SignalListener = Box<dyn Fn(&Emission) + Send>;

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
        Self::start_member(config, database, component, options, None)
    }

    /// [`Simulation::start_with`] as one instance of a cluster sharing `database`
    /// (PostgreSQL): the queue is leased, broadcast subscriptions get a copy per live
    /// instance, and the platform state is re-read whenever another instance changed it.
    pub fn start_member(
        config: HostConfig,
        database: Database,
        component: &[u8],
        options: SimulationOptions,
        membership: Option<Membership>,
    ) -> Result<Self, SimulationError> {
        let clock = config.clock.clone();
        let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
        if membership.is_some() {
            platform.share_through(database.clone());
        }
        let host = Arc::new(
            PluginHost::with_platform(config, database.clone(), platform.clone())
                .map_err(host_error)?,
        );
        let claims = match &membership {
            None => Claims::Local,
            Some(m) => Claims::Leased {
                owner: m.instance.clone(),
                lease_ms: m.lease_ms(),
                batch: m.batch,
            },
        };
        let queue =
            Queue::open_with(database.clone(), clock.clone(), claims).map_err(host_error)?;
        let scheduler = Scheduler::open(database.clone(), clock.clone()).map_err(host_error)?;
        persistence::create_tables(&*database.checkout().map_err(host_error)?)
            .map_err(host_error)?;
        // Rows up to here were left by an earlier run; later ones are this run's own.
        let earlier_outbox =
            outbox::last_seq(&*database.checkout().map_err(host_error)?).map_err(host_error)?;
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
            timed_automations: false,
            generation: 0,
            hooks_emitted: 0,
            earlier_outbox,
            membership,
            platform_version: 0,
            last_orphan_sweep: 0,
            signal_listener: None,
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
            for group in Routes::groups(&s.worker_group, s.delivery, &self.instances()) {
                consumers.push((ENTITY_CHANGED_QUEUE.into(), group.clone(), s.max_retries));
                routes.worker_of.insert(group, s.worker_group.clone());
            }
            routes
                .change_targets
                .entry(s.kind.clone())
                .or_default()
                .push((s.worker_group.clone(), s.delivery));
        }
        for s in &manifest.hook_subscriptions {
            for group in Routes::groups(&s.worker_group, s.delivery, &self.instances()) {
                consumers.push((s.hook.clone(), group.clone(), s.max_retries));
                routes.hook_groups.insert((s.hook.clone(), group.clone()));
                routes.worker_of.insert(group, s.worker_group.clone());
            }
            routes
                .hook_targets
                .entry(s.hook.clone())
                .or_default()
                .push((s.worker_group.clone(), s.delivery));
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

    /// Runs every due delivery and routes what it publishes, until nothing is due.
    pub fn settle(&mut self) -> Result<(), SimulationError> {
        self.route_publications()?;
        let order = if self.options.reorder_deliveries {
            DeliveryOrder::NewestFirst
        } else {
            DeliveryOrder::Fifo
        };
        for handled in 0..SETTLE_LIMIT {
            if self.membership.is_some() && handled == CLUSTER_SETTLE_SLICE {
                // A cluster instance settles in slices: its driver comes back at once, and a
                // swap or an admin change waiting for the simulation gets its turn meanwhile.
                return Ok(());
            }
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
                match self.queue.fail(&delivery, &error) {
                    Ok(FailOutcome::Dead) => tracing::warn!(
                        "dead letter: {}/{}: {error}",
                        delivery.queue,
                        delivery.consumer_group
                    ),
                    Ok(FailOutcome::RetryAt(_)) => {}
                    // Another instance finished it (its lease lapsed here): nothing to record.
                    Err(QueueError::NotInFlight(seq)) => {
                        tracing::info!("delivery {seq} was finished by another instance")
                    }
                    Err(e) => return Err(host_error(e)),
                }
            }
            self.route_publications()?;
            self.sync_registrations()?;
        }
        Err(SimulationError::Runaway)
    }
    /// The name firings and emissions carry: the cluster instance, or `local`.
    pub fn instance_name(&self) -> String {
        self.membership
            .as_ref()
            .map_or_else(|| "local".to_owned(), |m| m.instance.clone())
    }

    /// Tells `listener` of every signal routed from now on (replacing any earlier listener).
    /// It runs on the routing thread, inside routing: it must only hand the signal on.
    pub fn on_signal(&mut self, listener: SignalListener) {
        self.signal_listener = Some(listener);
    }

    /// This instance's cluster membership, if any.
    pub fn membership(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    /// The instances broadcast copies go to: simulated ones, or (in a cluster) this one.
    fn instances(&self) -> Instances {
        match &self.membership {
            Some(m) => Instances::Member(m.instance.clone()),
            None => Instances::Simulated(self.options.instances),
        }
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
        self.database
            .checkout()
            .map_err(host_error)?
            .execute(
                "DELETE FROM _host_cron_firings WHERE at < ?",
                crate::sql_params![before],
            )
            .map_err(host_error)?;

        let records = &mut self.records;
        trim_front(&mut records.hooks, keep);
        trim_front(&mut records.signals, keep);
        trim_front(&mut records.entity_changes, keep);
        trim_front(&mut records.trigger_events, keep);
        trim_front(&mut records.automation_runs, keep);
        Ok(())
    }
}

/// Which instances broadcast subscriptions deliver to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Instances {
    /// `n` simulated instances in this process.
    Simulated(u32),
    /// This instance of a cluster (the others are read from the registry at enqueue time).
    Member(String),
}

/// Drops all but the last `keep` entries of `list`.
fn trim_front<T>(list: &mut Vec<T>, keep: usize) {
    let excess = list.len().saturating_sub(keep);
    list.drain(..excess);
}
