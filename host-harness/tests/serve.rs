//! `slo-host serve` as a user runs it: the binary on a free loopback port, called over HTTP,
//! its component file replaced under `--watch`, stopped with SIGTERM, restarted over the same
//! database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use slo_host::artifacts::{SLO_PLUGIN_NEXT_PATH, SLO_PLUGIN_PATH};

const ADMIN: &str = "adm-token";
const READER: &str = "reader-token";

/// A running `slo-host serve` child; killed if a test fails before stopping it.
struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Served {
    let plugin = dir.join("plugin.wasm");
    let db = dir.join("db.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--plugin")
        .arg(&plugin)
        .arg("--db")
        .arg(&db)
        .arg("--artifact-cache")
        .arg(dir.join("cache"))
        .args([
            "--token",
            &format!("{ADMIN}=ops:slo.read,slo.manage,host.admin"),
        ])
        .args(["--token", &format!("{READER}=viewer:slo.read")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("slo-host serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the banner");
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected banner: {first:?}"))
        .to_owned();
    Served {
        child,
        stdout,
        base,
    }
}

impl Served {
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        request(&self.base, method, path, token, body)
    }

    fn admin(&self, action: &str, body: Value) -> Value {
        let (status, answer) = self.request(
            "POST",
            &format!("/admin/{action}"),
            Some(ADMIN),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{action}: {answer}");
        answer
    }

    fn rpc(&self, procedure: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(
            "POST",
            &format!("/rpc/{procedure}"),
            token,
            &body.to_string(),
        )
    }

    fn status(&self) -> Value {
        let (status, answer) = self.request("GET", "/admin/status", Some(ADMIN), "");
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// `slo-host admin ARGS` against this server; its JSON answer.
    fn cli_admin(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_slo-host"))
            .arg("admin")
            .args(args)
            .args(["--url", &self.base])
            .env("SLO_HOST_TOKEN", ADMIN)
            .output()
            .expect("slo-host admin runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "admin {args:?}: {stdout}{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        for line in (&mut self.stdout).lines() {
            rest.push_str(&line.expect("utf-8"));
            rest.push('\n');
        }
        (exit.success(), rest)
    }
}

/// One request to the server at `base`: the status and the JSON answer.
fn request(base: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{path}");
    let bearer = token.map(|t| format!("Bearer {t}"));
    let response = if method == "GET" {
        let mut call = agent.get(&url);
        if let Some(b) = &bearer {
            call = call.header("Authorization", b);
        }
        call.call()
    } else {
        let mut call = agent.post(&url);
        if let Some(b) = &bearer {
            call = call.header("Authorization", b);
        }
        call.send(body)
    };
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slo-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces the file the way a build does: write beside it, then rename over it.
fn replace(target: &Path, with: &str) {
    let staged = target.with_extension("wasm.new");
    std::fs::copy(with, &staged).unwrap();
    std::fs::rename(&staged, target).unwrap();
}

fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open_downtime(server: &Served) -> bool {
    let (status, list) = server.rpc("listObjectives", Some(READER), json!({}));
    assert_eq!(status, 200, "{list}");
    list["objectives"][0]["status"]["hasOpenDowntime"] == json!(true)
}

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

    // Callers and bad input: typed errors, nothing served for them.
    let (status, answer) = server.rpc("listObjectives", None, json!({}));
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
    assert_eq!(status, 400);

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
