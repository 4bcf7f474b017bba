//! The HTTP JSON API, independent of the HTTP server: a [`Request`] in, a [`Reply`] out.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | liveness |
//! | `GET /metrics` | `metrics.read` or `host.admin` | Prometheus text format (see `metrics`) |
//! | `POST /rpc/{procedure}` | the token's caller | the procedure's JSON answer |
//! | `GET /catalog/systems` | `catalog.read` or `host.admin` | `{systems: [{id, name}]}`: the catalog's names |
//! | `GET /` and `/dashboard/…` | anyone | the dashboard's embedded files (see `http::dashboard`) |
//! | `GET /events` | any known token | server-sent events: `slo.status.changed` signals (see `http::events`) |
//! | `GET /admin/status` | `host.admin` | serving and previous version, invocation counts, version events, watcher, pending deliveries |
//! | `POST /admin/health` | `host.admin` | `{"systemId", "status"}`: a health change |
//! | `GET /admin/systems` | `host.admin` | the catalog with each system's effective health |
//! | `POST /admin/systems` | `host.admin` | `{"id", "name"?}`: a catalog system |
//! | `POST /admin/dependencies` | `host.admin` | `{"source", "target", "remove"?}`: a dependency edge |
//! | `POST /admin/maintenance` | `host.admin` | `{"systemId", "start", "end", "status"?}`: a maintenance window |
//! | `GET /admin/automations` | `host.admin` | the automations, their pending timers and recent runs |
//! | `POST /admin/automations` | `host.admin` | `{"id", "when"?, "trigger"?, "for"?}`: an automation (kept in the database) |
//! | `POST /admin/swap` | `host.admin` | `{"path"}`: hot-swap to that component (a regular file under the cap) |
//! | `POST /admin/rollback` | `host.admin` | back to the previous version |
//!
//! Errors are `{"error": {"code", "message"}}` with the plugin's codes (`invalid` 400,
//! `not-found` 404, `denied` 403, `conflict` 409, `internal` 500), the runtime's (`trap`,
//! `deadline`, `memory`, `fuel`: 500; `host`: 503) and the server's own (`unauthorized` 401,
//! `method-not-allowed` 405, `swap-refused` 422, `shutting-down` 503).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::callers::{CallerError, ADMIN_RULE};
use super::component_file::read_component;
use super::platform_admin::{
    add_automation, add_maintenance, add_system, list_automations, set_dependency, set_health,
};
use super::shared::Shared;
use crate::capabilities::clock::to_rfc3339;
use crate::capabilities::queue::pending_count;
use crate::host::{Caller, CallerKind, SwapReport, VersionInfo};
use crate::platform::simulation::Simulation;
use crate::runtime::{Failure, InvocationError, PluginError};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// An HTTP request, as the API sees it: its caller already resolved (see [`authorize`]),
/// its body already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Who calls.
    pub caller: Caller,
    /// The body (empty: `{}`).
    pub body: String,
}

/// An HTTP reply: a status and a body, JSON unless it says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body's text.
    pub body: String,
    /// Its media type.
    pub content_type: &'static str,
}

/// The media type of every reply but `/metrics`.
pub const JSON: &str = "application/json";

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: &Value) -> Self {
        Self::json(200, body.to_string())
    }

    /// `status` with JSON `text`.
    fn json(status: u16, text: String) -> Self {
        Reply {
            status,
            body: text,
            content_type: JSON,
        }
    }

    /// An error reply in the API's shape.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        let body = json!({ "error": { "code": code, "message": message.into() } });
        Self::json(status, body.to_string())
    }

    fn plugin_error(error: &PluginError) -> Self {
        let status = match error {
            PluginError::Invalid(_) => 400,
            PluginError::NotFound(_) => 404,
            PluginError::Denied(_) => 403,
            PluginError::Conflict(_) => 409,
            PluginError::Internal(_) => 500,
        };
        Reply::error(status, error.code(), error.message())
    }

    fn invocation_error(error: &InvocationError) -> Self {
        match &error.failure {
            Failure::Rejected { error } | Failure::Returned { error } => Reply::plugin_error(error),
            Failure::Host { .. } => Reply::error(503, error.code(), error.to_string()),
            _ => Reply::error(500, error.code(), error.to_string()),
        }
    }
}

