//! The SLO component end to end in the real host: load (migrations, init), create and read
//! objectives through RPC, typed errors for bad input that write nothing, access rules.

use serde_json::{json, Value};
use slo_host::host::{Caller, PluginHost};
use slo_host::platform::HealthStatus;
use slo_host::runtime::{Failure, InvocationError};
use slo_tests::{database_contents, slo_host, slo_host_on_platform};

fn admin() -> Caller {
    Caller::user("admin", &["slo.read", "slo.manage"])
}

fn rpc(
    host: &PluginHost,
    procedure: &str,
    input: Value,
    caller: &Caller,
) -> Result<Value, InvocationError> {
    host.call_rpc(procedure, &input.to_string(), caller)
        .map(|out| serde_json::from_str(&out).expect("the plugin answers JSON"))
}

#[test]
fn loading_applies_the_migrations_once_with_the_unique_keys() {
    let host = slo_host();
    let plugin = host.plugin().unwrap();
    assert_eq!((plugin.id(), plugin.version()), ("slo", "0.1.0"));
    assert_eq!(
        plugin.migrations().applied,
        [
            "0000_slo_tables",
            "0001_slo_indexes",
            "0002_downtime_close_reason",
            "0003_slo_entity_states"
        ]
    );
    assert!(plugin.digest().starts_with("sha256:"));

    let tables: Vec<String> = database_contents(&host.services().database)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for table in [
        "slo_objectives",
        "slo_entity_states",
        "slo_downtime_events",
        "slo_daily_snapshots",
        "slo_streaks",
        "slo_achievements",
    ] {
        assert!(tables.contains(&table.to_owned()), "missing {table}");
    }
    // Loading the same component again finds everything applied.
    let again = host
        .load_bytes(slo_host::artifacts::SLO_PLUGIN_COMPONENT)
        .unwrap();
    assert!(again.migrations().applied.is_empty());
    assert_eq!(again.migrations().already_applied, 4);
}

#[test]
fn an_objective_is_created_and_read_back_through_the_component() {
    let host = slo_host();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30, "dependencyExclusion": "self-only",
               "burnRateThresholds": {"criticalPercent": 90}, "teamId": "ignored"}),
        &admin(),
    )
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID");
    assert_eq!(created["systemId"], "api");
    assert_eq!(created["target"], 99.9);
    assert_eq!(created["windowDays"], 30);
    assert_eq!(created["dependencyExclusion"], "self-only");
    assert_eq!(created["excludedDependencyIds"], json!([]));
    assert_eq!(created["excludeMaintenanceWindows"], false);
    assert_eq!(
        created["burnRateThresholds"],
        json!({"warningPercent": 50.0, "criticalPercent": 90.0, "fastBurnMultiplier": 5.0})
    );
    assert_eq!(created["createdAt"], "2026-06-01T00:00:00.000Z");
    assert_eq!(created["healthCheckConfigurationId"], Value::Null);

    let read = rpc(
        &host,
        "getObjective",
        json!({"id": id}),
        &Caller::user("r", &["slo.read"]),
    )
    .unwrap();
    assert_eq!(read["objective"], created);
    let status = &read["status"];
    assert_eq!(status["objectiveId"], id.as_str());
    assert_eq!(
        status["errorBudgetTotalMinutes"], 43.199999999997544,
        "slo-behaviour.md §4.4 row 1"
    );
    assert_eq!(status["errorBudgetRemainingPercent"], 100.0);
    assert_eq!(status["currentAvailability"], 100.0);
    assert_eq!(status["burnRate"], 0.0);
    assert_eq!(status["isBreaching"], false);
    assert_eq!(status["hasOpenDowntime"], false);
    assert_eq!(status["attribution"], json!([]));

    let list = rpc(&host, "listObjectives", json!({}), &admin()).unwrap();
    assert_eq!(list["objectives"].as_array().unwrap().len(), 1);
}

#[test]
fn an_unknown_objective_reads_as_null() {
    let host = slo_host();
    assert_eq!(
        rpc(&host, "getObjective", json!({"id": "nope"}), &admin()).unwrap(),
        Value::Null
    );
}

