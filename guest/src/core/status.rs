//! `computeStatus` (slo-behaviour.md §4.4): an objective's status from its downtime events,
//! the system's health and maintenance, with no side effects.
//!
//! The storage layer supplies the events; the host supplies health and maintenance. This
//! module decides what they mean: whether open events count, which events enter the window
//! sums, and the `SloStatus` shape the API returns.

use serde_json::{json, Map, Value};

use super::budget::{budget_numbers, consumed_minutes, BudgetNumbers};
use super::burn::{
    budget_state, burn_alert, burn_rate, fast_burn, rates_json, BurnAlert, BurnRates, LOOKBACKS,
};
use super::objective::{DependencyExclusion, Objective};
use super::time::DAY_MS;
use super::window::{
    aggregate_windowed_downtime, Attribution, EventSpan, Interval, WindowedDowntime,
};

/// The system's effective health as the health service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Healthy.
    Healthy,
    /// Degraded or unhealthy.
    Unhealthy,
    /// The health service could not answer.
    Unknown,
}

/// A maintenance window as the maintenance service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Start, epoch ms.
    pub start_ms: i64,
    /// End, epoch ms.
    pub end_ms: i64,
    /// `scheduled`, `in_progress`, `completed`, `cancelled`…
    pub status: String,
}

/// Start of the rolling window ending at `now`: `now − windowDays × 86 400 000`.
pub fn window_start(now: i64, window_days: i64) -> i64 {
    now - window_days * DAY_MS
}

/// Whether open events count as ongoing downtime (§4.4 step 3).
///
/// No open events: no. Otherwise the system's health decides; an unknown answer keeps the
/// open events counting (decisions F11: the original treated an unreachable health service as
/// healthy and so dropped genuine outages).
pub fn currently_down(has_open_events: bool, health: Health) -> bool {
    has_open_events && health != Health::Healthy
}

/// The maintenance holes to subtract (§4.4 step 4): none unless the objective excludes
/// maintenance; cancelled windows never count.
pub fn maintenance_holes(objective: &Objective, windows: &[MaintenanceWindow]) -> Vec<Interval> {
    if !objective.exclude_maintenance_windows {
        return Vec::new();
    }
    windows
        .iter()
        .filter(|w| w.status != "cancelled")
        .map(|w| Interval {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
        })
        .collect()
}

/// Which stored events enter the window sums (§4.3): those overlapping the window, open ones
/// only while the system is currently down (a stale open event then has no effect).
pub fn counts_in_window(
    event: &EventSpan,
    window_start: i64,
    window_end: i64,
    include_open: bool,
) -> bool {
    event.start_ms <= window_end
        && match event.end_ms {
            Some(end) => end >= window_start,
            None => include_open,
        }
}

/// Everything `computeStatus` needs, already fetched.
pub struct StatusInput<'a> {
    /// The objective.
    pub objective: &'a Objective,
    /// Now, epoch ms.
    pub now: i64,
    /// Every event of the objective that may overlap the window (closed or open), ordered by
    /// start time then id (decisions F10).
    pub events: &'a [EventSpan],
    /// The system's effective health; only consulted when open events exist.
    pub health: Health,
    /// Maintenance windows overlapping the window (ignored unless the objective excludes them).
    pub maintenance: &'a [MaintenanceWindow],
}

/// A computed status: the numbers plus what the API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Budget numbers.
    pub budget: BudgetNumbers,
    /// The windowed downtime they came from.
    pub downtime: WindowedDowntime,
    /// Whether budget-relevant downtime is ongoing.
    pub has_open_downtime: bool,
    /// True burn rates over the A1 lookbacks (5 m, 30 m, 1 h, 6 h, 3 d).
    pub burn_rates: BurnRates,
    /// The multi-window alert they call for.
    pub burn_alert: BurnAlert,
    /// `ok`, `warning`, `critical` or `exhausted`, from the stored thresholds.
    pub budget_state: &'static str,
    /// Whether the 1 h burn rate reaches the fast-burn multiplier.
    pub fast_burn: bool,
}