/// The caller behind an `Authorization` header value, checked before the body is read: an
/// unknown or malformed token is refused (401), never downgraded. A request without one is
/// anonymous and holds the access rules the serving plugin declares public (as the platform
/// seeds its anonymous role), so it reaches the public procedures.
pub fn authorize(shared: &Shared, authorization: Option<&str>) -> Result<Caller, Reply> {
    let caller = shared
        .callers
        .resolve(authorization)
        .map_err(|e| unauthorized(&e))?;
    if caller.kind != CallerKind::Anonymous {
        return Ok(caller);
    }
    let public: Vec<String> = shared
        .host
        .plugin()
        .map(|p| {
            p.manifest()
                .access_rules
                .iter()
                .filter(|r| r.is_public)
                .map(|r| r.id.clone())
                .collect()
        })
        .unwrap_or_default();
    let rules: Vec<&str> = public.iter().map(String::as_str).collect();
    Ok(Caller::anonymous(&rules))
}

/// Whether `path` is answered without looking at the caller (liveness).
pub fn is_open_path(path: &str) -> bool {
    path == "/healthz"
}

/// The reply to a request that arrives once shutdown has begun.
pub fn shutting_down() -> Reply {
    Reply::error(503, "shutting-down", "the host is shutting down")
}

/// Answers one request.
pub fn handle(shared: &Shared, request: &Request) -> Reply {
    if shared.is_stopping() {
        return shutting_down();
    }
    let method = request.method.as_str();
    let path = request.path.as_str();
    if is_open_path(path) {
        return expect_method(method, "GET").unwrap_or_else(|| Reply::ok(&json!({"status": "ok"})));
    }
    let caller = &request.caller;
    if path == "/metrics" {
        return expect_method(method, "GET").unwrap_or_else(|| metrics(shared, caller));
    }
    if path == CATALOG_PATH {
        return expect_method(method, "GET").unwrap_or_else(|| catalog_systems(shared, caller));
    }
    if let Some(procedure) = path.strip_prefix("/rpc/") {
        return expect_method(method, "POST")
            .unwrap_or_else(|| call(shared, procedure, &request.body, caller));
    }
    let Some(action) = path.strip_prefix("/admin/") else {
        return Reply::error(404, "not-found", format!("no route {method} {path}"));
    };
    let wanted = match action {
        "status" => "GET",
        "systems" | "automations" if method == "GET" => "GET",
        _ => "POST",
    };
    if let Some(reply) = expect_method(method, wanted) {
        return reply;
    }
    if !is_admin_action(action) {
        return Reply::error(404, "not-found", format!("no route {method} {path}"));
    }
    if !caller.holds(ADMIN_RULE) {
        return Reply::error(
            403,
            "denied",
            format!("{path} requires the {ADMIN_RULE} rule"),
        );
    }
    if method == "GET" && action == "systems" {
        return list_systems(shared);
    }
    if method == "GET" && action == "automations" {
        return list_automations(&shared.simulation());
    }
    admin(shared, action, &request.body)
}

/// `GET /metrics` for a caller holding `metrics.read` (or `host.admin`).
fn metrics(shared: &Shared, caller: &Caller) -> Reply {
    if !caller.holds(super::metrics::METRICS_RULE) && !caller.holds(ADMIN_RULE) {
        return Reply::error(
            403,
            "denied",
            format!(
                "/metrics requires the {} rule",
                super::metrics::METRICS_RULE
            ),
        );
    }
    match super::metrics::render(shared) {
        Ok(text) => Reply {
            status: 200,
            body: text,
            content_type: super::metrics::CONTENT_TYPE,
        },
        Err(e) => host_failure(format!("the metrics could not be read: {e}")),
    }
}

/// Where callers read the catalog's system names.
pub const CATALOG_PATH: &str = "/catalog/systems";
/// The rule that reads the catalog's names (the dashboard shows them beside objectives).
pub const CATALOG_RULE: &str = "catalog.read";