#[test]
fn invalid_input_is_a_typed_error_naming_the_field_and_writes_nothing() {
    let host = slo_host();
    let before = database_contents(&host.services().database);
    let cases = [
        (
            json!({"systemId": "api", "target": 150, "windowDays": 30}),
            "target: Target must be <= 100",
        ),
        (
            json!({"systemId": "api", "target": 99, "windowDays": 0}),
            "windowDays: Window must be at least 1 day",
        ),
        (
            json!({"systemId": "", "target": 99, "windowDays": 7}),
            "systemId: System is required",
        ),
        (
            json!({"target": 99, "windowDays": 7}),
            "systemId: is required",
        ),
        (
            json!({"systemId": "a", "target": 99, "windowDays": 7, "dependencyExclusion": "x"}),
            "dependencyExclusion",
        ),
    ];
    for (input, message) in cases {
        let error = rpc(&host, "createObjective", input.clone(), &admin()).expect_err("invalid");
        assert_eq!(error.code(), "invalid", "{input}");
        let text = error.failure.plugin_error().unwrap().message().to_owned();
        assert!(text.contains(message), "{input}: {text}");
    }
    assert_eq!(database_contents(&host.services().database), before);
    assert!(host.published().is_empty());
}

#[test]
fn malformed_json_and_unknown_procedures_never_reach_the_plugin() {
    let host = slo_host();
    let bad = host
        .call_rpc("createObjective", "{not json", &admin())
        .unwrap_err();
    assert!(
        matches!(&bad.failure, Failure::Rejected { error } if error.code() == "invalid"),
        "{bad}"
    );
    let unknown = host.call_rpc("dropEverything", "{}", &admin()).unwrap_err();
    assert_eq!(unknown.code(), "not-found");
    assert!(unknown.to_string().contains("dropEverything"));
}

#[test]
fn access_rules_are_checked_before_the_plugin_runs() {
    let host = slo_host();
    let input = json!({"systemId": "api", "target": 99, "windowDays": 7});
    let reader = rpc(
        &host,
        "createObjective",
        input.clone(),
        &Caller::user("r", &["slo.read"]),
    )
    .unwrap_err();
    assert_eq!(reader.code(), "denied");
    assert!(reader.to_string().contains("slo.manage"), "{reader}");
    let anonymous = rpc(
        &host,
        "createObjective",
        input,
        &Caller::anonymous(&["slo.read"]),
    )
    .unwrap_err();
    assert_eq!(anonymous.code(), "denied");
    // A public read works for an anonymous caller holding the public rule.
    assert!(rpc(
        &host,
        "listObjectives",
        json!({}),
        &Caller::anonymous(&["slo.read"])
    )
    .is_ok());
    assert_eq!(
        rpc(&host, "listObjectives", json!({}), &Caller::anonymous(&[]))
            .unwrap_err()
            .code(),
        "denied"
    );
}

#[test]
fn the_component_imports_only_the_contract_and_wasi() {
    let host = slo_host();
    let plugin = host.plugin().unwrap();
    let imports = slo_host::inspect::imports(host.runtime(), plugin.compiled()).unwrap();
    assert!(!imports.is_empty());
    for name in &imports {
        assert!(
            name.starts_with("checkstack:plugin/") || name.starts_with("wasi:"),
            "unexpected import {name}"
        );
    }
    // Contract 0.2.0: the daily job reads its deadline from the per-call context.
    assert!(
        imports.contains(&"checkstack:plugin/context@0.2.0".to_owned()),
        "{imports:?}"
    );
    let exports = slo_host::inspect::exports(host.runtime(), plugin.compiled()).unwrap();
    for export in [
        "manifest",
        "lifecycle",
        "entity-provider",
        "handlers",
        "rpc",
        "gitops",
    ] {
        assert!(
            exports.contains(&format!("checkstack:plugin/{export}@0.2.0")),
            "{exports:?}"
        );
    }
}

