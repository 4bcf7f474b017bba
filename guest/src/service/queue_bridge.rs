//! The host's `queue` import behind [`super::Env::enqueue`]'s default.
//!
//! Temporary: the bindings layer (`component::host::HostEnv`) is being reworked for contract
//! 0.2.0 and does not implement `Env::enqueue` yet, so the trait's default calls the import
//! here. Once `HostEnv` implements `enqueue` (the body of the wasm32 function below), this
//! module and the default go.

use serde_json::Value;

use crate::core::PluginError;

/// Enqueues `payload` on `queue` through the host's `queue` import (published after commit).
#[cfg(target_arch = "wasm32")]
pub fn enqueue(
    queue: &str,
    payload: &Value,
    job_id: &str,
    delay_ms: u64,
) -> Result<(), PluginError> {
    use crate::component::bindings::checkstack::plugin::queue as host_queue;
    let options = host_queue::EnqueueOptions {
        job_id: Some(job_id.to_owned()),
        delay_ms: Some(delay_ms),
        priority: None,
    };
    host_queue::enqueue(queue, &payload.to_string(), &options)
        .map(|_| ())
        .map_err(|e| PluginError::Internal(format!("enqueue on {queue}: {e:?}")))
}

/// Outside the component there is no host queue: native code supplies its own `Env`.
#[cfg(not(target_arch = "wasm32"))]
pub fn enqueue(
    queue: &str,
    _payload: &Value,
    _job_id: &str,
    _delay_ms: u64,
) -> Result<(), PluginError> {
    Err(PluginError::Internal(format!(
        "enqueue on {queue}: no host queue outside the component"
    )))
}
