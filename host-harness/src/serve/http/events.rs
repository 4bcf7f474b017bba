//! `GET /events`: server-sent events for the dashboard (and any other client), fed by the
//! live feed (`serve::live`).
//!
//! Each plugin signal is one event named after the signal (`slo.status.changed`…) with its
//! JSON payload as data. `resync` means the stream fell behind and missed events (reload
//! everything); the stream ends when the server stops. A comment every 15 s keeps proxies
//! from closing an idle stream.
//!
//! Any known bearer token may listen (an anonymous request is refused 401): events carry ids
//! and numbers a reader sees anyway, and every read behind them goes through the plugin's own
//! access rules. A browser's `EventSource` cannot send a header, so the dashboard reads the
//! stream with `fetch`.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::service::respond;
use crate::host::{Caller, CallerKind};
use crate::serve::api::Reply;
use crate::serve::live::{LiveEvent, LiveFeed, MAX_STREAMS};

/// The path.
pub const EVENTS_PATH: &str = "/events";

/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Opens a stream for `caller`, or refuses: 401 for an anonymous caller, 405 for a method
/// other than GET, 503 when [`MAX_STREAMS`] are open.
pub fn open(feed: &LiveFeed, method: &str, caller: &Caller) -> Response {
    if method != "GET" {
        return respond(Reply::error(
            405,
            "method-not-allowed",
            format!("use GET, not {method}"),
        ));
    }
    if caller.kind == CallerKind::Anonymous {
        return respond(Reply::error(
            401,
            "unauthorized",
            format!("{EVENTS_PATH} needs a bearer token"),
        ));
    }
    let Some(receiver) = feed.subscribe() else {
        return respond(Reply::error(
            503,
            "too-many-streams",
            format!("{MAX_STREAMS} event streams are open already"),
        ));
    };
    let ready = Event::default().event("ready").data("{}");
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(ready) });
    let rest = futures_util::stream::unfold(receiver, next_event);
    Sse::new(futures_util::StreamExt::chain(first, rest))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The next event of a stream, or its end (the server stops, or the feed is gone).
async fn next_event(
    mut receiver: Receiver<LiveEvent>,
) -> Option<(Result<Event, Infallible>, Receiver<LiveEvent>)> {
    let event = match receiver.recv().await {
        Ok(LiveEvent::Signal { id, payload }) => {
            // An event name cannot hold a line break; a plugin's signal id is not trusted.
            let name: String = id.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            Event::default().event(name).data(payload)
        }
        Ok(LiveEvent::Closing) | Err(RecvError::Closed) => return None,
        Err(RecvError::Lagged(missed)) => Event::default()
            .event("resync")
            .data(format!("{{\"missed\":{missed}}}")),
    };
    Some((Ok(event), receiver))
}
