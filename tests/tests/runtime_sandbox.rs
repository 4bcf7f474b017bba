//! The runtime's failure paths, against the real misbehaving fixture component: every failure
//! is typed, rolls back, publishes nothing, and leaves the host able to serve the next call.

use std::time::{Duration, Instant};

use serde_json::Value;
use slo_host::artifacts;
use slo_host::host::{Caller, PluginHost};
use slo_host::runtime::{EngineOptions, Failure, InvocationError, Limits};
use slo_tests::{
    database_contents, fixture_host, fixture_host_on, host_on, test_config, test_limits, Backend,
    START_MS,
};

/// The failure matrix on SQLite.
mod sqlite {
    use super::*;
    const BACKEND: Backend = Backend::Sqlite;
    include!("runtime_sandbox/cases.rs");
}

/// The failure matrix on PostgreSQL: the same failures, the same rollbacks.
mod postgres {
    use super::*;
    const BACKEND: Backend = Backend::Postgres;
    include!("runtime_sandbox/cases.rs");
}

/// SQLite only: `INSERT OR ROLLBACK` makes SQLite end the transaction by itself. PostgreSQL
/// has no such statement (it is a syntax error there, which leaves the transaction usable).
#[test]
fn a_transaction_the_database_rolled_back_cannot_be_committed_by_an_ok() {
    let host = fixture_host();
    match sqlite::fails_cleanly(&host, "lost-transaction") {
        Failure::Host { message } => assert!(message.contains("rolled back"), "{message}"),
        other => panic!("expected the host to refuse the commit, got {other:?}"),
    }
}
