//! The error-budget curve: the budget an objective had left at chosen instants, each one
//! computed by `computeStatus` (§4.4) for the rolling window ending at that instant.
//!
//! The curve exists for charts. Because every point goes through the same formulas as the
//! status, a chart drawn from it ends exactly on the `errorBudgetRemainingPercent` the API
//! reports for now, and a point in the past is what the status said at that instant (given the
//! events as they are recorded today).

use super::objective::Objective;
use super::status::{compute_status, Health, MaintenanceWindow, StatusInput};
use super::window::EventSpan;

/// The budget at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// The instant, epoch ms.
    pub at: i64,
    /// Error budget left, in percent of the allowed minutes (negative once overspent).
    pub remaining_percent: f64,
    /// Error budget left, in minutes.
    pub remaining_minutes: f64,
    /// Availability over the window ending at `at` (`None` before any time has elapsed).
    pub availability: Option<f64>,
}

/// The events as they stood at `at`: those started by then, with any that ended after `at`
/// still open (they were, at that instant).
pub fn events_as_of(events: &[EventSpan], at: i64) -> Vec<EventSpan> {
    events
        .iter()
        .filter(|event| event.start_ms <= at)
        .map(|event| {
            let mut event = event.clone();
            if event.end_ms.is_some_and(|end| end > at) {
                event.end_ms = None;
            }
            event
        })
        .collect()
}

/// Everything the curve needs, already fetched.
pub struct CurveInput<'a> {
    /// The objective.
    pub objective: &'a Objective,
    /// The host's now, epoch ms.
    pub now: i64,
    /// Every event overlapping the earliest point's window up to now, ordered as
    /// [`StatusInput::events`] wants them.
    pub events: &'a [EventSpan],
    /// The system's effective health now (only consulted when events are open now).
    pub health_now: Health,
    /// Maintenance windows over the same span.
    pub maintenance: &'a [MaintenanceWindow],
}

/// The budget at each of `instants` (none may be after `input.now`; later ones are taken as
/// now). A point at now is exactly the status's budget. A point in the past sees the events as
/// they stood then; an event open at that instant counts as ongoing downtime, since the system
/// was down while it was open.
pub fn budget_curve(input: &CurveInput<'_>, instants: &[i64]) -> Vec<CurvePoint> {
    instants
        .iter()
        .map(|&requested| {
            let at = requested.min(input.now);
            let (events, health) = if at == input.now {
                (input.events.to_vec(), input.health_now)
            } else {
                (events_as_of(input.events, at), Health::Unhealthy)
            };
            let status = compute_status(&StatusInput {
                objective: input.objective,
                now: at,
                events: &events,
                health,
                maintenance: input.maintenance,
            });
            CurvePoint {
                at,
                remaining_percent: status.budget.remaining_percent,
                remaining_minutes: status.budget.remaining,
                availability: status.budget.availability,
            }
        })
        .collect()
}

/// `points` instants spread evenly over the window ending at `now`, the first at the
/// window's start and the last exactly at `now`.
pub fn even_instants(now: i64, window_days: i64, points: usize) -> Vec<i64> {
    let start = super::status::window_start(now, window_days);
    if points < 2 {
        return vec![now];
    }
    let span = (now - start) as i128;
    let steps = (points - 1) as i128;
    (0..points)
        .map(|i| start + (span * i as i128 / steps) as i64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::objective::{BurnRateThresholds, DependencyExclusion};
    use crate::core::time::DAY_MS;
    use crate::core::window::Attribution;

    const NOW: i64 = 1_780_531_200_000;
    const MIN: i64 = 60_000;

    fn objective() -> Objective {
        Objective {
            id: "o1".into(),
            system_id: "s1".into(),
            health_check_configuration_id: None,
            target: 99.0,
            window_days: 30,
            dependency_exclusion: DependencyExclusion::Strict,
            excluded_dependency_ids: None,
            exclude_maintenance_windows: false,
            burn_rate_thresholds: BurnRateThresholds::default(),
            created_at: NOW - 60 * DAY_MS,
            updated_at: NOW - 60 * DAY_MS,
        }
    }

    fn event(start: i64, end: Option<i64>) -> EventSpan {
        EventSpan {
            start_ms: start,
            end_ms: end,
            attribution: Attribution::SelfCaused,
            upstream_system_id: None,
            upstream_system_name: None,
        }
    }

    fn status_percent(events: &[EventSpan], health: Health) -> f64 {
        compute_status(&StatusInput {
            objective: &objective(),
            now: NOW,
            events,
            health,
            maintenance: &[],
        })
        .budget
        .remaining_percent
    }

    #[test]
    fn the_last_point_is_the_status() {
        let events = [
            event(NOW - 5 * DAY_MS, Some(NOW - 5 * DAY_MS + 90 * MIN)),
            event(NOW - 20 * MIN, None),
        ];
        let input = CurveInput {
            objective: &objective(),
            now: NOW,
            events: &events,
            health_now: Health::Unhealthy,
            maintenance: &[],
        };
        let curve = budget_curve(&input, &even_instants(NOW, 30, 31));
        assert_eq!(curve.len(), 31);
        assert_eq!(curve[30].at, NOW);
        assert_eq!(
            curve[30].remaining_percent,
            status_percent(&events, Health::Unhealthy)
        );
    }

    #[test]
    fn a_past_point_sees_the_outage_it_was_in() {
        // 432 allowed minutes (99 % of 30 days); an outage of 90 minutes five days ago.
        let started = NOW - 5 * DAY_MS;
        let events = [event(started, Some(started + 90 * MIN))];
        let input = CurveInput {
            objective: &objective(),
            now: NOW,
            events: &events,
            health_now: Health::Healthy,
            maintenance: &[],
        };
        let curve = budget_curve(&input, &[started - MIN, started + 30 * MIN, NOW]);
        assert_eq!(curve[0].remaining_minutes, 432.0);
        // thirty minutes into the outage: thirty minutes spent, the event open then
        assert!((curve[1].remaining_minutes - 402.0).abs() < 1e-9);
        assert!((curve[2].remaining_minutes - 342.0).abs() < 1e-9);
        assert_eq!(
            curve[2].remaining_percent,
            status_percent(&events, Health::Healthy)
        );
    }

    #[test]
    fn instants_after_now_are_now() {
        let input = CurveInput {
            objective: &objective(),
            now: NOW,
            events: &[],
            health_now: Health::Healthy,
            maintenance: &[],
        };
        assert_eq!(budget_curve(&input, &[NOW + DAY_MS])[0].at, NOW);
    }

    #[test]
    fn even_instants_span_the_window() {
        let instants = even_instants(NOW, 7, 8);
        assert_eq!(instants.first(), Some(&(NOW - 7 * DAY_MS)));
        assert_eq!(instants.last(), Some(&NOW));
        assert!(instants.windows(2).all(|w| w[1] - w[0] == DAY_MS));
        assert_eq!(even_instants(NOW, 7, 1), vec![NOW]);
    }
}
