//! SLO objectives: the stored shape, the API shape and input validation (slo-behaviour.md §3).
//!
//! Validation reproduces the original schemas' rules and messages, prefixed with the field
//! name so that a caller knows which field to fix (`target: Target must be <= 100`).
//! Unknown input keys are ignored, as the original's schemas strip them.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::PluginError;
use super::time::to_rfc3339;

/// Largest window, in days (`SLO_MAX_WINDOW_DAYS`).
pub const MAX_WINDOW_DAYS: i64 = 3650;

/// Which downtime counts against the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DependencyExclusion {
    /// Count all downtime, whoever caused it.
    #[serde(rename = "strict")]
    Strict,
    /// Count only self-attributed downtime.
    #[serde(rename = "self-only")]
    SelfOnly,
}

impl DependencyExclusion {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyExclusion::Strict => "strict",
            DependencyExclusion::SelfOnly => "self-only",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "strict" => Some(DependencyExclusion::Strict),
            "self-only" => Some(DependencyExclusion::SelfOnly),
            _ => None,
        }
    }
}

/// Burn-rate alert thresholds stored with an objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRateThresholds {
    /// Consumed budget percentage at which the budget state becomes `warning` (0–100).
    pub warning_percent: f64,
    /// Consumed budget percentage at which the budget state becomes `critical` (0–100).
    pub critical_percent: f64,
    /// 1-hour burn rate at or above which `fastBurn` is set (≥ 1).
    pub fast_burn_multiplier: f64,
}

impl Default for BurnRateThresholds {
    fn default() -> Self {
        BurnRateThresholds {
            warning_percent: 50.0,
            critical_percent: 80.0,
            fast_burn_multiplier: 5.0,
        }
    }
}

/// A stored objective, as the API returns it (`SloObjective`).
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// UUID v4.
    pub id: String,
    /// The catalog system the objective tracks.
    pub system_id: String,
    /// Stored and returned only; never narrows the computation (kept on purpose).
    pub health_check_configuration_id: Option<String>,
    /// Target availability in percent, 0–100.
    pub target: f64,
    /// Rolling window length in days, 1–3650.
    pub window_days: i64,
    /// Which downtime counts.
    pub dependency_exclusion: DependencyExclusion,
    /// Upstream systems never blamed for this objective; `None` when stored as NULL.
    pub excluded_dependency_ids: Option<Vec<String>>,
    /// Whether maintenance windows are subtracted from downtime.
    pub exclude_maintenance_windows: bool,
    /// Alert thresholds.
    pub burn_rate_thresholds: BurnRateThresholds,
    /// Creation instant, epoch ms.
    pub created_at: i64,
    /// Last update instant, epoch ms.
    pub updated_at: i64,
}

impl Objective {
    /// The API JSON shape: camelCase, RFC 3339 dates, `excludedDependencyIds` omitted when NULL.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::from(self.id.clone()));
        out.insert("systemId".into(), Value::from(self.system_id.clone()));
        out.insert(
            "healthCheckConfigurationId".into(),
            self.health_check_configuration_id
                .clone()
                .map_or(Value::Null, Value::from),
        );
        out.insert("target".into(), Value::from(self.target));
        out.insert("windowDays".into(), Value::from(self.window_days));
        out.insert(
            "dependencyExclusion".into(),
            Value::from(self.dependency_exclusion.as_str()),
        );
        if let Some(ids) = &self.excluded_dependency_ids {
            out.insert("excludedDependencyIds".into(), Value::from(ids.clone()));
        }
        out.insert(
            "excludeMaintenanceWindows".into(),
            Value::from(self.exclude_maintenance_windows),
        );
        out.insert(
            "burnRateThresholds".into(),
            serde_json::to_value(self.burn_rate_thresholds).unwrap_or(Value::Null),
        );
        out.insert("createdAt".into(), Value::from(to_rfc3339(self.created_at)));
        out.insert("updatedAt".into(), Value::from(to_rfc3339(self.updated_at)));
        Value::Object(out)
    }
}

/// A validated `createObjective` input (`CreateSloObjectiveInput`) with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateObjective {
    /// Required, non-empty.
    pub system_id: String,
    /// Optional.
    pub health_check_configuration_id: Option<String>,
    /// 0–100.
    pub target: f64,
    /// 1–3650.
    pub window_days: i64,
    /// Default `strict`.
    pub dependency_exclusion: DependencyExclusion,
    /// Default `[]`.
    pub excluded_dependency_ids: Vec<String>,
    /// Default `false`.
    pub exclude_maintenance_windows: bool,
    /// Each field defaults individually to 50 / 80 / 5.
    pub burn_rate_thresholds: BurnRateThresholds,
}

