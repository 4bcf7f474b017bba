//! Every objective as an OpenSLO v1 `SLO`, with a `Service` per system it names (see the
//! mapping in the module above). The output is deterministic: services by id, then SLOs by
//! name, keys sorted; exporting what an import of it made gives the same bytes.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::*;

/// One objective to export: the name its `SLO` document has (the GitOps document name, or the
/// objective id) and the objective as `listObjectives` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// `metadata.name`.
    pub name: String,
    /// The objective's JSON (`listObjectives` … `objective`).
    pub objective: Value,
}

/// The documents for `objectives`; `system_names` gives each system's catalog name.
pub fn documents(objectives: &[Exported], system_names: &BTreeMap<String, String>) -> Vec<Value> {
    let mut systems: Vec<&str> = objectives
        .iter()
        .filter_map(|o| o.objective["systemId"].as_str())
        .collect();
    systems.sort_unstable();
    systems.dedup();
    let mut out: Vec<Value> = systems
        .iter()
        .map(|id| {
            json!({
                "apiVersion": API_VERSION,
                "kind": "Service",
                "metadata": {
                    "name": id,
                    "displayName": system_names.get(*id).map_or(*id, String::as_str),
                },
                "spec": { "description": format!("Checkstack catalog system {id}") },
            })
        })
        .collect();
    let mut slos: Vec<&Exported> = objectives.iter().collect();
    slos.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(slos.into_iter().map(|o| slo(o, system_names)));
    out
}

fn slo(exported: &Exported, system_names: &BTreeMap<String, String>) -> Value {
    let o = &exported.objective;
    let system = o["systemId"].as_str().unwrap_or_default();
    let system_name = system_names.get(system).map_or(system, String::as_str);
    let window_days = o["windowDays"].as_i64().unwrap_or(30);
    let thresholds = &o["burnRateThresholds"];
    let mut annotations = Map::new();
    annotations.insert(
        DEPENDENCY_EXCLUSION.into(),
        json!(o["dependencyExclusion"].as_str().unwrap_or("strict")),
    );
    annotations.insert(
        EXCLUDE_MAINTENANCE.into(),
        json!(o["excludeMaintenanceWindows"]
            .as_bool()
            .unwrap_or(false)
            .to_string()),
    );
    for (key, field) in [
        (WARNING_PERCENT, "warningPercent"),
        (CRITICAL_PERCENT, "criticalPercent"),
    ] {
        if let Some(n) = thresholds[field].as_f64() {
            annotations.insert(key.into(), json!(n.to_string()));
        }
    }
    if let Some(ids) = o["excludedDependencyIds"].as_array() {
        let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
        annotations.insert(EXCLUDED_DEPENDENCIES.into(), json!(ids.join(",")));
    }
    let mut policies: Vec<Value> = alert_tiers(window_days)
        .into_iter()
        .map(|(name, severity, lookback, threshold)| policy(name, severity, lookback, threshold))
        .collect();
    if let Some(multiplier) = thresholds["fastBurnMultiplier"].as_f64() {
        policies.push(policy("fast-burn", "info", "1h", multiplier));
    }
    let target = round(o["target"].as_f64().unwrap_or(0.0) / 100.0);
    json!({
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {
            "name": exported.name,
            "displayName": format!("{system_name} availability"),
            "annotations": annotations,
        },
        "spec": {
            "description": format!("Availability of {system_name} from its health checks"),
            "service": system,
            "indicator": {
                "metadata": { "name": format!("{system}-availability") },
                "spec": {
                    "thresholdMetric": {
                        "metricSource": {
                            "type": METRIC_SOURCE,
                            "spec": { "signal": "health", "system": system },
                        },
                    },
                },
            },
            "timeWindow": [{ "duration": format!("{window_days}d"), "isRolling": true }],
            "budgetingMethod": "Timeslices",
            "objectives": [{
                "displayName": "available",
                "op": "gte",
                "value": 1,
                "target": target,
                "timeSliceTarget": 1,
                "timeSliceWindow": "1m",
            }],
            "alertPolicies": policies,
        },
    })
}

fn policy(name: &str, severity: &str, lookback: &str, threshold: f64) -> Value {
    json!({
        "kind": "AlertPolicy",
        "metadata": { "name": name },
        "spec": {
            "description": format!("burn rate over {lookback} at or above {threshold}"),
            "alertWhenBreaching": true,
            "conditions": [{
                "kind": "AlertCondition",
                "metadata": { "name": format!("{name}-condition") },
                "spec": {
                    "severity": severity,
                    "condition": {
                        "kind": "burnrate",
                        "op": "gte",
                        "threshold": threshold,
                        "lookbackWindow": lookback,
                        "alertAfter": "0m",
                    },
                },
            }],
            "notificationTargets": [],
        },
    })
}
