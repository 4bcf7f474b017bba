//! The host serves both contract versions: each component is bound to the version whose
//! exports it carries, a manifest that names another version is refused, and the per-call
//! context (invocation id, trace id) tags every log line whatever the plugin's version.

use slo_host::artifacts::{FROZEN_SLO_PLUGIN_0_1_PATH, MISBEHAVING_FIXTURE_PATH, SLO_PLUGIN_PATH};
use slo_host::host::Caller;
use slo_host::runtime::ContractVersion;
use slo_tests::{fixture_host, host_with, test_config};

fn bound_version(path: &str) -> ContractVersion {
    let host = host_with(path, test_config());
    let plugin = host.plugin().expect("loaded");
    plugin.compiled().contract_version()
}

#[test]
fn each_component_is_bound_to_the_version_whose_exports_it_carries() {
    assert_eq!(bound_version(SLO_PLUGIN_PATH), ContractVersion::V0_2);
    assert_eq!(
        bound_version(FROZEN_SLO_PLUGIN_0_1_PATH),
        ContractVersion::V0_1
    );
    assert_eq!(
        bound_version(MISBEHAVING_FIXTURE_PATH),
        ContractVersion::V0_1
    );
}

#[test]
fn both_versions_answer_the_same_reads() {
    let caller = Caller::user("admin", &["slo.read", "slo.manage"]);
    let answers: Vec<String> = [FROZEN_SLO_PLUGIN_0_1_PATH, SLO_PLUGIN_PATH]
        .iter()
        .map(|path| {
            let host = host_with(path, test_config());
            let created = host
                .call_rpc(
                    "createObjective",
                    r#"{"systemId":"api","target":99.5,"windowDays":7}"#,
                    &caller,
                )
                .expect("created");
            let id: serde_json::Value = serde_json::from_str(&created).unwrap();
            let listed = host
                .call_rpc("listObjectives", "{}", &caller)
                .expect("listed");
            listed.replace(id["id"].as_str().unwrap(), "<id>")
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn every_log_line_carries_its_invocation_and_a_trace_id() {
    let host = fixture_host();
    let caller = Caller::user("admin", &[]);
    for _ in 0..2 {
        // A panic writes to stderr, which the host logs for the invocation.
        let _ = host.call_rpc("trap", "{}", &caller);
    }
    let lines: Vec<_> = host
        .services()
        .log
        .lines()
        .into_iter()
        .filter(|l| l.export == "rpc.handle(trap)")
        .collect();
    assert!(lines.len() >= 2, "{lines:#?}");
    for line in &lines {
        assert!(line.invocation.starts_with("misbehaving#"), "{line:?}");
        assert_eq!(line.trace_id.len(), 32, "{line:?}");
        assert!(
            line.trace_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{line:?}"
        );
    }
    let first = &lines[0];
    let other = lines
        .iter()
        .find(|l| l.invocation != first.invocation)
        .expect("two invocations logged");
    assert_ne!(
        first.trace_id, other.trace_id,
        "each invocation has its own trace"
    );
}
