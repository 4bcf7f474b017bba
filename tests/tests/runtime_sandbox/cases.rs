// The failure matrix, included once per backend by `runtime_sandbox.rs` (which defines
// `BACKEND` and the imports).

pub(super) fn call(host: &PluginHost, procedure: &str) -> Result<Value, InvocationError> {
    host.call_rpc(procedure, "{}", &Caller::user("tester", &[]))
        .map(|out| serde_json::from_str(&out).expect("fixture answers JSON"))
}

/// Runs `procedure`, expects it to fail, and checks that the database is exactly as before,
/// nothing was published, and the next invocation succeeds and publishes.
pub(super) fn fails_cleanly(host: &PluginHost, procedure: &str) -> Failure {
    let before = database_contents(&host.services().database);
    let published_before = host.published().len();
    let error = call(host, procedure).expect_err("the call must fail");
    assert_eq!(error.plugin, "misbehaving");
    assert_eq!(error.export, format!("rpc.handle({procedure})"));
    assert_eq!(
        database_contents(&host.services().database),
        before,
        "{procedure} left writes behind"
    );
    assert_eq!(
        host.published().len(),
        published_before,
        "{procedure} published despite failing"
    );

    let rows_before = call(host, "count").expect("count after failure");
    call(host, "write").expect("the next invocation succeeds");
    let rows_after = call(host, "count").expect("count");
    assert_eq!(rows_after.as_i64(), rows_before.as_i64().map(|n| n + 1));
    assert!(
        host.published().len() > published_before,
        "a good invocation publishes"
    );
    error.failure
}

#[test]
fn an_infinite_loop_is_interrupted_at_the_deadline() {
    let host = fixture_host_on(BACKEND);
    let started = Instant::now();
    let failure = fails_cleanly(&host, "spin");
    assert_eq!(
        failure,
        Failure::Deadline {
            limit: test_limits().deadline
        }
    );
    // Not a timing claim: only proof that the loop was stopped rather than waited for.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_never_ending_sql_query_is_interrupted_inside_the_database() {
    let host = fixture_host_on(BACKEND);
    // The query never ends on its own, so returning at all proves SQLite interrupted it at the
    // deadline; the plugin relays the SQL error and the host reports the overrun.
    let failure = fails_cleanly(&host, "runaway-sql");
    assert_eq!(
        failure,
        Failure::Deadline {
            limit: test_limits().deadline
        }
    );
}

#[test]
fn the_outbox_is_capped_and_the_overflow_is_a_typed_error() {
    let mut config = test_config();
    config.limits = Limits {
        outbox_bytes: 4 << 20,
        ..test_limits()
    };
    let host = host_on(BACKEND, artifacts::MISBEHAVING_FIXTURE_PATH, config);
    match fails_cleanly(&host, "flood-outbox") {
        Failure::Returned { error } => {
            assert_eq!(error.code(), "invalid");
            assert!(error.message().contains("cap of 4194304 bytes"), "{error}");
        }
        other => panic!("expected the plugin to return the host's refusal, got {other:?}"),
    }
}

#[test]
fn a_long_wasi_sleep_is_cut_at_the_deadline() {
    let host = fixture_host_on(BACKEND);
    let failure = fails_cleanly(&host, "sleep");
    assert_eq!(
        failure,
        Failure::Deadline {
            limit: test_limits().deadline
        }
    );
}

#[test]
fn a_memory_hog_is_stopped_at_the_cap() {
    let host = fixture_host_on(BACKEND);
    let failure = fails_cleanly(&host, "grow-memory");
    assert_eq!(
        failure,
        Failure::MemoryCap {
            limit_bytes: test_limits().memory_bytes
        }
    );
}

#[test]
fn a_fuel_budget_stops_a_long_computation_deterministically() {
    let mut config = test_config();
    config.engine = EngineOptions {
        fuel: true,
        ..EngineOptions::default()
    };
    config.limits = Limits {
        fuel: Some(50_000_000),
        deadline: Duration::from_secs(30),
        ..test_limits()
    };
    let host = host_on(BACKEND, artifacts::MISBEHAVING_FIXTURE_PATH, config);
    let failure = fails_cleanly(&host, "burn-fuel");
    assert_eq!(failure, Failure::FuelExhausted { fuel: 50_000_000 });
}

