//! OpenSLO documents as what the plugin applies: a `Service` is a catalog system, an `SLO` is
//! the plugin's GitOps `SLO` document. Anything we cannot represent exactly is refused, naming
//! the document, the field and why; nothing is approximated.

use serde_json::{json, Map, Value};

use super::documents::{Document, DocumentError};
use super::*;
use crate::host::GitopsDocument;

/// The plugin's GitOps kind (`checkstack.io/v1alpha1` `SLO`).
pub const GITOPS_API_VERSION: &str = "checkstack.io/v1alpha1";
/// The plugin's GitOps kind name.
pub const GITOPS_KIND: &str = "SLO";

/// What one OpenSLO document becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// A catalog system: id and display name.
    Service {
        /// `metadata.name`.
        id: String,
        /// `metadata.displayName`, else the id.
        name: String,
    },
    /// An objective, as the plugin's GitOps document.
    Objective(GitopsDocument),
}

/// Converts one OpenSLO v1 document.
pub fn convert(doc: &Document) -> Result<Imported, DocumentError> {
    let v = &doc.value;
    let err = |field: &str, why: &str| DocumentError::at(doc, field, why);
    match v["apiVersion"].as_str() {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(err(
                "apiVersion",
                &format!("{other} is not supported: only {API_VERSION} documents are read"),
            ))
        }
        None => return Err(err("apiVersion", "missing")),
    }
    let name = v["metadata"]["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| err("metadata.name", "missing"))?;
    match v["kind"].as_str() {
        Some("Service") => Ok(Imported::Service {
            id: name.to_owned(),
            name: v["metadata"]["displayName"]
                .as_str()
                .unwrap_or(name)
                .to_owned(),
        }),
        Some("SLO") => objective(doc, name).map(Imported::Objective),
        Some(other) => Err(err(
            "kind",
            &format!(
                "{other} documents are not imported: an SLO carries its indicator and alert policies inline, and only SLO and Service documents are read"
            ),
        )),
        None => Err(err("kind", "missing")),
    }
}

fn objective(doc: &Document, name: &str) -> Result<GitopsDocument, DocumentError> {
    let v = &doc.value;
    let spec = &v["spec"];
    let err = |field: &str, why: String| DocumentError::at(doc, field, why);
    let service = spec["service"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            err(
                "spec.service",
                "missing: the catalog system the objective is about".into(),
            )
        })?;
    indicator(doc)?;
    let window_days = window(doc)?;
    match spec["budgetingMethod"].as_str() {
        Some("Timeslices") => {}
        Some(other) => {
            return Err(err(
                "spec.budgetingMethod",
                format!("{other} is not supported: Checkstack counts down minutes of a system, so only Timeslices (one-minute slices) can be represented"),
            ))
        }
        None => return Err(err("spec.budgetingMethod", "missing (Timeslices)".into())),
    }
    let target = target(doc)?;
    let annotations = &v["metadata"]["annotations"];
    let mut out = Map::new();
    out.insert(
        "systemRef".into(),
        json!({"kind": "System", "name": service}),
    );
    out.insert("target".into(), json!(target));
    out.insert("windowDays".into(), json!(window_days));
    if let Some(mode) = annotations[DEPENDENCY_EXCLUSION].as_str() {
        if mode != "strict" && mode != "self-only" {
            return Err(err(
                &format!("metadata.annotations.{DEPENDENCY_EXCLUSION}"),
                format!("{mode:?}: expected strict or self-only"),
            ));
        }
        out.insert("dependencyExclusion".into(), json!(mode));
    }
    if let Some(flag) = annotations[EXCLUDE_MAINTENANCE].as_str() {
        let on = match flag {
            "true" => true,
            "false" => false,
            other => {
                return Err(err(
                    &format!("metadata.annotations.{EXCLUDE_MAINTENANCE}"),
                    format!("{other:?}: expected true or false"),
                ))
            }
        };
        out.insert("excludeMaintenanceWindows".into(), json!(on));
    }
    if let Some(ids) = annotations[EXCLUDED_DEPENDENCIES].as_str() {
        let refs: Vec<Value> = ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| json!({"kind": "System", "name": id}))
            .collect();
        out.insert("excludedDependencyRefs".into(), Value::Array(refs));
    }
    let thresholds = thresholds(doc, window_days)?;
    if !thresholds.is_empty() {
        out.insert("burnRateThresholds".into(), Value::Object(thresholds));
    }
    Ok(GitopsDocument {
        api_version: GITOPS_API_VERSION.into(),
        kind: GITOPS_KIND.into(),
        name: name.to_owned(),
        spec: Value::Object(out).to_string(),
    })
}

