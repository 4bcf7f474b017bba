//! Helpers of the `serve` tests: `slo-host serve` as a child process on a free loopback port,
//! called over HTTP.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN: &str = "adm-token";
pub const READER: &str = "reader-token";

/// A running `slo-host serve` child; killed if a test fails before stopping it.
pub struct Served {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(dir: &Path, extra: &[&str]) -> Served {
    let db = dir.join("db.sqlite");
    serve_on(dir, db.as_os_str(), extra)
}

/// [`serve`] on the database `db`: a SQLite path or a PostgreSQL URL.
pub fn serve_on(dir: &Path, db: &std::ffi::OsStr, extra: &[&str]) -> Served {
    let plugin = dir.join("plugin.wasm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--plugin")
        .arg(&plugin)
        .arg("--db")
        .arg(db)
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
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        request(&self.base, method, path, token, body)
    }

    pub fn admin(&self, action: &str, body: Value) -> Value {
        let (status, answer) = self.request(
            "POST",
            &format!("/admin/{action}"),
            Some(ADMIN),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{action}: {answer}");
        answer
    }

    pub fn rpc(&self, procedure: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(
            "POST",
            &format!("/rpc/{procedure}"),
            token,
            &body.to_string(),
        )
    }

    pub fn status(&self) -> Value {
        let (status, answer) = self.request("GET", "/admin/status", Some(ADMIN), "");
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// `slo-host admin ARGS` against this server; its JSON answer.
    pub fn cli_admin(&self, args: &[&str]) -> Value {
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
    pub fn terminate(mut self) -> (bool, String) {
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
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
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

pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slo-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces the file the way a build does: write beside it, then rename over it.
pub fn replace(target: &Path, with: &str) {
    let staged = target.with_extension("wasm.new");
    std::fs::copy(with, &staged).unwrap();
    std::fs::rename(&staged, target).unwrap();
}

pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn open_downtime(server: &Served) -> bool {
    let (status, list) = server.rpc("listObjectives", Some(READER), json!({}));
    assert_eq!(status, 200, "{list}");
    list["objectives"][0]["status"]["hasOpenDowntime"] == json!(true)
}

/// A `GET /events` stream read on a thread of its own: the event names it carried so far.
pub struct EventStream {
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

/// Opens `GET /events` on the server at `base` with `token` and waits for its first event.
pub fn open_event_stream(base: &str, token: &str) -> EventStream {
    use std::io::BufRead;
    let mut response = ureq::get(format!("{base}/events"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("the event stream opens");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let reader = std::thread::spawn(move || {
        let reader = BufReader::new(response.body_mut().as_reader());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if let Some(name) = line.strip_prefix("event:") {
                seen.lock().unwrap().push(name.trim().to_owned());
            }
        }
    });
    let stream = EventStream { events, reader };
    stream.wait_for("ready");
    stream
}

impl EventStream {
    /// The event names so far.
    pub fn names(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (at most a minute) until an event named `name` arrived.
    pub fn wait_for(&self, name: &str) {
        eventually(&format!("a {name} event"), || {
            self.names().iter().any(|n| n == name).then_some(())
        });
    }

    /// Waits for the stream to end (the server stopped): every event name it carried.
    pub fn finish(self) -> Vec<String> {
        self.reader.join().expect("the stream reader");
        self.events.lock().unwrap().clone()
    }
}

/// The queue the SLO plugin's `slo` entity refresh runs on: while downtime is open, one
/// delayed job (due a minute after the last run) is always queued there.
pub const REFRESH_QUEUE: &str = "slo-entity-refresh";

/// How many copies in `db`'s queue are queued or in flight, leaving out the refresh job that
/// waits for its minute (not due yet on the real clock `serve` runs on): what "the queue
/// drained" means while an outage keeps the refresh going.
pub fn pending_but_the_waiting_refresh(db: &slo_host::capabilities::sql::Database) -> i64 {
    use slo_host::capabilities::sql::SqlValue;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let now = i64::try_from(now).expect("a millisecond instant");
    db.checkout()
        .expect("connection")
        .query_row(
            "SELECT COUNT(*) FROM _host_queue_jobs WHERE state IN ('queued', 'in_flight') \
             AND NOT (queue = ? AND state = 'queued' AND due_at > ?)",
            &[SqlValue::from(REFRESH_QUEUE), SqlValue::from(now)],
        )
        .expect("pending copies")
        .map_or(0, |row| row.get(0).expect("a count"))
}
