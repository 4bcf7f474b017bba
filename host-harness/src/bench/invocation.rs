//! Rows 1 and 2: what one invocation costs. A fresh instance from the pre-instantiated
//! template plus a trivial export (`lifecycle.init`, no database), for the SLO component and
//! for the empty fixture (the runtime's floor), on one engine; then the same on an engine with
//! the pooling allocator, when the machine supports one.

use super::measure::{interleaved, micros, ratio, Timing};
use super::{Progress, Row};
use crate::artifacts::{FIXTURE_EMPTY_PATH, SLO_PLUGIN_PATH};
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};
use crate::runtime::{pooling_supported, EngineOptions};

/// A host with the component loaded.
struct Contender {
    host: PluginHost,
}

impl Contender {
    fn load(engine: EngineOptions, path: &str) -> anyhow::Result<Contender> {
        let config = HostConfig {
            engine,
            seed: Some(7),
            ..HostConfig::default()
        };
        let host = PluginHost::new(config, Database::in_memory()?)?;
        host.load_file(std::path::Path::new(path))?;
        Ok(Contender { host })
    }

    /// One invocation: instantiate, call `init`, tear down.
    fn invoke(&self) {
        if let Err(e) = super::fixtures::invoke_init(&self.host) {
            panic!("the benchmark invocation failed: {e}");
        }
    }
}

/// Median per-invocation time of the SLO component and of the empty one on `engine`.
fn measure(
    engine: EngineOptions,
    batches: usize,
    per_batch: usize,
    progress: &Progress,
) -> anyhow::Result<(Timing, Timing)> {
    let slo = Contender::load(engine, SLO_PLUGIN_PATH)?;
    let empty = Contender::load(engine, FIXTURE_EMPTY_PATH)?;
    Ok(interleaved(
        batches,
        per_batch,
        || slo.invoke(),
        || empty.invoke(),
        || progress.tick(),
    ))
}

/// Rows 1 and 2.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let (batches, per_batch) = if quick { (10, 50) } else { (30, 200) };
    let pooling = pooling_supported();
    let engines = if pooling.is_ok() { 2 } else { 1 };
    progress.start("per-invocation overhead", (batches * engines) as u64);
    let on_demand = EngineOptions::default();
    let (slo, empty) = measure(on_demand, batches, per_batch, progress)?;
    let overhead = ratio(slo.median, empty.median);
    let mut rows = vec![Row {
        number: 1,
        what: "per-invocation overhead: fresh instance + `lifecycle.init`, SLO component vs the empty component, same engine (on-demand allocation)".into(),
        target: "≤ 2.0×".into(),
        result: format!(
            "SLO {} vs empty {} per invocation (medians of {batches} interleaved batches of {per_batch}): **{overhead:.2}×**",
            micros(slo.median),
            micros(empty.median)
        ),
        met: Some(overhead <= 2.0),
    }];
    let row2 = match pooling {
        Ok(()) => {
            let pooled = EngineOptions {
                pooling: true,
                ..EngineOptions::default()
            };
            let (slo_pooled, empty_pooled) = measure(pooled, batches, per_batch, progress)?;
            let speedup = ratio(slo.median, slo_pooled.median);
            Row {
                number: 2,
                what: "pooling allocator vs on-demand for row 1".into(),
                target: "report; use the faster by default".into(),
                result: format!(
                    "pooling: SLO {} (empty {}); on-demand: SLO {} (empty {}). Pooling is **{speedup:.2}×** as fast for the SLO component",
                    micros(slo_pooled.median),
                    micros(empty_pooled.median),
                    micros(slo.median),
                    micros(empty.median)
                ),
                met: None,
            }
        }
        Err(reason) => Row {
            number: 2,
            what: "pooling allocator vs on-demand for row 1".into(),
            target: "report; use the faster by default".into(),
            result: format!(
                "pooling is not available on this machine ({reason}); on-demand is used"
            ),
            met: None,
        },
    };
    rows.push(row2);
    progress.finish();
    Ok(rows)
}
