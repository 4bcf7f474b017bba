//! The transactional outbox (decisions A2).
//!
//! Everything an invocation asks the host to publish (queue jobs, hook emits, signals, entity
//! mutation requests, cache writes and invalidations) is buffered here and handed on only after
//! the invocation's transaction commits. A rollback, an `err` result or a trap discards it, and
//! `rollback-to` a savepoint discards what was buffered after the savepoint.

use serde::Serialize;

/// An entity operation requested by a plugin, as the framework will hand it back to `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "op", rename_all = "kebab-case")]
pub enum EntityOperation {
    /// Create or update; the JSON operation.
    Mutate(String),
    /// Remove (tombstone); the JSON operation.
    Remove(String),
}

/// One buffered side effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "channel", rename_all = "kebab-case")]
pub enum OutboxEntry {
    /// `queue.enqueue`.
    Enqueue {
        /// Queue name.
        queue: String,
        /// JSON payload.
        payload: String,
        /// The job id (given for de-duplication, or made by the host).
        job_id: String,
        /// Whether `job_id` was given by the plugin (and so de-duplicates).
        dedupe: bool,
        /// Delay after publication.
        delay_ms: u64,
        /// Priority (higher first).
        priority: i32,
    },
    /// `hooks.emit`.
    Hook {
        /// Qualified hook id.
        hook_id: String,
        /// JSON payload.
        payload: String,
    },
    /// `signals.broadcast`.
    Signal {
        /// Signal id.
        signal_id: String,
        /// JSON payload.
        payload: String,
    },
    /// `entities.request`.
    EntityRequest {
        /// Entity kind.
        kind: String,
        /// Entity id.
        id: String,
        /// What to do.
        op: EntityOperation,
    },
    /// `cache.set`.
    CacheSet {
        /// Key.
        key: String,
        /// JSON value.
        value: String,
        /// Time to live.
        ttl_ms: u64,
    },
    /// `cache.invalidate`.
    CacheInvalidate {
        /// Keys to drop.
        keys: Vec<String>,
    },
}

/// The buffer of one invocation.
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    entries: Vec<OutboxEntry>,
}

impl Outbox {
    /// Buffers `entry`.
    pub fn push(&mut self, entry: OutboxEntry) {
        self.entries.push(entry);
    }

    /// How many entries are buffered: a mark a savepoint can roll back to.
    pub fn mark(&self) -> usize {
        self.entries.len()
    }

    /// Discards every entry buffered after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        self.entries.truncate(mark);
    }

    /// The buffered entries, in the order they were made.
    pub fn entries(&self) -> &[OutboxEntry] {
        &self.entries
    }

    /// Takes the entries for publication.
    pub fn into_entries(self) -> Vec<OutboxEntry> {
        self.entries
    }

    /// What the invocation's own pending cache writes say about `key`: `Some(Some(v))` if it
    /// set it, `Some(None)` if it invalidated it, `None` if it did neither (read the cache).
    pub fn pending_cache_value(&self, key: &str) -> Option<Option<String>> {
        self.entries.iter().rev().find_map(|e| match e {
            OutboxEntry::CacheSet { key: k, value, .. } if k == key => Some(Some(value.clone())),
            OutboxEntry::CacheInvalidate { keys } if keys.iter().any(|k| k == key) => Some(None),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(n: u32) -> OutboxEntry {
        OutboxEntry::Hook {
            hook_id: format!("h{n}"),
            payload: "{}".into(),
        }
    }

    #[test]
    fn rollback_to_mark_discards_only_later_entries() {
        let mut outbox = Outbox::default();
        outbox.push(hook(1));
        let mark = outbox.mark();
        outbox.push(hook(2));
        outbox.rollback_to(mark);
        outbox.push(hook(3));
        assert_eq!(outbox.into_entries(), vec![hook(1), hook(3)]);
    }

    #[test]
    fn pending_cache_value_sees_the_latest_write() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.pending_cache_value("k"), None);
        outbox.push(OutboxEntry::CacheSet {
            key: "k".into(),
            value: "1".into(),
            ttl_ms: 10,
        });
        assert_eq!(outbox.pending_cache_value("k"), Some(Some("1".into())));
        outbox.push(OutboxEntry::CacheInvalidate {
            keys: vec!["k".into()],
        });
        assert_eq!(outbox.pending_cache_value("k"), Some(None));
    }
}
