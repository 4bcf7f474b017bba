//! Every scenario file in `tests/scenarios/` (and the bundled demo) runs against the real SLO
//! component and must hold all its expectations; a new scenario is added by dropping a file
//! there.

use serde_json::Value;
use slo_host::artifacts::{
    FROZEN_SLO_PLUGIN_0_1_DIGEST, FROZEN_SLO_PLUGIN_0_1_PATH, SLO_PLUGIN_COMPONENT,
};
use slo_host::capabilities::sql::Database;
use slo_host::scenario;
use slo_tests::scenario_files;

fn run(path: &std::path::Path) -> Value {
    run_with(path, SLO_PLUGIN_COMPONENT)
}

fn run_with(path: &std::path::Path, component: &[u8]) -> Value {
    let parsed = scenario::parse_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    scenario::run(&parsed, Database::in_memory().unwrap(), component).unwrap()
}

fn every_scenario_holds_for(component: &[u8], skip: &[&str]) {
    let files = scenario_files();
    assert!(files.len() >= 5, "scenario files missing");
    let mut failed = Vec::new();
    for path in files
        .iter()
        .filter(|p| !skip.iter().any(|s| p.ends_with(s)))
    {
        let report = run_with(path, component);
        if report["ok"] != Value::Bool(true) {
            failed.push(format!("{}: {}", path.display(), report["failures"]));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_scenario_file_holds() {
    every_scenario_holds_for(SLO_PLUGIN_COMPONENT, &[]);
}

/// The SLO plugin as it was built against the frozen contract 0.1.0 (a committed binary)
/// passes the same suite on this host: 0.1.0 plugins keep working unchanged.
#[test]
fn every_scenario_file_holds_for_the_frozen_contract_0_1_0_build() {
    let frozen =
        std::fs::read(FROZEN_SLO_PLUGIN_0_1_PATH).expect("the frozen fixture is committed");
    assert_eq!(
        slo_host::runtime::digest_of(&frozen),
        FROZEN_SLO_PLUGIN_0_1_DIGEST,
        "the frozen 0.1.0 fixture changed: it must stay the binary it was"
    );
    // `quiet_month.json` measures what the 0.2.0 build removed: on the frozen build its minute
    // cron runs 43,235 jobs (2.5 minutes in a debug build). Bench row 12 runs it in release.
    every_scenario_holds_for(&frozen, &["quiet_month.json"]);
}

#[test]
fn a_scenario_run_twice_gives_the_same_report() {
    for name in [
        "upstream_during_outage.json",
        "demo.json",
        "automation_state_for.json",
        "automation_dwell.json",
        "automation_time_window.json",
        "automation_weekday.json",
    ] {
        let path = scenario_files()
            .into_iter()
            .find(|p| p.ends_with(name))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&run(&path)).unwrap(),
            serde_json::to_string(&run(&path)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_failed_expectation_fails_the_report_and_names_the_step() {
    let text = r#"{"name": "wrong", "start": "2026-06-01T00:00:00Z", "systems": [{"id": "api", "name": "API"}],
        "steps": [{"expect": {"report": "hooks", "length": 3}}]}"#;
    let report = scenario::run(
        &scenario::parse(text).unwrap(),
        Database::in_memory().unwrap(),
        SLO_PLUGIN_COMPONENT,
    )
    .unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["failures"][0]["step"], 0);
    assert!(report["failures"][0]["message"]
        .as_str()
        .unwrap()
        .contains("expected 3 elements"));
}

/// `swap_plugin` hot-swaps to a component given relative to the scenario file, and the run goes
/// on on the new version (and is still deterministic).
#[test]
fn a_scenario_swaps_the_plugin_mid_run() {
    let dir = std::env::temp_dir().join(format!("slo-swap-scenario-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::copy(
        slo_host::artifacts::SLO_PLUGIN_NEXT_PATH,
        dir.join("components/slo-next.wasm"),
    )
    .unwrap();
    let file = dir.join("swap.json");
    std::fs::write(
        &file,
        r#"{"name": "swap mid-outage", "start": "2026-06-01T00:00:00Z", "seed": 7,
            "systems": [{"id": "api", "name": "Public API"}],
            "steps": [
              {"rpc": {"procedure": "createObjective", "as": "o1", "input": {"systemId": "api", "target": 99.9, "windowDays": 30}}},
              {"health": {"system": "api", "status": "unhealthy"}},
              {"advance": "10m"},
              {"label": "upgrade while the outage is open", "swap_plugin": "components/slo-next.wasm"},
              {"expect": {"rpc": {"procedure": "getPluginInfo"}, "path": "version", "equals": "0.2.0"}},
              {"advance": "5m"},
              {"health": {"system": "api", "status": "healthy"}},
              {"label": "the new version closed the event the old one opened",
               "expect": {"report": "downtimeEvents", "length": 1}},
              {"expect": {"report": "downtimeEvents", "path": "0.durationSeconds", "equals": 900}},
              {"expect": {"report": "versionEvents", "length": 1}}
            ]}"#,
    )
    .unwrap();
    let first = run(&file);
    assert_eq!(first["ok"], true, "{}", first["failures"]);
    assert_eq!(first["plugin"]["version"], "0.2.0");
    assert_eq!(
        first["steps"][3]["result"]["migrationsApplied"][0],
        "0004_downtime_by_system_start"
    );
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&run(&file)).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}