impl CreateObjective {
    /// Validates a JSON input. Errors are `Invalid` and name the first offending field.
    pub fn from_json(input: &Value) -> Result<Self, PluginError> {
        let fields = Fields::of(input)?;
        let system_id = fields.required_string("systemId")?;
        if system_id.is_empty() {
            return Err(PluginError::invalid_field("systemId", "System is required"));
        }
        Ok(CreateObjective {
            system_id,
            health_check_configuration_id: fields.optional_string("healthCheckConfigurationId")?,
            target: validate_target(fields.required_number("target")?)?,
            window_days: validate_window_days(fields.required("windowDays")?)?,
            dependency_exclusion: fields
                .optional_exclusion("dependencyExclusion")?
                .unwrap_or(DependencyExclusion::Strict),
            excluded_dependency_ids: fields
                .optional_string_list("excludedDependencyIds")?
                .unwrap_or_default(),
            exclude_maintenance_windows: fields
                .optional_bool("excludeMaintenanceWindows")?
                .unwrap_or(false),
            burn_rate_thresholds: BurnRateInput::from_json(fields.get("burnRateThresholds"))?
                .applied_to(BurnRateThresholds::default()),
        })
    }
}

/// A validated `updateObjective` input (`UpdateSloObjectiveInput`): the id plus the fields to
/// change. `systemId` and `healthCheckConfigurationId` cannot be changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateObjective {
    /// The objective to update.
    pub id: String,
    /// New target, 0–100.
    pub target: Option<f64>,
    /// New window, 1–3650.
    pub window_days: Option<i64>,
    /// New mode.
    pub dependency_exclusion: Option<DependencyExclusion>,
    /// New excluded upstreams.
    pub excluded_dependency_ids: Option<Vec<String>>,
    /// New maintenance exclusion.
    pub exclude_maintenance_windows: Option<bool>,
    /// Threshold fields to change; omitted ones keep their stored values (F36).
    pub burn_rate_thresholds: BurnRateInput,
}

impl UpdateObjective {
    /// Validates a JSON input. Errors are `Invalid` and name the first offending field.
    pub fn from_json(input: &Value) -> Result<Self, PluginError> {
        let fields = Fields::of(input)?;
        let id = fields.required_string("id")?;
        Ok(UpdateObjective {
            id,
            target: match fields.get("target") {
                None | Some(Value::Null) => None,
                Some(_) => Some(validate_target(fields.required_number("target")?)?),
            },
            window_days: match fields.get("windowDays") {
                None | Some(Value::Null) => None,
                Some(v) => Some(validate_window_days(v)?),
            },
            dependency_exclusion: fields.optional_exclusion("dependencyExclusion")?,
            excluded_dependency_ids: fields.optional_string_list("excludedDependencyIds")?,
            exclude_maintenance_windows: fields.optional_bool("excludeMaintenanceWindows")?,
            burn_rate_thresholds: BurnRateInput::from_json(fields.get("burnRateThresholds"))?,
        })
    }

    /// `objective` with this update's fields applied at `now_ms`.
    pub fn applied_to(&self, objective: &Objective, now_ms: i64) -> Objective {
        Objective {
            target: self.target.unwrap_or(objective.target),
            window_days: self.window_days.unwrap_or(objective.window_days),
            dependency_exclusion: self
                .dependency_exclusion
                .unwrap_or(objective.dependency_exclusion),
            excluded_dependency_ids: self
                .excluded_dependency_ids
                .clone()
                .or_else(|| objective.excluded_dependency_ids.clone()),
            exclude_maintenance_windows: self
                .exclude_maintenance_windows
                .unwrap_or(objective.exclude_maintenance_windows),
            burn_rate_thresholds: self
                .burn_rate_thresholds
                .applied_to(objective.burn_rate_thresholds),
            updated_at: now_ms,
            ..objective.clone()
        }
    }
}

/// A partial `burnRateThresholds` object: each present field validated, absent ones `None`.
///
/// Creation fills absent fields from the defaults; an update keeps the stored values of the
/// fields it omits (decisions F36).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BurnRateInput {
    /// 0–100 when present.
    pub warning_percent: Option<f64>,
    /// 0–100 when present.
    pub critical_percent: Option<f64>,
    /// ≥ 1 when present.
    pub fast_burn_multiplier: Option<f64>,
}

