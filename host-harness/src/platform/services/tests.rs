//! The simulated platform's unit tests.

use super::*;

fn platform() -> SimulatedPlatform {
    let p = SimulatedPlatform::new(Clock::virtual_at(1_000));
    p.add_system("api", "Public API");
    p.add_system("db", "Primary DB");
    p.set_dependency("api", "db", true);
    p
}

fn call(p: &SimulatedPlatform, plugin: &str, procedure: &str, input: Value) -> Value {
    serde_json::from_str(&p.call(plugin, procedure, &input.to_string()).unwrap()).unwrap()
}

#[test]
fn health_is_effective_and_overrides_win() {
    let p = platform();
    assert_eq!(
        call(
            &p,
            "healthcheck",
            "getSystemHealthStatus",
            json!({"systemId": "db"})
        )["status"],
        "healthy"
    );
    p.set_override("db", true);
    assert_eq!(
        call(
            &p,
            "healthcheck",
            "getSystemHealthStatus",
            json!({"systemId": "db"})
        )["status"],
        "unhealthy"
    );
    p.set_health_service_down(true);
    assert!(p
        .call(
            "healthcheck",
            "getSystemHealthStatus",
            r#"{"systemId":"db"}"#
        )
        .is_err());
}

#[test]
fn dependencies_answer_both_directions() {
    let p = platform();
    let up = call(
        &p,
        "dependency",
        "getDependencies",
        json!({"systemId": "api", "direction": "upstream"}),
    );
    assert_eq!(up["dependencies"][0]["targetSystemId"], "db");
    let down = call(
        &p,
        "dependency",
        "getDependencies",
        json!({"systemId": "db", "direction": "downstream"}),
    );
    assert_eq!(down["dependencies"][0]["sourceSystemId"], "api");
    assert_eq!(p.downstreams("db"), ["api"]);
}

#[test]
fn names_history_and_unknowns() {
    let p = platform();
    assert_eq!(
        call(&p, "catalog", "getSystem", json!({"systemId": "db"}))["name"],
        "Primary DB"
    );
    p.set_health("db", HealthStatus::Unhealthy);
    p.clock.advance(std::time::Duration::from_secs(60)).unwrap();
    p.set_health("db", HealthStatus::Healthy);
    let runs = call(
        &p,
        "healthcheck",
        "getHistory",
        json!({"systemId": "db", "startDate": to_rfc3339(1_500), "statusFilter": ["healthy"], "limit": 1, "sortOrder": "asc"}),
    );
    assert_eq!(runs["runs"][0]["timestamp"], to_rfc3339(61_000));
    assert!(matches!(
        p.call("catalog", "getSystem", r#"{"systemId":"nope"}"#),
        Err(PluginError::NotFound(_))
    ));
    assert!(matches!(
        p.call("catalog", "getSystem", r#"{"bad": 1}"#),
        Err(PluginError::Invalid(_))
    ));
    assert!(matches!(
        p.call("billing", "charge", "{}"),
        Err(PluginError::NotFound(_))
    ));
}