#[test]
fn a_trap_after_writing_rolls_back_and_names_the_panic() {
    let host = fixture_host_on(BACKEND);
    match fails_cleanly(&host, "trap") {
        Failure::Trap { message } => {
            assert!(message.contains("fixture trap on purpose"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn an_error_after_writing_and_publishing_keeps_nothing() {
    let host = fixture_host_on(BACKEND);
    let failure = fails_cleanly(&host, "write-then-error");
    assert_eq!(failure.code(), "internal");
    assert!(matches!(failure, Failure::Returned { .. }));
}

#[test]
fn a_trap_after_publishing_keeps_nothing() {
    let host = fixture_host_on(BACKEND);
    assert!(matches!(
        fails_cleanly(&host, "publish-then-trap"),
        Failure::Trap { .. }
    ));
}

#[test]
fn the_wasi_probe_finds_no_file_no_variable_no_argument_and_no_socket() {
    let host = fixture_host_on(BACKEND);
    let probe = call(&host, "probe-wasi").expect("probe runs");
    for field in ["file", "rootDir", "socket"] {
        let text = probe[field].as_str().unwrap_or_default();
        assert!(text.starts_with("denied"), "{field}: {text}");
    }
    assert_eq!(probe["env"], serde_json::json!([]));
    assert_eq!(probe["home"], Value::Null);
    assert_eq!(probe["args"], serde_json::json!([]));
}

#[test]
fn a_committed_invocation_publishes_its_outbox_in_order() {
    let host = fixture_host_on(BACKEND);
    call(&host, "write").unwrap();
    let channels: Vec<String> = host
        .published()
        .iter()
        .map(|p| {
            serde_json::to_value(&p.entry).unwrap()["channel"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        channels,
        [
            "enqueue",
            "hook",
            "signal",
            "entity-request",
            "cache-set",
            "cache-invalidate"
        ]
    );
    assert_eq!(
        host.services()
            .cache
            .get("misbehaving", "key:ok")
            .as_deref(),
        Some(r#"{"tag":"ok"}"#)
    );
}

#[test]
fn rollback_to_a_savepoint_undoes_its_sql_and_its_outbox_entries() {
    let host = fixture_host_on(BACKEND);
    call(&host, "savepoint").unwrap();
    assert_eq!(
        call(&host, "count").unwrap(),
        1,
        "only the row written before the savepoint stays"
    );
    let tags: Vec<String> = host
        .published()
        .iter()
        .filter_map(|p| match &p.entry {
            slo_host::capabilities::outbox::OutboxEntry::Hook { payload, .. } => {
                Some(payload.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(tags, [r#"{"tag":"kept"}"#]);
}

#[test]
fn transaction_control_pragma_attach_and_batches_are_refused_as_sql_errors() {
    let host = fixture_host_on(BACKEND);
    let results = call(&host, "refused-sql").expect("refusals are errors, not traps");
    for attempt in results.as_array().unwrap() {
        let error = attempt["error"]
            .as_str()
            .unwrap_or_else(|| panic!("allowed: {attempt}"));
        assert!(error.contains("Refused("), "{attempt}");
    }
}

#[test]
fn guests_see_only_the_host_clock() {
    let host = fixture_host_on(BACKEND);
    let now = call(&host, "now").unwrap();
    assert_eq!(now["clock"], START_MS);
    assert_eq!(now["system"], START_MS, "WASI wall clock is the host clock");
}

#[test]
fn randomness_is_deterministic_under_a_seed_and_fresh_per_invocation() {
    let first = fixture_host_on(BACKEND);
    let second = fixture_host_on(BACKEND);
    let a1 = call(&first, "random").unwrap();
    let a2 = call(&first, "random").unwrap();
    let b1 = call(&second, "random").unwrap();
    assert_eq!(a1, b1, "same seed, same invocation number, same bytes");
    assert_ne!(a1, a2, "each invocation draws differently");
}

#[test]
fn a_component_that_is_not_a_component_is_refused_with_a_message() {
    let host = fixture_host_on(BACKEND);
    let error = host.load_bytes(b"\0asm not really").err().expect("refused");
    assert!(
        error.to_string().contains("does not fit contract"),
        "{error}"
    );
    assert_eq!(
        host.plugin().unwrap().id(),
        "misbehaving",
        "the loaded plugin keeps serving"
    );
}

#[test]
fn counts_invocations_traps_and_errors() {
    let host = fixture_host_on(BACKEND);
    let _ = call(&host, "trap");
    let _ = call(&host, "write-then-error");
    call(&host, "count").unwrap();
    let counts = host.invocation_counts();
    // load: describe is not counted, init is; then three calls
    assert_eq!((counts.total, counts.traps, counts.errors), (4, 1, 1));
    assert_eq!(counts.by_export.get("rpc.handle"), Some(&3));
}

/// A procedure declared `query` runs in a read-only transaction: its write is refused by the
/// host, the call fails, and nothing is kept.
#[test]
fn a_query_procedure_cannot_write() {
    let host = fixture_host_on(BACKEND);
    let caller = slo_host::host::Caller::anonymous(&[]);
    // A mutation runs the very INSERT first, so the compiled statement is cached and reused:
    // the read-only rule must hold for a reused statement too, not only at compile time.
    host.call_rpc("write", "{}", &caller).unwrap();
    let error = host.call_rpc("query-write", "{}", &caller).unwrap_err();
    assert!(
        error.to_string().contains("read-only"),
        "the error names the rule: {error}"
    );
    // a query that only reads works, and the refused write left nothing
    assert_eq!(host.call_rpc("count", "{}", &caller).unwrap(), "1");
}

#[test]
fn a_constraint_error_is_recoverable_and_the_rest_commits() {
    let host = fixture_host_on(BACKEND);
    let answer = call(&host, "constraint").expect("the plugin recovers from the conflict");
    let conflict = answer["conflict"].as_str().unwrap();
    assert!(conflict.starts_with("Err(SqlError::Constraint("), "{conflict}");
    assert_eq!(
        call(&host, "count").unwrap(),
        2,
        "the rows before and after the conflict committed"
    );
}
