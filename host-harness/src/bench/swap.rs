//! Row 6: hot-swap latency, a cold compile against a cached artifact, measured in one run.

use std::time::Duration;

use super::measure::{millis, ratio};
use super::{Progress, Row};
use crate::artifacts::{SLO_PLUGIN_NEXT_PATH, SLO_PLUGIN_PATH};
use crate::capabilities::sql::Database;
use crate::host::{HostConfig, PluginHost};
use crate::runtime::CacheOutcome;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A host with a fresh artifact cache in a temporary directory and the SLO plugin loaded.
fn host(cache: &std::path::Path) -> anyhow::Result<PluginHost> {
    let config = HostConfig {
        artifact_cache: Some(cache.to_path_buf()),
        seed: Some(7),
        ..HostConfig::default()
    };
    let host = PluginHost::new(config, Database::in_memory()?)?;
    host.load_file(std::path::Path::new(SLO_PLUGIN_PATH))?;
    Ok(host)
}

/// Row 6.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let (cold_runs, cached_swaps) = if quick { (2, 10) } else { (5, 40) };
    progress.start("hot-swap latency", (cold_runs + cached_swaps) as u64);
    let next = std::fs::read(SLO_PLUGIN_NEXT_PATH)?;
    let current = std::fs::read(SLO_PLUGIN_PATH)?;
    let scratch = std::env::temp_dir().join(format!("slo-bench-swap-{}", std::process::id()));
    let mut cold = Vec::new();
    for run in 0..cold_runs {
        let cache = scratch.join(format!("cold-{run}"));
        let host = host(&cache)?;
        let report = host.swap_bytes(&next)?;
        anyhow::ensure!(
            report.compile == CacheOutcome::Miss,
            "a cold swap hit the cache"
        );
        cold.push(report.elapsed);
        progress.tick();
    }
    let host = host(&scratch.join("cached"))?;
    host.swap_bytes(&next)?;
    let mut cached = Vec::new();
    for i in 0..cached_swaps {
        let bytes = if i % 2 == 0 { &current } else { &next };
        let report = host.swap_bytes(bytes)?;
        anyhow::ensure!(
            report.compile == CacheOutcome::Hit,
            "a cached swap compiled"
        );
        cached.push(report.elapsed);
        progress.tick();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    progress.finish();
    let (cold, cached_max) = (
        median(cold),
        cached.iter().max().copied().unwrap_or_default(),
    );
    let cached = median(cached);
    Ok(vec![Row {
        number: 6,
        what: "hot-swap latency (compile or cache, link, manifest, migrations + `init` probe, re-registration, switch), 0.1.0 ⇄ 0.2.0".into(),
        target: "cached ≤ 50 ms".into(),
        result: format!(
            "cached median **{}** (max {}, {cached_swaps} swaps); cold compile median {} ({cold_runs} runs): cold/cached {:.0}×",
            millis(cached),
            millis(cached_max),
            millis(cold),
            ratio(cold, cached)
        ),
        met: Some(cached <= Duration::from_millis(50)),
    }])
}
