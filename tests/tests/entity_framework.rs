//! The entity framework against a real component (the fixture's `probe` kind): the mutate
//! pipeline and each row of the host-contract §1.9 failure matrix as it applies to our
//! single-transaction pipeline (decisions §3), load-time registration checks, delivery modes,
//! retries and dead letters, reordering, derivers and trigger events.

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::{json, Value};
use slo_host::artifacts;
use slo_host::bindings::types::EntityOp;
use slo_host::capabilities::entities::{
    self, log, ChangeActor, ChangeEvent, MutationError, MutationRequest,
};
use slo_host::capabilities::platform::{NativeKind, PlatformServices};
use slo_host::capabilities::sql::Database;
use slo_host::host::{LoadError, PluginHost};
use slo_host::platform::simulation::SimulationOptions;
use slo_host::platform::{HealthStatus, Simulation};
use slo_host::runtime::PluginError;
use slo_tests::{call, deliveries, fixture_host, test_config};

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(artifacts::MISBEHAVING_FIXTURE_PATH).expect("fixture component")
}

fn request(id: &str, op: Value) -> MutationRequest {
    let text = op.to_string();
    MutationRequest {
        kind: "probe".into(),
        id: id.into(),
        op: if op["remove"].as_bool() == Some(true) {
            EntityOp::Remove(text)
        } else {
            EntityOp::Mutate(text)
        },
        actor: ChangeActor::system(),
    }
}

/// Runs a mutation; the emitted events are collected in `emitted`.
fn mutate(
    host: &PluginHost,
    id: &str,
    op: Value,
    emitted: &RefCell<Vec<ChangeEvent>>,
) -> Result<Option<ChangeEvent>, MutationError> {
    entities::mutate(
        host,
        &request(id, op),
        Box::new(|_conn, event| {
            emitted.borrow_mut().extend(event.cloned());
            Ok(())
        }),
    )
    .map(|outcome| outcome.change)
}

fn stored_value(host: &PluginHost, id: &str) -> Option<i64> {
    let conn = host.services().database.checkout().unwrap();
    conn.as_sqlite()
        .expect("a SQLite database")
        .query_row("SELECT value FROM probe_entities WHERE id = ?", [id], |r| {
            r.get(0)
        })
        .ok()
}

fn transitions(host: &PluginHost, id: &str) -> i64 {
    log::transition_count(&host.services().database, "probe", id, "value").unwrap()
}

fn changes(host: &PluginHost, id: &str) -> i64 {
    log::change_count(&host.services().database, "probe", id).unwrap()
}

fn applies(host: &PluginHost) -> u64 {
    host.invocation_counts()
        .by_export
        .get("entity-provider.apply")
        .copied()
        .unwrap_or(0)
}

#[test]
fn create_update_and_remove_record_history_and_emit_the_contract_shapes() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    let created = mutate(&host, "a", json!({"value": 1}), &emitted)
        .unwrap()
        .expect("a create is a change");
    assert_eq!(created.prev, None);
    assert_eq!(created.next, Some(json!({"value": 1})));
    assert_eq!(created.delta, json!({"value": 1}));
    assert_eq!(created.changed_fields, ["value"]);
    assert_eq!(created.actor, ChangeActor::system());
    let updated = mutate(&host, "a", json!({"value": 2}), &emitted)
        .unwrap()
        .unwrap();
    assert_eq!(updated.prev, Some(json!({"value": 1})));
    assert_eq!(updated.delta, json!({"value": 2}));
    assert_ne!(updated.change_id, created.change_id);
    assert_eq!(transitions(&host, "a"), 2);

    let removed = mutate(&host, "a", json!({"remove": true}), &emitted)
        .unwrap()
        .unwrap();
    assert_eq!(removed.prev, Some(json!({"value": 2})));
    assert_eq!(removed.next, None);
    assert_eq!(removed.delta, json!({}));
    assert_eq!(removed.changed_fields, ["value"]);
    assert_eq!(
        transitions(&host, "a"),
        2,
        "a tombstone writes no transition"
    );
    assert_eq!(stored_value(&host, "a"), None);
    // removing an absent entity is a no-op
    assert_eq!(
        mutate(&host, "a", json!({"remove": true}), &emitted).unwrap(),
        None
    );
    assert_eq!(emitted.borrow().len(), 3);
    assert_eq!(changes(&host, "a"), 3);
}

