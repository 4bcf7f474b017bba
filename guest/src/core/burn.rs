//! True burn rates and alerts (decisions A1): multi-window, multi-burn-rate evaluation from
//! the SRE Workbook, scaled to the objective's window, plus the budget state from the stored
//! thresholds.

use serde_json::{json, Value};

use super::objective::BurnRateThresholds;

/// The lookbacks, with their wire names, in minutes.
pub const LOOKBACKS: [(&str, i64); 5] = [
    ("5m", 5),
    ("30m", 30),
    ("1h", 60),
    ("6h", 360),
    ("3d", 4320),
];

/// Burn rate over a lookback: budget-relevant downtime minutes in it divided by the budget
/// that lookback is allowed, `lookback × (100 − target) / 100`; `None` when target = 100.
///
/// Worked example: 99.9 % target, 1 minute down in the last hour → 1 / 0.06 ≈ 16.7.
pub fn burn_rate(downtime_minutes: f64, lookback_minutes: i64, target: f64) -> Option<f64> {
    // the formula's literal left-to-right order: (lookback × (100 − target)) / 100
    let allowed = (lookback_minutes as f64 * (100.0 - target)) / 100.0;
    (allowed > 0.0).then(|| downtime_minutes / allowed)
}

/// The burn rates of the five lookbacks, in [`LOOKBACKS`] order.
pub type BurnRates = [Option<f64>; 5];

/// Which alert the burn rates call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurnAlert {
    /// Nothing.
    None,
    /// Slow burn: open a ticket.
    Ticket,
    /// Fast burn: page someone.
    Page,
}

impl BurnAlert {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BurnAlert::None => "none",
            BurnAlert::Ticket => "ticket",
            BurnAlert::Page => "page",
        }
    }
}

fn at_least(rate: Option<f64>, threshold: f64) -> bool {
    rate.is_some_and(|r| r >= threshold)
}

/// One rule of the multi-window alert: it fires when the burn rates over both its lookbacks
/// reach its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertTier {
    /// The alert it raises.
    pub alert: BurnAlert,
    /// Index into [`LOOKBACKS`] of the long lookback.
    pub long: usize,
    /// Index into [`LOOKBACKS`] of the short lookback.
    pub short: usize,
    /// The burn rate both must reach.
    pub threshold: f64,
}

impl AlertTier {
    /// Whether `rates` fire this tier.
    pub fn fires(&self, rates: &BurnRates) -> bool {
        at_least(rates[self.long], self.threshold) && at_least(rates[self.short], self.threshold)
    }

    /// `{alert, long, short, threshold, longRate, shortRate, firing}` for charts and tables.
    pub fn to_json(&self, rates: &BurnRates) -> Value {
        json!({
            "alert": self.alert.as_str(),
            "long": LOOKBACKS[self.long].0,
            "short": LOOKBACKS[self.short].0,
            "threshold": self.threshold,
            "longRate": rates[self.long],
            "shortRate": rates[self.short],
            "firing": self.fires(rates),
        })
    }
}

/// The SRE Workbook rules scaled to a window of `W` hours: page when the 1 h and 5 m burn
/// rates both reach `0.02·W/1` (2 % of the budget in an hour) or the 6 h and 30 m both reach
/// `0.05·W/6`; ticket when the 3 d and 6 h both reach `0.10·W/72`. For 30 days these are
/// 14.4, 6 and 1.
pub fn alert_tiers(window_days: i64) -> [AlertTier; 3] {
    let w = (window_days * 24) as f64;
    [
        AlertTier {
            alert: BurnAlert::Page,
            long: 2,
            short: 0,
            threshold: 0.02 * w,
        },
        AlertTier {
            alert: BurnAlert::Page,
            long: 3,
            short: 1,
            threshold: 0.05 * w / 6.0,
        },
        AlertTier {
            alert: BurnAlert::Ticket,
            long: 4,
            short: 3,
            threshold: 0.10 * w / 72.0,
        },
    ]
}

