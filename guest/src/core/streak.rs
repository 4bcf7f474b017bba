//! Reliability streaks (slo-behaviour.md §5 streak rows, §8 step 2e): the daily decision and
//! the row's API shape.

use serde_json::{json, Value};

use super::time::{to_rfc3339, DAY_MS};

/// A stored streak (`SloStreak`), one per objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streak {
    /// The objective.
    pub objective_id: String,
    /// Its system.
    pub system_id: String,
    /// Consecutive good days.
    pub current: i64,
    /// The longest streak seen.
    pub best: i64,
    /// When the current streak began, epoch ms.
    pub streak_start: Option<i64>,
    /// When the best streak ended, epoch ms (`None` while the best is the current one).
    pub best_streak_end: Option<i64>,
}

impl Streak {
    /// The API JSON shape.
    pub fn to_json(&self) -> Value {
        json!({
            "objectiveId": self.objective_id,
            "systemId": self.system_id,
            "currentStreak": self.current,
            "bestStreak": self.best,
            "streakStart": self.streak_start.map(to_rfc3339),
            "bestStreakEnd": self.best_streak_end.map(to_rfc3339),
        })
    }
}

/// What the daily job does to a streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakDecision {
    /// A good day: one more.
    Increment,
    /// A breaching day ends a running streak.
    Reset,
    /// Open downtime without breaching, or breaching with no streak to break.
    Keep,
}

/// The daily decision (§8 step 2e): not breaching and no open downtime → increment; breaching
/// with a running streak (`current_before` > 0; a missing row counts as 0) → reset; else keep.
///
/// Worked examples (§16.4): `{3,5}` healthy → increment; open downtime → keep; breaching
/// `{7,7}` → reset; breaching `{0,4}` → keep.
pub fn decide(is_breaching: bool, has_open_downtime: bool, current_before: i64) -> StreakDecision {
    if !is_breaching && !has_open_downtime {
        StreakDecision::Increment
    } else if is_breaching && current_before > 0 {
        StreakDecision::Reset
    } else {
        StreakDecision::Keep
    }
}

/// Midnight UTC of the day containing `now` (the snapshot date and the streak's day key).
pub fn utc_day(now: i64) -> i64 {
    now.div_euclid(DAY_MS) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_decision_follows_the_original() {
        assert_eq!(decide(false, false, 3), StreakDecision::Increment);
        assert_eq!(decide(false, true, 2), StreakDecision::Keep);
        assert_eq!(decide(true, false, 7), StreakDecision::Reset);
        assert_eq!(decide(true, false, 0), StreakDecision::Keep);
        assert_eq!(decide(true, true, 5), StreakDecision::Reset);
    }

    #[test]
    fn utc_day_truncates_to_midnight() {
        // 2026-06-04T13:45:00Z → 2026-06-04T00:00:00Z
        assert_eq!(utc_day(1_780_580_700_000), 1_780_531_200_000);
        assert_eq!(utc_day(1_780_531_200_000), 1_780_531_200_000);
    }
}
