//! The same component and host on PostgreSQL: every scenario (the demo included) gives a report
//! byte-identical to SQLite's. The `sql` import's meaning on PostgreSQL is tested by the failure
//! matrix (`runtime_sandbox.rs`) and `host-harness/tests/postgres_sql.rs`.
//!
//! Each run gets a fresh database from `slo_host::postgres_cluster` (a throwaway cluster, or
//! `SLO_TEST_DATABASE_URL`). Without PostgreSQL the test fails and says what to install.

use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::sql::Database;
use slo_host::scenario;
use slo_tests::{scenario_files, Backend};

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
        let on_postgres =
            scenario::run(&parsed, Backend::Postgres.database(), SLO_PLUGIN_COMPONENT)
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