/// `computeStatus` (§4.4 steps 1–7).
pub fn compute_status(input: &StatusInput<'_>) -> Status {
    let objective = input.objective;
    let start = window_start(input.now, objective.window_days);
    let open: Vec<&EventSpan> = input.events.iter().filter(|e| e.end_ms.is_none()).collect();
    let down = currently_down(!open.is_empty(), input.health);
    let holes = maintenance_holes(objective, input.maintenance);
    let counted: Vec<EventSpan> = input
        .events
        .iter()
        .filter(|e| counts_in_window(e, start, input.now, down))
        .cloned()
        .collect();
    let downtime = aggregate_windowed_downtime(&counted, start, input.now, input.now, &holes);
    let budget = budget_numbers(
        objective.target,
        objective.window_days,
        objective.dependency_exclusion,
        downtime.total_minutes,
        downtime.self_minutes,
        input.now,
        start,
    );
    let has_open_downtime = down
        && open.iter().any(|e| match objective.dependency_exclusion {
            DependencyExclusion::Strict => true,
            DependencyExclusion::SelfOnly => e.attribution == Attribution::SelfCaused,
        });
    let mut burn_rates: BurnRates = [None; 5];
    for (slot, (_, minutes)) in burn_rates.iter_mut().zip(LOOKBACKS) {
        let from = input.now - minutes * 60_000;
        let in_lookback: Vec<EventSpan> = input
            .events
            .iter()
            .filter(|e| counts_in_window(e, from, input.now, down))
            .cloned()
            .collect();
        let lookback =
            aggregate_windowed_downtime(&in_lookback, from, input.now, input.now, &holes);
        let consumed = consumed_minutes(
            objective.dependency_exclusion,
            lookback.total_minutes,
            lookback.self_minutes,
        );
        *slot = burn_rate(consumed, minutes, objective.target);
    }
    let thresholds = &objective.burn_rate_thresholds;
    Status {
        budget,
        downtime,
        has_open_downtime,
        burn_alert: burn_alert(&burn_rates, objective.window_days),
        budget_state: budget_state(budget.remaining_percent, thresholds),
        fast_burn: fast_burn(&burn_rates, thresholds),
        burn_rates,
    }
}

fn number_or_null(n: Option<f64>) -> Value {
    n.map_or(Value::Null, Value::from)
}

impl Status {
    /// The `SloStatus` JSON of §3 for `objective`.
    pub fn to_json(&self, objective: &Objective) -> Value {
        let b = &self.budget;
        let attribution: Vec<Value> = self
            .downtime
            .entries
            .iter()
            .map(|entry| {
                let mut out = Map::new();
                out.insert("sourceType".into(), Value::from(entry.attribution.as_str()));
                if let Some(id) = &entry.upstream_system_id {
                    out.insert("systemId".into(), Value::from(id.clone()));
                }
                if let Some(name) = &entry.upstream_system_name {
                    out.insert("systemName".into(), Value::from(name.clone()));
                }
                out.insert("minutes".into(), Value::from(entry.total_minutes));
                Value::Object(out)
            })
            .collect();
        json!({
            "objectiveId": objective.id,
            "systemId": objective.system_id,
            "target": objective.target,
            "windowDays": objective.window_days,
            "healthCheckConfigurationId": objective.health_check_configuration_id,
            "healthCheckConfigurationName": Value::Null,
            "currentAvailability": number_or_null(b.availability),
            "strictAvailability": number_or_null(b.strict_availability),
            "errorBudgetTotalMinutes": b.allowed,
            "errorBudgetConsumedMinutes": b.consumed,
            "errorBudgetConsumedStrictMinutes": b.consumed_strict,
            "errorBudgetRemainingMinutes": b.remaining,
            "errorBudgetRemainingPercent": b.remaining_percent,
            "burnRate": number_or_null(b.burn_rate),
            "dependencyExclusion": objective.dependency_exclusion.as_str(),
            "isBreaching": b.is_breaching,
            "hasOpenDowntime": self.has_open_downtime,
            "attribution": attribution,
            "burnRates": rates_json(&self.burn_rates),
            "burnAlert": self.burn_alert.as_str(),
            "budgetState": self.budget_state,
            "fastBurn": self.fast_burn,
        })
    }
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.2 computeStatus vectors 12–22 and maintenance wiring 42–45.
    use super::*;
    use crate::core::objective::BurnRateThresholds;

    const NOW: i64 = 1_780_531_200_000;
    const MIN: i64 = 60_000;

