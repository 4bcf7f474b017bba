//! The entity kinds the simulated platform's own modules own: `health` (healthcheck,
//! host-contract.md §4.3) and `catalog-system` (catalog, §5), with their state shapes, schemas
//! and the reference change derivers of §2.

use serde_json::{json, Value};

use super::services::HealthStatus;
use crate::capabilities::platform::NativeKind;

/// Kind of a system's health.
pub const HEALTH: &str = "health";
/// Kind of a catalog system.
pub const CATALOG_SYSTEM: &str = "catalog-system";

const HEALTH_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "status": {"enum": ["healthy", "degraded", "unhealthy"]},
    "healthyChecks": {"type": "integer", "minimum": 0},
    "totalChecks": {"type": "integer", "minimum": 0}
  },
  "required": ["status", "healthyChecks", "totalChecks"]
}"#;

const CATALOG_SYSTEM_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "description": {"type": ["string", "null"]},
    "metadata": {"type": "object"}
  },
  "required": ["name", "description", "metadata"]
}"#;

/// Every trigger event id the platform's derivers produce.
pub const DERIVED_EVENTS: &[&str] = &[
    "healthcheck.system_healthy",
    "healthcheck.system_degraded",
    "healthcheck.system_health_changed",
    "catalog.created",
    "catalog.updated",
    "catalog.deleted",
];

/// Both kinds, for the host's entity registry.
pub fn kinds() -> Vec<NativeKind> {
    vec![
        NativeKind {
            module: "healthcheck",
            kind: HEALTH,
            schema: HEALTH_SCHEMA,
            deriver: Some(derive_health),
        },
        NativeKind {
            module: "catalog",
            kind: CATALOG_SYSTEM,
            schema: CATALOG_SYSTEM_SCHEMA,
            deriver: Some(derive_catalog_system),
        },
    ]
}

/// A system's health entity with its one enabled check.
pub fn health_state(status: HealthStatus) -> Value {
    let healthy = u32::from(status == HealthStatus::Healthy);
    json!({ "status": status.as_str(), "healthyChecks": healthy, "totalChecks": 1 })
}

/// A catalog system's entity (no description, empty metadata, as the catalog normalises them).
pub fn catalog_state(name: &str) -> Value {
    json!({ "name": name, "description": null, "metadata": {} })
}

/// §2 health deriver: no events on create, tombstone or an unchanged status; else
/// `system_healthy` or (from healthy) `system_degraded`, then always `system_health_changed`.
pub fn derive_health(prev: Option<&Value>, next: Option<&Value>) -> Vec<String> {
    fn status(state: Option<&Value>) -> Option<&str> {
        state?.get("status")?.as_str()
    }
    let (Some(before), Some(after)) = (status(prev), status(next)) else {
        return Vec::new();
    };
    if before == after {
        return Vec::new();
    }
    let mut events = Vec::new();
    if after == "healthy" {
        events.push("healthcheck.system_healthy".to_owned());
    } else if before == "healthy" {
        events.push("healthcheck.system_degraded".to_owned());
    }
    events.push("healthcheck.system_health_changed".to_owned());
    events
}

/// §2 catalog-system deriver: created, deleted or updated.
pub fn derive_catalog_system(prev: Option<&Value>, next: Option<&Value>) -> Vec<String> {
    let event = match (prev, next) {
        (None, Some(_)) => "catalog.created",
        (Some(_), None) => "catalog.deleted",
        _ => "catalog.updated",
    };
    vec![event.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_deriver_follows_the_reference_table() {
        let h = |s: HealthStatus| health_state(s);
        let (healthy, degraded, down) = (
            h(HealthStatus::Healthy),
            h(HealthStatus::Degraded),
            h(HealthStatus::Unhealthy),
        );
        assert_eq!(
            derive_health(Some(&healthy), Some(&down)),
            [
                "healthcheck.system_degraded",
                "healthcheck.system_health_changed"
            ]
        );
        assert_eq!(
            derive_health(Some(&degraded), Some(&healthy)),
            [
                "healthcheck.system_healthy",
                "healthcheck.system_health_changed"
            ]
        );
        assert_eq!(
            derive_health(Some(&degraded), Some(&down)),
            ["healthcheck.system_health_changed"]
        );
        assert!(derive_health(None, Some(&down)).is_empty());
        assert!(derive_health(Some(&down), None).is_empty());
        assert!(derive_health(Some(&down), Some(&down)).is_empty());
    }

    #[test]
    fn the_catalog_deriver_names_creates_deletes_and_updates() {
        let s = catalog_state("API");
        assert_eq!(derive_catalog_system(None, Some(&s)), ["catalog.created"]);
        assert_eq!(derive_catalog_system(Some(&s), None), ["catalog.deleted"]);
        assert_eq!(
            derive_catalog_system(Some(&s), Some(&s)),
            ["catalog.updated"]
        );
    }
}
