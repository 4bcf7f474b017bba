//! Carrying on what committed invocations published (queue jobs, hooks, signals, entity
//! requests), through the durable outbox, and handing due deliveries to the plugin.

use super::*;

/// Where one subscription's deliveries go: queue consumer groups (one, or one per instance
/// for broadcast), each mapped back to the subscription's worker group.
#[derive(Debug, Default)]
pub(super) struct Routes {
    /// kind → the change queue's subscriptions (worker group, delivery mode).
    pub(super) change_targets: BTreeMap<String, Vec<(String, DeliveryMode)>>,
    /// hook → its subscriptions (worker group, delivery mode).
    pub(super) hook_targets: BTreeMap<String, Vec<(String, DeliveryMode)>>,
    /// consumer group → the worker group the plugin knows.
    pub(super) worker_of: BTreeMap<String, String>,
    /// (hook, consumer group) pairs of hook subscriptions.
    pub(super) hook_groups: BTreeSet<(String, String)>,
}

impl Routes {
    /// The consumer groups this process consumes for one subscription: the worker group for
    /// a work queue; for a broadcast, one per simulated instance, or this cluster instance's.
    pub(super) fn groups(
        worker_group: &str,
        mode: DeliveryMode,
        instances: &Instances,
    ) -> Vec<String> {
        match (mode, instances) {
            (DeliveryMode::WorkQueue, _) => vec![worker_group.to_owned()],
            (DeliveryMode::Broadcast, Instances::Simulated(n)) => (0..(*n).max(1))
                .map(|n| broadcast_group(worker_group, &format!("instance-{n}")))
                .collect(),
            (DeliveryMode::Broadcast, Instances::Member(me)) => {
                vec![broadcast_group(worker_group, me)]
            }
        }
    }

