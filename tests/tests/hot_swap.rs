//! Hot-swapping plugin versions with real components: the next SLO release and back, the
//! artifact cache, every refusal leaving the old version serving and the schema as it was,
//! and the crash policy's automatic rollback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use slo_host::artifacts::{
    FIXTURE_FUTURE_CONTRACT_PATH, FIXTURE_INIT_FAILS_PATH, FIXTURE_INIT_SPINS_PATH,
    FIXTURE_MIGRATION_FAILS_PATH, FIXTURE_SECOND_PATH, FROZEN_SLO_PLUGIN_0_1_PATH,
    MISBEHAVING_FIXTURE_PATH, SLO_PLUGIN_NEXT_PATH, SLO_PLUGIN_PATH,
};
use slo_host::capabilities::sql::Database;
use slo_host::host::{Caller, HostConfig, LoadError, PluginHost, ProbeBudget, VersionEvent};
use slo_host::runtime::{CacheOutcome, EngineOptions, Failure, Limits};
use slo_tests::{fixture_host_on, slo_host_on, test_config, Backend};

fn admin() -> Caller {
    Caller::user("admin", &["slo.read", "slo.manage"])
}

fn rpc(host: &PluginHost, procedure: &str, input: Value) -> Result<Value, String> {
    host.call_rpc(procedure, &input.to_string(), &admin())
        .map(|out| serde_json::from_str(&out).unwrap())
        .map_err(|e| e.to_string())
}

/// On SQLite.
mod sqlite {
    use super::*;
    const BACKEND: Backend = Backend::Sqlite;
    include!("hot_swap/cases.rs");
}

/// On PostgreSQL: the same swaps, refusals and rollbacks.
mod postgres {
    use super::*;
    const BACKEND: Backend = Backend::Postgres;
    include!("hot_swap/cases.rs");
}
