//! A database that stops taking writes (read-only, full, failing I/O) is the host's failure,
//! not the plugin's: the invocation fails with `host` (503 in `serve`), whatever the plugin
//! made of the SQL error it saw, and nothing is kept. Reads keep working.

use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::bindings::types as wit;
use slo_host::capabilities::sql::Database;
use slo_host::host::{Caller, HostConfig, PluginHost};
use slo_host::runtime::{Failure, InvocationState, PluginInstance};

fn ops() -> Caller {
    Caller::user("ops", &["slo.read", "slo.manage"])
}

fn listed_systems(host: &PluginHost) -> Vec<Value> {
    let listed: Value =
        serde_json::from_str(&host.call_rpc("listObjectives", "{}", &ops()).unwrap()).unwrap();
    listed["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["objective"]["systemId"].clone())
        .collect()
}

fn loaded() -> PluginHost {
    let host = PluginHost::new(HostConfig::default(), Database::in_memory().unwrap()).unwrap();
    host.load_bytes(SLO_PLUGIN_COMPONENT).unwrap();
    host.call_rpc(
        "createObjective",
        r#"{"systemId": "api", "target": 99, "windowDays": 7}"#,
        &ops(),
    )
    .unwrap();
    host
}

/// The database turns read-only after the invocation's transaction began: the plugin's write
/// fails, the plugin answers `internal` as any SQL error makes it, and the host reports the
/// invocation as its own failure.
#[test]
fn a_database_turning_read_only_mid_invocation_is_a_host_failure() {
    let host = loaded();
    let plugin = host.plugin().unwrap();
    let input = r#"{"systemId": "web", "target": 99, "windowDays": 7}"#.to_owned();
    let caller = wit::Caller {
        kind: wit::CallerKind::User,
        id: Some("ops".into()),
        access_rules: vec!["slo.read".into(), "slo.manage".into()],
    };
    let error = host
        .invoke_around(
            &plugin,
            "rpc.handle(createObjective)",
            |tx| {
                let tx = tx.expect("a transaction");
                tx.host_connection()
                    .expect("open")
                    .batch("PRAGMA query_only = ON")
                    .map_err(|e| Failure::Host {
                        message: e.to_string(),
                    })
            },
            |p: &PluginInstance, store: &mut wasmtime::Store<InvocationState>| {
                p.call_handle(store, "createObjective", &input, &caller)
            },
            |_, _| Ok(()),
        )
        .unwrap_err();
    assert_eq!(error.code(), "host", "{error}");
    match &error.failure {
        Failure::Host { message } => assert!(
            message.contains("the database cannot be used") && message.contains("readonly"),
            "{message}"
        ),
        other => panic!("expected a host failure, got {other:?}"),
    }
    assert_eq!(listed_systems(&host), vec![json!("api")]);
}

/// A database that is read-only from the start refuses the write transaction itself: also a
/// host failure; reads keep answering.
#[test]
fn a_read_only_database_fails_writes_as_host_failures_and_keeps_reads() {
    let host = loaded();
    // The database turns read-only under the host (its one in-memory connection; reset at
    // the end so that the connection can be reused).
    let set_query_only = |on: bool| {
        let database = host.services().database.clone();
        let conn = database.checkout().unwrap();
        conn.batch(&format!(
            "PRAGMA query_only = {}",
            if on { "ON" } else { "OFF" }
        ))
        .unwrap();
    };
    set_query_only(true);
    let error = host
        .call_rpc(
            "createObjective",
            r#"{"systemId": "web", "target": 99, "windowDays": 7}"#,
            &ops(),
        )
        .unwrap_err();
    assert_eq!(error.code(), "host", "{error}");
    match &error.failure {
        Failure::Host { message } => assert!(message.contains("readonly"), "{message}"),
        other => panic!("expected a host failure, got {other:?}"),
    }
    assert_eq!(listed_systems(&host), vec![json!("api")]);
    set_query_only(false);
}
