//! `GET /metrics`: the host and its objectives in the Prometheus text format (OpenMetrics),
//! written by prometheus-client. Every scrape builds one registry: the host's own families
//! (invocations, latency, SQL time: [`crate::host::metrics`]) and gauges read at that moment,
//! from the plugin's own `listObjectives` answer (so every number equals what the RPC answers)
//! and from the host database (queue depth, the oldest due job, dead letters).
//!
//! Access: the `metrics.read` rule (or `host.admin`). We chose a rule over "loopback only":
//! a cluster's instances listen beyond loopback, and a Prometheus server scrapes from another
//! machine; a token with only `metrics.read` shows numbers and ids, and can change nothing.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::shared::Shared;
use crate::capabilities::sql::SqlError;
use crate::host::{Caller, VersionEvent};

/// The rule a caller needs to read `/metrics`.
pub const METRICS_RULE: &str = "metrics.read";

/// The media type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type FloatGauge = Gauge<f64, AtomicU64>;

/// The labels every objective series carries.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectiveLabels {
    objective_id: String,
    system_id: String,
    system_name: String,
    mode: String,
}

/// An objective's burn rate over one lookback window.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BurnLabels {
    objective_id: String,
    system_id: String,
    system_name: String,
    mode: String,
    window: String,
}

/// An objective's alert tier.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    objective_id: String,
    system_id: String,
    system_name: String,
    mode: String,
    tier: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServingLabels {
    plugin: String,
    version: String,
    digest: String,
}

/// The objective gauges of one scrape.
#[derive(Default)]
struct ObjectiveFamilies {
    availability: Family<ObjectiveLabels, FloatGauge>,
    budget_remaining: Family<ObjectiveLabels, FloatGauge>,
    consumed_minutes: Family<ObjectiveLabels, FloatGauge>,
    burn_rate: Family<BurnLabels, FloatGauge>,
    alert: Family<TierLabels, Gauge>,
    open_downtime: Family<ObjectiveLabels, Gauge>,
}

impl ObjectiveFamilies {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "slo_objective_availability_ratio",
            "Availability over the objective's window (0–1), as getObjective answers it",
            self.availability.clone(),
        );
        registry.register(
            "slo_objective_error_budget_remaining_ratio",
            "Error budget left (0–1; negative once overspent)",
            self.budget_remaining.clone(),
        );
        registry.register(
            "slo_objective_error_budget_consumed_minutes",
            "Downtime minutes charged to the error budget over the window",
            self.consumed_minutes.clone(),
        );
        registry.register(
            "slo_objective_burn_rate",
            "Error budget burn rate over a lookback window (1 = on pace to spend it exactly)",
            self.burn_rate.clone(),
        );
        registry.register(
            "slo_objective_alert_firing",
            "Whether a burn-rate alert tier fires (page: fast burn, ticket: slow burn)",
            self.alert.clone(),
        );
        registry.register(
            "slo_objective_open_downtime",
            "Whether the objective has an open downtime event",
            self.open_downtime.clone(),
        );
    }

    /// Sets the gauges of one `listObjectives` row.
    fn record(&self, labels: ObjectiveLabels, status: &Value) {
        let number = |field: &str| status[field].as_f64();
        if let Some(percent) = number("currentAvailability") {
            self.availability
                .get_or_create(&labels)
                .set(percent / 100.0);
        }
        if let Some(percent) = number("errorBudgetRemainingPercent") {
            self.budget_remaining
                .get_or_create(&labels)
                .set(percent / 100.0);
        }
        if let Some(minutes) = number("errorBudgetConsumedMinutes") {
            self.consumed_minutes.get_or_create(&labels).set(minutes);
        }
        if let Some(rates) = status["burnRates"].as_object() {
            for (window, rate) in rates {
                if let Some(rate) = rate.as_f64() {
                    self.burn_rate
                        .get_or_create(&BurnLabels {
                            objective_id: labels.objective_id.clone(),
                            system_id: labels.system_id.clone(),
                            system_name: labels.system_name.clone(),
                            mode: labels.mode.clone(),
                            window: window.clone(),
                        })
                        .set(rate);
                }
            }
        }
        let alert = status["burnAlert"].as_str().unwrap_or("none");
        for tier in ["page", "ticket"] {
            self.alert
                .get_or_create(&TierLabels {
                    objective_id: labels.objective_id.clone(),
                    system_id: labels.system_id.clone(),
                    system_name: labels.system_name.clone(),
                    mode: labels.mode.clone(),
                    tier: tier.to_owned(),
                })
                .set(i64::from(alert == tier));
        }
        let open = status["hasOpenDowntime"].as_bool().unwrap_or(false);
        self.open_downtime
            .get_or_create(&labels)
            .set(i64::from(open));
    }
}

