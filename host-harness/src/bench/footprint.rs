//! Row 7: how big the component is and how much linear memory one invocation uses.

use super::{Progress, Row};
use crate::artifacts::SLO_PLUGIN_PATH;
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};
use crate::runtime::{PluginIdentity, TransactionMode};

fn kib(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// Row 7 (the host RSS during the daily job belongs to row 4).
pub fn rows(progress: &Progress) -> anyhow::Result<Vec<Row>> {
    progress.start("component footprint", 2);
    let size = std::fs::metadata(SLO_PLUGIN_PATH)?.len();
    progress.tick();
    let host = PluginHost::new(
        HostConfig {
            seed: Some(7),
            ..HostConfig::default()
        },
        Database::in_memory()?,
    )?;
    let plugin = host.load_file(std::path::Path::new(SLO_PLUGIN_PATH))?;
    let identity = PluginIdentity {
        id: plugin.id().into(),
        version: plugin.version().into(),
    };
    let init = super::fixtures::invoke_init(&host)?;
    let list = host
        .runtime()
        .invoke(
            plugin.compiled(),
            &identity,
            host.services(),
            "rpc.handle(listObjectives)",
            TransactionMode::Transaction,
            |p, store| {
                let caller = crate::bindings::types::Caller {
                    kind: crate::bindings::types::CallerKind::User,
                    id: Some("bench".into()),
                    access_rules: vec!["slo.read".into()],
                };
                p.call_handle(store, "listObjectives", &"{}".to_owned(), &caller)
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    progress.tick();
    progress.finish();
    Ok(vec![Row {
        number: 7,
        what: "component size (the `wasm-guest` release profile: opt-level s, LTO, stripped); peak linear memory of one invocation".into(),
        target: "size ≤ 1 MiB; memory reported".into(),
        result: format!(
            "**{}**; peak linear memory {} for `lifecycle.init`, {} for `listObjectives`",
            kib(size),
            kib(init.stats.peak_memory_bytes as u64),
            kib(list.stats.peak_memory_bytes as u64)
        ),
        met: Some(size <= 1 << 20),
    }])
}
