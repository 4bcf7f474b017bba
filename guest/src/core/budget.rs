//! Error-budget formulas of `computeStatus` (slo-behaviour.md §4.4 step 6), one function per
//! quantity, evaluated in the original's operation order so that every f64 is bit-identical.

use super::objective::DependencyExclusion;
use super::time::DAY_MS;

/// Window length in minutes: `W = windowDays × 24 × 60`.
pub fn window_minutes(window_days: i64) -> f64 {
    (window_days * 24 * 60) as f64
}

/// Allowed downtime in the window: `((100 − target) / 100) × W`.
///
/// Worked example: 99.9 % over 30 days allows 43.199999999997544 minutes (not 43.2: 100 − 99.9
/// is 0.09999999999999432 in f64).
pub fn allowed_minutes(target: f64, window_days: i64) -> f64 {
    ((100.0 - target) / 100.0) * window_minutes(window_days)
}

/// The downtime that counts: all of it in `strict` mode, only self-attributed in `self-only`.
pub fn consumed_minutes(mode: DependencyExclusion, total_minutes: f64, self_minutes: f64) -> f64 {
    match mode {
        DependencyExclusion::Strict => total_minutes,
        DependencyExclusion::SelfOnly => self_minutes,
    }
}

/// Budget left: `max(0, allowed − consumed)`.
pub fn remaining_minutes(allowed: f64, consumed: f64) -> f64 {
    (allowed - consumed).max(0.0)
}

/// Budget left in percent: `(remaining / allowed) × 100`.
///
/// With no budget at all (target 100) the original reports 100 % even while breaching; we
/// report 100 % only while nothing was consumed and 0 % otherwise (decisions F8).
pub fn remaining_percent(allowed: f64, remaining: f64, consumed: f64) -> f64 {
    if allowed > 0.0 {
        (remaining / allowed) * 100.0
    } else if consumed > 0.0 {
        0.0
    } else {
        100.0
    }
}

/// Availability in percent: `((W − downtime) / W) × 100`, `None` for an empty window.
pub fn availability_percent(window_days: i64, downtime_minutes: f64) -> Option<f64> {
    let w = window_minutes(window_days);
    (w > 0.0).then(|| ((w - downtime_minutes) / w) * 100.0)
}

/// The original's burn rate: consumed over the budget expected to be used by now,
/// `consumed / ((elapsedDays / windowDays) × allowed)` with
/// `elapsedDays = max((now − windowStart) / day, 1)`; `None` when nothing is allowed.
/// Since the window is always full, this is `consumed / allowed` (kept on purpose, see
/// decisions.md; true burn rates are [`crate::core`]'s A1 additions).
pub fn burn_rate(
    consumed: f64,
    allowed: f64,
    window_days: i64,
    now: i64,
    window_start: i64,
) -> Option<f64> {
    let elapsed_days = ((now - window_start) as f64 / DAY_MS as f64).max(1.0);
    let expected = (elapsed_days / window_days as f64) * allowed;
    (expected > 0.0).then(|| consumed / expected)
}

/// Whether availability is strictly below target.
pub fn is_breaching(availability: Option<f64>, target: f64) -> bool {
    availability.is_some_and(|a| a < target)
}

/// Every budget number of a status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetNumbers {
    /// `errorBudgetTotalMinutes`.
    pub allowed: f64,
    /// `errorBudgetConsumedMinutes`.
    pub consumed: f64,
    /// `errorBudgetConsumedStrictMinutes`.
    pub consumed_strict: f64,
    /// `errorBudgetRemainingMinutes`.
    pub remaining: f64,
    /// `errorBudgetRemainingPercent`.
    pub remaining_percent: f64,
    /// `currentAvailability`.
    pub availability: Option<f64>,
    /// `strictAvailability`.
    pub strict_availability: Option<f64>,
    /// `burnRate`.
    pub burn_rate: Option<f64>,
    /// `isBreaching`.
    pub is_breaching: bool,
}

/// The budget numbers for an objective whose window holds `total_minutes` of downtime, of
/// which `self_minutes` are self-attributed.
pub fn budget_numbers(
    target: f64,
    window_days: i64,
    mode: DependencyExclusion,
    total_minutes: f64,
    self_minutes: f64,
    now: i64,
    window_start: i64,
) -> BudgetNumbers {
    let allowed = allowed_minutes(target, window_days);
    let consumed = consumed_minutes(mode, total_minutes, self_minutes);
    let remaining = remaining_minutes(allowed, consumed);
    let availability = availability_percent(window_days, consumed);
    BudgetNumbers {
        allowed,
        consumed,
        consumed_strict: total_minutes,
        remaining,
        remaining_percent: remaining_percent(allowed, remaining, consumed),
        availability,
        strict_availability: availability_percent(window_days, total_minutes),
        burn_rate: burn_rate(consumed, allowed, window_days, now, window_start),
        is_breaching: is_breaching(availability, target),
    }
}

#[cfg(test)]
mod tests {
    //! The golden table of slo-behaviour.md §4.4, compared with exact f64 equality.
    use super::*;
    use DependencyExclusion::{SelfOnly, Strict};

    const NOW: i64 = 1_780_531_200_000;

    struct Row {
        target: f64,
        days: i64,
        total: f64,
        own: f64,
        mode: DependencyExclusion,
        allowed: f64,
        consumed: f64,
        remaining_pct: f64,
        availability: f64,
        strict: f64,
        burn: Option<f64>,
        breaching: bool,
    }

