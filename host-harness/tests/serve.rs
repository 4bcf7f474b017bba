//! `slo-host serve` as a user runs it: the binary on a free loopback port, called over HTTP,
//! its component file replaced under `--watch`, stopped with SIGTERM, restarted over the same
//! database.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use slo_host::artifacts::{SLO_PLUGIN_NEXT_PATH, SLO_PLUGIN_PATH};

#[test]
fn serve_watch_answers_over_http_swaps_on_file_change_and_stops_gracefully() {
    let dir = fresh_dir("watch");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let server = serve(&dir, &["--watch"]);

    let (status, answer) = server.request("GET", "/healthz", None, "");
    assert_eq!((status, answer), (200, json!({"status": "ok"})));

    // Platform admin: a catalog, a dependency, an objective, an outage.
    server.admin("systems", json!({"id": "api", "name": "API"}));
    server.admin("systems", json!({"id": "db"}));
    server.admin("dependencies", json!({"source": "api", "target": "db"}));
    let (status, created) = server.rpc(
        "createObjective",
        Some(ADMIN),
        json!({"systemId": "api", "name": "API availability", "target": 99.9, "windowDays": 30}),
    );
    assert_eq!(status, 200, "{created}");
    let changed = server.admin("health", json!({"systemId": "api", "status": "unhealthy"}));
    assert_eq!(changed["changed"], json!(true));
    eventually("the outage to open a downtime event", || {
        open_downtime(&server).then_some(())
    });

    // Callers and bad input: typed errors, nothing served for them. Anonymous callers read
    // (`slo.read` is public) but do not write.
    let (status, answer) = server.rpc("listObjectives", None, json!({}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.rpc("deleteObjective", None, json!({"id": "x"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("denied"))
    );
    let (status, answer) = server.rpc("listObjectives", Some("wrong"), json!({}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, answer) = server.rpc("createObjective", Some(READER), json!({"systemId": "api"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("denied"))
    );
    let (status, answer) = server.request("POST", "/rpc/listObjectives", Some(READER), "{not json");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid"))
    );
    let (status, answer) = server.rpc("createObjective", Some(ADMIN), json!({"systemId": "api"}));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{answer}"
    );
    let (status, answer) = server.request("GET", "/admin/status", Some(READER), "");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("denied"))
    );
    let (status, answer) = server.request(
        "POST",
        "/admin/health",
        Some(ADMIN),
        r#"{"systemId": "nope", "status": "unhealthy"}"#,
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not-found")),
        "{answer}"
    );
    let (status, _) = server.request(
        "POST",
        "/admin/swap",
        Some(ADMIN),
        r#"{"path": "/nonexistent.wasm"}"#,
    );
    assert_eq!(status, 422);

    // The current version does not know the next version's procedure.
    let (status, _) = server.rpc("getPluginInfo", Some(READER), json!({}));
    assert_eq!(status, 404);
    let first_digest = server.status()["plugin"]["digest"].clone();

    // Replace the component file: the watcher swaps in process and the new version answers.
    replace(&dir.join("plugin.wasm"), SLO_PLUGIN_NEXT_PATH);
    let info = eventually("the next version to answer getPluginInfo", || {
        let (status, info) = server.rpc("getPluginInfo", Some(READER), json!({}));
        (status == 200).then_some(info)
    });
    assert_eq!(info["version"], json!("0.2.0"));
    assert!(info["migrations"]
        .as_array()
        .unwrap()
        .contains(&json!("0004_downtime_by_system_start")));
    let status = server.status();
    assert_eq!(status["plugin"]["version"], json!("0.2.0"));
    assert_eq!(status["previous"]["digest"], first_digest);
    assert_eq!(status["watch"]["swaps"], json!(1));
    assert_eq!(status["watch"]["lastError"], Value::Null);
    assert_eq!(
        status["invocations"]["byVersion"]
            .as_object()
            .unwrap()
            .len(),
        2,
        "{status}"
    );
    // The open downtime survived the swap, and the new version closes it.
    assert!(open_downtime(&server));
    server.admin("health", json!({"systemId": "api", "status": "healthy"}));
    eventually("the recovery to close the downtime", || {
        (!open_downtime(&server)).then_some(())
    });

    // Rollback sticks: the watcher acts on file changes, not on what serves.
    // (through the CLI, as an operator would)
    let rolled = server.cli_admin(&["rollback"]);
    assert_eq!(rolled["to"]["digest"], first_digest);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.status()["plugin"]["digest"], first_digest);

    // A component of another plugin dropped in: refused, the old version keeps serving.
    replace(
        &dir.join("plugin.wasm"),
        slo_host::artifacts::MISBEHAVING_FIXTURE_PATH,
    );
    let error = eventually("the watcher to report the refusal", || {
        server.status()["watch"]["lastError"]
            .as_str()
            .map(str::to_owned)
    });
    assert!(error.contains("\"misbehaving\""), "{error}");
    assert_eq!(server.status()["plugin"]["digest"], first_digest);

    let status = server.cli_admin(&["status"]);
    assert_eq!(
        status["versionEvents"].as_array().unwrap().len(),
        2,
        "{status}"
    );
    let (stopped, rest) = server.terminate();
    assert!(stopped, "exit status after SIGTERM; stdout: {rest}");
    assert!(
        rest.contains("stopped: every request in hand answered"),
        "{rest}"
    );

    // A restart over the same database finds the catalog, the dependency and the objective.
    replace(&dir.join("plugin.wasm"), SLO_PLUGIN_PATH);
    let again = serve(&dir, &[]);
    let (status, list) = again.rpc("listObjectives", Some(READER), json!({}));
    assert_eq!(status, 200);
    assert_eq!(list["objectives"].as_array().unwrap().len(), 1, "{list}");
    // The catalog came back from the database: both systems are known, with their health.
    let changed = again.admin("health", json!({"systemId": "db", "status": "healthy"}));
    assert_eq!(changed["changed"], json!(false));
    let changed = again.admin("health", json!({"systemId": "api", "status": "unhealthy"}));
    assert_eq!(changed["from"], json!("healthy"));
    eventually("a new outage to open a downtime on api", || {
        open_downtime(&again).then_some(())
    });
    let (stopped, _) = again.terminate();
    assert!(stopped);
}

