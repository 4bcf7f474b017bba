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

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::conditions::{self, Condition};
use super::diff::diff;
use super::entity_store::EntityStore;
use super::services::{HealthStatus, SimulatedPlatform};
use crate::bindings::types::{Actor, EntityChange, EntityOp, HookMeta, Job};
use crate::capabilities::clock::Clock;
use crate::capabilities::outbox::{EntityOperation, OutboxEntry};
use crate::capabilities::queue::{FailOutcome, NewJob, Queue};
use crate::capabilities::scheduler::Scheduler;
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};

/// Internal queue carrying entity changes to the entity subscriptions (one consumer group per
/// worker group).
pub const ENTITY_CHANGED_QUEUE: &str = "automation.entity.changed";
/// Most deliveries one settle may run before it reports a runaway loop.
pub const SETTLE_LIMIT: usize = 100_000;

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

/// An entity change as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    /// Kind.
    pub kind: String,
    /// Id.
    pub id: String,
    /// State before.
    pub prev: Option<Value>,
    /// State after.
    pub next: Option<Value>,
    /// Changed fields → next values.
    pub delta: Value,
    /// Changed fields, sorted.
    pub changed_fields: Vec<String>,
    /// When, epoch ms.
    pub occurred_at: i64,
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
    pub entity_changes: Vec<ChangeRecord>,
    /// Automation runs: each false → true edge of a registered automation's condition.
    pub automation_runs: Vec<AutomationRun>,
}

/// One run of an automation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationRun {
    /// The automation.
    pub automation: String,
    /// When, epoch ms.
    pub at: i64,
    /// The entity change that woke it, `<kind>:<id>`.
    #[serde(rename = "ref")]
    pub wake_ref: String,
}

/// A registered automation.
struct Automation {
    id: String,
    condition: Condition,
    refs: std::collections::BTreeSet<String>,
    holds: bool,
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

/// The running simulation.
pub struct Simulation {
    host: PluginHost,
    platform: Arc<SimulatedPlatform>,
    queue: Queue,
    scheduler: Scheduler,
    clock: Clock,
    records: Records,
    routed: usize,
    changes: u64,
    entities: EntityStore,
    automations: Vec<Automation>,
    duplicate_deliveries: bool,
}

impl Simulation {
    /// Starts a host over `database` with the simulated platform, loads `component` and
    /// registers its manifest.
    pub fn start(
        config: HostConfig,
        database: Database,
        component: &[u8],
    ) -> Result<Self, SimulationError> {
        let clock = config.clock.clone();
        let platform = Arc::new(SimulatedPlatform::new(clock.clone()));
        let host = PluginHost::with_platform(config, database.clone(), platform.clone())
            .map_err(host_error)?;
        let queue = Queue::open(database.clone(), clock.clone()).map_err(host_error)?;
        let scheduler = Scheduler::open(database.clone(), clock.clone()).map_err(host_error)?;
        let entities = EntityStore::open(database).map_err(host_error)?;
        let plugin = host.load_bytes(component).map_err(host_error)?;
        let manifest = plugin.manifest();
        for c in &manifest.queue_consumers {
            queue.register_consumer(&c.queue, &c.consumer_group, c.max_retries);
        }
        for s in &manifest.entity_subscriptions {
            queue.register_consumer(ENTITY_CHANGED_QUEUE, &s.worker_group, s.max_retries);
        }
        for s in &manifest.hook_subscriptions {
            queue.register_consumer(&s.hook, &s.worker_group, s.max_retries);
        }
        for j in &manifest.recurring_jobs {
            scheduler
                .register(&j.job_id, &j.queue, &j.cron, &j.payload)
                .map_err(host_error)?;
        }
        let mut sim = Simulation {
            host,
            platform,
            queue,
            scheduler,
            clock,
            records: Records::default(),
            routed: 0,
            changes: 0,
            entities,
            automations: Vec::new(),
            duplicate_deliveries: false,
        };
        sim.route_publications()?;
        Ok(sim)
    }

    /// Turns on fault injection: every delivery is made twice.
    pub fn set_duplicate_deliveries(&mut self, on: bool) {
        self.duplicate_deliveries = on;
    }

    /// The host.
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The platform services.
    pub fn platform(&self) -> &SimulatedPlatform {
        &self.platform
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// What was recorded so far.
    pub fn records(&self) -> &Records {
        &self.records
    }

    fn entity_subscribers(&self, kind: &str) -> Vec<String> {
        self.host.plugin().map_or_else(Vec::new, |p| {
            p.manifest()
                .entity_subscriptions
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.worker_group.clone())
                .collect()
        })
    }

