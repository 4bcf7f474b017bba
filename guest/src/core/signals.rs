//! Per-system dashboard signals (slo-behaviour.md §14): one signal per objective that is
//! breaching, degraded (budget-relevant downtime ongoing) or at risk (≤ 20 % budget left).

use serde_json::{json, Value};

use super::digest::AT_RISK_BUDGET_PERCENT;

/// What the signal rules read of one objective and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRow {
    /// Objective id.
    pub objective_id: String,
    /// Target percent.
    pub target: f64,
    /// Window days.
    pub window_days: i64,
    /// `isBreaching`.
    pub is_breaching: bool,
    /// `hasOpenDowntime`.
    pub has_open_downtime: bool,
    /// `errorBudgetRemainingPercent`.
    pub remaining_percent: f64,
}

/// The signal for one row, if any: breaching → error "SLO breaching"; else open downtime →
/// warn "SLO degraded"; else remaining ≤ 20 % → warn "SLO at risk".
pub fn signal(row: &SignalRow) -> Option<Value> {
    let (tone, label) = if row.is_breaching {
        ("error", "SLO breaching")
    } else if row.has_open_downtime {
        ("warn", "SLO degraded")
    } else if row.remaining_percent <= AT_RISK_BUDGET_PERCENT {
        ("warn", "SLO at risk")
    } else {
        return None;
    };
    Some(json!({
        "source": "slo",
        "tone": tone,
        "label": label,
        "detail": format!("{}% target over {}d", row.target, row.window_days),
        "href": format!("/slo/{}", row.objective_id),
        "accessRule": "slo.read",
        "iconName": "Target",
    }))
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.12 signals.test.
    use super::*;

    fn row(breaching: bool, open: bool, remaining: f64) -> SignalRow {
        SignalRow {
            objective_id: "obj-1".into(),
            target: 99.9,
            window_days: 30,
            is_breaching: breaching,
            has_open_downtime: open,
            remaining_percent: remaining,
        }
    }

    #[test]
    fn vectors() {
        assert_eq!(
            signal(&row(true, false, -5.0)).unwrap(),
            json!({"source": "slo", "tone": "error", "label": "SLO breaching",
            "detail": "99.9% target over 30d", "href": "/slo/obj-1", "accessRule": "slo.read", "iconName": "Target"})
        );
        assert_eq!(
            signal(&row(false, true, 80.0)).unwrap()["label"],
            "SLO degraded"
        );
        assert_eq!(
            signal(&row(false, false, 20.0)).unwrap()["label"],
            "SLO at risk"
        );
        assert_eq!(
            signal(&row(true, true, 5.0)).unwrap()["label"],
            "SLO breaching"
        );
        assert_eq!(signal(&row(false, false, 95.0)), None);
        let hundred = SignalRow {
            target: 100.0,
            ..row(true, false, 0.0)
        };
        assert_eq!(signal(&hundred).unwrap()["detail"], "100% target over 30d");
    }
}
