//! Row 12: simulated time. `tests/scenarios/quiet_month.json` (10 systems with objectives, no
//! outage, 30 simulated days) through the scenario runner; beside it the same month without
//! the file's expectations (each builds a report), quiet and with one 2-hour outage in the
//! middle: the `slo` entity refresh runs only while downtime is open (a delayed job that
//! re-enqueues itself), so a quiet month costs its 30 daily and 5 weekly jobs, where a minute
//! cron fired 43,200 times.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use super::measure::millis;
use super::{Progress, Row};
use crate::artifacts::{FROZEN_SLO_PLUGIN_0_1_PATH, SLO_PLUGIN_COMPONENT};
use crate::capabilities::sql::Database;
use crate::platform::HealthStatus;
use crate::scenario::model::{Action, Step};
use crate::scenario::{self, Scenario};

/// The quiet month (also run, with its expectations, by `cargo test`).
const QUIET_MONTH: &str = include_str!("../../../tests/scenarios/quiet_month.json");

/// The system that goes down in the outage variant, and for how long.
const OUTAGE_SYSTEM: &str = "search";
const OUTAGE_MS: i64 = 2 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The quiet month's objectives and 30 days, without its expectations; with `outage`, one
/// outage of [`OUTAGE_SYSTEM`], [`OUTAGE_MS`] long, opening on day 15 at 10:00:30 (off the
/// minute, as outages are). Either ends on the same instant as the quiet month.
fn month(quiet: &Scenario, outage: bool) -> Scenario {
    let mut steps: Vec<Step> = quiet
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Rpc { .. }))
        .cloned()
        .collect();
    let step = |action| Step {
        action,
        label: None,
    };
    if outage {
        let opens = quiet.start_ms + 14 * DAY_MS + 10 * 3_600_000 + 30_000;
        steps.extend([
            step(Action::At(opens)),
            step(Action::Health {
                system: OUTAGE_SYSTEM.into(),
                status: HealthStatus::Unhealthy,
            }),
            step(Action::At(opens + OUTAGE_MS)),
            step(Action::Health {
                system: OUTAGE_SYSTEM.into(),
                status: HealthStatus::Healthy,
            }),
        ]);
    }
    steps.push(step(Action::At(quiet.start_ms + 30 * DAY_MS)));
    let name = if outage {
        "with one 2-hour outage"
    } else {
        "without its expectations"
    };
    Scenario {
        name: format!("{}, {name}", quiet.name),
        steps,
        ..quiet.clone()
    }
}

/// One run: its wall time and its report.
fn run_once(scenario: &Scenario) -> anyhow::Result<(Duration, Value)> {
    run_with(scenario, SLO_PLUGIN_COMPONENT)
}

/// One run of `component`: its wall time and its report.
fn run_with(scenario: &Scenario, component: &[u8]) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let report = scenario::run(scenario, Database::in_memory()?, component)
        .map_err(|e| anyhow::anyhow!("{}: {e}", scenario.name))?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        report["ok"] == Value::Bool(true),
        "{}: {}",
        scenario.name,
        report["failures"]
    );
    Ok((elapsed, report))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// (total invocations, `handlers.on-job` invocations) of a report.
fn invocations(report: &Value) -> (u64, u64) {
    let counts = &report["invocations"];
    (
        counts["total"].as_u64().unwrap_or(0),
        counts["byExport"]["handlers.on-job"].as_u64().unwrap_or(0),
    )
}