/// §1.9 row 1: a failing prev read stops the pipeline before `apply`.
#[test]
fn a_failing_read_skips_apply_and_leaves_nothing() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    let before = applies(&host);
    let error = mutate(&host, "read-fails", json!({"value": 1}), &emitted).unwrap_err();
    assert!(matches!(error, MutationError::Read { .. }), "{error}");
    assert!(error.to_string().contains("apply did not run"), "{error}");
    assert_eq!(applies(&host), before, "apply must not run");
    assert_eq!(stored_value(&host, "read-fails"), None);
    assert_eq!(changes(&host, "read-fails"), 0);
    assert!(emitted.borrow().is_empty());
}

/// §1.9 row 2: a failing `apply` rolls back its own write.
#[test]
fn a_failing_apply_rolls_back_its_write() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    let error = mutate(&host, "a", json!({"value": 4, "fail": true}), &emitted).unwrap_err();
    let MutationError::Apply(e) = &error else {
        panic!("{error}")
    };
    assert!(e.to_string().contains("apply fails on purpose"), "{e}");
    assert_eq!(stored_value(&host, "a"), None);
    assert_eq!((transitions(&host, "a"), changes(&host, "a")), (0, 0));
    assert!(emitted.borrow().is_empty());
}

/// §1.9 row 3, changed on purpose: a state that breaks the declared schema fails the whole
/// transaction, the plugin's write included (the original kept the write without an event).
#[test]
fn a_state_that_breaks_the_schema_is_rejected_with_the_field_and_nothing_is_kept() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    let error = mutate(&host, "a", json!({"value": 4, "invalid": true}), &emitted).unwrap_err();
    let MutationError::Apply(e) = &error else {
        panic!("{error}")
    };
    assert_eq!(e.code(), "invalid");
    assert!(
        e.to_string()
            .contains("the state of probe/a does not match its schema: /value:"),
        "{e}"
    );
    assert_eq!(stored_value(&host, "a"), None);
    assert_eq!((transitions(&host, "a"), changes(&host, "a")), (0, 0));
    assert!(emitted.borrow().is_empty());
}

/// §1.9 row 4: no structural change keeps the write and emits nothing.
#[test]
fn an_unchanged_state_commits_the_write_without_history_or_event() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    mutate(&host, "a", json!({"value": 5}), &emitted).unwrap();
    let again = mutate(&host, "a", json!({"value": 5}), &emitted).unwrap();
    assert_eq!(again, None);
    assert_eq!(stored_value(&host, "a"), Some(5));
    assert_eq!((transitions(&host, "a"), changes(&host, "a")), (1, 1));
    assert_eq!(emitted.borrow().len(), 1);
}

/// §1.9 row 5, changed on purpose: a failing history append rolls back the plugin's write
/// too (one transaction), where the original kept the write.
#[test]
fn a_failing_transition_append_rolls_everything_back() {
    let host = fixture_host();
    let emitted = RefCell::new(Vec::new());
    host.services()
        .database
        .checkout()
        .unwrap()
        .as_sqlite()
        .expect("a SQLite database")
        .execute_batch("DROP TABLE _host_entity_transitions")
        .unwrap();
    let error = mutate(&host, "a", json!({"value": 6}), &emitted).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("appending the transition rows failed"),
        "{error}"
    );
    assert_eq!(stored_value(&host, "a"), None);
    assert_eq!(changes(&host, "a"), 0);
    assert!(emitted.borrow().is_empty());
}

/// §1.9 row 6, changed on purpose: a failing emit rolls back the write and the history.
#[test]
fn a_failing_emit_rolls_everything_back() {
    let host = fixture_host();
    let error = entities::mutate(
        &host,
        &request("a", json!({"value": 7})),
        Box::new(|_conn, _event| Err("the change queue is down".into())),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("emitting the change failed, nothing was kept: the change queue is down"),
        "{error}"
    );
    assert_eq!(stored_value(&host, "a"), None);
    assert_eq!((transitions(&host, "a"), changes(&host, "a")), (0, 0));
}

#[test]
fn kinds_the_serving_plugin_does_not_own_are_refused() {
    let host = fixture_host();
    let mut unknown = request("a", json!({}));
    unknown.kind = "nope".into();
    let error = entities::mutate(&host, &unknown, Box::new(|_, _| Ok(()))).unwrap_err();
    assert_eq!(error.to_string(), "entity kind \"nope\" is not registered");
    let mut native = request("api", json!({}));
    native.kind = "health".into();
    let on_platform = PluginHost::with_platform(
        test_config(),
        Database::in_memory().unwrap(),
        Arc::new(slo_host::platform::SimulatedPlatform::new(
            test_config().clock,
        )),
    )
    .unwrap();
    on_platform.load_bytes(&fixture_bytes()).unwrap();
    let error = entities::mutate(&on_platform, &native, Box::new(|_, _| Ok(()))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entity kind \"health\" belongs to platform module healthcheck, not to the serving plugin"
    );
}

