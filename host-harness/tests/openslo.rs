//! OpenSLO v1 through the CLI: `slo-host openslo export` → `import` (into a fresh database) →
//! `export` gives the same bytes, a second import changes nothing, and `slo-host validate`
//! accepts what we write and refuses the OpenSLO specification's own examples (and our refused
//! samples) with a message naming the field, exiting non-zero.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fresh_dir;

fn slo_host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args(args)
        .output()
        .expect("slo-host runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/openslo")
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn export_import_export_is_byte_identical_and_a_second_import_changes_nothing() {
    let dir = fresh_dir("openslo-round-trip");
    let (first_db, second_db) = (dir.join("first.db"), dir.join("second.db"));
    let (first, second) = (dir.join("first.yaml"), dir.join("second.yaml"));
    let demo = slo_host(&["demo", "--db", arg(&first_db)]);
    assert!(demo.status.success(), "{}", text(&demo));
    let out = slo_host(&[
        "openslo",
        "export",
        "--db",
        arg(&first_db),
        "--out",
        arg(&first),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = std::fs::read_to_string(&first).unwrap();
    assert_eq!(exported.matches("kind: SLO").count(), 2, "{exported}");
    assert!(exported.contains("budgetingMethod: Timeslices"));
    assert!(exported.contains("duration: 30d"));

    let valid = slo_host(&["validate", arg(&first)]);
    assert!(
        valid.status.success(),
        "our export validates: {}",
        text(&valid)
    );

    let imported = slo_host(&["openslo", "import", arg(&first), "--db", arg(&second_db)]);
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(
        text(&imported).contains("2 objective(s) created"),
        "{}",
        text(&imported)
    );
    let list = |db: &Path| {
        let out = slo_host(&["call", "listObjectives", "--db", arg(db)]);
        assert!(out.status.success(), "{}", text(&out));
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        answer["objectives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["objective"].clone())
            .collect::<Vec<_>>()
    };
    let before = list(&second_db);
    let again = slo_host(&["openslo", "import", arg(&first), "--db", arg(&second_db)]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("0 objective(s) created, 0 updated, 2 unchanged"),
        "{}",
        text(&again)
    );
    assert_eq!(list(&second_db), before, "a second import changes nothing");

    let out = slo_host(&[
        "openslo",
        "export",
        "--db",
        arg(&second_db),
        "--out",
        arg(&second),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&second).unwrap(), exported);

    // An edited target updates the recorded objective in place.
    let edited = dir.join("edited.yaml");
    let first_target = exported
        .lines()
        .find(|l| l.trim_start().starts_with("target: "))
        .unwrap()
        .to_owned();
    let indent = &first_target[..first_target.len() - first_target.trim_start().len()];
    let changed = format!("{indent}target: 0.95");
    std::fs::write(&edited, exported.replacen(&first_target, &changed, 1)).unwrap();
    let update = slo_host(&["openslo", "import", arg(&edited), "--db", arg(&second_db)]);
    assert!(
        text(&update).contains("0 objective(s) created, 1 updated, 1 unchanged"),
        "{}",
        text(&update)
    );
    assert!(list(&second_db).iter().any(|o| o["target"] == 95.0));
}

#[test]
fn a_hand_written_availability_slo_imports_with_its_service() {
    let dir = fresh_dir("openslo-import");
    let db = dir.join("db.sqlite");
    let out = slo_host(&[
        "openslo",
        "import",
        arg(&samples().join("supported.yaml")),
        "--db",
        arg(&db),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 objective(s) created") && text(&out).contains("1 system(s) added"),
        "{}",
        text(&out)
    );
    let out = slo_host(&[
        "call",
        "getObjectivesForSystem",
        r#"{"systemId": "checkout"}"#,
        "--db",
        arg(&db),
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let objective = &rows[0]["objective"];
    assert_eq!(objective["target"], 99.5);
    assert_eq!(objective["windowDays"], 28, "4w");
    assert_eq!(objective["dependencyExclusion"], "self-only");
}

#[test]
fn validate_refuses_what_we_cannot_represent_naming_the_field() {
    let ok = slo_host(&[
        "validate",
        arg(&samples().join("supported.yaml")),
        arg(&samples().join("gitops-slo.yaml")),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("3 document(s) valid"));
    let cases = [
        ("spec-examples/occurences-slo.yaml", "(SLO search-slo): spec.indicator.spec.thresholdMetric.metricSource.type: Any: Checkstack cannot query that metric source"),
        ("spec-examples/ratio-timeslices.yaml", "(SLO main-page): spec.indicator.spec.ratioMetric: a ratio of two metric queries cannot be evaluated"),
        ("spec-examples/timeslices-slo.yaml", "(SLO service-availability): spec.indicator.spec.ratioMetric"),
        ("spec-examples/low-traffic-timeslices-slo.yaml", "(SLO service-availability): spec.indicator.spec.ratioMetric"),
        ("refused/calendar-window.yaml", "(SLO monthly): spec.timeWindow[0].isRolling: calendar windows are not supported"),
        ("refused/target-out-of-range.yaml", "(SLO too-good): spec.objectives[0].target: 99.9 is out of range"),
        ("refused/gitops-target.yaml", "(SLO over): spec.target: 150 is greater than the maximum of 100"),
    ];
    for (file, expected) in cases {
        let out = slo_host(&["validate", arg(&samples().join(file))]);
        assert!(!out.status.success(), "{file} must be refused");
        assert!(text(&out).contains(expected), "{file}: {}", text(&out));
        let import = slo_host(&["openslo", "import", arg(&samples().join(file))]);
        if file.starts_with("spec-examples") {
            assert!(!import.status.success(), "{file}: import refuses it too");
            assert!(
                text(&import).contains(expected),
                "{file}: {}",
                text(&import)
            );
        }
    }
}