/// The indicator must be the Checkstack availability indicator, inline.
fn indicator(doc: &Document) -> Result<(), DocumentError> {
    let spec = &doc.value["spec"];
    let err = |field: &str, why: String| DocumentError::at(doc, field, why);
    if !spec["indicatorRef"].is_null() {
        return Err(err(
            "spec.indicatorRef",
            "a standalone SLI cannot be resolved offline: put the indicator inline".into(),
        ));
    }
    let indicator = &spec["indicator"]["spec"];
    if indicator.is_null() {
        return Err(err(
            "spec.indicator",
            "missing: the Checkstack availability indicator".into(),
        ));
    }
    if !indicator["ratioMetric"].is_null() {
        return Err(err(
            "spec.indicator.spec.ratioMetric",
            "a ratio of two metric queries cannot be evaluated: Checkstack measures availability from its health checks (thresholdMetric with metricSource type Checkstack)".into(),
        ));
    }
    let source = &indicator["thresholdMetric"]["metricSource"];
    match source["type"].as_str() {
        Some(t) if t.eq_ignore_ascii_case(METRIC_SOURCE) => Ok(()),
        Some(other) => Err(err(
            "spec.indicator.spec.thresholdMetric.metricSource.type",
            format!("{other}: Checkstack cannot query that metric source; only its own availability indicator (type {METRIC_SOURCE}) can be evaluated"),
        )),
        None => Err(err(
            "spec.indicator.spec.thresholdMetric.metricSource.type",
            format!("missing ({METRIC_SOURCE})"),
        )),
    }
}

/// One rolling window of whole days.
fn window(doc: &Document) -> Result<i64, DocumentError> {
    let windows = doc.value["spec"]["timeWindow"].as_array();
    let err = |field: &str, why: String| DocumentError::at(doc, field, why);
    let window = match windows.map(Vec::as_slice) {
        Some([one]) => one,
        Some([]) | None => {
            return Err(err("spec.timeWindow", "missing: one rolling window".into()))
        }
        Some(_) => {
            return Err(err(
                "spec.timeWindow",
                "an objective has exactly one window".into(),
            ))
        }
    };
    if window["isRolling"].as_bool() != Some(true) || !window["calendar"].is_null() {
        return Err(err(
            "spec.timeWindow[0].isRolling",
            "calendar windows are not supported: a Checkstack objective's window rolls (isRolling: true)".into(),
        ));
    }
    let duration = window["duration"].as_str().unwrap_or_default();
    let days = parse_days(duration).ok_or_else(|| {
        err(
            "spec.timeWindow[0].duration",
            format!("{duration:?}: a window is whole days from 1 to 3650 (Nd or Nw)"),
        )
    })?;
    Ok(days)
}

/// `30d` → 30, `2w` → 14 (1 to 3650 days); anything else, `None`.
pub fn parse_days(duration: &str) -> Option<i64> {
    let (number, unit) = duration.split_at(duration.len().checked_sub(1)?);
    let n: i64 = number.parse().ok()?;
    let days = match unit {
        "d" => n,
        "w" => n.checked_mul(7)?,
        _ => return None,
    };
    (1..=3650).contains(&days).then_some(days)
}

