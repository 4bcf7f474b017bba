//! One request, from hyper to the API and back. The dashboard's files are answered first (they
//! are public); otherwise the caller is resolved from the token before
//! any body byte is read (an unknown token costs nothing), the body is read under its limits
//! on the async side, and only then does the request take one of the bounded threads that run
//! plugin work.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::body::{self, BodyLimits};
use super::{dashboard, events};
use crate::host::Caller;
use crate::serve::api::{self, Reply};
use crate::serve::shared::Shared;

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    /// The server's shared state.
    pub shared: Arc<Shared>,
    /// Body limits.
    pub limits: BodyLimits,
    /// Requests past their body read and not yet answered (plugin work in hand).
    pub in_flight: Arc<AtomicUsize>,
}

/// Counts a request as in flight while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The reply as an HTTP response.
pub fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    response
}

/// The one handler: every path goes through [`api::handle`], which routes.
pub async fn handle(State(app): State<App>, request: Request) -> Response {
    if app.shared.is_stopping() {
        return respond(api::shutting_down());
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == axum::http::Method::GET {
        if let Some(asset) = dashboard::find(&path) {
            return dashboard::respond(asset);
        }
    }
    let caller = if api::is_open_path(&path) {
        Caller::anonymous(&[])
    } else {
        let authorization = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => match value.to_str() {
                Ok(text) => Some(text),
                Err(_) => {
                    return respond(Reply::error(
                        401,
                        "unauthorized",
                        "the Authorization header is not text",
                    ))
                }
            },
        };
        match api::authorize(&app.shared, authorization) {
            Ok(caller) => caller,
            Err(reply) => return respond(reply),
        }
    };
    if path == events::EVENTS_PATH {
        return events::open(&app.shared.live, parts.method.as_str(), &caller);
    }
    if let Err(reply) = body::check_declared_length(&parts.headers, &app.limits) {
        return respond(reply);
    }
    let body = match body::read_text(body, &app.limits).await {
        Ok(text) => text,
        Err(reply) => return respond(reply),
    };
    let request = api::Request {
        method: parts.method.as_str().to_owned(),
        path,
        caller,
        body,
    };
    let in_flight = InFlight::enter(&app.in_flight);
    let shared = app.shared.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let _in_flight = in_flight;
        // A host bug must cost one request, never a thread.
        std::panic::catch_unwind(AssertUnwindSafe(|| api::handle(&shared, &request)))
    })
    .await;
    match answered {
        Ok(Ok(reply)) => respond(reply),
        _ => respond(Reply::error(
            500,
            "host",
            "the host failed while answering this request",
        )),
    }
}