#[test]
fn serve_refuses_watch_without_a_component_file_and_a_bad_token_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args(["serve", "--listen", "127.0.0.1:0", "--watch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--watch needs --plugin"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "just-a-token",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected TOKEN=USER:RULE,RULE"), "{stderr}");
}

#[test]
fn shutdown_answers_the_request_in_hand_then_stops_listening() {
    use slo_host::serve::{CallerTable, ServeOptions, Server};

    let component = std::fs::read(slo_host::artifacts::MISBEHAVING_FIXTURE_PATH).unwrap();
    let server = Server::start(ServeOptions {
        listen: "127.0.0.1:0".into(),
        component,
        component_path: None,
        watch: false,
        database: None,
        artifact_cache: None,
        callers: CallerTable::default(),
        http_threads: 2,
        ..ServeOptions::default()
    })
    .unwrap();
    let base = format!("http://{}", server.addr());
    let url = base.clone();
    // `spin` runs until the invocation deadline interrupts it: a request still in hand when
    // shutdown begins.
    let in_hand = std::thread::spawn(move || request(&url, "POST", "/rpc/spin", None, "{}"));
    std::thread::sleep(Duration::from_millis(500));
    let began = Instant::now();
    let stopped = server.shutdown().unwrap();
    let waited = began.elapsed();
    let (status, answer) = in_hand.join().unwrap();
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (500, Some("deadline")),
        "{answer}"
    );
    assert!(
        waited >= Duration::from_secs(1),
        "shutdown waited for the request in hand ({waited:?})"
    );
    assert_eq!(stopped.queued, 0);
    let after = ureq::get(&format!("{base}/healthz")).call();
    assert!(after.is_err(), "still listening after shutdown");
}

