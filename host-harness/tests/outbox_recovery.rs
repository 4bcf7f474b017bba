//! What a committed invocation published survives a crash before it was routed: its durable
//! outbox rows commit with the invocation, and the next host over the database routes them.

use slo_host::artifacts::SLO_PLUGIN_COMPONENT;
use slo_host::capabilities::clock::Clock;
use slo_host::capabilities::sql::Database;
use slo_host::host::{Caller, HostConfig};
use slo_host::platform::Simulation;

fn start(db: &std::path::Path) -> Simulation {
    let config = HostConfig {
        clock: Clock::virtual_at(1_780_272_000_000),
        seed: Some(7),
        ..HostConfig::default()
    };
    Simulation::start(config, Database::file(db).unwrap(), SLO_PLUGIN_COMPONENT).unwrap()
}

fn outbox_rows(sim: &Simulation) -> i64 {
    sim.database()
        .checkout()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM _host_outbox", &[])
        .unwrap()
        .expect("a count")
        .get(0)
        .unwrap()
}

fn slo_changes(sim: &Simulation) -> usize {
    sim.records()
        .entity_changes
        .iter()
        .filter(|c| c.kind == "slo")
        .count()
}

#[test]
fn publications_committed_but_not_routed_are_routed_by_the_next_host() {
    let dir = std::env::temp_dir().join(format!("slo-outbox-recovery-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("db.sqlite");

    let mut first = start(&db);
    first.add_system("api", "API").unwrap();
    first.settle().unwrap();
    assert_eq!(outbox_rows(&first), 0, "routed publications leave no rows");
    let ops = Caller::user("ops", &["slo.read", "slo.manage"]);
    first
        .host()
        .call_rpc(
            "createObjective",
            r#"{"systemId": "api", "target": 99.9, "windowDays": 30}"#,
            &ops,
        )
        .unwrap();
    // The objective committed, and with it the request to create its `slo` entity; the host
    // dies before routing it.
    let pending = outbox_rows(&first);
    assert!(pending > 0);
    assert_eq!(slo_changes(&first), 0);
    drop(first);

    let mut second = start(&db);
    assert_eq!(slo_changes(&second), 0);
    second.restore_platform().unwrap();
    let routed = second.recover_outbox().unwrap();
    assert_eq!(routed as i64, pending);
    second.settle().unwrap();
    assert_eq!(
        slo_changes(&second),
        1,
        "the slo entity was created after the crash"
    );
    assert_eq!(outbox_rows(&second), 0);
    assert_eq!(second.recover_outbox().unwrap(), 0, "recovery runs once");

    // A third start finds nothing left to recover, and no second entity change is made.
    drop(second);
    let mut third = start(&db);
    third.restore_platform().unwrap();
    assert_eq!(third.recover_outbox().unwrap(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
