//! What committed invocations published, in publication order: the log a router reads and
//! trims (the durable copy of each routable entry is `_host_outbox`).

use super::*;

/// One published side effect of a committed invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// Host clock when published, epoch ms.
    pub at_ms: i64,
    /// Plugin id.
    pub plugin: String,
    /// The export that produced it.
    pub export: String,
    /// What was published.
    pub entry: OutboxEntry,
    /// Its `_host_outbox` row, which the router deletes when it routes it (`None`: a cache
    /// write, or a read-only invocation's).
    #[serde(skip)]
    pub durable_seq: Option<i64>,
}

/// What committed invocations published, numbered from 0 in publication order. The oldest
/// entries can be forgotten (a long-running host keeps only what is not yet routed); numbers
/// never shift.
#[derive(Default)]
pub(super) struct PublicationLog {
    /// How many entries were forgotten: the number of `entries[0]`.
    forgotten: usize,
    /// How many publications so far must be routed (everything but cache writes).
    routable: u64,
    entries: std::collections::VecDeque<Publication>,
}

impl PluginHost {
    pub(super) fn publish(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        outbox: Vec<OutboxEntry>,
        durable: Vec<Option<i64>>,
    ) {
        let at_ms = self.services.clock.now_ms();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        for (entry, durable_seq) in outbox.into_iter().zip(durable) {
            match &entry {
                OutboxEntry::CacheSet { key, value, ttl_ms } => {
                    self.services
                        .cache
                        .set(plugin.id(), key, value.clone(), *ttl_ms)
                }
                OutboxEntry::CacheInvalidate { keys } => {
                    self.services.cache.invalidate(plugin.id(), keys)
                }
                _ => {}
            }
            if !entry.is_cache_write() {
                published.routable += 1;
            }
            published.entries.push_back(Publication {
                at_ms,
                plugin: plugin.id().into(),
                export: export.into(),
                entry,
                durable_seq,
            });
        }
    }

    /// What was published after the first `from` publications, in order (cheap to call
    /// repeatedly with a growing `from`). Numbers count forgotten publications too.
    pub fn published_since(&self, from: usize) -> Vec<Publication> {
        let log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let skip = from.saturating_sub(log.forgotten).min(log.entries.len());
        log.entries.range(skip..).cloned().collect()
    }

    /// How many publications that need routing (everything but cache writes) were made so far:
    /// a router compares it before and after a call to know whether it has work, without
    /// reading the log.
    pub fn routable_published(&self) -> u64 {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .routable
    }

    /// Everything published and not forgotten, in publication order.
    pub fn published(&self) -> Vec<Publication> {
        let log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        log.entries.iter().cloned().collect()
    }

    /// Forgets the first `upto` publications (those a router has already handled), so that a
    /// long-running host's log stays bounded.
    pub fn forget_published(&self, upto: usize) {
        let mut log = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let drop = upto.saturating_sub(log.forgotten).min(log.entries.len());
        log.entries.drain(..drop);
        log.forgotten += drop;
    }
}
