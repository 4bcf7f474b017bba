//! The weekly digest (slo-behaviour.md §9): counts and rankings over every objective.

use serde_json::{json, Value};

/// Remaining budget at or below which a non-breaching objective is "at risk" (percent).
pub const AT_RISK_BUDGET_PERCENT: f64 = 20.0;

/// One objective as the digest sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRow {
    /// Display name of the objective's system (F17: from the catalog).
    pub system_name: String,
    /// `currentAvailability`.
    pub availability: Option<f64>,
    /// `errorBudgetRemainingPercent`.
    pub remaining_percent: f64,
    /// `isBreaching`.
    pub is_breaching: bool,
    /// Current streak (0 without a row).
    pub streak_days: i64,
}

/// The `slo.weekly.digest` payload for `rows` (in listing order; ties keep it).
///
/// Worked example (§16.5 #2): remaining 0 (breaching), 20, 5, 80 → 1 breaching, 2 at risk,
/// 1 healthy.
pub fn weekly_digest(rows: &[DigestRow]) -> Value {
    let breaching = rows.iter().filter(|r| r.is_breaching).count();
    let at_risk = rows
        .iter()
        .filter(|r| !r.is_breaching && r.remaining_percent <= AT_RISK_BUDGET_PERCENT)
        .count();
    let healthy = rows.len() - breaching - at_risk;

    let mut top: Vec<&DigestRow> = rows.iter().filter(|r| r.availability.is_some()).collect();
    // stable: ties keep listing order
    top.sort_by(|a, b| {
        b.availability
            .partial_cmp(&a.availability)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let top: Vec<Value> = top
        .iter()
        .take(3)
        .map(|r| json!({"systemName": r.system_name, "availability": r.availability, "streakDays": r.streak_days}))
        .collect();

    let mut worst: Vec<&DigestRow> = rows.iter().collect();
    worst.sort_by(|a, b| {
        a.remaining_percent
            .partial_cmp(&b.remaining_percent)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let worst: Vec<Value> = worst
        .iter()
        .take(3)
        .map(|r| {
            json!({
                "systemName": r.system_name,
                "availability": r.availability.unwrap_or(0.0),
                "budgetRemainingPercent": r.remaining_percent,
            })
        })
        .collect();

    json!({
        "totalObjectives": rows.len(),
        "breachingCount": breaching,
        "atRiskCount": at_risk,
        "healthyCount": healthy,
        "topPerformers": top,
        "worstPerformers": worst,
    })
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.5.
    use super::*;

    fn row(
        name: &str,
        availability: Option<f64>,
        remaining: f64,
        breaching: bool,
        streak: i64,
    ) -> DigestRow {
        DigestRow {
            system_name: name.into(),
            availability,
            remaining_percent: remaining,
            is_breaching: breaching,
            streak_days: streak,
        }
    }

    #[test]
    fn v2_v3_counts() {
        let d = weekly_digest(&[
            row("sys-a", Some(99.0), 0.0, true, 0),
            row("sys-b", Some(99.0), 20.0, false, 0),
            row("sys-c", Some(99.0), 5.0, false, 0),
            row("sys-d", Some(99.0), 80.0, false, 0),
        ]);
        assert_eq!(
            (
                d["totalObjectives"].as_u64(),
                d["breachingCount"].as_u64(),
                d["atRiskCount"].as_u64(),
                d["healthyCount"].as_u64()
            ),
            (Some(4), Some(1), Some(2), Some(1))
        );
        let one = weekly_digest(&[row("sys-a", Some(90.0), 10.0, true, 0)]);
        assert_eq!(
            (
                one["breachingCount"].as_u64(),
                one["atRiskCount"].as_u64(),
                one["healthyCount"].as_u64()
            ),
            (Some(1), Some(0), Some(0))
        );
    }

    #[test]
    fn v4_top_performers_by_availability_with_streaks() {
        let d = weekly_digest(&[
            row("sys-a", Some(90.0), 50.0, false, 0),
            row("sys-b", Some(99.99), 50.0, false, 12),
            row("sys-c", Some(95.0), 50.0, false, 3),
            row("sys-d", None, 50.0, false, 0),
        ]);
        let names: Vec<&str> = d["topPerformers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["systemName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sys-b", "sys-c", "sys-a"]);
        assert_eq!(
            d["topPerformers"][0],
            json!({"systemName": "sys-b", "availability": 99.99, "streakDays": 12})
        );
        assert_eq!(d["topPerformers"][2]["streakDays"], 0);
    }

    #[test]
    fn v5_worst_performers_by_remaining_budget() {
        let d = weekly_digest(&[
            row("sys-a", Some(99.0), 80.0, false, 0),
            row("sys-b", Some(98.0), 5.0, false, 0),
            row("sys-c", Some(99.5), 40.0, false, 0),
            row("sys-d", Some(95.0), 0.0, true, 0),
        ]);
        let names: Vec<&str> = d["worstPerformers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["systemName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sys-d", "sys-b", "sys-c"]);
        assert_eq!(
            d["worstPerformers"][0],
            json!({"systemName": "sys-d", "availability": 95.0, "budgetRemainingPercent": 0.0})
        );
    }
}