    fn objective(mode: DependencyExclusion) -> Objective {
        Objective {
            id: "obj-1".into(),
            system_id: "sys-1".into(),
            health_check_configuration_id: None,
            target: 99.9,
            window_days: 30,
            dependency_exclusion: mode,
            excluded_dependency_ids: None,
            exclude_maintenance_windows: false,
            burn_rate_thresholds: BurnRateThresholds::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn span(start: i64, end: Option<i64>, attribution: Attribution) -> EventSpan {
        let upstream = attribution == Attribution::Upstream;
        EventSpan {
            start_ms: start,
            end_ms: end,
            attribution,
            upstream_system_id: upstream.then(|| "up-1".into()),
            upstream_system_name: upstream.then(|| "up-1".into()),
        }
    }

    fn status(
        objective: &Objective,
        events: &[EventSpan],
        health: Health,
        maintenance: &[MaintenanceWindow],
    ) -> Status {
        compute_status(&StatusInput {
            objective,
            now: NOW,
            events,
            health,
            maintenance,
        })
    }

    #[test]
    fn v12_no_downtime_leaves_the_whole_budget() {
        let s = status(
            &objective(DependencyExclusion::SelfOnly),
            &[],
            Health::Healthy,
            &[],
        );
        assert_eq!(
            (
                s.budget.consumed,
                s.budget.remaining_percent,
                s.budget.is_breaching
            ),
            (0.0, 100.0, false)
        );
    }

    #[test]
    fn v13_v14_self_only_counts_self_minutes_and_strict_counts_all() {
        let events = [
            span(
                NOW - 60 * MIN,
                Some(NOW - 50 * MIN),
                Attribution::SelfCaused,
            ),
            span(NOW - 40 * MIN, Some(NOW - 20 * MIN), Attribution::Upstream),
        ];
        let self_only = status(
            &objective(DependencyExclusion::SelfOnly),
            &events,
            Health::Healthy,
            &[],
        );
        assert_eq!(
            (self_only.budget.consumed, self_only.budget.consumed_strict),
            (10.0, 30.0)
        );
        let strict = status(
            &objective(DependencyExclusion::Strict),
            &events,
            Health::Healthy,
            &[],
        );
        assert_eq!(strict.budget.consumed, 30.0);
    }

    #[test]
    fn v15_fifty_minutes_breach_99_9() {
        let events = [span(NOW - 50 * MIN, Some(NOW), Attribution::SelfCaused)];
        let s = status(
            &objective(DependencyExclusion::SelfOnly),
            &events,
            Health::Healthy,
            &[],
        );
        assert!(s.budget.is_breaching);
        assert_eq!(s.budget.availability, Some(99.88425925925925));
    }

    #[test]
    fn v16_to_v18_open_events_and_attribution_while_down() {
        let upstream_open = [span(NOW, None, Attribution::Upstream)];
        let s = status(
            &objective(DependencyExclusion::SelfOnly),
            &upstream_open,
            Health::Unhealthy,
            &[],
        );
        assert_eq!(
            (
                s.budget.availability,
                s.budget.remaining_percent,
                s.has_open_downtime
            ),
            (Some(100.0), 100.0, false)
        );

        let self_open = [span(NOW, None, Attribution::SelfCaused)];
        assert!(
            status(
                &objective(DependencyExclusion::SelfOnly),
                &self_open,
                Health::Unhealthy,
                &[]
            )
            .has_open_downtime
        );
        assert!(
            status(
                &objective(DependencyExclusion::Strict),
                &upstream_open,
                Health::Unhealthy,
                &[]
            )
            .has_open_downtime
        );
    }

    #[test]
    fn v19_v20_health_decides_whether_open_events_count() {
        let open = [span(NOW - 30 * MIN, None, Attribution::SelfCaused)];
        let healthy = status(
            &objective(DependencyExclusion::SelfOnly),
            &open,
            Health::Healthy,
            &[],
        );
        assert!(!healthy.has_open_downtime);
        assert_eq!(
            healthy.budget.consumed, 0.0,
            "a stale open event has no effect"
        );
        let down = status(
            &objective(DependencyExclusion::SelfOnly),
            &open,
            Health::Unhealthy,
            &[],
        );
        assert!(down.has_open_downtime);
        assert_eq!(down.budget.consumed, 30.0);
    }

    /// decisions.md F11: an unreachable health service is not "healthy"; open events keep counting.
    #[test]
    fn f11_unknown_health_keeps_open_events_counting() {
        let open = [span(NOW - 30 * MIN, None, Attribution::SelfCaused)];
        let unknown = status(
            &objective(DependencyExclusion::SelfOnly),
            &open,
            Health::Unknown,
            &[],
        );
        assert!(unknown.has_open_downtime);
        assert_eq!(unknown.budget.consumed, 30.0);
    }

    #[test]
    fn v42_to_v45_maintenance_exclusion() {
        let events = [span(NOW - 60 * MIN, Some(NOW), Attribution::SelfCaused)];
        let window = |status: &str| MaintenanceWindow {
            start_ms: NOW - 60 * MIN,
            end_ms: NOW - 30 * MIN,
            status: status.into(),
        };
        let mut o = objective(DependencyExclusion::Strict);
        let round = |x: f64| (x * 1e5).round() / 1e5;

        assert_eq!(
            round(
                status(&o, &events, Health::Healthy, &[window("completed")])
                    .budget
                    .consumed
            ),
            60.0
        );
        o.exclude_maintenance_windows = true;
        assert_eq!(
            round(
                status(&o, &events, Health::Healthy, &[window("completed")])
                    .budget
                    .consumed
            ),
            30.0
        );
        assert_eq!(
            round(
                status(&o, &events, Health::Healthy, &[window("cancelled")])
                    .budget
                    .consumed
            ),
            60.0
        );
        let scheduled = status(&o, &events, Health::Healthy, &[window("scheduled")])
            .budget
            .consumed;
        let completed = status(&o, &events, Health::Healthy, &[window("completed")])
            .budget
            .consumed;
        assert_eq!(scheduled, completed);
    }

    /// decisions.md A1: a 10-minute outage ending now on a 99.9 %/30 d objective burns the
    /// last hour at 10 / 0.06 ≈ 166.7 and pages; the budget state follows the thresholds.
    #[test]
    fn a1_burn_rates_and_alerts() {
        let o = objective(DependencyExclusion::Strict);
        let events = [span(NOW - 10 * MIN, Some(NOW), Attribution::SelfCaused)];
        let s = status(&o, &events, Health::Healthy, &[]);
        let h1 = s.burn_rates[2].unwrap();
        assert!((h1 - 10.0 / (60.0 * (100.0 - 99.9) / 100.0)).abs() < 1e-9);
        assert_eq!(
            s.burn_rates[0],
            burn_rate(5.0, 5, 99.9),
            "the 5 m lookback sees 5 minutes"
        );
        assert_eq!(s.burn_alert, BurnAlert::Page);
        assert!(s.fast_burn);
        assert_eq!(s.budget_state, "ok", "10 of 43.2 minutes is 23 % consumed");
        let longer = [span(NOW - 30 * MIN, Some(NOW), Attribution::SelfCaused)];
        assert_eq!(
            status(&o, &longer, Health::Healthy, &[]).budget_state,
            "warning",
            "69 % consumed"
        );
    }

    #[test]
    fn events_outside_the_window_do_not_count() {
        let old = [span(
            NOW - 40 * DAY_MS,
            Some(NOW - 35 * DAY_MS),
            Attribution::SelfCaused,
        )];
        assert_eq!(
            status(
                &objective(DependencyExclusion::Strict),
                &old,
                Health::Healthy,
                &[]
            )
            .budget
            .consumed,
            0.0
        );
    }

    #[test]
    fn status_json_has_the_api_fields() {
        let o = objective(DependencyExclusion::SelfOnly);
        let events = [span(
            NOW - 20 * MIN,
            Some(NOW - 10 * MIN),
            Attribution::Upstream,
        )];
        let json = status(&o, &events, Health::Healthy, &[]).to_json(&o);
        assert_eq!(json["objectiveId"], "obj-1");
        assert_eq!(json["healthCheckConfigurationName"], Value::Null);
        assert_eq!(json["errorBudgetTotalMinutes"], 43.199999999997544);
        assert_eq!(
            json["attribution"],
            json!([{"sourceType": "upstream", "systemId": "up-1", "systemName": "up-1", "minutes": 10.0}])
        );
    }
}
