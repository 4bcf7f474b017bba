//! The dashboard in a real browser: a scenario's two days of data served by `slo-host serve`,
//! opened in headless Chromium (Debian's `chromium`) driven by playwright-core
//! (`tests/browser/dashboard.mjs`). The script checks the list against the RPC answers, the
//! budget chart's last point against the status, a live update after a health change, and that
//! a reader's token cannot change anything; it saves screenshots to
//! `target/dashboard-screenshots/`.
//!
//! Chromium, Node.js and `npm install --prefix tests/browser` are prerequisites (`.ci/run`
//! installs them): without them this test fails and says what to install.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;
use slo_host::artifacts::SLO_PLUGIN_PATH;

const VIEWER: &str = "viewer-token";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Chromium's executable: `CHROMIUM_PATH`, or Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium is needed for the dashboard test and {} does not exist: install it \
         (Debian: `apt-get install chromium`) or set CHROMIUM_PATH",
        path.display()
    );
    path
}

/// The browser test's npm packages, installed.
fn browser_packages() -> PathBuf {
    let dir = repository().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "the dashboard test needs its npm packages: run `npm install --prefix tests/browser`"
    );
    dir
}

/// Runs the dashboard scenario with its clock starting three days ago, into `db`.
fn seed(dir: &Path, db: &Path) {
    let start = chrono::Utc::now() - chrono::Duration::days(3);
    let at = |hours: i64| {
        (start + chrono::Duration::hours(hours))
            .format("%Y-%m-%dT%H:%M:00Z")
            .to_string()
    };
    let template =
        std::fs::read_to_string(repository().join("tests/browser/dashboard-scenario.json"))
            .expect("the dashboard scenario");
    let scenario = dir.join("dashboard-scenario.json");
    let text = template
        .replace("${START}", &at(0))
        .replace("${MAINTENANCE_START}", &at(26))
        .replace("${MAINTENANCE_END}", &at(28));
    std::fs::write(&scenario, text).expect("write the scenario");
    let run = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args(["scenario", "run"])
        .arg(&scenario)
        .arg("--db")
        .arg(db)
        .output()
        .expect("slo-host scenario run starts");
    assert!(
        run.status.success(),
        "the dashboard scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn the_dashboard_shows_live_numbers_equal_to_the_api_in_a_real_browser() {
    let chromium = chromium();
    let packages = browser_packages();
    let dir = fresh_dir("dashboard");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).expect("copy the plugin");
    let db = dir.join("db.sqlite");
    seed(&dir, &db);
    let server = serve_on(
        &dir,
        db.as_os_str(),
        &["--token", &format!("{VIEWER}=vera:slo.read,catalog.read")],
    );
    let (status, list) = server.rpc("listObjectives", Some(VIEWER), json!({}));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["objectives"].as_array().map(Vec::len), Some(5));

    let screenshots = repository().join("target/dashboard-screenshots");
    let run = Command::new("node")
        .arg(packages.join("dashboard.mjs"))
        .current_dir(&packages)
        .env("SLO_BASE", &server.base)
        .env("SLO_ADMIN_TOKEN", ADMIN)
        .env("SLO_READER_TOKEN", VIEWER)
        .env("SLO_OBJECTIVE_SYSTEM", "api")
        .env("SLO_SCREENSHOTS", &screenshots)
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("node runs (Node.js 18+ is needed)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    for shot in [
        "dashboard-list.png",
        "dashboard-objective.png",
        "dashboard-objective-live.png",
    ] {
        let bytes = std::fs::read(screenshots.join(shot)).expect("the screenshot was saved");
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }

    // An event stream open at shutdown ends, and the server stops cleanly.
    let stream = open_event_stream(&server.base, ADMIN);
    let (clean, _) = server.terminate();
    assert!(
        clean,
        "serve did not stop cleanly with an event stream open"
    );
    let events = stream.finish();
    assert_eq!(
        events.first().map(String::as_str),
        Some("ready"),
        "{events:?}"
    );
}

/// The uPlot the dashboard embeds is the npm release `tests/browser/package.json` pins, byte
/// for byte.
#[test]
fn the_vendored_chart_library_is_the_pinned_release() {
    let packages = browser_packages();
    for file in ["uPlot.iife.min.js", "uPlot.min.css"] {
        let vendored = std::fs::read(
            repository()
                .join("host-harness/dashboard/vendor")
                .join(file),
        )
        .expect("the vendored file");
        let released = std::fs::read(packages.join("node_modules/uplot/dist").join(file))
            .expect("the npm release's file");
        assert!(
            vendored == released,
            "{file} differs from the pinned uPlot release"
        );
    }
}