/// The alert the rates call for: the first tier of [`alert_tiers`] that fires (a page
/// outranks a ticket), else none.
pub fn burn_alert(rates: &BurnRates, window_days: i64) -> BurnAlert {
    alert_tiers(window_days)
        .iter()
        .find(|tier| tier.fires(rates))
        .map_or(BurnAlert::None, |tier| tier.alert)
}

/// The budget state from consumed % = 100 − remaining %: `exhausted` at 100, `critical` at
/// or above the critical threshold, `warning` at or above the warning threshold, else `ok`.
pub fn budget_state(remaining_percent: f64, thresholds: &BurnRateThresholds) -> &'static str {
    let consumed = 100.0 - remaining_percent;
    if consumed >= 100.0 {
        "exhausted"
    } else if consumed >= thresholds.critical_percent {
        "critical"
    } else if consumed >= thresholds.warning_percent {
        "warning"
    } else {
        "ok"
    }
}

/// Whether the 1 h burn rate reaches the fast-burn multiplier.
pub fn fast_burn(rates: &BurnRates, thresholds: &BurnRateThresholds) -> bool {
    at_least(rates[2], thresholds.fast_burn_multiplier)
}

/// `{"5m": …, "30m": …, "1h": …, "6h": …, "3d": …}`.
pub fn rates_json(rates: &BurnRates) -> Value {
    let mut map = serde_json::Map::new();
    for ((name, _), rate) in LOOKBACKS.iter().zip(rates) {
        map.insert((*name).to_owned(), rate.map_or(Value::Null, Value::from));
    }
    json!(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(m5: f64, m30: f64, h1: f64, h6: f64, d3: f64) -> BurnRates {
        [Some(m5), Some(m30), Some(h1), Some(h6), Some(d3)]
    }

    #[test]
    fn thirty_day_thresholds_are_the_workbook_table() {
        assert_eq!(
            burn_alert(&rates(14.4, 0.0, 14.4, 0.0, 0.0), 30),
            BurnAlert::Page
        );
        assert_eq!(
            burn_alert(&rates(14.3, 0.0, 14.4, 0.0, 0.0), 30),
            BurnAlert::None,
            "both windows must agree"
        );
        assert_eq!(
            burn_alert(&rates(0.0, 6.0, 0.0, 6.0, 0.0), 30),
            BurnAlert::Page
        );
        assert_eq!(
            burn_alert(&rates(0.0, 0.0, 0.0, 1.0, 1.0), 30),
            BurnAlert::Ticket
        );
        assert_eq!(
            burn_alert(&rates(0.0, 0.0, 0.0, 0.99, 5.0), 30),
            BurnAlert::None
        );
    }

    #[test]
    fn thresholds_scale_with_the_window() {
        // 7 days: page at 0.02 × 168 = 3.36
        assert_eq!(
            burn_alert(&rates(3.36, 0.0, 3.36, 0.0, 0.0), 7),
            BurnAlert::Page
        );
        assert_eq!(
            burn_alert(&rates(3.3, 0.0, 3.3, 0.0, 0.0), 7),
            BurnAlert::None
        );
    }

    /// The operation order is pinned: 5 minutes at 99.9 % allow 0.004999999999999716 minutes
    /// (the other grouping gives 0.0049999999999997165).
    #[test]
    fn a1_operation_order_is_pinned() {
        assert_eq!(burn_rate(0.004999999999999716, 5, 99.9), Some(1.0));
    }

    #[test]
    fn burn_rate_is_null_without_a_budget() {
        assert_eq!(burn_rate(1.0, 60, 100.0), None);
        assert_eq!(burn_rate(6.0, 60, 90.0), Some(1.0));
    }

    #[test]
    fn budget_states_follow_the_stored_thresholds() {
        let t = BurnRateThresholds::default();
        assert_eq!(budget_state(100.0, &t), "ok");
        assert_eq!(budget_state(50.0, &t), "warning");
        assert_eq!(budget_state(20.0, &t), "critical");
        assert_eq!(budget_state(0.0, &t), "exhausted");
        assert!(fast_burn(&rates(0.0, 0.0, 5.0, 0.0, 0.0), &t));
        assert!(!fast_burn(&[None; 5], &t));
    }
}
