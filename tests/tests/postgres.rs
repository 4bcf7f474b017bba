//! The same component and host on PostgreSQL: every scenario gives a report byte-identical to
//! SQLite's, and the `sql` import keeps its meaning (constraint errors leave the transaction
//! usable, the deadline cancels a running statement, refusals are the same).
//!
//! Each test gets a fresh database from `slo_host::postgres_cluster` (a throwaway cluster, or
//! `SLO_TEST_DATABASE_URL`). Without PostgreSQL these tests fail and say what to install.

use std::path::PathBuf;

use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::sql::Database;
use slo_host::postgres_cluster;
use slo_host::scenario;

fn postgres() -> Database {
    let url = postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    Database::at(&url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn scenario_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = [
        root.join("scenarios"),
        root.join("../host-harness/scenarios"),
    ]
    .iter()
    .flat_map(|dir| {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
    })
    .filter(|p| p.extension().is_some_and(|x| x == "json"))
    .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_reports_the_same_bytes_on_postgres_as_on_sqlite() {
    let files = scenario_files();
    assert!(files.len() >= 5, "scenario files missing");
    let mut differences = Vec::new();
    for path in &files {
        let parsed =
            scenario::parse_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let on_sqlite = scenario::run(
            &parsed,
            Database::in_memory().unwrap(),
            SLO_PLUGIN_COMPONENT,
        )
        .unwrap();
        let on_postgres = scenario::run(&parsed, postgres(), SLO_PLUGIN_COMPONENT)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_sqlite["ok"], true, "{}", path.display());
        let (a, b) = (
            serde_json::to_string_pretty(&on_sqlite).unwrap(),
            serde_json::to_string_pretty(&on_postgres).unwrap(),
        );
        if a != b {
            let first = a
                .lines()
                .zip(b.lines())
                .enumerate()
                .find(|(_, (x, y))| x != y)
                .map(|(i, (x, y))| format!("line {i}: sqlite {x:?} / postgres {y:?}"))
                .unwrap_or_else(|| "lengths differ".into());
            differences.push(format!("{}: {first}", path.display()));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