#[test]
fn an_objective_created_during_an_outage_counts_it_exactly() {
    let (host, platform, clock) = slo_host_on_platform();
    platform.set_health("db", HealthStatus::Unhealthy);
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "db", "target": 99.5, "windowDays": 7}),
        &admin(),
    )
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    clock
        .advance(std::time::Duration::from_secs(30 * 60))
        .unwrap();

    let read = rpc(&host, "getObjective", json!({"id": id}), &admin()).unwrap();
    let status = &read["status"];
    assert_eq!(status["errorBudgetTotalMinutes"], 50.4);
    assert_eq!(status["errorBudgetConsumedMinutes"], 30.0);
    assert_eq!(status["errorBudgetRemainingPercent"], 40.476190476190474);
    assert_eq!(status["hasOpenDowntime"], true);
    assert_eq!(
        status["attribution"],
        json!([{"sourceType": "self", "minutes": 30.0}])
    );

    let signals: Vec<_> = host
        .published()
        .into_iter()
        .filter(|p| {
            matches!(
                &p.entry,
                slo_host::capabilities::outbox::OutboxEntry::Signal { signal_id, .. } if signal_id == "slo.status.changed"
            )
        })
        .collect();
    assert_eq!(signals.len(), 1, "F19: the open broadcast the status once");
}

/// decisions.md F11: with the health service down, open downtime keeps counting.
#[test]
fn f11_an_unreachable_health_service_keeps_the_outage_counting() {
    let (host, platform, clock) = slo_host_on_platform();
    platform.set_health("db", HealthStatus::Unhealthy);
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "db", "target": 99.5, "windowDays": 7}),
        &admin(),
    )
    .unwrap();
    clock
        .advance(std::time::Duration::from_secs(10 * 60))
        .unwrap();
    platform.set_health_service_down(true);
    let read = rpc(
        &host,
        "getObjective",
        json!({"id": created["id"]}),
        &admin(),
    )
    .unwrap();
    assert_eq!(read["status"]["errorBudgetConsumedMinutes"], 10.0);
    assert_eq!(read["status"]["hasOpenDowntime"], true);
}

/// Every procedure that takes input answers a typed `invalid` error naming the field for bad
/// input, and writes and publishes nothing.
#[test]
fn invalid_input_on_every_procedure_is_typed_and_writes_nothing() {
    let host = slo_host();
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99, "windowDays": 7}),
        &admin(),
    )
    .unwrap();
    let id = created["id"].clone();
    let before = database_contents(&host.services().database);
    let published = host.published().len();
    let cases = [
        ("getObjective", json!({"id": 5}), "id"),
        ("getObjectivesForSystem", json!({}), "systemId"),
        (
            "getBulkObjectivesForSystems",
            json!({"systemIds": "api"}),
            "systemIds",
        ),
        (
            "createObjective",
            json!({"systemId": "api", "target": "high", "windowDays": 7}),
            "target",
        ),
        (
            "updateObjective",
            json!({"id": id, "target": 101}),
            "target",
        ),
        (
            "updateObjective",
            json!({"id": id, "excludedDependencyIds": [1]}),
            "excludedDependencyIds.0",
        ),
        ("deleteObjective", json!({}), "id"),
        (
            "getDowntimeEvents",
            json!({"objectiveId": id, "limit": -1}),
            "limit",
        ),
        (
            "getDailySnapshots",
            json!({"objectiveId": id, "startDate": "2026-06-01T00:00:00Z", "endDate": "soon"}),
            "endDate",
        ),
        ("getAchievements", json!({"systemId": 7}), "systemId"),
        ("getRecentMilestones", json!({"limit": 5000}), "limit"),
        (
            "getSystemSignals",
            json!({"systemIds": [true]}),
            "systemIds.0",
        ),
        (
            "getBudgetCurve",
            json!({"objectiveId": id, "points": 1001}),
            "points",
        ),
        (
            "getBudgetCurve",
            json!({"objectiveId": id, "at": ["2026-06-01T00:00:00Z", "later"]}),
            "at[1]",
        ),
    ];
    for (procedure, input, field) in cases {
        let error = rpc(&host, procedure, input.clone(), &admin()).expect_err(procedure);
        assert_eq!(error.code(), "invalid", "{procedure} {input}");
        let message = error.failure.plugin_error().unwrap().message().to_owned();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{procedure}: {message}"
        );
    }
    assert_eq!(database_contents(&host.services().database), before);
    assert_eq!(host.published().len(), published);
}