    fn check(row: Row) {
        let n = budget_numbers(
            row.target,
            row.days,
            row.mode,
            row.total,
            row.own,
            NOW,
            NOW - row.days * DAY_MS,
        );
        let label = format!(
            "target {} days {} total {} self {}",
            row.target, row.days, row.total, row.own
        );
        assert_eq!(n.allowed, row.allowed, "allowed, {label}");
        assert_eq!(n.consumed, row.consumed, "consumed, {label}");
        assert_eq!(n.consumed_strict, row.total, "consumed strict, {label}");
        assert_eq!(
            n.remaining_percent, row.remaining_pct,
            "remaining %, {label}"
        );
        assert_eq!(
            n.availability,
            Some(row.availability),
            "availability, {label}"
        );
        assert_eq!(
            n.strict_availability,
            Some(row.strict),
            "strict availability, {label}"
        );
        assert_eq!(n.burn_rate, row.burn, "burn rate, {label}");
        assert_eq!(n.is_breaching, row.breaching, "breaching, {label}");
    }

    #[test]
    fn golden_table_bit_for_bit() {
        let a = 43.199999999997544;
        let rows = [
            Row {
                target: 99.9,
                days: 30,
                total: 0.0,
                own: 0.0,
                mode: SelfOnly,
                allowed: a,
                consumed: 0.0,
                remaining_pct: 100.0,
                availability: 100.0,
                strict: 100.0,
                burn: Some(0.0),
                breaching: false,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 30.0,
                own: 10.0,
                mode: SelfOnly,
                allowed: a,
                consumed: 10.0,
                remaining_pct: 76.85185185185054,
                availability: 99.97685185185186,
                strict: 99.93055555555556,
                burn: Some(0.23148148148149464),
                breaching: false,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 30.0,
                own: 10.0,
                mode: Strict,
                allowed: a,
                consumed: 30.0,
                remaining_pct: 30.555555555551607,
                availability: 99.93055555555556,
                strict: 99.93055555555556,
                burn: Some(0.6944444444444839),
                breaching: false,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 50.0,
                own: 50.0,
                mode: SelfOnly,
                allowed: a,
                consumed: 50.0,
                remaining_pct: 0.0,
                availability: 99.88425925925925,
                strict: 99.88425925925925,
                burn: Some(1.1574074074074732),
                breaching: true,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 21.6,
                own: 21.6,
                mode: Strict,
                allowed: a,
                consumed: 21.6,
                remaining_pct: 49.99999999999715,
                availability: 99.95,
                strict: 99.95,
                burn: Some(0.5000000000000284),
                breaching: false,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 60.0,
                own: 30.0,
                mode: Strict,
                allowed: a,
                consumed: 60.0,
                remaining_pct: 0.0,
                availability: 99.86111111111111,
                strict: 99.86111111111111,
                burn: Some(1.3888888888889679),
                breaching: true,
            },
            Row {
                target: 99.9,
                days: 30,
                total: 43200.0,
                own: 43200.0,
                mode: SelfOnly,
                allowed: a,
                consumed: 43200.0,
                remaining_pct: 0.0,
                availability: 0.0,
                strict: 0.0,
                burn: Some(1000.0000000000568),
                breaching: true,
            },
            Row {
                target: 100.0,
                days: 30,
                total: 0.0,
                own: 0.0,
                mode: Strict,
                allowed: 0.0,
                consumed: 0.0,
                remaining_pct: 100.0,
                availability: 100.0,
                strict: 100.0,
                burn: None,
                breaching: false,
            },
            Row {
                target: 99.0,
                days: 7,
                total: 60.0,
                own: 60.0,
                mode: Strict,
                allowed: 100.8,
                consumed: 60.0,
                remaining_pct: 40.476190476190474,
                availability: 99.40476190476191,
                strict: 99.40476190476191,
                burn: Some(0.5952380952380952),
                breaching: false,
            },
            Row {
                target: 99.5,
                days: 7,
                total: 100.8,
                own: 100.8,
                mode: Strict,
                allowed: 50.4,
                consumed: 100.8,
                remaining_pct: 0.0,
                availability: 99.00000000000001,
                strict: 99.00000000000001,
                burn: Some(2.0),
                breaching: true,
            },
            Row {
                target: 0.0,
                days: 1,
                total: 1440.0,
                own: 1440.0,
                mode: Strict,
                allowed: 1440.0,
                consumed: 1440.0,
                remaining_pct: 0.0,
                availability: 0.0,
                strict: 0.0,
                burn: Some(1.0),
                breaching: false,
            },
        ];
        for row in rows {
            check(row);
        }
    }

    /// decisions.md F8: the original reports 100 % remaining for target 100 while 5 minutes
    /// were consumed; with no budget at all, any consumption leaves 0 %.
    #[test]
    fn f8_target_100_with_downtime_has_no_budget_left() {
        check(Row {
            target: 100.0,
            days: 30,
            total: 5.0,
            own: 5.0,
            mode: Strict,
            allowed: 0.0,
            consumed: 5.0,
            remaining_pct: 0.0,
            availability: 99.98842592592592,
            strict: 99.98842592592592,
            burn: None,
            breaching: true,
        });
    }
}