/// `GET /catalog/systems` for a caller holding `catalog.read` (or `host.admin`): every system's
/// id and name, without health (that stays an admin view).
fn catalog_systems(shared: &Shared, caller: &Caller) -> Reply {
    if !caller.holds(CATALOG_RULE) && !caller.holds(ADMIN_RULE) {
        return Reply::error(
            403,
            "denied",
            format!("{CATALOG_PATH} requires the {CATALOG_RULE} rule"),
        );
    }
    systems(shared, false)
}

/// `GET /admin/systems`: the catalog with each system's effective health, read without
/// waiting for the simulation.
fn list_systems(shared: &Shared) -> Reply {
    systems(shared, true)
}

/// Every catalog system's id and name, and its effective health when `with_health`.
fn systems(shared: &Shared, with_health: bool) -> Reply {
    // In a cluster, another instance may have changed the catalog: catch up first.
    if let Err(e) = shared.platform.refresh() {
        return host_failure(e);
    }
    let systems: Vec<Value> = shared
        .platform
        .systems()
        .into_iter()
        .map(|(id, name, health)| {
            let mut system = json!({ "id": id, "name": name });
            if with_health {
                system["health"] = json!(health);
            }
            system
        })
        .collect();
    Reply::ok(&json!({ "systems": systems }))
}

fn expect_method(method: &str, wanted: &str) -> Option<Reply> {
    (method != wanted).then(|| {
        Reply::error(
            405,
            "method-not-allowed",
            format!("use {wanted}, not {method}"),
        )
    })
}

fn unauthorized(error: &CallerError) -> Reply {
    Reply::error(401, "unauthorized", error.to_string())
}

fn is_admin_action(action: &str) -> bool {
    matches!(
        action,
        "status"
            | "health"
            | "systems"
            | "dependencies"
            | "maintenance"
            | "automations"
            | "swap"
            | "rollback"
    )
}

/// `POST /rpc/{procedure}`: the body must be JSON; the plugin validates its shape.
fn call(shared: &Shared, procedure: &str, body: &str, caller: &Caller) -> Reply {
    let input = if body.trim().is_empty() { "{}" } else { body };
    if let Err(e) = serde_json::from_str::<Value>(input) {
        return Reply::error(400, "invalid", format!("the request body is not JSON: {e}"));
    }
    let routable = shared.host.routable_published();
    let outcome = shared.host.call_rpc(procedure, input, caller);
    // What the call published (queue jobs, hooks, signals, entity requests) is routed by the
    // driver; a read publishes nothing to route (cache writes only) and does not wake it.
    if shared.host.routable_published() != routable {
        shared.wake_driver();
    }
    match outcome {
        Ok(output) => Reply::json(200, output),
        Err(error) => Reply::invocation_error(&error),
    }
}

fn admin(shared: &Shared, action: &str, body: &str) -> Reply {
    // Status only reads the shared host: it never waits for a driver tick.
    if action == "status" {
        return status(shared);
    }
    // Bodies are parsed, and a swap's component file read, before the simulation's lock is
    // taken: a slow disk or a bad body never holds up the platform.
    let outcome = match action {
        "health" => parse(body).and_then(|b| set_health(&mut shared.simulation(), b)),
        "systems" => parse(body).and_then(|b| add_system(&mut shared.simulation(), b)),
        "dependencies" => parse(body).and_then(|b| set_dependency(&mut shared.simulation(), b)),
        "maintenance" => parse(body).and_then(|b| add_maintenance(&mut shared.simulation(), b)),
        "automations" => parse(body).and_then(|b| {
            let answer = add_automation(&mut shared.simulation(), b);
            shared.wake_driver();
            answer
        }),
        "swap" => parse::<SwapBody>(body)
            .and_then(|b| read_swap_file(shared, &b))
            .and_then(|bytes| swap(shared, &mut shared.simulation(), &bytes)),
        "rollback" => rollback(shared, &mut shared.simulation()),
        _ => Err(Reply::error(
            404,
            "not-found",
            format!("no admin action {action}"),
        )),
    };
    match outcome {
        Ok(answer) => Reply::ok(&answer),
        Err(reply) => reply,
    }
}

pub(super) fn parse<T: DeserializeOwned>(body: &str) -> Result<T, Reply> {
    let text = if body.trim().is_empty() { "{}" } else { body };
    serde_json::from_str(text).map_err(|e| Reply::error(400, "invalid", e.to_string()))
}

