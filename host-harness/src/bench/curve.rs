//! Row 11: what the dashboard's objective page costs the plugin. `getBudgetCurve` runs
//! computeStatus once per point (97 by default) over the events as they stood at that point;
//! this row measures one curve against one status (`getObjective`, cache emptied) over the
//! same objective with 1,000 downtime events, both in the component on SQLite.

use serde_json::json;

use super::fixtures;
use super::instructions::EVENTS;
use super::measure::{interleaved, micros, ratio};
use super::{Progress, Row};
use crate::capabilities::sql::Database;

/// Points of the dashboard's budget chart (`getBudgetCurve`'s default).
const POINTS: usize = 97;

/// Row 11.
pub fn rows(quick: bool, progress: &Progress) -> anyhow::Result<Vec<Row>> {
    let (batches, per_batch) = if quick { (3, 2) } else { (10, 5) };
    progress.start("budget curve vs status", batches as u64);
    let host = fixtures::slo_host_with_api(Database::in_memory()?)?;
    let id = fixtures::objective_with_downtime(&host, "api", EVENTS)?;
    let curve_input = json!({ "objectiveId": id, "points": POINTS });
    let (curve, status) = interleaved(
        batches,
        per_batch,
        || {
            if let Err(e) = fixtures::read_rpc(&host, "getBudgetCurve", &curve_input) {
                panic!("getBudgetCurve failed: {e}");
            }
        },
        || {
            if let Err(e) = fixtures::compute_status(&host, &id) {
                panic!("getObjective failed: {e}");
            }
        },
        || progress.tick(),
    );
    progress.finish();
    let times = ratio(curve.median, status.median);
    Ok(vec![Row {
        number: 11,
        what: format!(
            "the dashboard's objective page: `getBudgetCurve` ({POINTS} points, each a computeStatus over the window ending there) vs one `getObjective` (cache emptied), an objective with {EVENTS} downtime events over 30 days, in the component on SQLite"
        ),
        target: format!("report; a curve should cost well under {POINTS} statuses"),
        result: format!(
            "curve {} vs status {} per call (medians of {batches} interleaved batches of {per_batch}): **{times:.1}×** one status for {POINTS} points",
            micros(curve.median),
            micros(status.median)
        ),
        met: None,
    }])
}
