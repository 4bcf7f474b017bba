//! OpenSLO v1 (<https://github.com/OpenSLO/OpenSLO>) in and out of the SLO plugin.
//!
//! * [`documents`]: reading YAML files of one or more documents, and what a refused one says.
//! * [`import`]: an OpenSLO `SLO` (or a `Service`) as the plugin's GitOps `SLO` document; a
//!   document we cannot represent is refused naming the document, the field and why.
//! * [`export`]: every objective as an OpenSLO `SLO`, with a `Service` per system.
//! * [`validate`]: the offline check behind `slo-host validate`, for OpenSLO and GitOps files.
//!
//! The mapping (both ways): `metadata.name` is the GitOps document name (an objective not made
//! by a document is named by its id); `spec.service` is the catalog system; the objective's
//! window is a rolling `timeWindow` of `Nd`; `budgetingMethod` is `Timeslices` over one-minute
//! slices of the availability indicator (the Checkstack metric source: a minute is good when
//! the system is up); `objectives[0].target` is the target / 100; the dependency mode and the
//! budget thresholds travel as `checkstack.io/…` annotations; `alertPolicies` carry the
//! burn-rate alert tiers the window implies and the fast-burn multiplier.

pub mod documents;
pub mod export;
pub mod import;
pub mod validate;

/// The OpenSLO version we read and write.
pub const API_VERSION: &str = "openslo/v1";

/// The metric source type of the Checkstack availability indicator.
pub const METRIC_SOURCE: &str = "Checkstack";

/// Annotation: the objective's dependency mode (`strict` or `self-only`).
pub const DEPENDENCY_EXCLUSION: &str = "checkstack.io/dependency-exclusion";
/// Annotation: consumed budget percentage at which the budget state is `warning`.
pub const WARNING_PERCENT: &str = "checkstack.io/budget-warning-percent";
/// Annotation: consumed budget percentage at which the budget state is `critical`.
pub const CRITICAL_PERCENT: &str = "checkstack.io/budget-critical-percent";
/// Annotation: whether maintenance windows are left out of the budget.
pub const EXCLUDE_MAINTENANCE: &str = "checkstack.io/exclude-maintenance-windows";
/// Annotation: upstream systems whose outages never count (comma-separated ids).
pub const EXCLUDED_DEPENDENCIES: &str = "checkstack.io/excluded-dependencies";

/// The burn-rate alert tiers a window of `window_days` implies (SRE Workbook, as the plugin
/// computes them): (policy, severity, lookback, threshold).
pub fn alert_tiers(window_days: i64) -> Vec<(&'static str, &'static str, &'static str, f64)> {
    let w = (window_days * 24) as f64;
    vec![
        ("page-fast", "page", "1h", round(0.02 * w)),
        ("page-medium", "page", "6h", round(0.05 * w / 6.0)),
        ("ticket", "ticket", "3d", round(0.10 * w / 72.0)),
    ]
}

/// `x` rounded to 9 decimals: percentages and ratios converted both ways stay equal.
pub fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}