pub(super) fn host_failure(e: impl std::fmt::Display) -> Reply {
    Reply::error(503, "host", e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    path: std::path::PathBuf,
}

/// Reads the file a swap names: a regular file under the cap, else 422 `swap-refused`.
fn read_swap_file(shared: &Shared, body: &SwapBody) -> Result<Vec<u8>, Reply> {
    read_component(&body.path, shared.max_component_bytes)
        .map_err(|e| Reply::error(422, "swap-refused", format!("path: {e}")))
}

fn swap(shared: &Shared, simulation: &mut Simulation, bytes: &[u8]) -> Result<Value, Reply> {
    let report =
        swap_to(shared, simulation, bytes).map_err(|e| Reply::error(422, "swap-refused", e))?;
    serde_json::to_value(&report).map_err(host_failure)
}

/// Hot-swaps the serving plugin to the component `bytes` (the admin endpoint and the watcher
/// both come here) and logs the switch.
pub fn swap_to(
    shared: &Shared,
    simulation: &mut Simulation,
    bytes: &[u8],
) -> Result<SwapReport, String> {
    let report = simulation.swap_plugin(bytes).map_err(|e| e.to_string())?;
    if let Err(e) = super::cluster::announce(shared, simulation, Some(bytes)) {
        tracing::warn!("the swap could not be recorded for the cluster: {e}");
    }
    tracing::info!(
        "swapped {} {} → {} {} in {:.1} ms",
        report.from.version,
        report.from.digest,
        report.to.version,
        report.to.digest,
        report.elapsed.as_secs_f64() * 1000.0
    );
    Ok(report)
}

fn rollback(shared: &Shared, simulation: &mut Simulation) -> Result<Value, Reply> {
    let before = simulation.host().plugin().map(|p| VersionInfo::of(&p));
    simulation
        .rollback_plugin()
        .map_err(|e| Reply::error(409, "conflict", e.to_string()))?;
    if let Err(e) = super::cluster::announce(shared, simulation, None) {
        tracing::warn!("the rollback could not be recorded for the cluster: {e}");
    }
    let after = simulation.host().plugin().map(|p| VersionInfo::of(&p));
    Ok(json!({ "from": before, "to": after }))
}

/// The cluster this instance belongs to: its name, the version the cluster serves, and every
/// registered instance with the version it serves and its heartbeat's age (`null` outside a
/// cluster).
fn cluster_status(shared: &Shared, now: i64) -> Value {
    let Some(membership) = &shared.membership else {
        return Value::Null;
    };
    let read = || -> Result<Value, crate::capabilities::sql::SqlError> {
        let conn = shared.database.checkout()?;
        let serving = crate::cluster::serving::current(&conn)?;
        let instances: Vec<Value> = crate::cluster::registry::all(&conn)?
            .into_iter()
            .map(|i| {
                let age = now.saturating_sub(i.heartbeat_at);
                json!({
                    "name": i.name,
                    "address": i.address,
                    "servingVersion": i.serving_version,
                    "servingDigest": i.serving_digest,
                    "heartbeatAgeMs": age,
                    "live": age <= membership.gone_after_ms(),
                    "followError": i.follow_error,
                })
            })
            .collect();
        Ok(json!({
            "instance": membership.instance,
            "servingDigest": serving.map(|s| s.digest),
            "instances": instances,
        }))
    };
    read().unwrap_or_else(|e| json!({ "instance": membership.instance, "error": e.to_string() }))
}

fn status(shared: &Shared) -> Reply {
    let host = &shared.host;
    let serving = host.plugin().map(|p| VersionInfo::of(&p));
    let previous = host.previous_plugin().map(|p| VersionInfo::of(&p));
    let now = host.services().clock.now_ms();
    let body = json!({
        "plugin": serving,
        "previous": previous,
        "invocations": host.invocation_counts(),
        "versionEvents": host.version_events(),
        "watch": *shared.watch_status(),
        "queue": { "pending": pending_count(&shared.database).ok() },
        "database": shared.database.location().name(),
        "now": to_rfc3339(now),
        "uptimeMs": u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "cluster": cluster_status(shared, now),
    });
    Reply::ok(&body)
}
