//! Reading a request body under the server's limits: a size cap (checked against
//! `Content-Length` before anything is read, and again while reading), an idle timeout between
//! chunks (tower-http's `RequestBodyTimeout`, applied by the server) and a total deadline. A
//! client that trickles its body is answered 408 and costs an idle task, never a thread.

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::serve::api::Reply;

/// The limits a body is read under.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The largest body accepted, in bytes.
    pub max_bytes: usize,
    /// The whole body must arrive within this.
    pub deadline: Duration,
}

fn too_large(max: usize) -> Reply {
    Reply::error(413, "invalid", format!("the body exceeds {max} bytes"))
}

/// Refuses at once a request whose `Content-Length` announces more than the cap.
pub fn check_declared_length(headers: &HeaderMap, limits: &BodyLimits) -> Result<(), Reply> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limits.max_bytes as u64 => Err(too_large(limits.max_bytes)),
        _ => Ok(()),
    }
}

/// Whether `error` (or one of its sources) is a body that stopped arriving.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reads the whole body as UTF-8 text under `limits`.
pub async fn read_text(body: Body, limits: &BodyLimits) -> Result<String, Reply> {
    let limited = Limited::new(body, limits.max_bytes);
    let collected = match tokio::time::timeout(limits.deadline, limited.collect()).await {
        Err(_) => {
            return Err(Reply::error(
                408,
                "timeout",
                format!(
                    "the body did not arrive within {} s",
                    limits.deadline.as_secs_f64()
                ),
            ))
        }
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return Err(too_large(limits.max_bytes))
        }
        Ok(Err(error)) if is_timeout(error.as_ref()) => {
            return Err(Reply::error(
                408,
                "timeout",
                "the body stopped arriving (idle timeout between chunks)",
            ))
        }
        Ok(Err(error)) => {
            return Err(Reply::error(
                400,
                "invalid",
                format!("reading the body failed: {error}"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    String::from_utf8(collected.to_vec())
        .map_err(|_| Reply::error(400, "invalid", "the body is not UTF-8"))
}
