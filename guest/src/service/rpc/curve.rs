//! `getBudgetCurve`: the error budget an objective had left at chosen instants, for charts,
//! computed by the core's own formulas (`core::curve`) so that a chart ends exactly on the
//! status the other procedures report. A read: it never writes (F11).

use serde_json::{json, Value};

use super::{date_value, existing_objective};
use crate::core::burn::{alert_tiers, rates_json};
use crate::core::curve::{budget_curve as curve_points, even_instants, CurveInput};
use crate::core::objective::Fields;
use crate::core::status::{compute_status, window_start, Health, StatusInput};
use crate::core::time::{to_rfc3339, DAY_MS};
use crate::core::PluginError;
use crate::service::Env;
use crate::storage::{downtime, Database};

/// Most instants one call may ask for (F33).
pub const MAX_INSTANTS: usize = 1000;
/// Instants answered when the caller names neither `at` nor `points`: one per hour of a day,
/// plus the ends, for a 1-day window; the window in 96 equal steps otherwise.
pub const DEFAULT_POINTS: usize = 97;

/// `getBudgetCurve {objectiveId, at?: [date], points?: 2–1000}`:
/// `{objectiveId, systemName, from, to, points: [{at, errorBudgetRemainingPercent,
/// errorBudgetRemainingMinutes, currentAvailability}], maintenanceWindows: [{start, end,
/// status}], burnRates, burnAlert, burnAlertTiers: [{alert, long, short, threshold, longRate,
/// shortRate, firing}]}`.
///
/// `at` names the instants (none after now); `points` spreads that many over the objective's
/// window ending now (default 97). The last of the spread points is now, and equals the status's
/// `errorBudgetRemainingPercent`. The maintenance windows are the system's over the whole span,
/// whether or not the objective subtracts them, so that a timeline can shade them. The burn
/// rates and the alert tiers they are judged against are now's, as the status computes them.
pub fn budget_curve(db: &dyn Database, env: &dyn Env, input: &Value) -> Result<Value, PluginError> {
    let fields = Fields::of(input)?;
    let objective = existing_objective(db, &fields)?;
    let now = env.now_ms();
    let instants = match (fields.get("at"), fields.get("points")) {
        (Some(at), _) if !at.is_null() => requested_instants(at, now)?,
        (_, Some(points)) if !points.is_null() => {
            even_instants(now, objective.window_days, point_count(points)?)
        }
        _ => even_instants(now, objective.window_days, DEFAULT_POINTS),
    };
    let earliest = instants.iter().copied().min().unwrap_or(now);
    let from = window_start(earliest, objective.window_days);
    // Read once, far enough back for the earliest point's window and for the status's longest
    // burn-rate lookback (3 days), which is computed from the same rows.
    let read_from = from.min(now - 3 * DAY_MS);
    let events = downtime::overlapping_spans(db, &objective.id, read_from, now)?;
    let health_now = if events.iter().any(|e| e.end_ms.is_none()) {
        env.system_health(&objective.system_id)
    } else {
        Health::Healthy
    };
    let maintenance = env.maintenance_windows(&objective.system_id, read_from, now);
    let points = curve_points(
        &CurveInput {
            objective: &objective,
            now,
            events: &events,
            health_now,
            maintenance: &maintenance,
        },
        &instants,
    );
    let points: Vec<Value> = points
        .iter()
        .map(|p| {
            json!({
                "at": to_rfc3339(p.at),
                "errorBudgetRemainingPercent": p.remaining_percent,
                "errorBudgetRemainingMinutes": p.remaining_minutes,
                "currentAvailability": p.availability,
            })
        })
        .collect();
    let status = compute_status(&StatusInput {
        objective: &objective,
        now,
        events: &events,
        health: health_now,
        maintenance: &maintenance,
    });
    let tiers: Vec<Value> = alert_tiers(objective.window_days)
        .iter()
        .map(|tier| tier.to_json(&status.burn_rates))
        .collect();
    let windows: Vec<Value> = maintenance
        .iter()
        .filter(|w| w.end_ms >= from)
        .map(|w| {
            json!({
                "start": to_rfc3339(w.start_ms),
                "end": to_rfc3339(w.end_ms),
                "status": w.status,
            })
        })
        .collect();
    Ok(json!({
        "objectiveId": objective.id,
        "systemName": env.system_name(&objective.system_id),
        "from": to_rfc3339(from),
        "to": to_rfc3339(now),
        "points": points,
        "maintenanceWindows": windows,
        "burnRates": rates_json(&status.burn_rates),
        "burnAlert": status.burn_alert.as_str(),
        "burnAlertTiers": tiers,
    }))
}

/// `at`: a non-empty list of at most [`MAX_INSTANTS`] dates, none after `now`.
fn requested_instants(at: &Value, now: i64) -> Result<Vec<i64>, PluginError> {
    let Value::Array(items) = at else {
        return Err(PluginError::invalid_field("at", "expected a list of dates"));
    };
    if items.is_empty() || items.len() > MAX_INSTANTS {
        return Err(PluginError::invalid_field(
            "at",
            format!("must hold from 1 to {MAX_INSTANTS} dates"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let key = format!("at[{i}]");
            let instant = date_value(item).ok_or_else(|| {
                PluginError::invalid_field(&key, "expected an ISO 8601 date or epoch milliseconds")
            })?;
            if instant > now {
                return Err(PluginError::invalid_field(&key, "is after now"));
            }
            Ok(instant)
        })
        .collect()
}

/// `points`: an integer from 2 to [`MAX_INSTANTS`].
fn point_count(points: &Value) -> Result<usize, PluginError> {
    match points.as_f64() {
        Some(n) if n.fract() == 0.0 && (2.0..=MAX_INSTANTS as f64).contains(&n) => Ok(n as usize),
        _ => Err(PluginError::invalid_field(
            "points",
            format!("must be an integer from 2 to {MAX_INSTANTS}"),
        )),
    }
}