impl BurnRateInput {
    /// Validates an optional JSON object (absent or `null` means "no change").
    pub fn from_json(value: Option<&Value>) -> Result<Self, PluginError> {
        let value = match value {
            None | Some(Value::Null) => return Ok(BurnRateInput::default()),
            Some(v) => v,
        };
        const FIELD: &str = "burnRateThresholds";
        let map = value
            .as_object()
            .ok_or_else(|| PluginError::invalid_field(FIELD, "expected an object"))?;
        let percent = |key: &str| -> Result<Option<f64>, PluginError> {
            let name = format!("{FIELD}.{key}");
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let n = finite_number(v, &name)?;
                    if n < 0.0 {
                        Err(PluginError::invalid_field(&name, "must be >= 0"))
                    } else if n > 100.0 {
                        Err(PluginError::invalid_field(&name, "must be <= 100"))
                    } else {
                        Ok(Some(n))
                    }
                }
            }
        };
        let warning_percent = percent("warningPercent")?;
        let critical_percent = percent("criticalPercent")?;
        let multiplier_name = format!("{FIELD}.fastBurnMultiplier");
        let fast_burn_multiplier = match map.get("fastBurnMultiplier") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = finite_number(v, &multiplier_name)?;
                if n < 1.0 {
                    return Err(PluginError::invalid_field(&multiplier_name, "must be >= 1"));
                }
                Some(n)
            }
        };
        Ok(BurnRateInput {
            warning_percent,
            critical_percent,
            fast_burn_multiplier,
        })
    }

    /// The thresholds with the present fields replacing those of `base`.
    pub fn applied_to(self, base: BurnRateThresholds) -> BurnRateThresholds {
        BurnRateThresholds {
            warning_percent: self.warning_percent.unwrap_or(base.warning_percent),
            critical_percent: self.critical_percent.unwrap_or(base.critical_percent),
            fast_burn_multiplier: self
                .fast_burn_multiplier
                .unwrap_or(base.fast_burn_multiplier),
        }
    }
}

/// Checks a target percentage: 0 ≤ target ≤ 100, with the original's messages.
pub fn validate_target(target: f64) -> Result<f64, PluginError> {
    if target < 0.0 {
        Err(PluginError::invalid_field("target", "Target must be >= 0"))
    } else if target > 100.0 {
        Err(PluginError::invalid_field(
            "target",
            "Target must be <= 100",
        ))
    } else {
        Ok(target)
    }
}

/// Checks a window length: an integer number of days, 1 ≤ days ≤ 3650 (`SloWindowDays`).
pub fn validate_window_days(value: &Value) -> Result<i64, PluginError> {
    const FIELD: &str = "windowDays";
    let n = finite_number(value, FIELD)?;
    if n.fract() != 0.0 {
        return Err(PluginError::invalid_field(
            FIELD,
            "Window must be a whole number of days",
        ));
    }
    if n < 1.0 {
        return Err(PluginError::invalid_field(
            FIELD,
            "Window must be at least 1 day",
        ));
    }
    if n > MAX_WINDOW_DAYS as f64 {
        return Err(PluginError::invalid_field(
            FIELD,
            "Window must be at most 3650 days",
        ));
    }
    // In range 1..=3650 and integral, so the conversion is exact.
    Ok(n as i64)
}

fn finite_number(value: &Value, field: &str) -> Result<f64, PluginError> {
    match value.as_f64() {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(PluginError::invalid_field(field, "expected a number")),
    }
}