/// Row 12.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let runs = if quick { 1 } else { 5 };
    progress.start("simulated month", runs as u64);
    let quiet = scenario::parse(QUIET_MONTH)
        .map_err(|e| anyhow::anyhow!("quiet_month.json: {e}"))
        .context("row 12's scenario")?;
    let bare = month(&quiet, false);
    let outage = month(&quiet, true);
    // One untimed run each (it checks the reports), then interleaved timed runs.
    let (_, quiet_report) = run_once(&quiet)?;
    let (_, bare_report) = run_once(&bare)?;
    let (_, outage_report) = run_once(&outage)?;
    anyhow::ensure!(
        bare_report["downtimeEvents"].as_array().map_or(0, Vec::len) == 0,
        "the bare month records no downtime"
    );
    let events = outage_report["downtimeEvents"]
        .as_array()
        .map_or(0, Vec::len);
    anyhow::ensure!(
        events == 1 && outage_report["downtimeEvents"][0]["durationSeconds"] == 7200.0,
        "the outage variant should record one 2-hour event: {}",
        outage_report["downtimeEvents"]
    );
    let (mut quiet_times, mut bare_times, mut outage_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        quiet_times.push(run_once(&quiet)?.0);
        bare_times.push(run_once(&bare)?.0);
        outage_times.push(run_once(&outage)?.0);
        progress.tick();
    }
    progress.finish();
    let quiet_time = median(quiet_times);
    let (bare_time, outage_time) = (median(bare_times), median(outage_times));
    let (quiet_total, quiet_jobs) = invocations(&quiet_report);
    let (bare_total, bare_jobs) = invocations(&bare_report);
    let (outage_total, outage_jobs) = invocations(&outage_report);
    // The frozen 0.1.0 build refreshes on a minute cron: one run of the same quiet month shows
    // what the chain saves (skipped in a quick run: it takes tens of seconds).
    let frozen = if quick {
        String::new()
    } else {
        let bytes = std::fs::read(FROZEN_SLO_PLUGIN_0_1_PATH)
            .with_context(|| format!("reading {FROZEN_SLO_PLUGIN_0_1_PATH}"))?;
        let (time, report) = run_with(&quiet, &bytes)?;
        let (total, jobs) = invocations(&report);
        format!(
            "; the frozen contract 0.1.0 build, which refreshed on a minute cron, takes {} on the quiet month ({total} invocations, {jobs} jobs): **{:.1}×** this build",
            millis(time),
            time.as_secs_f64() / quiet_time.as_secs_f64().max(1e-9)
        )
    };
    Ok(vec![Row {
        number: 12,
        what: "simulated time: a 30-day scenario of a quiet catalog (10 systems, no outage; `tests/scenarios/quiet_month.json` through the scenario runner, its 10 expectations and final report included), release build; beside it the same month without its expectations, quiet and with one 2-hour outage, to show the `slo` entity refresh costs only while downtime is open".into(),
        target: "< 2 s".into(),
        result: format!(
            "quiet month **{}** ({quiet_total} invocations, {quiet_jobs} of them jobs: the 30 daily and 5 weekly runs); without its expectations {} ({bare_total} invocations, {bare_jobs} jobs), with one 2-hour outage {} ({outage_total} invocations, {outage_jobs} jobs: {} refresh runs while it was open); medians of {runs} interleaved runs, each loading (compiling) the component afresh as `slo-host scenario run` does{frozen}",
            millis(quiet_time),
            millis(bare_time),
            millis(outage_time),
            outage_jobs.saturating_sub(bare_jobs),
        ),
        met: Some(quiet_time < Duration::from_secs(2)),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variants keep the quiet month's objectives and end, drop its expectations, and only
    /// the outage one has health changes.
    #[test]
    fn the_variants_are_the_quiet_month_without_expectations() {
        let quiet = scenario::parse(QUIET_MONTH).unwrap();
        let kinds = |s: &Scenario, kind: &str| {
            s.steps
                .iter()
                .filter(|step| step.action.kind() == kind)
                .count()
        };
        assert_eq!(kinds(&quiet, "rpc"), 10);
        for (outage, health) in [(false, 0), (true, 2)] {
            let variant = month(&quiet, outage);
            assert_eq!(kinds(&variant, "rpc"), 10);
            assert_eq!(kinds(&variant, "expect"), 0);
            assert_eq!(kinds(&variant, "health"), health);
            assert_eq!(
                variant.steps.last().map(|s| s.action.clone()),
                Some(Action::At(quiet.start_ms + 30 * DAY_MS))
            );
            assert_eq!(variant.systems, quiet.systems);
        }
    }
}