    /// Records a change and enqueues it for the subscriptions of its kind.
    fn publish_change(
        &mut self,
        kind: &str,
        id: &str,
        prev: Option<Value>,
        next: Option<Value>,
    ) -> Result<(), SimulationError> {
        let d = diff(prev.as_ref(), next.as_ref());
        if d.is_empty() {
            return Ok(());
        }
        let at = self.clock.now_ms();
        self.changes += 1;
        self.entities
            .record(
                kind,
                id,
                prev.as_ref(),
                next.as_ref(),
                &d.changed_fields,
                at,
            )
            .map_err(host_error)?;
        let change = ChangeRecord {
            kind: kind.into(),
            id: id.into(),
            prev,
            next,
            delta: d.delta,
            changed_fields: d.changed_fields,
            occurred_at: at,
        };
        let groups = self.entity_subscribers(kind);
        if !groups.is_empty() {
            let payload = json!({
                "kind": change.kind, "id": change.id, "prev": change.prev, "next": change.next,
                "delta": change.delta, "changedFields": change.changed_fields, "occurredAt": at,
                "changeId": format!("change-{}", self.changes),
            });
            for group in groups {
                self.queue
                    .enqueue_for(
                        &NewJob {
                            queue: ENTITY_CHANGED_QUEUE.into(),
                            payload: payload.to_string(),
                            job_id: format!("change-{}", self.changes),
                            dedupe: true,
                            delay_ms: 0,
                            priority: 0,
                        },
                        &group,
                    )
                    .map_err(host_error)?;
            }
        }
        self.records.entity_changes.push(change);
        self.wake_automations(kind, id);
        Ok(())
    }

    /// An entity's current state as a condition sees it: platform kinds from the platform,
    /// plugin kinds through the owner's `read`.
    fn resolve(&self, kind: &str, id: &str) -> Option<Value> {
        match kind {
            "health" => self.health_state(id),
            "catalog-system" => self
                .platform
                .has_system(id)
                .then(|| json!({ "name": self.platform.system_name(id), "description": null, "metadata": {} })),
            _ => self
                .host
                .read_entities(kind, &[id.to_owned()])
                .ok()?
                .into_iter()
                .next()
                .and_then(|s| serde_json::from_str(&s.state).ok()),
        }
    }