/// A platform that claims the kind `probe` for one of its own modules.
struct ClaimsProbe;

impl PlatformServices for ClaimsProbe {
    fn call(&self, plugin: &str, _procedure: &str, _input: &str) -> Result<String, PluginError> {
        Err(PluginError::NotFound(plugin.into()))
    }
    fn entity_kinds(&self) -> Vec<NativeKind> {
        vec![NativeKind {
            module: "inventory",
            kind: "probe",
            schema: r#"{"type":"object"}"#,
            deriver: None,
        }]
    }
}

/// §1.1: a kind is unique across the platform; the refused load leaves nothing registered,
/// migrated or loaded.
#[test]
fn a_plugin_declaring_a_kind_the_platform_owns_is_refused_at_load() {
    let host = PluginHost::with_platform(
        test_config(),
        Database::in_memory().unwrap(),
        Arc::new(ClaimsProbe),
    )
    .unwrap();
    let error = host.load_bytes(&fixture_bytes()).map(|_| ()).unwrap_err();
    assert!(matches!(error, LoadError::Entities(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "cannot register the plugin's entities: entity kind \"probe\" is already registered by platform module inventory"
    );
    assert!(host.plugin().is_none());
    assert!(host
        .trigger_registry()
        .get("misbehaving.happened")
        .is_none());
    let tables: i64 = host
        .services()
        .database
        .checkout()
        .unwrap()
        .as_sqlite()
        .expect("a SQLite database")
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'probe_entities'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "no migration ran");
}

#[test]
fn a_loaded_plugin_registers_its_kinds_derivers_and_qualified_triggers() {
    let host = fixture_host();
    assert!(host.entity_registry().kind("probe").is_some());
    assert_eq!(host.entity_registry().derivers("probe").len(), 1);
    let registry = host.trigger_registry();
    let trigger = registry.get("misbehaving.happened").expect("qualified id");
    assert_eq!(trigger.hook, "fixture.happened");
    assert_eq!(trigger.category, "Uncategorized");
    assert_eq!(
        trigger.payload_schema["properties"]["tag"]["type"],
        "string"
    );
}

fn simulation(options: SimulationOptions) -> Simulation {
    Simulation::start_with(
        test_config(),
        Database::in_memory().unwrap(),
        &fixture_bytes(),
        options,
    )
    .unwrap()
}

/// §3.3: work-queue once per worker group, broadcast once per simulated instance.
#[test]
fn work_queue_delivers_once_and_broadcast_once_per_instance() {
    let mut sim = simulation(SimulationOptions {
        instances: 3,
        ..SimulationOptions::default()
    });
    call(&sim, "mutate", json!({"id": "a", "value": 1}));
    sim.settle().unwrap();
    assert_eq!(deliveries(&sim, "probe-queue").len(), 1);
    let broadcast = deliveries(&sim, "probe-broadcast");
    assert_eq!(broadcast.len(), 3);
    assert!(broadcast
        .iter()
        .all(|d| d["changeId"] == broadcast[0]["changeId"]));
    assert!(sim.queue().dead_letters().unwrap().is_empty());
}

/// Decisions §3: a failing (or trapping) handler is retried per `maxRetries` with 2^n s
/// backoff on the virtual clock, then recorded as a dead letter; other groups are unaffected.
#[test]
fn failing_handlers_are_retried_with_backoff_then_dead_lettered() {
    let mut sim = simulation(SimulationOptions::default());
    let attempts = |sim: &Simulation| {
        sim.host()
            .invocation_counts()
            .by_export
            .get("handlers.on-entity-change")
            .copied()
            .unwrap_or(0)
    };
    for (id, value) in [("unlucky", 13), ("trap", 666)] {
        let before = attempts(&sim);
        call(&sim, "mutate", json!({"id": id, "value": value}));
        sim.settle().unwrap();
        // the first attempt and the broadcast copy ran; retries wait 1 s, then 2 s
        assert_eq!(attempts(&sim) - before, 2, "{id}");
        let now = sim.clock().now_ms();
        sim.advance_to(now + 999).unwrap();
        assert_eq!(attempts(&sim) - before, 2, "{id}: no retry before 1 s");
        sim.advance_to(now + 1_000).unwrap();
        assert_eq!(attempts(&sim) - before, 3, "{id}: first retry at 1 s");
        sim.advance_to(now + 3_000).unwrap();
        assert_eq!(attempts(&sim) - before, 4, "{id}: second retry 2 s later");
        sim.advance_to(now + 60_000).unwrap();
        assert_eq!(
            attempts(&sim) - before,
            4,
            "{id}: maxRetries 2 means 3 attempts"
        );
    }
    let dead = sim.queue().dead_letters().unwrap();
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .all(|d| d.delivery.consumer_group == "probe-queue"));
    assert!(
        dead[0].error.contains("unlucky value 13"),
        "{}",
        dead[0].error
    );
    assert!(dead[1].error.contains("trap"), "{}", dead[1].error);
    // the broadcast copies were delivered once each and never failed
    assert_eq!(deliveries(&sim, "probe-broadcast").len(), 2);
}

