//! The live feed behind `GET /events`: the signals the plugin publishes (`slo.status.changed`,
//! achievement unlocks…), handed from the routing thread to every open event stream.
//!
//! In a cluster a signal is routed by whichever instance made the delivery, so each instance
//! also relays the signals it routes through PostgreSQL (`NOTIFY slo_host_signals`), and hands
//! on those the others relay (see `serve::cluster`): a dashboard open on any instance sees them
//! all.
//!
//! A bounded broadcast channel: a slow stream that falls more than [`BUFFERED_EVENTS`]
//! behind loses the oldest events and is told to reload (`resync`), and never holds the
//! router back. At most [`MAX_STREAMS`] streams are open at once, so that clients cannot
//! pile up subscriptions.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::platform::simulation::Emission;

/// Events one stream may fall behind before it is told to reload.
pub const BUFFERED_EVENTS: usize = 256;
/// Event streams open at once; more are refused (503).
pub const MAX_STREAMS: usize = 64;

/// The PostgreSQL channel signals are relayed on between cluster instances.
pub const SIGNAL_CHANNEL: &str = "slo_host_signals";

/// Largest relayed message: PostgreSQL refuses a `NOTIFY` payload of 8000 bytes or more. A
/// signal too large to relay whole goes without its payload (listeners reload anyway).
const MAX_RELAY_BYTES: usize = 7900;

/// A signal as relayed between instances: who routed it, its id and payload.
#[derive(Debug, Serialize, Deserialize)]
struct Relayed {
    from: String,
    id: String,
    payload: serde_json::Value,
}

/// The `NOTIFY` payload that relays `signal`, routed by `instance`.
pub fn relay_message(instance: &str, signal: &Emission) -> String {
    let whole = Relayed {
        from: instance.to_owned(),
        id: signal.id.clone(),
        payload: signal.payload.clone(),
    };
    let text = serde_json::to_string(&whole).unwrap_or_default();
    if text.len() < MAX_RELAY_BYTES {
        return text;
    }
    let bare = Relayed {
        payload: serde_json::Value::Null,
        ..whole
    };
    serde_json::to_string(&bare).unwrap_or_default()
}

/// One event of the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A signal the plugin published: its id and its JSON payload.
    Signal {
        /// The signal id, e.g. `slo.status.changed`.
        id: String,
        /// The payload, as JSON text.
        payload: String,
    },
    /// The server is stopping: streams end.
    Closing,
}

/// The feed: one sender, any number of streams.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<LiveEvent>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed {
            sender: broadcast::channel(BUFFERED_EVENTS).0,
        }
    }
}

impl LiveFeed {
    /// Hands a routed signal to every open stream (none open: dropped).
    pub fn publish(&self, signal: &Emission) {
        let _ = self.sender.send(LiveEvent::Signal {
            id: signal.id.clone(),
            payload: signal.payload.to_string(),
        });
    }

    /// Hands on a signal another instance relayed (`message` from [`relay_message`]); the
    /// instance's own relays (`own`) and unreadable messages are ignored.
    pub fn publish_relayed(&self, message: &str, own: &str) {
        let Ok(relayed) = serde_json::from_str::<Relayed>(message) else {
            tracing::debug!("ignored an unreadable relayed signal");
            return;
        };
        if relayed.from != own {
            let _ = self.sender.send(LiveEvent::Signal {
                id: relayed.id,
                payload: relayed.payload.to_string(),
            });
        }
    }

    /// Tells every stream to end (shutdown).
    pub fn close(&self) {
        let _ = self.sender.send(LiveEvent::Closing);
    }

    /// A new stream's receiver, or `None` when [`MAX_STREAMS`] are already open.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<LiveEvent>> {
        (self.sender.receiver_count() < MAX_STREAMS).then(|| self.sender.subscribe())
    }

    /// Streams open now.
    pub fn streams(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn streams_are_capped_and_closed() {
        let feed = LiveFeed::default();
        let mut receivers: Vec<_> = (0..MAX_STREAMS).filter_map(|_| feed.subscribe()).collect();
        assert_eq!(receivers.len(), MAX_STREAMS);
        assert!(feed.subscribe().is_none());
        feed.publish(&Emission {
            id: "slo.status.changed".into(),
            payload: json!({"objectiveId": "o1"}),
            at: 0,
        });
        feed.close();
        let first = &mut receivers[0];
        assert_eq!(
            first.try_recv().ok(),
            Some(LiveEvent::Signal {
                id: "slo.status.changed".into(),
                payload: "{\"objectiveId\":\"o1\"}".into()
            })
        );
        assert_eq!(first.try_recv().ok(), Some(LiveEvent::Closing));
        receivers.truncate(1);
        assert!(feed.subscribe().is_some());
    }

    #[test]
    fn relayed_signals_reach_other_instances_only() {
        let feed = LiveFeed::default();
        let mut receiver = feed.subscribe().expect("a stream");
        let signal = Emission {
            id: "slo.status.changed".into(),
            payload: json!({"objectiveId": "o1"}),
            at: 0,
        };
        let message = relay_message("a", &signal);
        feed.publish_relayed(&message, "a");
        feed.publish_relayed("not json", "b");
        feed.publish_relayed(&message, "b");
        assert_eq!(
            receiver.try_recv().ok(),
            Some(LiveEvent::Signal {
                id: "slo.status.changed".into(),
                payload: "{\"objectiveId\":\"o1\"}".into()
            })
        );
        assert!(receiver.try_recv().is_err());
        let huge = Emission {
            payload: json!({"text": "x".repeat(10_000)}),
            ..signal
        };
        let message = relay_message("a", &huge);
        assert!(message.len() < MAX_RELAY_BYTES, "{}", message.len());
        assert!(message.contains("\"payload\":null"));
    }
}
