//! Achievements (slo-behaviour.md §10) with decisions F27 and F29: the types, their rules and
//! the evaluation context built from a system's objectives.

use serde_json::{json, Value};

use super::time::to_rfc3339;

/// The nine achievement types, in definition (evaluation) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AchievementType {
    /// At least one objective.
    FirstSteps,
    /// At least three objectives.
    FullCoverage,
    /// A 7-day streak.
    IronUptime,
    /// A 30-day streak.
    DiamondUptime,
    /// 99.99 % availability with a 365-day streak.
    NinesClub,
    /// Under 10 % of the budget used over a full window.
    BudgetMiser,
    /// No downtime in the window.
    CleanSheet,
    /// Down, but only because of upstream dependencies.
    CascadeBreaker,
    /// An outage recovered within 5 minutes.
    RapidRecovery,
}

/// Every type, in definition order (the order the original evaluates and lists them).
pub const ALL: [AchievementType; 9] = [
    AchievementType::FirstSteps,
    AchievementType::FullCoverage,
    AchievementType::IronUptime,
    AchievementType::DiamondUptime,
    AchievementType::NinesClub,
    AchievementType::BudgetMiser,
    AchievementType::CleanSheet,
    AchievementType::CascadeBreaker,
    AchievementType::RapidRecovery,
];

impl AchievementType {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AchievementType::FirstSteps => "first_steps",
            AchievementType::FullCoverage => "full_coverage",
            AchievementType::IronUptime => "iron_uptime",
            AchievementType::DiamondUptime => "diamond_uptime",
            AchievementType::NinesClub => "nines_club",
            AchievementType::BudgetMiser => "budget_miser",
            AchievementType::CleanSheet => "clean_sheet",
            AchievementType::CascadeBreaker => "cascade_breaker",
            AchievementType::RapidRecovery => "rapid_recovery",
        }
    }

    /// Parses the wire and storage name (decisions F33: the type is an enum, not free text).
    pub fn parse(text: &str) -> Option<Self> {
        ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The description shown to users.
    pub fn description(self) -> &'static str {
        match self {
            AchievementType::FirstSteps => "System has at least one SLO objective configured",
            AchievementType::FullCoverage => "System has SLOs covering all health checks",
            AchievementType::IronUptime => "7-day reliability streak",
            AchievementType::DiamondUptime => "30-day reliability streak",
            AchievementType::NinesClub => "Maintained 99.99% or higher availability for 365 days",
            AchievementType::BudgetMiser => "Used less than 10% of error budget over a full window",
            AchievementType::CleanSheet => "Zero downtime events in the current rolling window",
            AchievementType::CascadeBreaker => {
                "System was down but all downtime was attributed to upstream dependencies"
            }
            AchievementType::RapidRecovery => "Recovered from downtime in under 5 minutes",
        }
    }
}

/// What the rules look at, aggregated over a system's objectives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AchievementContext {
    /// Number of objectives.
    pub objective_count: usize,
    /// Highest current streak.
    pub streak_days: i64,
    /// Highest non-null availability.
    pub best_availability: Option<f64>,
    /// Highest remaining budget percentage among objectives at least one window old (F27).
    pub budget_remaining_percent: Option<f64>,
    /// No objective consumed anything, and at least one objective is a window old (F27).
    pub has_zero_downtime: bool,
    /// Some downtime happened and all of it was upstream-attributed (F27).
    pub has_upstream_only_downtime: bool,
    /// Shortest whole outage, in seconds (F29).
    pub fastest_recovery_seconds: Option<f64>,
}

