//! The HTTP side: worker threads take requests from the `tiny_http` listener, turn each into an
//! [`api::Request`], and write the [`api::Reply`] back. They stop taking requests when
//! shutdown begins and finish the one in hand.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::api::{self, Reply, MAX_BODY_BYTES};
use super::shared::Shared;

/// How often an idle worker looks whether shutdown began.
const POLL: Duration = Duration::from_millis(100);

/// Starts `count` worker threads serving `listener`.
pub fn spawn_workers(
    shared: &Arc<Shared>,
    listener: &Arc<tiny_http::Server>,
    count: usize,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..count.max(1))
        .map(|n| {
            let shared = shared.clone();
            let listener = listener.clone();
            std::thread::Builder::new()
                .name(format!("slo-host-http-{n}"))
                .spawn(move || work(&shared, &listener))
        })
        .collect()
}

fn work(shared: &Shared, listener: &tiny_http::Server) {
    while !shared.is_stopping() {
        match listener.recv_timeout(POLL) {
            Ok(Some(request)) => serve_one(shared, request),
            Ok(None) => {}
            Err(e) => tracing::warn!("accepting a request failed: {e}"),
        }
    }
}

fn serve_one(shared: &Shared, mut request: tiny_http::Request) {
    let reply = match read(&mut request) {
        Ok(parsed) => {
            // A host bug must cost one request, never a worker thread.
            std::panic::catch_unwind(AssertUnwindSafe(|| api::handle(shared, &parsed)))
                .unwrap_or_else(|_| {
                    Reply::error(500, "host", "the host failed while answering this request")
                })
        }
        Err(reply) => reply,
    };
    let json = "Content-Type: application/json"
        .parse::<tiny_http::Header>()
        .ok();
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    if let Some(header) = json {
        response = response.with_header(header);
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("the client went away before its reply: {e}");
    }
}

/// The request as the API sees it; a body over [`MAX_BODY_BYTES`] or not UTF-8 is refused.
fn read(request: &mut tiny_http::Request) -> Result<api::Request, Reply> {
    let url = request.url();
    let path = url.split_once('?').map_or(url, |(path, _)| path).to_owned();
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX) + 1;
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Reply::error(400, "invalid", format!("reading the body failed: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Reply::error(
            413,
            "invalid",
            format!("the body exceeds {MAX_BODY_BYTES} bytes"),
        ));
    }
    let body = String::from_utf8(bytes)
        .map_err(|_| Reply::error(400, "invalid", "the body is not UTF-8"))?;
    Ok(api::Request {
        method: request.method().as_str().to_owned(),
        path,
        authorization,
        body,
    })
}