fn queue_order(options: SimulationOptions) -> Vec<i64> {
    let mut sim = simulation(options);
    for value in [1, 2, 3] {
        call(&sim, "mutate", json!({"id": "a", "value": value}));
    }
    sim.settle().unwrap();
    deliveries(&sim, "probe-queue")
        .iter()
        .map(|d| d["value"].as_i64().unwrap())
        .collect()
}

/// Delivery order per group is publication order; the reorder fault reverses it.
#[test]
fn a_group_receives_changes_in_publication_order_unless_reordered() {
    assert_eq!(queue_order(SimulationOptions::default()), [1, 2, 3]);
    let reordered = queue_order(SimulationOptions {
        reorder_deliveries: true,
        ..SimulationOptions::default()
    });
    assert_eq!(reordered, [3, 2, 1]);
}

/// §2: derivers run per change (platform and plugin ones), a failing deriver is skipped, the
/// result is de-duplicated; a hook fires the triggers it backs, with their context key.
#[test]
fn derivers_and_hooks_produce_trigger_events() {
    let mut sim = simulation(SimulationOptions::default());
    call(&sim, "mutate", json!({"id": "a", "value": 1}));
    call(&sim, "mutate", json!({"id": "derive-fails", "value": 1}));
    sim.settle().unwrap();
    sim.add_system("api", "Public API").unwrap();
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    call(&sim, "write", json!({}));
    sim.settle().unwrap();
    let events: Vec<(String, String, Option<String>)> = sim
        .records()
        .trigger_events
        .iter()
        .map(|t| (t.trigger.clone(), t.source.clone(), t.context_key.clone()))
        .collect();
    let e = |t: &str, s: &str, c: Option<&str>| (t.to_owned(), s.to_owned(), c.map(str::to_owned));
    assert_eq!(
        events,
        [
            e("misbehaving.probe.changed", "probe:a", None),
            e("catalog.created", "catalog-system:api", None),
            e("healthcheck.system_degraded", "health:api", None),
            e("healthcheck.system_health_changed", "health:api", None),
            e("misbehaving.happened", "hook:fixture.happened", Some("ok")),
        ]
    );
    // the change whose deriver failed was still recorded and delivered
    assert!(sim
        .records()
        .entity_changes
        .iter()
        .any(|c| c.id == "derive-fails"));
}

/// A trigger automation runs on each event of its trigger at which its condition holds.
#[test]
fn trigger_automations_run_when_their_condition_holds() {
    let mut sim = simulation(SimulationOptions::default());
    sim.add_system("api", "Public API").unwrap();
    sim.register_automation(
        "probe-big",
        Some(&json!("state.probe.a.value > 10")),
        Some("misbehaving.probe.changed"),
        None,
    )
    .unwrap();
    sim.register_automation("api-down", None, Some("healthcheck.system_degraded"), None)
        .unwrap();
    for value in [1, 20, 30] {
        call(&sim, "mutate", json!({"id": "a", "value": value}));
        sim.settle().unwrap();
    }
    sim.set_health("api", HealthStatus::Unhealthy).unwrap();
    sim.settle().unwrap();
    let runs: Vec<(String, String)> = sim
        .records()
        .automation_runs
        .iter()
        .map(|r| (r.automation.clone(), r.wake_ref.clone()))
        .collect();
    let r = |a: &str, s: &str| (a.to_owned(), s.to_owned());
    assert_eq!(
        runs,
        [
            r("probe-big", "probe:a"),
            r("probe-big", "probe:a"),
            r("api-down", "health:api")
        ]
    );
    let unknown = sim
        .register_automation("x", None, Some("nobody.fires.this"), None)
        .unwrap_err();
    assert!(
        unknown.to_string().contains("is not registered"),
        "{unknown}"
    );
}
