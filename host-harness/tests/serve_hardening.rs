//! `slo-host serve` against hostile or careless use: slow clients, a second process on the same
//! database, swap paths that are not component files, SIGTERM under load, anonymous callers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use slo_host::artifacts::SLO_PLUGIN_PATH;

fn serve_fresh(name: &str, extra: &[&str]) -> (std::path::PathBuf, Served) {
    let dir = fresh_dir(name);
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let server = serve(&dir, extra);
    (dir, server)
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (request line and headers) on a fresh connection; answers the stream.
fn raw(base: &str, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(host_port(base)).expect("connects");
    stream.write_all(head.as_bytes()).expect("writes");
    stream
}

/// The status line of what the server sent back (empty when it closed without a reply).
fn read_status_line(stream: &mut TcpStream, limit: Duration) -> String {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines().next().unwrap_or_default().to_owned()
}

/// Four (and more) clients without a token announce a large body and send one byte a second:
/// they hold no thread, so liveness and RPC keep answering; each is answered 408 once its body
/// stops arriving.
#[test]
fn slow_clients_never_hold_up_health_or_rpc() {
    let (_dir, server) = serve_fresh("slow", &["--http-threads", "4"]);
    let stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<_> = (0..6)
        .map(|_| {
            let base = server.base.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut stream = raw(
                    &base,
                    "POST /rpc/listObjectives HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
                );
                // One byte a second until the server answers (read before writing again, so
                // that its reply is not lost to a reset) or the test gives up.
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    if stream.write_all(b" ").is_err() {
                        break;
                    }
                    let line = read_status_line(&mut stream, Duration::from_millis(1000));
                    if !line.is_empty() {
                        return line;
                    }
                }
                read_status_line(&mut stream, Duration::from_secs(5))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let (status, answer) = server.request("GET", "/healthz", None, "");
        assert_eq!((status, answer), (200, json!({"status": "ok"})));
        let (status, answer) = server.rpc("listObjectives", Some(READER), json!({}));
        assert_eq!(status, 200, "{answer}");
    }
    // A slow header writer does not block anyone either.
    let mut header_dribbler = raw(&server.base, "GET /hea");
    let (status, _) = server.request("GET", "/healthz", None, "");
    assert_eq!(status, 200);
    // The body idle timeout (5 s between chunks) is longer than the 1 s drip, but the whole
    // body must arrive within 10 s: every slow client is answered 408.
    for client in slow {
        let line = client.join().expect("slow client");
        assert!(line.contains(" 408"), "a slow client got {line:?}");
    }
    stop.store(true, Ordering::SeqCst);
    // The header dribbler is cut off by the header timeout (its connection is closed).
    let line = read_status_line(&mut header_dribbler, Duration::from_secs(30));
    assert!(!line.contains(" 200"), "{line}");
}

/// An unknown token is refused before the body is read: the answer comes without a byte of
/// the announced body being sent.
#[test]
fn a_bad_token_is_refused_before_the_body_is_read() {
    let (_dir, server) = serve_fresh("token-first", &[]);
    let mut stream = raw(
        &server.base,
        "POST /rpc/createObjective HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 500000\r\n\r\n",
    );
    let line = read_status_line(&mut stream, Duration::from_secs(10));
    assert!(line.contains(" 401"), "{line:?}");
    // A body larger than the cap is refused from its Content-Length alone.
    let mut stream = raw(
        &server.base,
        &format!("POST /rpc/createObjective HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 5000000\r\n\r\n"),
    );
    let line = read_status_line(&mut stream, Duration::from_secs(10));
    assert!(line.contains(" 413"), "{line:?}");
}

/// A second `serve` over the same database file is refused at start, naming the holder; once
/// the first stops, a new one starts.
#[test]
fn a_second_serve_on_the_same_database_is_refused() {
    let (dir, first) = serve_fresh("second", &[]);
    let second = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--plugin"])
        .arg(dir.join("plugin.wasm"))
        .arg("--db")
        .arg(dir.join("db.sqlite"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another slo-host serve (pid ")
            && stderr.contains(&first.child.id().to_string()),
        "{stderr}"
    );
    let (stopped, _) = first.terminate();
    assert!(stopped);
    let again = serve(&dir, &[]);
    let (status, _) = again.request("GET", "/healthz", None, "");
    assert_eq!(status, 200);
}

/// `POST /admin/swap` reads regular files under the cap only: a device, a FIFO, a directory
/// and an oversize file are refused with 422 at once, and the old version keeps serving.
#[test]
fn swap_refuses_paths_that_are_not_component_files() {
    let (dir, server) = serve_fresh("swap-paths", &["--max-component-bytes", "4096"]);
    let before = server.status()["plugin"].clone();
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let cases = [
        ("/dev/zero".to_owned(), "a character device"),
        (fifo.display().to_string(), "a FIFO"),
        (dir.display().to_string(), "a directory"),
        (SLO_PLUGIN_PATH.to_owned(), "larger than the 4096-byte cap"),
    ];
    for (path, why) in cases {
        let started = Instant::now();
        let (status, answer) = server.request(
            "POST",
            "/admin/swap",
            Some(ADMIN),
            &json!({ "path": path }).to_string(),
        );
        assert_eq!(status, 422, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "swap-refused");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{path}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} blocked"
        );
    }
    assert_eq!(server.status()["plugin"], before);
    let (status, _) = server.rpc("listObjectives", Some(READER), json!({}));
    assert_eq!(status, 200);
}

/// Anonymous callers hold the rules the plugin declares public (`slo.read`): they read, and
/// writing needs a signed-in caller.
#[test]
fn anonymous_callers_reach_the_public_procedures_only() {
    let (_dir, server) = serve_fresh("anonymous", &[]);
    server.admin("systems", json!({"id": "api"}));
    let (status, answer) = server.rpc("listObjectives", None, json!({}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.rpc(
        "getBulkObjectivesForSystems",
        None,
        json!({"systemIds": ["api"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.rpc(
        "createObjective",
        None,
        json!({"systemId": "api", "target": 99, "windowDays": 7}),
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "denied");
    let (status, answer) = server.request("GET", "/admin/status", None, "");
    assert_eq!(status, 403, "{answer}");
}

/// SIGTERM while clients keep calling: every request that reached the server is answered
/// (200, or 503 `shutting-down` once shutdown began); none sees its connection closed without
/// a reply.
#[test]
fn sigterm_under_load_answers_every_request() {
    let (_dir, server) = serve_fresh("sigterm-load", &[]);
    server.admin("systems", json!({"id": "api"}));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let refused_late = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let base = server.base.clone();
            let (unanswered, answered, refused_late) =
                (unanswered.clone(), answered.clone(), refused_late.clone());
            std::thread::spawn(move || loop {
                let Ok(mut stream) = TcpStream::connect(host_port(&base)) else {
                    refused_late.fetch_add(1, Ordering::SeqCst);
                    return; // the listener is gone: nothing more to ask
                };
                let body = "{}";
                let head = format!(
                    "POST /rpc/listObjectives HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {READER}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err() {
                    unanswered.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let line = read_status_line(&mut stream, Duration::from_secs(30));
                if line.contains(" 200") {
                    answered.fetch_add(1, Ordering::SeqCst);
                } else if line.contains(" 503") {
                    answered.fetch_add(1, Ordering::SeqCst);
                    return; // told the server is stopping
                } else {
                    unanswered.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let (stopped, _) = server.terminate();
    for client in clients {
        client.join().expect("client");
    }
    assert!(stopped);
    assert!(answered.load(Ordering::SeqCst) > 0);
    assert_eq!(
        unanswered.load(Ordering::SeqCst),
        0,
        "requests closed without a reply ({} answered, {} refused after close)",
        answered.load(Ordering::SeqCst),
        refused_late.load(Ordering::SeqCst)
    );
}