/// Typed access to the fields of a JSON object input, with errors that name the field.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Wraps `input`, which must be a JSON object.
    pub fn of(input: &'a Value) -> Result<Self, PluginError> {
        input
            .as_object()
            .map(|map| Fields { map })
            .ok_or_else(|| PluginError::Invalid("input: expected a JSON object".into()))
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The raw value of `key`; an error when absent or null.
    pub fn required(&self, key: &str) -> Result<&'a Value, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Err(PluginError::invalid_field(key, "is required")),
            Some(v) => Ok(v),
        }
    }

    /// A required string.
    pub fn required_string(&self, key: &str) -> Result<String, PluginError> {
        self.required(key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PluginError::invalid_field(key, "expected a string"))
    }

    /// An optional string (absent or null gives `None`).
    pub fn optional_string(&self, key: &str) -> Result<Option<String>, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(PluginError::invalid_field(key, "expected a string")),
        }
    }

    /// A required finite number.
    pub fn required_number(&self, key: &str) -> Result<f64, PluginError> {
        finite_number(self.required(key)?, key)
    }

    /// An optional boolean.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(PluginError::invalid_field(key, "expected a boolean")),
        }
    }

    /// An optional array of strings.
    pub fn optional_string_list(&self, key: &str) -> Result<Option<Vec<String>>, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        PluginError::invalid_field(&format!("{key}.{i}"), "expected a string")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(PluginError::invalid_field(
                key,
                "expected an array of strings",
            )),
        }
    }

    /// An optional `dependencyExclusion` enum value.
    pub fn optional_exclusion(
        &self,
        key: &str,
    ) -> Result<Option<DependencyExclusion>, PluginError> {
        match self.optional_string(key)? {
            None => Ok(None),
            Some(s) => DependencyExclusion::parse(&s).map(Some).ok_or_else(|| {
                PluginError::invalid_field(key, "expected \"strict\" or \"self-only\"")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(input: Value) -> Result<CreateObjective, PluginError> {
        CreateObjective::from_json(&input)
    }

    #[test]
    fn applies_every_default() {
        let c = create(json!({"systemId": "api", "target": 99.9, "windowDays": 30})).unwrap();
        assert_eq!(c.dependency_exclusion, DependencyExclusion::Strict);
        assert!(c.excluded_dependency_ids.is_empty());
        assert!(!c.exclude_maintenance_windows);
        assert_eq!(c.burn_rate_thresholds, BurnRateThresholds::default());
        assert_eq!(c.health_check_configuration_id, None);
    }

    #[test]
    fn partial_thresholds_default_field_by_field() {
        let c = create(json!({"systemId": "api", "target": 99, "windowDays": 7,
            "burnRateThresholds": {"criticalPercent": 90}}))
        .unwrap();
        assert_eq!(
            c.burn_rate_thresholds,
            BurnRateThresholds {
                warning_percent: 50.0,
                critical_percent: 90.0,
                fast_burn_multiplier: 5.0
            }
        );
    }

    #[test]
    fn rejects_with_the_original_messages_naming_the_field() {
        let cases = [
            (
                json!({"systemId": "", "target": 99, "windowDays": 7}),
                "systemId: System is required",
            ),
            (
                json!({"target": 99, "windowDays": 7}),
                "systemId: is required",
            ),
            (
                json!({"systemId": "a", "target": -0.1, "windowDays": 7}),
                "target: Target must be >= 0",
            ),
            (
                json!({"systemId": "a", "target": 100.5, "windowDays": 7}),
                "target: Target must be <= 100",
            ),
            (
                json!({"systemId": "a", "target": "99", "windowDays": 7}),
                "target: expected a number",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 0}),
                "windowDays: Window must be at least 1 day",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 3651}),
                "windowDays: Window must be at most 3650 days",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 1.5}),
                "windowDays: Window must be a whole number of days",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 7, "dependencyExclusion": "loose"}),
                "dependencyExclusion: expected \"strict\" or \"self-only\"",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 7, "excludedDependencyIds": ["x", 3]}),
                "excludedDependencyIds.1: expected a string",
            ),
            (
                json!({"systemId": "a", "target": 99, "windowDays": 7, "burnRateThresholds": {"fastBurnMultiplier": 0.5}}),
                "burnRateThresholds.fastBurnMultiplier: must be >= 1",
            ),
            (json!([1, 2]), "input: expected a JSON object"),
        ];
        for (input, message) in cases {
            assert_eq!(
                create(input.clone()),
                Err(PluginError::Invalid(message.into())),
                "{input}"
            );
        }
    }

    #[test]
    fn window_bounds_are_inclusive() {
        assert_eq!(validate_window_days(&json!(1)), Ok(1));
        assert_eq!(validate_window_days(&json!(3650)), Ok(3650));
        assert_eq!(validate_target(0.0), Ok(0.0));
        assert_eq!(validate_target(100.0), Ok(100.0));
    }

    #[test]
    fn api_shape_omits_null_excluded_ids_and_formats_dates() {
        let o = Objective {
            id: "o1".into(),
            system_id: "api".into(),
            health_check_configuration_id: None,
            target: 99.9,
            window_days: 30,
            dependency_exclusion: DependencyExclusion::SelfOnly,
            excluded_dependency_ids: None,
            exclude_maintenance_windows: false,
            burn_rate_thresholds: BurnRateThresholds::default(),
            created_at: 1_780_272_000_000,
            updated_at: 1_780_272_000_000,
        };
        let v = o.to_json();
        assert!(v.get("excludedDependencyIds").is_none());
        assert_eq!(v["dependencyExclusion"], "self-only");
        assert_eq!(v["createdAt"], "2026-06-01T00:00:00.000Z");
        assert_eq!(v["healthCheckConfigurationId"], Value::Null);
    }
}
