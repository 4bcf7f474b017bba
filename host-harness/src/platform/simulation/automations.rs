//! What follows a committed entity change: its trigger events (derivers), the automations
//! they start, and the automations whose conditions it wakes.

use super::routing::to_wit_change;
use super::*;

/// A registered automation: a condition watched for false → true edges, or a trigger whose
/// events start a run when the (optional) condition holds.
pub(super) struct Automation {
    id: String,
    trigger: Option<String>,
    condition: Option<Condition>,
    refs: BTreeSet<String>,
    holds: bool,
}

impl Simulation {
    /// After a change committed: record it, derive its trigger events, wake automations.
    pub(super) fn published_change(&mut self, event: ChangeEvent) {
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
    pub(super) fn derive(&self, event: &ChangeEvent) -> Vec<String> {
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
    pub(super) fn trigger_fired(
        &mut self,
        trigger: &str,
        source: &str,
        context_key: Option<String>,
    ) {
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
    pub(super) fn resolve(&self, kind: &str, id: &str) -> Option<Value> {
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
    pub(super) fn known_trigger(&self, trigger: &str) -> bool {
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

    pub(super) fn wake_automations(&mut self, kind: &str, id: &str) {
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
}
