//! The plugin-scoped key/value cache with time-to-live on the host clock.
//!
//! Reads are immediate; writes arrive through the outbox after commit
//! ([`crate::capabilities::outbox`]), so a rolled-back invocation never leaves a value
//! computed from uncommitted data behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::clock::Clock;

#[derive(Debug)]
struct Entry {
    value: String,
    expires_at_ms: i64,
}

/// A cache shared by every invocation of a host; keys are scoped by plugin id.
#[derive(Clone, Debug)]
pub struct Cache {
    entries: Arc<Mutex<HashMap<(String, String), Entry>>>,
    clock: Clock,
}

impl Cache {
    /// An empty cache whose TTLs run on `clock`.
    pub fn new(clock: Clock) -> Self {
        Cache {
            entries: Arc::default(),
            clock,
        }
    }

    /// The live value of `key` for `plugin`, if any.
    pub fn get(&self, plugin: &str, key: &str) -> Option<String> {
        let now = self.clock.now_ms();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let scoped = (plugin.to_owned(), key.to_owned());
        match entries.get(&scoped) {
            Some(e) if e.expires_at_ms > now => Some(e.value.clone()),
            Some(_) => {
                entries.remove(&scoped);
                None
            }
            None => None,
        }
    }

    /// Stores `value` under `key` for `ttl_ms`.
    pub fn set(&self, plugin: &str, key: &str, value: String, ttl_ms: u64) {
        let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
        let expires_at_ms = self.clock.now_ms().saturating_add(ttl);
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (plugin.to_owned(), key.to_owned()),
                Entry {
                    value,
                    expires_at_ms,
                },
            );
    }

    /// Drops `keys` for `plugin`.
    pub fn invalidate(&self, plugin: &str, keys: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            entries.remove(&(plugin.to_owned(), key.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn values_expire_on_the_host_clock_and_are_scoped_by_plugin() {
        let clock = Clock::virtual_at(0);
        let cache = Cache::new(clock.clone());
        cache.set("slo", "k", "1".into(), 15_000);
        assert_eq!(cache.get("slo", "k").as_deref(), Some("1"));
        assert_eq!(cache.get("other", "k"), None);
        clock.advance(Duration::from_millis(15_000)).unwrap();
        assert_eq!(cache.get("slo", "k"), None);
    }

    #[test]
    fn invalidate_drops_the_keys() {
        let cache = Cache::new(Clock::virtual_at(0));
        cache.set("slo", "a", "1".into(), 1_000);
        cache.set("slo", "b", "2".into(), 1_000);
        cache.invalidate("slo", &["a".into()]);
        assert_eq!(cache.get("slo", "a"), None);
        assert_eq!(cache.get("slo", "b").as_deref(), Some("2"));
    }
}
