//! The SLO component driven through its subscription, hook, job and entity exports in the real
//! host, with the simulated platform answering its calls. (The entity framework that turns
//! platform changes into these deliveries comes with the platform simulation.)

use std::time::Duration;

use serde_json::{json, Value};
use slo_host::bindings::types::{Actor, EntityChange, EntityOp, HookMeta, Job};
use slo_host::capabilities::outbox::OutboxEntry;
use slo_host::host::{Caller, PluginHost};
use slo_host::platform::HealthStatus;
use slo_tests::slo_host_on_platform;

fn admin() -> Caller {
    Caller::user("admin", &["slo.read", "slo.manage"])
}

fn rpc(host: &PluginHost, procedure: &str, input: Value) -> Value {
    serde_json::from_str(
        &host
            .call_rpc(procedure, &input.to_string(), &admin())
            .unwrap(),
    )
    .unwrap()
}

fn system_actor() -> Actor {
    Actor {
        kind: "system".into(),
        id: "system".into(),
        name: Some("System".into()),
    }
}

fn health_change(system: &str, prev: &str, next: &str, at: i64) -> EntityChange {
    let state = |s: &str| {
        json!({"status": s, "healthyChecks": u32::from(s == "healthy"), "totalChecks": 1})
            .to_string()
    };
    EntityChange {
        kind: "health".into(),
        id: system.into(),
        prev: Some(state(prev)),
        next: Some(state(next)),
        delta: json!({"status": next}).to_string(),
        changed_fields: vec!["healthyChecks".into(), "status".into()],
        actor: system_actor(),
        occurred_at: at,
        change_id: format!("{system}-{at}"),
    }
}

/// Delivers a health change to the three health subscriptions, in manifest order.
fn deliver_health(host: &PluginHost, system: &str, prev: &str, next: &str, at: i64) {
    let change = health_change(system, prev, next, at);
    for group in ["slo-system-down", "slo-system-up", "slo-upstream-down"] {
        host.deliver_entity_change(group, &change).unwrap();
    }
}

fn published_hooks(host: &PluginHost) -> Vec<(String, Value)> {
    host.published()
        .into_iter()
        .filter_map(|p| match p.entry {
            OutboxEntry::Hook { hook_id, payload } => {
                Some((hook_id, serde_json::from_str(&payload).unwrap()))
            }
            _ => None,
        })
        .collect()
}

/// A 30-minute self outage on a 99.9 %/30 d self-only objective: the golden numbers.
#[test]
fn a_thirty_minute_self_outage_through_the_subscriptions() {
    let (host, platform, clock) = slo_host_on_platform();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only"}),
    );
    let id = created["id"].as_str().unwrap().to_owned();

    platform.set_health("api", HealthStatus::Unhealthy);
    deliver_health(&host, "api", "healthy", "unhealthy", clock.now_ms());
    clock.advance(Duration::from_secs(30 * 60)).unwrap();
    platform.set_health("api", HealthStatus::Healthy);
    deliver_health(&host, "api", "unhealthy", "healthy", clock.now_ms());

    let status = rpc(&host, "getObjective", json!({"id": id}))["status"].clone();
    assert_eq!(status["errorBudgetConsumedMinutes"], 30.0);
    assert_eq!(
        status["errorBudgetRemainingPercent"], 30.555555555551607,
        "slo-behaviour.md §4.4 row 3"
    );
    assert_eq!(status["currentAvailability"], 99.93055555555556);
    assert_eq!(status["hasOpenDowntime"], false);
    let events = rpc(&host, "getDowntimeEvents", json!({"objectiveId": id}));
    assert_eq!(events["events"][0]["durationSeconds"], 1800.0);

    // recovery evaluated achievements: first_steps (F1 hook)
    let hooks = published_hooks(&host);
    assert!(hooks.contains(&(
        "slo.achievement.unlocked".into(),
        json!({"systemId": "api", "achievement": "first_steps"})
    )));
}

