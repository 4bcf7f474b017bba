//! What follows a committed entity change: its trigger events (derivers), the automations
//! they start, and the automations whose conditions it wakes; and what follows the clock:
//! conditions that turn true through time alone, and trigger dwells that end.
//!
//! * A **condition automation** (`when` only) records a run on each false → true edge of its
//!   condition. Entity changes its refs name wake it; when its condition can change through
//!   time alone (a `time` window, a `state … for`), a re-evaluation timer is set for exactly
//!   that instant (no polling).
//! * A **trigger automation** records a run on each of its trigger's events at which its
//!   condition (if any) holds. With a `for:` dwell, the event instead starts a dwell timer; the
//!   run starts when the dwell ends if the condition still holds then. A later change of the
//!   same source makes the dwell stale, and cancels it, when the trigger would no longer fire
//!   from the state the dwell started from to the new one (a degraded system that recovers
//!   ends a `system_degraded` dwell; one that gets worse does not).
//!
//! Timers and definitions live in the host database (`timers`), so `serve` finds them again
//! after a restart. The `window` rate gate of the original is not modelled (see the README).

use serde_json::json;

use super::routing::to_wit_change;
use super::timers::{self, Timer, TimerKind};
use super::*;
use crate::platform::conditions::{Duration, Scope};

/// The `ref` of a run started by a re-evaluation timer: nothing changed but the clock.
pub const CLOCK_REF: &str = "clock";

/// A registered automation: a condition watched for false → true edges, or a trigger whose
/// events start a run when the (optional) condition holds, after an optional dwell.
pub(super) struct Automation {
    pub(super) id: String,
    trigger: Option<String>,
    condition: Option<Condition>,
    dwell: Option<Duration>,
    refs: BTreeSet<String>,
    pub(super) holds: bool,
    /// The definition as registered (`{when?, trigger?, for?}`), as saved.
    pub(super) definition: Value,
}