/// Whether `achievement`'s rule holds (thresholds inclusive, §10; vectors §16.6).
pub fn unlocked(achievement: AchievementType, ctx: &AchievementContext) -> bool {
    match achievement {
        AchievementType::FirstSteps => ctx.objective_count >= 1,
        AchievementType::FullCoverage => ctx.objective_count >= 3,
        AchievementType::IronUptime => ctx.streak_days >= 7,
        AchievementType::DiamondUptime => ctx.streak_days >= 30,
        AchievementType::NinesClub => {
            ctx.best_availability.is_some_and(|a| a >= 99.99) && ctx.streak_days >= 365
        }
        AchievementType::BudgetMiser => ctx.budget_remaining_percent.is_some_and(|b| b >= 90.0),
        AchievementType::CleanSheet => ctx.has_zero_downtime,
        AchievementType::CascadeBreaker => ctx.has_upstream_only_downtime,
        AchievementType::RapidRecovery => ctx.fastest_recovery_seconds.is_some_and(|s| s <= 300.0),
    }
}

/// Every type whose rule holds, in definition order.
pub fn qualifying(ctx: &AchievementContext) -> Vec<AchievementType> {
    ALL.into_iter().filter(|a| unlocked(*a, ctx)).collect()
}

/// One objective's contribution to the context.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveFacts {
    /// Current streak (0 when no row).
    pub current_streak: i64,
    /// `currentAvailability`.
    pub availability: Option<f64>,
    /// `errorBudgetRemainingPercent`.
    pub remaining_percent: f64,
    /// All downtime in the window, minutes (`errorBudgetConsumedStrictMinutes`).
    pub total_minutes: f64,
    /// Self-attributed downtime in the window, minutes, whatever the objective's mode.
    pub self_minutes: f64,
    /// Whether the objective is at least one window old (F27).
    pub window_old: bool,
    /// Durations of its recent whole outages, in seconds (F29).
    pub outage_seconds: Vec<f64>,
}

/// Builds the context over a system's objectives (§10 step 2, with F27 and F29).
///
/// F27: `budget_miser` and `clean_sheet` only count objectives at least one window old (no
/// awards on empty history); `cascade_breaker` needs all downtime in the window of every
/// objective to be upstream-attributed (the original awarded it if *any* objective qualified).
pub fn context(facts: &[ObjectiveFacts]) -> AchievementContext {
    let mut ctx = AchievementContext {
        objective_count: facts.len(),
        ..AchievementContext::default()
    };
    let mut any_downtime = false;
    let mut all_upstream = true;
    let mut any_window_old = false;
    for f in facts {
        ctx.streak_days = ctx.streak_days.max(f.current_streak);
        if let Some(a) = f.availability {
            ctx.best_availability = Some(ctx.best_availability.map_or(a, |b: f64| b.max(a)));
        }
        if f.window_old {
            any_window_old = true;
            let r = f.remaining_percent;
            ctx.budget_remaining_percent =
                Some(ctx.budget_remaining_percent.map_or(r, |b: f64| b.max(r)));
        }
        if f.total_minutes > 0.0 {
            any_downtime = true;
        }
        if f.self_minutes > 0.0 {
            all_upstream = false;
        }
        for s in &f.outage_seconds {
            ctx.fastest_recovery_seconds =
                Some(ctx.fastest_recovery_seconds.map_or(*s, |b: f64| b.min(*s)));
        }
    }
    ctx.has_zero_downtime = any_window_old && !any_downtime;
    ctx.has_upstream_only_downtime = any_downtime && all_upstream;
    ctx
}

/// A stored achievement (`SloAchievement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Achievement {
    /// UUID.
    pub id: String,
    /// The system.
    pub system_id: String,
    /// The type.
    pub achievement: AchievementType,
    /// When it was unlocked, epoch ms.
    pub unlocked_at: i64,
}