    /// The consumer groups one copy each goes to, for `targets`, on `conn` (in the enqueueing
    /// transaction): a cluster's broadcast goes to every instance live now.
    pub(super) fn enqueue_groups(
        targets: &[(String, DeliveryMode)],
        instances: &Instances,
        membership: Option<&Membership>,
        now: i64,
        conn: &SqlConnection,
    ) -> Result<Vec<String>, String> {
        let mut groups = Vec::new();
        let mut live: Option<Vec<String>> = None;
        for (worker, mode) in targets {
            match (mode, instances, membership) {
                (DeliveryMode::Broadcast, Instances::Member(_), Some(m)) => {
                    if live.is_none() {
                        live = Some(
                            registry::live_names(conn, now, m.gone_after_ms())
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    for name in live.iter().flatten() {
                        groups.push(broadcast_group(worker, name));
                    }
                }
                _ => groups.extend(Routes::groups(worker, *mode, instances)),
            }
        }
        Ok(groups)
    }
}

/// The consumer group of a broadcast subscription's copies for one instance.
fn broadcast_group(worker_group: &str, instance: &str) -> String {
    format!("{worker_group}@{instance}")
}

/// Enqueues a change's deliveries for every subscription of its kind, on `conn` (inside the
/// transaction that recorded the change).
pub(super) fn enqueue_change(
    sim: &Simulation,
    conn: &SqlConnection,
    event: &ChangeEvent,
) -> Result<(), String> {
    let Some(targets) = sim.routes.change_targets.get(&event.kind) else {
        return Ok(());
    };
    let groups = Routes::enqueue_groups(
        targets,
        &sim.instances(),
        sim.membership.as_ref(),
        sim.clock.now_ms(),
        conn,
    )?;
    let payload = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let job = NewJob {
        queue: ENTITY_CHANGED_QUEUE.into(),
        payload,
        job_id: event.change_id.clone(),
        dedupe: true,
        delay_ms: 0,
        priority: 0,
        ordering_key: Some(format!("{}/{}", event.kind, event.id)),
    };
    sim.queue
        .enqueue_on(conn, &job, &groups)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub(super) fn system_actor() -> Actor {
    Actor {
        kind: "system".into(),
        id: "system".into(),
        name: Some("System".into()),
    }
}

/// The WIT form of a change, as handlers and derivers receive it.
pub(super) fn to_wit_change(event: &ChangeEvent) -> EntityChange {
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

impl Simulation {
    /// Records a hook emission, enqueues it for the hook's subscriptions and fires the
    /// triggers it backs.
    pub(super) fn emit_hook(&mut self, hook: &str, payload: Value) -> Result<(), SimulationError> {
        self.emit_hook_routed(hook, payload, &[])
    }

    /// [`Simulation::emit_hook`] for a plugin's emission: its outbox rows (`seqs`) are deleted
    /// in the transaction that enqueues it.
    pub(super) fn emit_hook_routed(
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
        // Instances of a cluster emit at the same instants: their ids carry the instance.
        let job_id = match &self.membership {
            None => format!("hook-{}-{}", self.clock.now_ms(), self.hooks_emitted),
            Some(m) => format!(
                "hook-{}-{}-{}",
                m.instance,
                self.clock.now_ms(),
                self.hooks_emitted
            ),
        };
        let job = NewJob {
            queue: hook.into(),
            payload: payload.to_string(),
            job_id,
            dedupe: true,
            delay_ms: 0,
            priority: 0,
            ordering_key: None,
        };
        self.enqueue_routed(&job, seqs)?;
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

    /// Enqueues `job` for every consumer group of its queue and deletes the outbox rows that
    /// published it (`seqs`), in one transaction (none when there is nothing to write).
    fn enqueue_routed(&self, job: &NewJob, seqs: &[i64]) -> Result<(), SimulationError> {
        let hook_targets = self.routes.hook_targets.get(&job.queue);
        let groups = self.queue.groups(&job.queue);
        if groups.is_empty() && hook_targets.is_none() && seqs.is_empty() {
            return Ok(());
        }
        self.in_host_transaction(|sim, conn| {
            let groups = match hook_targets {
                Some(targets) => Routes::enqueue_groups(
                    targets,
                    &sim.instances(),
                    sim.membership.as_ref(),
                    sim.clock.now_ms(),
                    conn,
                )?,
                None => groups.clone(),
            };
            sim.queue
                .enqueue_on(conn, job, &groups)
                .map_err(|e| e.to_string())?;
            outbox::forget(conn, seqs).map_err(|e| e.to_string())
        })
    }

    /// Routes every publication the host made since the last call.
    pub(super) fn route_publications(&mut self) -> Result<(), SimulationError> {
        let fresh = self.host.published_since(self.routed);
        self.routed += fresh.len();
        let mut leftover = Vec::new();
        for p in fresh {
            match p.durable_seq {
                Some(seq) => self.route_once(p.entry, seq, p.at_ms, &mut leftover)?,
                None => self.route(p.entry, None, p.at_ms, &mut leftover)?,
            }
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
        let pending = outbox::pending(&*self.database.checkout().map_err(host_error)?, up_to)
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
    pub(super) fn forget_outbox_rows(&self, seqs: &[i64]) -> Result<(), SimulationError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.in_host_transaction(|_, conn| outbox::forget(conn, seqs).map_err(|e| e.to_string()))
    }

    /// Routes one publication. Its outbox row (`seq`) is deleted in the transaction that carries
    /// it on; when there is none, it is added to `leftover`.
    pub(super) fn route(
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
                    ordering_key: None,
                };
                self.enqueue_routed(&job, &seqs)?;
            }
            OutboxEntry::Hook { hook_id, payload } => {
                let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                self.emit_hook_routed(&hook_id, payload, &seqs)?;
            }
            OutboxEntry::Signal { signal_id, payload } => {
                let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                let emission = Emission {
                    id: signal_id,
                    payload,
                    at: at_ms,
                };
                if let Some(listener) = &self.signal_listener {
                    listener(&emission);
                }
                self.records.signals.push(emission);
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
    /// (`seqs`) are deleted in the apply's transaction, whether it changed anything or not;
    /// answers whether that happened (a failure leaves them to the caller).
    pub(super) fn run_mutation(
        &mut self,
        kind: &str,
        id: &str,
        op: EntityOperation,
        seqs: &[i64],
    ) -> bool {
        let request = MutationRequest {
            kind: kind.into(),
            id: id.into(),
            op: match op {
                EntityOperation::Mutate(j) => EntityOp::Mutate(j),
                EntityOperation::Remove(j) => EntityOp::Remove(j),
            },
            actor: ChangeActor::system(),
        };
        let sim: &Simulation = self;
        let outcome = framework::mutate(
            &self.host,
            &request,
            Box::new(move |conn, event| {
                if let Some(event) = event {
                    enqueue_change(sim, conn, event)?;
                }
                outbox::forget(conn, seqs).map_err(|e| e.to_string())
            }),
        );
        match outcome {
            Ok(done) => {
                if let Some(change) = done.change {
                    self.published_change(change);
                }
                // The request's outbox rows went with the apply, changed or not.
                true
            }
            Err(e) => {
                tracing::warn!("entity mutation {kind}/{id} left nothing: {e}");
                false
            }
        }
    }

    /// Hands `delivery` to the plugin. With `complete`, the delivery is marked done in the
    /// handler's own transaction (its writes and the completion commit together, so a crash
    /// between them cannot happen: it can only redeliver a delivery that left nothing).
    pub(super) fn dispatch(&self, delivery: &Delivery, complete: bool) -> Result<(), String> {
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
            let conn = crate::host::open_connection(tx, "delivery")?;
            self.queue
                .complete_on(conn, delivery)
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
}