/// The whole `/metrics` text, or why it could not be read.
pub fn render(shared: &Shared) -> Result<String, String> {
    let mut registry = Registry::default();
    shared.host.metrics().register(&mut registry);
    host_gauges(shared, &mut registry).map_err(|e| e.to_string())?;
    objective_gauges(shared, &mut registry)?;
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| e.to_string())?;
    Ok(text)
}

/// The serving version, swaps and rollbacks, the queue and the dead letters.
fn host_gauges(shared: &Shared, registry: &mut Registry) -> Result<(), SqlError> {
    let serving: Family<ServingLabels, Gauge> = Family::default();
    if let Some(plugin) = shared.host.plugin() {
        serving
            .get_or_create(&ServingLabels {
                plugin: plugin.id().to_owned(),
                version: plugin.version().to_owned(),
                digest: plugin.digest().to_owned(),
            })
            .set(1);
    }
    registry.register(
        "slo_host_serving_info",
        "The plugin version serving (value 1)",
        serving,
    );
    let (swaps, rollbacks): (Counter, Counter) = Default::default();
    for event in shared.host.version_events() {
        match event {
            VersionEvent::Swapped { .. } => swaps.inc(),
            VersionEvent::RolledBack { .. } | VersionEvent::AutoRolledBack { .. } => {
                rollbacks.inc()
            }
        };
    }
    registry.register("slo_host_swaps", "Hot swaps since the host started", swaps);
    registry.register(
        "slo_host_rollbacks",
        "Rollbacks since the host started, explicit or by the crash policy",
        rollbacks,
    );

    let now = shared.host.services().clock.now_ms();
    let conn = shared.database.checkout()?;
    let depth: Family<QueueLabels, Gauge> = Family::default();
    let oldest: Family<QueueLabels, FloatGauge> = Family::default();
    let dead: Family<QueueLabels, Gauge> = Family::default();
    // Every queue the table knows (delivered copies are kept for an hour), so that an empty
    // queue shows as 0 rather than vanishing.
    for row in conn.query(
        "SELECT queue, \
                SUM(CASE WHEN state IN ('queued', 'in_flight') THEN 1 ELSE 0 END), \
                MIN(CASE WHEN state = 'queued' AND due_at <= ? THEN due_at END), \
                SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) \
         FROM _host_queue_jobs GROUP BY queue",
        crate::sql_params![now],
    )? {
        let labels = QueueLabels { queue: row.get(0)? };
        depth.get_or_create(&labels).set(row.get(1)?);
        let due: Option<i64> = row.get(2)?;
        let age_ms = due.map_or(0, |due| now.saturating_sub(due));
        oldest.get_or_create(&labels).set(age_ms as f64 / 1000.0);
        dead.get_or_create(&labels).set(row.get(3)?);
    }
    registry.register(
        "slo_host_queue_depth",
        "Jobs queued or in flight, per queue",
        depth,
    );
    registry.register(
        "slo_host_queue_oldest_due_age_seconds",
        "How long the oldest due job of each queue has been waiting (0 when none is due)",
        oldest,
    );
    registry.register(
        "slo_host_dead_letters",
        "Jobs that used up their retries, per queue",
        dead,
    );
    Ok(())
}

/// Every objective's gauges, from the plugin's `listObjectives` (its own formulas).
fn objective_gauges(shared: &Shared, registry: &mut Registry) -> Result<(), String> {
    let families = ObjectiveFamilies::default();
    let caller = Caller::user("slo-host-metrics", &["slo.read"]);
    let answer = shared
        .host
        .call_rpc("listObjectives", "{}", &caller)
        .map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
    for row in answer["objectives"].as_array().into_iter().flatten() {
        let objective = &row["objective"];
        let text = |field: &str| objective[field].as_str().unwrap_or_default().to_owned();
        let system_id = text("systemId");
        let labels = ObjectiveLabels {
            objective_id: text("id"),
            system_name: shared.platform.system_name(&system_id),
            system_id,
            mode: text("dependencyExclusion"),
        };
        families.record(labels, &row["status"]);
    }
    families.register(registry);
    Ok(())
}