/// An upstream outage splits a self-only downstream's event and the budget stays whole.
#[test]
fn an_upstream_outage_is_attributed_to_the_upstream() {
    let (host, platform, clock) = slo_host_on_platform();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only"}),
    );
    let id = created["id"].as_str().unwrap().to_owned();
    // api goes down first, then its upstream db
    platform.set_health("api", HealthStatus::Unhealthy);
    deliver_health(&host, "api", "healthy", "unhealthy", clock.now_ms());
    clock.advance(Duration::from_secs(5 * 60)).unwrap();
    platform.set_health("db", HealthStatus::Unhealthy);
    deliver_health(&host, "db", "healthy", "unhealthy", clock.now_ms());
    clock.advance(Duration::from_secs(20 * 60)).unwrap();
    platform.set_health("db", HealthStatus::Healthy);
    platform.set_health("api", HealthStatus::Healthy);
    deliver_health(&host, "db", "unhealthy", "healthy", clock.now_ms());
    deliver_health(&host, "api", "unhealthy", "healthy", clock.now_ms());

    let status = rpc(&host, "getObjective", json!({"id": id}))["status"].clone();
    assert_eq!(
        status["errorBudgetConsumedMinutes"], 5.0,
        "only the 5 self minutes count"
    );
    assert_eq!(status["errorBudgetConsumedStrictMinutes"], 25.0);
    assert_eq!(
        status["attribution"][1],
        json!({"sourceType": "upstream", "systemId": "db", "systemName": "Primary DB", "minutes": 20.0})
    );
}

/// The entity through the component: `read` answers what `apply` stored (nothing before the
/// first apply), and a removal forgets it.
#[test]
fn the_slo_entity_reads_and_applies_through_the_component() {
    let (host, _platform, _clock) = slo_host_on_platform();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let ids = [id.clone(), "missing".into()];
    assert!(host.read_entities("slo", &ids).unwrap().is_empty());
    let applied = host
        .apply_entity("slo", &id, &EntityOp::Mutate(r#"{"refresh":true}"#.into()))
        .unwrap()
        .unwrap();
    let applied: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(applied["budgetRemainingPercent"], 100.0);
    assert_eq!(applied["burnAlert"], "none");
    let states = host.read_entities("slo", &ids).unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&states[0].state).unwrap(),
        applied
    );
    let removed = host
        .apply_entity("slo", &id, &EntityOp::Remove("{}".into()))
        .unwrap();
    assert!(removed.is_none());
    assert!(host.read_entities("slo", &ids).unwrap().is_empty());
    assert_eq!(
        host.read_entities("health", &[]).unwrap_err().code(),
        "not-found"
    );
}

/// The daily job through `on-job`, twice on one day (F23), then the weekly digest hook.
#[test]
fn jobs_run_through_the_component() {
    let (host, _platform, clock) = slo_host_on_platform();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "db", "target": 99.9, "windowDays": 30}),
    );
    let job = |queue: &str| Job {
        queue: queue.into(),
        consumer_group: "test".into(),
        id: format!("{queue}-1"),
        payload: r#"{"trigger":"scheduled"}"#.into(),
        attempt: 0,
        enqueued_at: clock.now_ms(),
    };
    host.deliver_job(&job("slo-daily-snapshots")).unwrap();
    host.deliver_job(&job("slo-daily-snapshots")).unwrap();
    let streaks = rpc(&host, "getStreaks", json!({}));
    assert_eq!(streaks["streaks"][0]["currentStreak"], 1);
    let snapshots = rpc(
        &host,
        "getDailySnapshots",
        json!({"objectiveId": created["id"], "startDate": "2026-01-01T00:00:00Z", "endDate": "2027-01-01T00:00:00Z"}),
    );
    assert_eq!(snapshots["snapshots"].as_array().unwrap().len(), 1);

    host.deliver_job(&job("slo-weekly-digest")).unwrap();
    let digest = published_hooks(&host)
        .into_iter()
        .find(|(h, _)| h == "slo.weekly.digest")
        .unwrap()
        .1;
    assert_eq!(digest["topPerformers"][0]["systemName"], "Primary DB");
    assert_eq!(
        host.deliver_job(&job("unknown-queue")).unwrap_err().code(),
        "not-found"
    );
}

/// The incident hook opens incident-sourced downtime while the override holds.
#[test]
fn the_incident_hook_opens_incident_downtime() {
    let (host, platform, clock) = slo_host_on_platform();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    );
    platform.set_override("api", true);
    let meta = HookMeta {
        emission_id: "e1".into(),
        actor: system_actor(),
        emitted_at: clock.now_ms(),
    };
    host.deliver_hook(
        "slo-incident-downtime",
        "incident.lifecycle.changed",
        r#"{"systemIds":["api"]}"#,
        &meta,
    )
    .unwrap();
    let events = rpc(
        &host,
        "getDowntimeEvents",
        json!({"objectiveId": created["id"]}),
    );
    assert_eq!(events["events"][0]["source"], "incident");
    let bad = host
        .deliver_hook(
            "slo-incident-downtime",
            "incident.lifecycle.changed",
            r#"{"nope":1}"#,
            &meta,
        )
        .unwrap_err();
    assert_eq!(bad.code(), "invalid");
}