/// The objective's target in percent, from `target` (0–1) or `targetPercent`.
fn target(doc: &Document) -> Result<f64, DocumentError> {
    let objectives = doc.value["spec"]["objectives"].as_array();
    let err = |field: &str, why: String| DocumentError::at(doc, field, why);
    let objective = match objectives.map(Vec::as_slice) {
        Some([one]) => one,
        Some([]) | None => return Err(err("spec.objectives", "missing: one objective".into())),
        Some(_) => {
            return Err(err(
                "spec.objectives",
                "several objectives in one SLO are not supported: write one SLO per target".into(),
            ))
        }
    };
    let percent = match (
        objective["target"].as_f64(),
        objective["targetPercent"].as_f64(),
    ) {
        (Some(ratio), _) => {
            if !(ratio > 0.0 && ratio <= 1.0) {
                return Err(err(
                    "spec.objectives[0].target",
                    format!("{ratio} is out of range: a ratio above 0 and at most 1"),
                ));
            }
            round(ratio * 100.0)
        }
        (None, Some(percent)) => {
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(err(
                    "spec.objectives[0].targetPercent",
                    format!("{percent} is out of range: above 0 and at most 100"),
                ));
            }
            percent
        }
        (None, None) => return Err(err("spec.objectives[0].target", "missing".into())),
    };
    Ok(percent)
}

/// The budget thresholds: the annotations, and the fast-burn multiplier from the alert
/// policies. The page and ticket tiers follow from the window: a policy that says otherwise is
/// refused, not ignored.
fn thresholds(doc: &Document, window_days: i64) -> Result<Map<String, Value>, DocumentError> {
    let v = &doc.value;
    let mut out = Map::new();
    for (key, field) in [
        (WARNING_PERCENT, "warningPercent"),
        (CRITICAL_PERCENT, "criticalPercent"),
    ] {
        if let Some(text) = v["metadata"]["annotations"][key].as_str() {
            let n: f64 = text.parse().map_err(|_| {
                DocumentError::at(
                    doc,
                    &format!("metadata.annotations.{key}"),
                    format!("{text:?} is not a number"),
                )
            })?;
            out.insert(field.into(), json!(n));
        }
    }
    let policies = match &v["spec"]["alertPolicies"] {
        Value::Null => return Ok(out),
        Value::Array(list) => list,
        _ => {
            return Err(DocumentError::at(
                doc,
                "spec.alertPolicies",
                "expected a list",
            ))
        }
    };
    let tiers = alert_tiers(window_days);
    for (i, policy) in policies.iter().enumerate() {
        let field = format!("spec.alertPolicies[{i}]");
        let name = policy["metadata"]["name"].as_str().unwrap_or_default();
        let conditions = policy["spec"]["conditions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let [condition] = conditions else {
            return Err(DocumentError::at(
                doc,
                &format!("{field}.spec.conditions"),
                "one inline burn-rate condition per policy",
            ));
        };
        let c = &condition["spec"]["condition"];
        if c["kind"].as_str() != Some("burnrate") {
            return Err(DocumentError::at(
                doc,
                &format!("{field}.spec.conditions[0].spec.condition.kind"),
                "only burnrate conditions are represented",
            ));
        }
        let threshold = c["threshold"].as_f64();
        let lookback = c["lookbackWindow"].as_str().unwrap_or_default();
        if name == "fast-burn" {
            let multiplier = threshold.filter(|t| *t >= 1.0);
            let (Some(multiplier), "1h") = (multiplier, lookback) else {
                return Err(DocumentError::at(
                    doc,
                    &format!("{field}.spec.conditions[0].spec.condition"),
                    "the fast-burn condition is a 1h burn rate of at least 1",
                ));
            };
            out.insert("fastBurnMultiplier".into(), json!(multiplier));
            continue;
        }
        match tiers.iter().find(|(tier, ..)| *tier == name) {
            Some((_, _, look, expected))
                if *look == lookback && threshold.map(round) == Some(*expected) => {}
            Some((_, _, look, expected)) => {
                return Err(DocumentError::at(
                    doc,
                    &format!("{field}.spec.conditions[0].spec.condition"),
                    format!("the {name} tier of a {window_days}-day window is a {look} burn rate of {expected}: Checkstack derives it from the window"),
                ))
            }
            None => {
                return Err(DocumentError::at(
                    doc,
                    &format!("{field}.metadata.name"),
                    format!("{name:?}: the policies Checkstack represents are page-fast, page-medium, ticket and fast-burn"),
                ))
            }
        }
    }
    Ok(out)
}