    /// Registers an automation; its condition is evaluated now to set the baseline, and a run
    /// is recorded on every later false → true edge.
    pub fn register_automation(&mut self, id: &str, when: &Value) -> Result<(), SimulationError> {
        let condition = conditions::parse(when).map_err(host_error)?;
        let refs = conditions::wake_refs(&condition);
        let holds = conditions::evaluate(&condition, &|k, i| self.resolve(k, i));
        self.automations.push(Automation {
            id: id.to_owned(),
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
            let now_holds =
                conditions::evaluate(&self.automations[i].condition, &|k, e| self.resolve(k, e));
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
        self.platform.health(system).map(|h| {
            let healthy = u32::from(h == HealthStatus::Healthy);
            json!({ "status": h.as_str(), "healthyChecks": healthy, "totalChecks": 1 })
        })
    }

    /// Changes a system's health through the entity framework (a `health` entity change).
    pub fn set_health(
        &mut self,
        system: &str,
        status: HealthStatus,
    ) -> Result<(), SimulationError> {
        let prev = self.health_state(system);
        self.platform.set_health(system, status);
        let next = self.health_state(system);
        self.publish_change("health", system, prev, next)
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
        self.emit_hook(
            "incident.lifecycle.changed",
            json!({ "systemIds": systems }),
        )
    }

    /// Deletes a catalog system (a `catalog-system` tombstone).
    pub fn delete_system(&mut self, system: &str) -> Result<(), SimulationError> {
        let name = self.platform.system_name(system);
        if self.platform.remove_system(system) {
            let prev = json!({ "name": name, "description": null, "metadata": {} });
            self.publish_change("catalog-system", system, Some(prev), None)?;
        }
        Ok(())
    }

    /// Adds a catalog system (a `catalog-system` create).
    pub fn add_system(&mut self, id: &str, name: &str) -> Result<(), SimulationError> {
        let existed = self.platform.has_system(id);
        self.platform.add_system(id, name);
        if !existed {
            let next = json!({ "name": name, "description": null, "metadata": {} });
            self.publish_change("catalog-system", id, None, Some(next))?;
        }
        Ok(())
    }

    fn emit_hook(&mut self, hook: &str, payload: Value) -> Result<(), SimulationError> {
        self.records.hooks.push(Emission {
            id: hook.into(),
            payload: payload.clone(),
            at: self.clock.now_ms(),
        });
        let job = NewJob {
            queue: hook.into(),
            payload: payload.to_string(),
            job_id: format!("hook-{}", self.records.hooks.len()),
            dedupe: true,
            delay_ms: 0,
            priority: 0,
        };
        self.queue.enqueue(&job).map_err(host_error)?;
        Ok(())
    }

    /// Routes every publication the host made since the last call.
    fn route_publications(&mut self) -> Result<(), SimulationError> {
        let all = self.host.published();
        let fresh: Vec<_> = all[self.routed.min(all.len())..].to_vec();
        self.routed = all.len();
        for p in fresh {
            match p.entry {
                OutboxEntry::Enqueue {
                    queue,
                    payload,
                    job_id,
                    dedupe,
                    delay_ms,
                    priority,
                } => {
                    self.queue
                        .enqueue(&NewJob {
                            queue,
                            payload,
                            job_id,
                            dedupe,
                            delay_ms,
                            priority,
                        })
                        .map_err(host_error)?;
                }
                OutboxEntry::Hook { hook_id, payload } => {
                    let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                    self.emit_hook(&hook_id, payload)?;
                }
                OutboxEntry::Signal { signal_id, payload } => {
                    let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                    self.records.signals.push(Emission {
                        id: signal_id,
                        payload,
                        at: p.at_ms,
                    });
                }
                OutboxEntry::EntityRequest { kind, id, op } => self.run_mutation(&kind, &id, op)?,
                OutboxEntry::CacheSet { .. } | OutboxEntry::CacheInvalidate { .. } => {}
            }
        }
        Ok(())
    }

    /// The framework pipeline for a plugin-owned entity (host-contract §1.3, with decisions
    /// §3): read prev, apply, diff; only a real change is recorded and delivered. A failing
    /// read or apply emits nothing (it is logged by the host).
    fn run_mutation(
        &mut self,
        kind: &str,
        id: &str,
        op: EntityOperation,
    ) -> Result<(), SimulationError> {
        // prev: what watchers last saw (the plugin's writes already happened; see EntityStore)
        let prev = self.entities.published(kind, id).map_err(host_error)?;
        let op = match op {
            EntityOperation::Mutate(j) => EntityOp::Mutate(j),
            EntityOperation::Remove(j) => EntityOp::Remove(j),
        };
        let Ok(next) = self.host.apply_entity(kind, id, &op) else {
            return Ok(());
        };
        let next = next.and_then(|s| serde_json::from_str::<Value>(&s).ok());
        // a removal of an entity that had no state is a no-op
        self.publish_change(kind, id, prev, next)?;
        // apply's own publications (none expected) are routed by the caller's loop
        Ok(())
    }

    fn dispatch(&mut self, delivery: &crate::capabilities::queue::Delivery) -> Result<(), String> {
        let plugin = self.host.plugin().ok_or("no plugin")?;
        let manifest = plugin.manifest();
        let outcome = if delivery.queue == ENTITY_CHANGED_QUEUE {
            let v: Value = serde_json::from_str(&delivery.payload).map_err(|e| e.to_string())?;
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            let state = |k: &str| (!v[k].is_null()).then(|| v[k].to_string());
            let change = EntityChange {
                kind: text("kind"),
                id: text("id"),
                prev: state("prev"),
                next: state("next"),
                delta: v["delta"].to_string(),
                changed_fields: v["changedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
                actor: system_actor(),
                occurred_at: v["occurredAt"].as_i64().unwrap_or_default(),
                change_id: text("changeId"),
            };
            self.host
                .deliver_entity_change(&delivery.consumer_group, &change)
        } else if manifest
            .hook_subscriptions
            .iter()
            .any(|s| s.hook == delivery.queue && s.worker_group == delivery.consumer_group)
        {
            let meta = HookMeta {
                emission_id: delivery.job_id.clone(),
                actor: system_actor(),
                emitted_at: delivery.enqueued_at,
            };
            self.host.deliver_hook(
                &delivery.consumer_group,
                &delivery.queue,
                &delivery.payload,
                &meta,
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
            self.host.deliver_job(&job)
        };
        outcome.map_err(|e| e.to_string())
    }

    /// Runs every due delivery and routes what it publishes, until nothing is due.
    pub fn settle(&mut self) -> Result<(), SimulationError> {
        self.route_publications()?;
        for _ in 0..SETTLE_LIMIT {
            let Some(delivery) = self.queue.take_due().map_err(host_error)? else {
                return Ok(());
            };
            // Fault injection: deliver every copy twice (at-least-once delivery made visible);
            // handlers must be idempotent.
            let outcome = match self.dispatch(&delivery) {
                Ok(()) if self.duplicate_deliveries => {
                    self.route_publications()?;
                    self.dispatch(&delivery)
                }
                other => other,
            };
            match outcome {
                Ok(()) => self.queue.complete(&delivery).map_err(host_error)?,
                Err(error) => {
                    if let FailOutcome::Dead =
                        self.queue.fail(&delivery, &error).map_err(host_error)?
                    {
                        tracing::warn!(
                            "dead letter: {}/{}: {error}",
                            delivery.queue,
                            delivery.consumer_group
                        );
                    }
                }
            }
            self.route_publications()?;
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

    /// Moves the clock to `target`, running every cron and delayed job due on the way at its
    /// own instant, oldest first, settling after each.
    pub fn advance_to(&mut self, target: i64) -> Result<(), SimulationError> {
        loop {
            let cron = self.scheduler.next_at().map_err(host_error)?;
            let delayed = self.queue.next_due_at().map_err(host_error)?;
            let next = [cron, delayed]
                .into_iter()
                .flatten()
                .filter(|t| *t <= target)
                .min();
            let Some(at) = next else { break };
            if at > self.clock.now_ms() {
                self.clock.set_ms(at).map_err(host_error)?;
            }
            while let Some(due) = self
                .scheduler
                .take_due(self.clock.now_ms())
                .map_err(host_error)?
            {
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
            }
            self.settle()?;
        }
        if target > self.clock.now_ms() {
            self.clock.set_ms(target).map_err(host_error)?;
        }
        self.settle()
    }
}