/// Maintenance windows recorded through the admin API are checked, kept across a restart and
/// reach the budget curve (which the dashboard shades); the catalog's names need a rule.
#[test]
fn maintenance_windows_are_checked_and_kept_across_a_restart() {
    let dir = fresh_dir("maintenance");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let server = serve(&dir, &[]);
    server.admin("systems", json!({"id": "api", "name": "Public API"}));
    let (status, created) = server.rpc(
        "createObjective",
        Some(ADMIN),
        json!({"systemId": "api", "target": 99, "windowDays": 7}),
    );
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let now = chrono::Utc::now();
    let at = |hours: i64| (now - chrono::Duration::hours(hours)).to_rfc3339();
    let refused = [
        (
            json!({"systemId": "api", "start": at(1), "end": at(2)}),
            400,
            "end:",
        ),
        (
            json!({"systemId": "db", "start": at(2), "end": at(1)}),
            404,
            "systemId:",
        ),
        (
            json!({"systemId": "api", "start": at(2), "end": at(1), "status": "someday"}),
            400,
            "status:",
        ),
        (
            json!({"systemId": "api", "start": "yesterday", "end": at(1)}),
            400,
            "start:",
        ),
    ];
    for (body, expected, field) in refused {
        let (status, answer) =
            server.request("POST", "/admin/maintenance", Some(ADMIN), &body.to_string());
        assert_eq!(status, expected, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let window = json!({"systemId": "api", "start": at(3), "end": at(2)});
    let (status, _) = server.request(
        "POST",
        "/admin/maintenance",
        Some(READER),
        &window.to_string(),
    );
    assert_eq!(status, 403, "a reader recorded maintenance");
    server.admin("maintenance", window);
    let (stopped, _) = server.terminate();
    assert!(stopped);

    let server = serve(&dir, &[]);
    let (status, curve) = server.rpc(
        "getBudgetCurve",
        Some(READER),
        json!({"objectiveId": id, "points": 3}),
    );
    assert_eq!(status, 200, "{curve}");
    let windows = curve["maintenanceWindows"].as_array().expect("a list");
    assert_eq!(windows.len(), 1, "{curve}");
    assert_eq!(windows[0]["status"], "completed");
    assert_eq!(curve["points"].as_array().map(Vec::len), Some(3));
    assert_eq!(curve["systemName"], "Public API");
    let (status, _) = server.request("GET", "/catalog/systems", Some(READER), "");
    assert_eq!(status, 403, "a token without catalog.read read the catalog");
    let (status, catalog) = server.request("GET", "/catalog/systems", Some(ADMIN), "");
    assert_eq!(status, 200, "{catalog}");
    assert_eq!(
        catalog["systems"],
        json!([{"id": "api", "name": "Public API"}])
    );
    let (stopped, _) = server.terminate();
    assert!(stopped);
}

/// Automations on the real clock: a `state … for` re-evaluation and a trigger's dwell, both
/// pending when the server stops, fire after the restart; a bad automation is refused by name.
#[test]
fn pending_dwells_and_reevaluations_survive_a_restart() {
    let dir = fresh_dir("automations");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let server = serve(&dir, &[]);
    server.admin("systems", json!({"id": "db", "name": "Primary DB"}));
    let (status, refused) = server.request(
        "POST",
        "/admin/automations",
        Some(ADMIN),
        &json!({"id": "bad", "when": {"time": {"after": "09:00", "timezone": "Mars/Base"}}})
            .to_string(),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("time.timezone: unknown IANA time zone")),
        "{refused}"
    );
    server.admin(
        "automations",
        json!({"id": "db-down", "when": {"state": {"entity": "db", "status": "unhealthy", "for": {"seconds": 5}}}}),
    );
    server.admin(
        "automations",
        json!({"id": "db-degraded", "trigger": "healthcheck.system_degraded", "for": {"seconds": 5}}),
    );
    server.admin("health", json!({"systemId": "db", "status": "unhealthy"}));
    let (status, before) = server.request("GET", "/admin/automations", Some(ADMIN), "");
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["runs"], json!([]), "{before}");
    let timers: Vec<Value> = before["automations"]
        .as_array()
        .expect("a list")
        .iter()
        .flat_map(|a| a["timers"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(timers.len(), 2, "{before}");
    let (stopped, _) = server.terminate();
    assert!(stopped);

    let server = serve(&dir, &[]);
    let runs = eventually("both automations to run after the restart", || {
        let (_, now) = server.request("GET", "/admin/automations", Some(ADMIN), "");
        let runs = now["runs"].as_array().cloned().unwrap_or_default();
        (runs.len() == 2).then_some(runs)
    });
    let refs: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["automation"].as_str().unwrap_or_default(),
                r["ref"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(refs.contains(&("db-down", "clock")), "{runs:?}");
    assert!(refs.contains(&("db-degraded", "health:db")), "{runs:?}");
    let (stopped, _) = server.terminate();
    assert!(stopped);
}
