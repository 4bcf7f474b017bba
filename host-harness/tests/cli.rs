//! The `slo-host` binary as a user runs it: the README's first command and the scenario
//! runner's exit codes and messages.

use std::process::Command;

fn slo_host(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slo-host"))
        .args(args)
        .output()
        .expect("slo-host runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_demo_runs_the_bundled_scenario_and_every_expectation_holds() {
    let (ok, stdout, stderr) = slo_host(&["demo"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Scenario: demo: an upstream outage"),
        "{stdout}"
    );
    assert!(stdout.contains("db-budget-below-half"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("Every expectation held."),
        "{stdout}"
    );
}

#[test]
fn a_bad_scenario_file_fails_before_running_naming_step_and_field() {
    let dir = std::env::temp_dir().join(format!("slo-host-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"name": "bad", "start": "2026-06-01T00:00:00Z", "systems": [],
            "steps": [{"advance": "1h"}, {"advance": "ten minutes"}]}"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = slo_host(&["scenario", "run", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(stdout.is_empty(), "nothing ran: {stdout}");
    assert!(stderr.contains("step 1"), "{stderr}");
    assert!(stderr.contains("advance"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_bench_command_prints_its_rows_and_refuses_unknown_ones() {
    let (ok, stdout, stderr) = slo_host(&["bench", "--quick", "--rows", "7,8"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("| 7 | component size"), "{stdout}");
    assert!(stdout.contains("| 8 | instruction counts"), "{stdout}");
    assert!(stdout.contains("init.slo"), "{stdout}");
    let (ok, _, stderr) = slo_host(&["bench", "--rows", "99"]);
    assert!(!ok);
    assert!(stderr.contains("there is no benchmark row 99"), "{stderr}");
}