impl Achievement {
    /// The API JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "systemId": self.system_id,
            "achievement": self.achievement.as_str(),
            "unlockedAt": to_rfc3339(self.unlocked_at),
        })
    }
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.6.
    use super::*;
    use AchievementType::*;

    fn ctx() -> AchievementContext {
        AchievementContext::default()
    }

    #[test]
    fn v16_6_thresholds() {
        let nines = |a: Option<f64>, s: i64| {
            unlocked(
                NinesClub,
                &AchievementContext {
                    best_availability: a,
                    streak_days: s,
                    ..ctx()
                },
            )
        };
        assert!(nines(Some(99.995), 365));
        assert!(!nines(Some(99.999), 30));
        assert!(!nines(Some(99.98), 400));
        assert!(!nines(None, 500));
        assert!(!nines(Some(100.0), 0));

        let streak = |t, s| {
            unlocked(
                t,
                &AchievementContext {
                    streak_days: s,
                    ..ctx()
                },
            )
        };
        assert!(streak(IronUptime, 7) && !streak(IronUptime, 6));
        assert!(streak(DiamondUptime, 30) && !streak(DiamondUptime, 29));

        let count = |t, n| {
            unlocked(
                t,
                &AchievementContext {
                    objective_count: n,
                    ..ctx()
                },
            )
        };
        assert!(count(FirstSteps, 1) && !count(FirstSteps, 0));
        assert!(count(FullCoverage, 3) && count(FullCoverage, 5) && !count(FullCoverage, 2));

        let budget = |b| {
            unlocked(
                BudgetMiser,
                &AchievementContext {
                    budget_remaining_percent: b,
                    ..ctx()
                },
            )
        };
        assert!(budget(Some(90.0)) && budget(Some(99.0)) && !budget(Some(89.9)) && !budget(None));

        assert!(unlocked(
            CleanSheet,
            &AchievementContext {
                has_zero_downtime: true,
                ..ctx()
            }
        ));
        assert!(!unlocked(CleanSheet, &ctx()));
        assert!(unlocked(
            CascadeBreaker,
            &AchievementContext {
                has_upstream_only_downtime: true,
                ..ctx()
            }
        ));
        assert!(!unlocked(CascadeBreaker, &ctx()));

        let recovery = |s| {
            unlocked(
                RapidRecovery,
                &AchievementContext {
                    fastest_recovery_seconds: Some(s),
                    ..ctx()
                },
            )
        };
        assert!(recovery(300.0) && recovery(60.0) && !recovery(301.0));
    }

    #[test]
    fn names_round_trip_in_definition_order() {
        for t in ALL {
            assert_eq!(AchievementType::parse(t.as_str()), Some(t));
        }
        assert_eq!(AchievementType::parse("free text"), None);
    }

    fn facts() -> ObjectiveFacts {
        ObjectiveFacts {
            current_streak: 0,
            availability: Some(100.0),
            remaining_percent: 100.0,
            total_minutes: 0.0,
            self_minutes: 0.0,
            window_old: false,
            outage_seconds: Vec::new(),
        }
    }

    /// decisions.md F27: a day-old objective with an empty history earns neither budget_miser
    /// nor clean_sheet.
    #[test]
    fn f27_no_awards_on_empty_history() {
        let young = context(&[facts()]);
        assert!(!unlocked(BudgetMiser, &young));
        assert!(!unlocked(CleanSheet, &young));
        let old = context(&[ObjectiveFacts {
            window_old: true,
            ..facts()
        }]);
        assert!(unlocked(BudgetMiser, &old));
        assert!(unlocked(CleanSheet, &old));
    }

    /// decisions.md F27: cascade_breaker needs all downtime upstream-attributed across the
    /// system, not just one qualifying objective.
    #[test]
    fn f27_cascade_breaker_needs_all_downtime_upstream() {
        // a strict objective whose downtime was all upstream still qualifies
        let upstream_only = ObjectiveFacts {
            total_minutes: 10.0,
            self_minutes: 0.0,
            ..facts()
        };
        let self_caused = ObjectiveFacts {
            total_minutes: 5.0,
            self_minutes: 5.0,
            ..facts()
        };
        assert!(context(std::slice::from_ref(&upstream_only)).has_upstream_only_downtime);
        assert!(!context(&[upstream_only, self_caused]).has_upstream_only_downtime);
        assert!(
            !context(&[facts()]).has_upstream_only_downtime,
            "no downtime at all"
        );
    }
}