impl Simulation {
    /// After a change committed: record it, derive its trigger events, cancel the dwells it
    /// makes stale, wake automations.
    pub(super) fn published_change(&mut self, event: ChangeEvent) {
        let source = format!("{}:{}", event.kind, event.id);
        let fired = self.derive(&event);
        self.cancel_stale_dwells(&source, &event);
        let basis = event.prev.as_ref().map(Value::to_string);
        for trigger in &fired {
            self.trigger_started(trigger, &source, None, basis.as_deref());
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

    /// Runs `work` with the scope conditions are evaluated in now: the clock, entity state,
    /// and since when each system has held its health status.
    fn with_scope<T>(&self, work: impl FnOnce(&Scope<'_>) -> T) -> T {
        let resolve = |kind: &str, id: &str| self.resolve(kind, id);
        let health_since = |system: &str| self.platform.health_since(system);
        work(&Scope {
            now_ms: self.clock.now_ms(),
            resolve: &resolve,
            health_since: &health_since,
        })
    }

    /// Whether `condition` holds now.
    fn evaluate_now(&self, condition: &Condition) -> bool {
        self.with_scope(|scope| conditions::evaluate(condition, scope))
    }

    /// Records a trigger event and starts the automations it triggers (when their condition,
    /// if any, holds now), or starts their dwells.
    pub(super) fn trigger_fired(
        &mut self,
        trigger: &str,
        source: &str,
        context_key: Option<String>,
    ) {
        self.trigger_started(trigger, source, context_key, None);
    }

    /// [`Simulation::trigger_fired`] for an event derived from an entity change, whose source's
    /// state before the change was `basis` (JSON).
    fn trigger_started(
        &mut self,
        trigger: &str,
        source: &str,
        context_key: Option<String>,
        basis: Option<&str>,
    ) {
        let at = self.clock.now_ms();
        self.records.trigger_events.push(TriggerEvent {
            trigger: trigger.into(),
            source: source.into(),
            context_key,
            at,
        });
        let triggered: Vec<usize> = (0..self.automations.len())
            .filter(|i| self.automations[*i].trigger.as_deref() == Some(trigger))
            .collect();
        for i in triggered {
            let dwell_ms = self.automations[i]
                .dwell
                .as_ref()
                .map(|d| d.millis(&|kind, id| self.resolve(kind, id)));
            match dwell_ms {
                Some(Some(ms)) => self.start_dwell(i, source, at.saturating_add(ms), basis),
                Some(None) => tracing::warn!(
                    "automation {}: its for: does not render to seconds; no run",
                    self.automations[i].id
                ),
                None => self.run_if_condition_holds(i, source),
            }
        }
    }

    /// Records a run of trigger automation `i` (ref `wake_ref`) if its condition, if any,
    /// holds now.
    fn run_if_condition_holds(&mut self, i: usize, wake_ref: &str) {
        let holds = self.automations[i]
            .condition
            .as_ref()
            .is_none_or(|c| self.evaluate_now(c));
        if holds {
            let id = self.automations[i].id.clone();
            self.record_run(id, wake_ref);
        }
    }

    fn record_run(&mut self, automation: String, wake_ref: &str) {
        self.records.automation_runs.push(AutomationRun {
            automation,
            at: self.clock.now_ms(),
            wake_ref: wake_ref.into(),
        });
    }

    /// Starts a dwell for automation `i` from `source`, unless one from that source is already
    /// running (a repeated event does not restart it).
    fn start_dwell(&mut self, i: usize, source: &str, due_at: i64, basis: Option<&str>) {
        let automation = self.automations[i].id.clone();
        let started = self.with_timers(|conn| {
            timers::set_if_absent(
                conn,
                &Timer {
                    automation: automation.clone(),
                    kind: TimerKind::Dwell,
                    source: source.to_owned(),
                    due_at,
                    basis: basis.map(str::to_owned),
                },
            )
        });
        if let Err(e) = started {
            tracing::warn!("automation {automation}: its dwell could not be saved: {e}");
        }
    }

    /// Cancels the dwells `source` started that `event` (its latest change) makes stale: those
    /// whose trigger would not fire from the state the dwell started from to the new state.
    fn cancel_stale_dwells(&mut self, source: &str, event: &ChangeEvent) {
        if !self.automations.iter().any(|a| a.dwell.is_some()) {
            return;
        }
        let pending = match self.with_timers(timers::pending) {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!("the dwells of {source} could not be read: {e}");
                return;
            }
        };
        for timer in pending
            .into_iter()
            .filter(|t| t.kind == TimerKind::Dwell && t.source == source)
        {
            let Some(trigger) = self
                .automations
                .iter()
                .find(|a| a.id == timer.automation)
                .and_then(|a| a.trigger.clone())
            else {
                continue;
            };
            let since_start = ChangeEvent {
                prev: timer
                    .basis
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok()),
                ..event.clone()
            };
            if self.derive(&since_start).contains(&trigger) {
                continue;
            }
            let cleared = self.with_timers(|conn| {
                timers::clear(conn, &timer.automation, TimerKind::Dwell, source)
            });
            if let Err(e) = cleared {
                tracing::warn!("a stale dwell of {source} could not be cancelled: {e}");
            }
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

    /// Registers an automation (replacing one with the same id) and saves its definition.
    /// With `when` only, its condition is evaluated now for the baseline and a run is recorded
    /// on every later false → true edge. With a `trigger`, a run is recorded on each of the
    /// trigger's events at which `when` (if given) holds, after the `dwell` (`for:`) if given.
    pub fn register_automation(
        &mut self,
        id: &str,
        when: Option<&Value>,
        trigger: Option<&str>,
        dwell_spec: Option<&Value>,
    ) -> Result<(), SimulationError> {
        self.register(id, when, trigger, dwell_spec, None)
    }

    /// [`Simulation::register_automation`]; `restored` carries what a previous run saved of
    /// its edge state: then the baseline is not taken again and its saved timers stand (one
    /// that fell due while the host was down fires at the next tick).
    fn register(
        &mut self,
        id: &str,
        when: Option<&Value>,
        trigger: Option<&str>,
        dwell_spec: Option<&Value>,
        restored: Option<bool>,
    ) -> Result<(), SimulationError> {
        let condition = when
            .map(conditions::parse)
            .transpose()
            .map_err(|e| SimulationError::Host(format!("automation {id}: when: {e}")))?;
        let dwell = dwell_spec
            .map(|d| Duration::parse(d, "for"))
            .transpose()
            .map_err(|e| SimulationError::Host(format!("automation {id}: {e}")))?;
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
        } else if dwell.is_some() {
            return Err(SimulationError::Host(format!(
                "automation {id}: for: a dwell needs a trigger (use state … for in the condition)"
            )));
        }
        let refs = match (&condition, trigger) {
            (Some(c), None) => conditions::wake_refs(c),
            _ => BTreeSet::new(),
        };
        let holds = match restored {
            Some(saved) => saved,
            None => condition.as_ref().is_some_and(|c| self.evaluate_now(c)),
        };
        let mut definition = serde_json::Map::new();
        if let Some(when) = when {
            definition.insert("when".into(), when.clone());
        }
        if let Some(trigger) = trigger {
            definition.insert("trigger".into(), json!(trigger));
        }
        if let Some(dwell) = dwell_spec {
            definition.insert("for".into(), dwell.clone());
        }
        let definition = Value::Object(definition);
        if restored.is_none() {
            let text = definition.to_string();
            self.with_timers(|conn| timers::save_definition(conn, id, &text, holds))
                .map_err(host_error)?;
        }
        self.automations.retain(|a| a.id != id);
        self.automations.push(Automation {
            id: id.to_owned(),
            trigger: trigger.map(str::to_owned),
            condition,
            dwell,
            refs,
            holds,
            definition,
        });
        self.timed_automations = true;
        if restored.is_none() {
            self.schedule_recheck(self.automations.len() - 1);
        }
        Ok(())
    }

    /// Registers again every automation a previous run over this database saved (a
    /// long-running host calls it at start), with the edge state and timers it saved.
    pub fn restore_automations(&mut self) -> Result<usize, SimulationError> {
        let saved = self.with_timers(timers::definitions).map_err(host_error)?;
        let count = saved.len();
        for (id, text, holds) in saved {
            let definition: Value = serde_json::from_str(&text)
                .map_err(|e| host_error(format!("automation {id}: saved definition: {e}")))?;
            self.register(
                &id,
                definition.get("when"),
                definition.get("trigger").and_then(Value::as_str),
                definition.get("for"),
                Some(holds),
            )?;
        }
        Ok(count)
    }

    /// Sets (or clears) automation `i`'s re-evaluation timer at the next instant its
    /// condition can change through time alone.
    fn schedule_recheck(&mut self, i: usize) {
        let automation = &self.automations[i];
        if automation.trigger.is_some() {
            return;
        }
        let Some(condition) = &automation.condition else {
            return;
        };
        let next = self.with_scope(|scope| conditions::next_change(condition, scope));
        let id = automation.id.clone();
        let saved = self.with_timers(|conn| match next {
            Some(due_at) => timers::set(
                conn,
                &Timer {
                    automation: id.clone(),
                    kind: TimerKind::Recheck,
                    source: String::new(),
                    due_at,
                    basis: None,
                },
            ),
            None => timers::clear(conn, &id, TimerKind::Recheck, "").map(drop),
        });
        if let Err(e) = saved {
            tracing::warn!("automation {id}: its re-evaluation could not be scheduled: {e}");
        }
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
            self.reevaluate(i, &exact);
        }
    }

    /// Evaluates condition automation `i` now: records a run on a false → true edge (with
    /// `wake_ref`), then schedules its next time-driven re-evaluation.
    fn reevaluate(&mut self, i: usize, wake_ref: &str) {
        let Some(condition) = &self.automations[i].condition else {
            return;
        };
        let now_holds = self.evaluate_now(condition);
        let was = self.automations[i].holds;
        let id = self.automations[i].id.clone();
        if now_holds && !was {
            self.record_run(id.clone(), wake_ref);
        }
        if now_holds != was {
            self.automations[i].holds = now_holds;
            if let Err(e) = self.with_timers(|conn| timers::save_holds(conn, &id, now_holds)) {
                tracing::warn!("automation {id}: its state could not be saved: {e}");
            }
        }
        self.schedule_recheck(i);
    }

    /// The soonest pending automation timer, if any automation was ever registered here.
    pub(super) fn next_timer_at(&self) -> Result<Option<i64>, SimulationError> {
        if !self.timed_automations {
            return Ok(None);
        }
        self.with_timers(timers::next_due).map_err(host_error)
    }

    /// Fires the automation timers due at the clock's instant: re-evaluations and ended
    /// dwells. A timer whose automation this host does not know is dropped.
    pub(super) fn fire_due_timers(&mut self) -> Result<(), SimulationError> {
        if !self.timed_automations {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let due = self
            .with_timers(|conn| timers::take_due(conn, now))
            .map_err(host_error)?;
        for timer in due {
            let Some(i) = self
                .automations
                .iter()
                .position(|a| a.id == timer.automation)
            else {
                tracing::warn!(
                    "a timer of unknown automation {} was dropped",
                    timer.automation
                );
                continue;
            };
            match timer.kind {
                TimerKind::Recheck => self.reevaluate(i, CLOCK_REF),
                TimerKind::Dwell => self.run_if_condition_holds(i, &timer.source),
            }
        }
        Ok(())
    }

    /// The registered automations with whether each holds now, and the pending timers (for
    /// `serve`'s status).
    pub fn automations_status(&self) -> Result<Value, SimulationError> {
        let pending = self.with_timers(timers::pending).map_err(host_error)?;
        let list: Vec<Value> = self
            .automations
            .iter()
            .map(|a| {
                let timers: Vec<Value> = pending
                    .iter()
                    .filter(|t| t.automation == a.id)
                    .map(|t| {
                        json!({
                            "kind": t.kind.as_str(),
                            "source": t.source,
                            "dueAt": crate::capabilities::clock::to_rfc3339(t.due_at),
                        })
                    })
                    .collect();
                json!({ "id": a.id, "definition": a.definition, "holds": a.holds, "timers": timers })
            })
            .collect();
        Ok(json!(list))
    }

    fn with_timers<T>(
        &self,
        work: impl FnOnce(
            &crate::capabilities::sql::SqlConnection,
        ) -> Result<T, crate::capabilities::sql::SqlError>,
    ) -> Result<T, String> {
        let conn = self.database.checkout().map_err(|e| e.to_string())?;
        work(&conn).map_err(|e| e.to_string())
    }
}
