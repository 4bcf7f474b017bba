//! A scripted platform for native tests of the service and the engine: health, dependencies,
//! names and overrides are set by the test; everything the plugin publishes is recorded.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde_json::Value;

use crate::core::status::{Health, MaintenanceWindow};
use crate::engine::STATUS_CHANGED;
use crate::service::{Env, Recovery};

/// 2026-06-04T00:00:00Z.
pub const T0: i64 = 1_780_531_200_000;

/// A scripted platform: health, dependencies and names are set by the test; everything the
/// engine publishes is recorded.
#[derive(Default)]
pub struct FakeEnv {
    pub now: Cell<i64>,
    pub ids: Cell<u32>,
    pub health: RefCell<HashMap<String, Health>>,
    pub upstreams: RefCell<HashMap<String, Vec<String>>>,
    pub names: HashMap<String, String>,
    pub overrides: RefCell<Vec<String>>,
    pub recoveries: RefCell<HashMap<String, i64>>,
    pub signals: RefCell<Vec<Value>>,
    pub refreshed: RefCell<Vec<String>>,
    pub invalidated: RefCell<Vec<String>>,
    pub removed: RefCell<Vec<String>>,
    pub cache: RefCell<HashMap<String, String>>,
    pub hooks: RefCell<Vec<(String, Value)>>,
    pub history_down: Cell<bool>,
    pub incident_service_down: Cell<bool>,
    pub warnings: RefCell<Vec<String>>,
    /// Jobs enqueued: (queue, payload, job id, delay ms).
    pub enqueued: RefCell<Vec<(String, Value, String, u64)>>,
    /// Makes every enqueue fail.
    pub queue_down: Cell<bool>,
    /// A scripted deadline: time left, and how much each reading uses up (`None`: no deadline).
    pub deadline: Cell<Option<(u64, u64)>>,
}

impl FakeEnv {
    /// A platform where every system is healthy, `db` is named "Primary DB", and the clock is at [`T0`].
    pub fn new() -> Self {
        let env = FakeEnv {
            names: HashMap::from([("db".to_owned(), "Primary DB".to_owned())]),
            ..FakeEnv::default()
        };
        env.now.set(T0);
        env
    }
    /// Test helper.
    pub fn set_health(&self, system: &str, health: Health) {
        self.health.borrow_mut().insert(system.into(), health);
    }
    /// Test helper.
    pub fn depends(&self, system: &str, upstreams: &[&str]) {
        self.upstreams.borrow_mut().insert(
            system.into(),
            upstreams.iter().map(|s| (*s).to_owned()).collect(),
        );
    }
    /// Test helper.
    pub fn advance(&self, ms: i64) {
        self.now.set(self.now.get() + ms);
    }
    /// How many refresh jobs were enqueued (each on the refresh queue, under the refresh job
    /// id, a minute later).
    pub fn refresh_jobs(&self) -> usize {
        let jobs = self.enqueued.borrow();
        for (queue, _, job_id, delay_ms) in jobs.iter() {
            assert_eq!(queue, crate::service::handlers::REFRESH_QUEUE);
            assert_eq!(job_id, crate::service::refresh::JOB_ID);
            assert_eq!(*delay_ms, crate::service::refresh::INTERVAL_MS);
        }
        jobs.len()
    }
}

impl Env for FakeEnv {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    fn new_id(&self) -> String {
        self.ids.set(self.ids.get() + 1);
        format!("id-{:03}", self.ids.get())
    }
    fn system_health(&self, system_id: &str) -> Health {
        self.health
            .borrow()
            .get(system_id)
            .copied()
            .unwrap_or(Health::Healthy)
    }
    fn maintenance_windows(&self, _: &str, _: i64, _: i64) -> Vec<MaintenanceWindow> {
        Vec::new()
    }
    fn upstreams(&self, system_id: &str) -> Vec<String> {
        self.upstreams
            .borrow()
            .get(system_id)
            .cloned()
            .unwrap_or_default()
    }
    fn downstreams(&self, system_id: &str) -> Vec<String> {
        let map = self.upstreams.borrow();
        let mut out: Vec<String> = map
            .iter()
            .filter(|(_, ups)| ups.iter().any(|u| u == system_id))
            .map(|(s, _)| s.clone())
            .collect();
        out.sort();
        out
    }
    fn system_name(&self, system_id: &str) -> String {
        self.names
            .get(system_id)
            .cloned()
            .unwrap_or_else(|| system_id.to_owned())
    }
    fn incident_override_active(&self, system_id: &str) -> Option<bool> {
        (!self.incident_service_down.get())
            .then(|| self.overrides.borrow().iter().any(|s| s == system_id))
    }
    fn recovered_at(&self, system_id: &str, _since: i64) -> Recovery {
        if self.history_down.get() {
            return Recovery::Unknown;
        }
        self.recoveries
            .borrow()
            .get(system_id)
            .copied()
            .map_or(Recovery::NotYet, Recovery::At)
    }
    fn broadcast(&self, signal_id: &str, payload: &Value) {
        let mut payload = payload.clone();
        if signal_id != STATUS_CHANGED {
            payload["signal"] = Value::from(signal_id);
        }
        self.signals.borrow_mut().push(payload);
    }
    fn emit_hook(&self, hook_id: &str, payload: &Value) {
        self.hooks
            .borrow_mut()
            .push((hook_id.to_owned(), payload.clone()));
    }
    fn resolve_ref(&self, _kind: &str, name: &str) -> Option<String> {
        (name != "nope").then(|| format!("sys-{name}"))
    }
    fn warn(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_owned());
    }
    fn refresh_entity(&self, objective_id: &str) {
        self.refreshed.borrow_mut().push(objective_id.into());
    }
    fn invalidate(&self, keys: &[String]) {
        self.invalidated.borrow_mut().extend(keys.iter().cloned());
        let mut cache = self.cache.borrow_mut();
        for k in keys {
            cache.remove(k);
        }
    }
    fn remove_entity(&self, objective_id: &str) {
        self.removed.borrow_mut().push(objective_id.into());
    }
    fn cache_get(&self, key: &str) -> Option<String> {
        self.cache.borrow().get(key).cloned()
    }
    fn cache_set(&self, key: &str, value: &str, _ttl_ms: u64) {
        self.cache.borrow_mut().insert(key.into(), value.into());
    }
    fn enqueue(
        &self,
        queue: &str,
        payload: &Value,
        job_id: &str,
        delay_ms: u64,
    ) -> Result<(), crate::core::PluginError> {
        if self.queue_down.get() {
            return Err(crate::core::PluginError::Internal(format!(
                "enqueue on {queue}: the queue is down"
            )));
        }
        self.enqueued.borrow_mut().push((
            queue.to_owned(),
            payload.clone(),
            job_id.to_owned(),
            delay_ms,
        ));
        Ok(())
    }
    fn deadline_remaining_ms(&self) -> Option<u64> {
        let (left, per_reading) = self.deadline.get()?;
        self.deadline
            .set(Some((left.saturating_sub(per_reading), per_reading)));
        Some(left)
    }
}
