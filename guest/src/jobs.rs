//! The scheduled jobs and achievement evaluation (slo-behaviour.md §8–§10) with decisions F1,
//! F2 (hooks and signals actually sent), F17 (names), F19 (status broadcast), F23 (once per
//! UTC day), F24 (insert-if-absent), F27 (when and how achievements are evaluated) and F29
//! (whole outages for rapid recovery).
//!
//! Each objective is processed under its own savepoint: a failure rolls back that objective's
//! work (SQL and publications) and the job goes on with the next.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::core::achievement::{context, qualifying, AchievementType, ObjectiveFacts};
use crate::core::digest::{weekly_digest, DigestRow};
use crate::core::objective::Objective;
use crate::core::streak::{decide, utc_day, StreakDecision};
use crate::core::time::DAY_MS;
use crate::core::PluginError;
use crate::engine::{reconcile_orphans, status_announced};
use crate::service::{compute, refresh, Env};
use crate::storage::snapshots::Snapshot;
use crate::storage::{achievements, downtime, isolated, objectives, snapshots, streaks, Database};

/// Hook emitted once per newly unlocked achievement (F1).
pub const ACHIEVEMENT_HOOK: &str = "slo.achievement.unlocked";
/// Signal sent once per newly unlocked achievement (F2).
pub const ACHIEVEMENT_SIGNAL: &str = "slo.achievement.unlocked";
/// Signal sent when a streak changes (F2).
pub const STREAK_SIGNAL: &str = "slo.streak.updated";
/// Hook emitted by the weekly digest.
pub const DIGEST_HOOK: &str = "slo.weekly.digest";

/// What a daily run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyReport {
    /// Objectives snapshotted.
    pub processed: Vec<String>,
    /// Objectives whose processing failed (and was rolled back), with the error.
    pub failed: Vec<(String, String)>,
    /// Achievements newly unlocked, as (system, type).
    pub unlocked: Vec<(String, AchievementType)>,
    /// Where the run stopped for lack of time; the follow-up job carries on from there.
    pub continued: Option<DailyResume>,
}

/// Where a daily run split over several invocations stands: the payload of its follow-up job.
///
/// A run stops early when its invocation nears its deadline (contract 0.2.0's
/// `context.deadline-remaining-ms`) and enqueues the rest, so that any number of objectives is
/// processed, each still under its own savepoint (F23), a deadline's worth at a time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DailyResume {
    /// The UTC day the run snapshots: the day it started on.
    pub day: i64,
    /// Which follow-up this is (1 for the first): part of the job id.
    pub part: u32,
    /// Where the run goes on.
    pub phase: DailyPhase,
}

/// The pass a daily run resumes in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "pass")]
pub enum DailyPhase {
    /// Snapshots and streaks, after this objective (creation instant, then id).
    Snapshots {
        /// The last objective processed: `[created_at, id]`.
        after: (i64, String),
    },
    /// Achievements, after this system (the snapshot pass is done).
    Achievements {
        /// The last system evaluated.
        after: String,
    },
}

/// A run keeps this share of the time it started with (1/5) in reserve, or three times its
/// slowest step so far if more, to commit and enqueue the rest.
pub const RESERVE_DIVISOR: u64 = 5;

/// Tracks time left against the slowest step, to stop before the deadline does.
struct Budget<'e> {
    env: &'e dyn Env,
    reserve: u64,
    last: Option<u64>,
    slowest: u64,
}

impl<'e> Budget<'e> {
    fn new(env: &'e dyn Env) -> Self {
        let left = env.deadline_remaining_ms();
        Budget {
            env,
            reserve: left.map_or(0, |l| l / RESERVE_DIVISOR),
            last: left,
            slowest: 0,
        }
    }

    /// Records a step and answers whether another one still fits.
    fn step_fits(&mut self) -> bool {
        let Some(left) = self.env.deadline_remaining_ms() else {
            return true;
        };
        if let Some(before) = self.last {
            self.slowest = self.slowest.max(before.saturating_sub(left));
        }
        self.last = Some(left);
        left >= self.reserve.max(self.slowest.saturating_mul(3))
    }
}

/// Enqueues the rest of a daily run.
fn continue_later(env: &dyn Env, resume: &DailyResume) -> Result<(), PluginError> {
    let payload = serde_json::to_value(resume)
        .map_err(|e| PluginError::Internal(format!("daily follow-up payload: {e}")))?;
    let job_id = format!("slo-daily-continue-{}-{}", resume.day, resume.part);
    env.enqueue(crate::service::handlers::DAILY_QUEUE, &payload, &job_id, 0)
}

/// Where the snapshot pass resumes in `all` (in the database's order): after the objective
/// it stopped at. If that objective was deleted since, from the first one created at or after
/// it: an objective done twice on one day is decided once (F23, F24), one skipped would miss
/// its day.
fn resume_point(all: &[Objective], after: &(i64, String)) -> usize {
    match all.iter().position(|o| o.id == after.1) {
        Some(i) => i + 1,
        None => all
            .iter()
            .position(|o| o.created_at >= after.0)
            .unwrap_or(all.len()),
    }
}

/// The daily run's payload: the cron's (an object without `phase`, e.g.
/// `{"trigger":"scheduled"}`) starts a run; a [`DailyResume`] from a follow-up goes on with one.
pub fn parse_daily_payload(payload: &str) -> Result<Option<DailyResume>, PluginError> {
    let value: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| PluginError::Invalid(format!("daily job payload is not JSON: {e}")))?;
    if value.is_object() && value.get("phase").is_none() {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| PluginError::Invalid(format!("daily job payload: {e}")))
}

/// The daily snapshot and streak job (§8 with F23, F19, F2, then F27's achievement pass),
/// started by the cron.
pub fn run_daily(db: &dyn Database, env: &dyn Env) -> Result<DailyReport, PluginError> {
    run_daily_from(db, env, None)
}

/// A daily run from its start (`None`) or from where a follow-up job says.
pub fn run_daily_from(
    db: &dyn Database,
    env: &dyn Env,
    resume: Option<&DailyResume>,
) -> Result<DailyReport, PluginError> {
    let now = env.now_ms();
    let today = resume.map_or(utc_day(now), |r| r.day);
    let part = resume.map_or(1, |r| r.part + 1);
    let mut report = DailyReport::default();
    let mut budget = Budget::new(env);
    let all = objectives::list(db)?;
    // Batched reads (one query each, not one per objective): which objectives have open
    // events (only those can hold orphans), and the streaks as they stand before the pass.
    let with_open = downtime::objectives_with_open_events(db)?;
    // The statuses the pass computes, reused by the achievement pass below: a snapshot and a
    // streak never change a status, and computing each twice doubled the job's work.
    let mut computed: HashMap<&str, StatusFacts> = HashMap::with_capacity(all.len());
    let (snapshot_from, systems_after) = match resume.map(|r| &r.phase) {
        None => (0, None),
        Some(DailyPhase::Snapshots { after }) => (resume_point(&all, after), None),
        Some(DailyPhase::Achievements { after }) => (all.len(), Some(after.as_str())),
    };
    if snapshot_from < all.len() {
        let streaks_before = current_streaks(db)?;
        for (i, objective) in all.iter().enumerate().skip(snapshot_from) {
            if i > snapshot_from && !budget.step_fits() {
                let last = &all[i - 1];
                let rest = DailyResume {
                    day: today,
                    part,
                    phase: DailyPhase::Snapshots {
                        after: (last.created_at, last.id.clone()),
                    },
                };
                continue_later(env, &rest)?;
                report.continued = Some(rest);
                return Ok(report);
            }
            let prior = Prior {
                may_have_orphans: with_open.contains(&objective.id),
                streak: streaks_before.get(&objective.id).copied().unwrap_or(0),
            };
            match isolated(db, || {
                daily_objective(db, env, objective, prior, now, today)
            }) {
                Ok(facts) => {
                    computed.insert(&objective.id, facts);
                    report.processed.push(objective.id.clone());
                }
                Err(e) => {
                    env.warn(&format!(
                        "Failed to process daily snapshot for objective {}: {e}",
                        objective.id
                    ));
                    report.failed.push((objective.id.clone(), e.to_string()));
                }
            }
        }
    }
    let mut by_system: BTreeMap<&str, Vec<&Objective>> = BTreeMap::new();
    for objective in &all {
        by_system
            .entry(objective.system_id.as_str())
            .or_default()
            .push(objective);
    }
    let streaks_after = current_streaks(db)?;
    let mut evaluated: Option<&str> = None;
    for (system, list) in by_system {
        if systems_after.is_some_and(|after| system <= after) {
            continue;
        }
        if let Some(last) = evaluated.filter(|_| !budget.step_fits()) {
            let rest = DailyResume {
                day: today,
                part,
                phase: DailyPhase::Achievements {
                    after: last.to_owned(),
                },
            };
            continue_later(env, &rest)?;
            report.continued = Some(rest);
            return Ok(report);
        }
        let known = Known {
            statuses: &computed,
            streaks: Some(&streaks_after),
        };
        match isolated(db, || achievements_of(db, env, system, &list, &known)) {
            Ok(unlocked) => report
                .unlocked
                .extend(unlocked.into_iter().map(|a| (system.to_owned(), a))),
            Err(e) => env.warn(&format!(
                "Failed to evaluate achievements for system {system}: {e}"
            )),
        }
        evaluated = Some(system);
    }
    // A refresh chain lost while downtime stayed open (a dead letter) starts again here; a
    // running one makes this enqueue a no-op.
    if !with_open.is_empty() {
        if let Err(e) = refresh::resume(db, env) {
            env.warn(&format!("the slo entity refresh was not resumed: {e}"));
        }
    }
    Ok(report)
}

/// What the daily pass knows of an objective before processing it (read in batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prior {
    /// It has open events (the only ones the orphan reconcile can close).
    may_have_orphans: bool,
    /// Its current streak (0 when it has no row).
    streak: i64,
}

/// Every objective's current streak, by objective id.
fn current_streaks(db: &dyn Database) -> Result<HashMap<String, i64>, PluginError> {
    Ok(streaks::all(db)?
        .into_iter()
        .map(|s| (s.objective_id, s.current))
        .collect())
}

fn daily_objective(
    db: &dyn Database,
    env: &dyn Env,
    objective: &Objective,
    prior: Prior,
    now: i64,
    today: i64,
) -> Result<StatusFacts, PluginError> {
    if prior.may_have_orphans {
        reconcile_orphans(db, env, objective)?;
    }
    let status = compute(db, env, objective)?;
    let before = prior.streak;
    snapshots::upsert(
        db,
        &Snapshot {
            id: env.new_id(),
            objective_id: objective.id.clone(),
            date: today,
            availability_percent: status.budget.availability.unwrap_or(100.0),
            budget_consumed_minutes: status.budget.consumed,
            budget_remaining_percent: status.budget.remaining_percent,
            burn_rate: status.budget.burn_rate,
            streak_days: before,
        },
    )?;
    let decision = decide(status.budget.is_breaching, status.has_open_downtime, before);
    let decided_now = streaks::apply_decision(db, &objective.id, decision, now, today)?;
    if decided_now && decision != StreakDecision::Keep {
        let current = streaks::get(db, &objective.id)?.map_or(0, |s| s.current);
        env.broadcast(
            STREAK_SIGNAL,
            &json!({
                "systemId": objective.system_id,
                "objectiveId": objective.id,
                "currentStreak": current,
                "broken": decision == StreakDecision::Reset,
            }),
        );
    }
    // The snapshot and the streak do not change the status computed above: announce it as is.
    status_announced(env, objective, &status);
    Ok(StatusFacts::of(&status))
}

/// The part of a computed status the achievement rules read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StatusFacts {
    availability: Option<f64>,
    remaining_percent: f64,
    total_minutes: f64,
    self_minutes: f64,
}

impl StatusFacts {
    fn of(status: &crate::core::status::Status) -> Self {
        StatusFacts {
            availability: status.budget.availability,
            remaining_percent: status.budget.remaining_percent,
            total_minutes: status.downtime.total_minutes,
            self_minutes: status.downtime.self_minutes,
        }
    }
}

/// Durations in seconds of the whole, closed outages among `events` (newest first, as
/// `downtime::recent` gives them): fragments that touch (a split closes one and opens the next
/// at the same instant) are merged, and zero-length outages (clamped orphan closes) dropped
/// (F29).
pub fn whole_outage_seconds(events: &[downtime::DowntimeEvent]) -> Vec<f64> {
    let mut spans: Vec<(i64, i64)> = events
        .iter()
        .filter(|e| e.close_reason.as_deref() != Some("orphan"))
        .filter_map(|e| e.span.end_ms.map(|end| (e.span.start_ms, end)))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    // An outage still open continues past the last closed fragment: drop a merged span that
    // ends exactly where an open event starts.
    let open_starts: Vec<i64> = events
        .iter()
        .filter(|e| e.span.end_ms.is_none())
        .map(|e| e.span.start_ms)
        .collect();
    merged
        .into_iter()
        .filter(|(start, end)| end > start && !open_starts.contains(end))
        .map(|(start, end)| (end - start) as f64 / 1000.0)
        .collect()
}

/// Evaluates the achievements of `system_id` (§10 with F27, F29) and unlocks the qualifying
/// ones not yet held, emitting the hook (F1) and the signal (F2) for each new one.
pub fn evaluate_achievements(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
) -> Result<Vec<AchievementType>, PluginError> {
    let list = objectives::list_for_system(db, system_id)?;
    let list: Vec<&Objective> = list.iter().collect();
    let known = Known {
        statuses: &HashMap::new(),
        streaks: None,
    };
    achievements_of(db, env, system_id, &list, &known)
}

/// What the achievement pass can reuse instead of reading or computing it again.
struct Known<'a> {
    /// Statuses computed earlier in the same invocation.
    statuses: &'a HashMap<&'a str, StatusFacts>,
    /// Current streaks read after the last streak change (`None`: read each).
    streaks: Option<&'a HashMap<String, i64>>,
}

/// [`evaluate_achievements`] over the system's objectives `list`, reusing the statuses in
/// `computed` (computing the others).
fn achievements_of(
    db: &dyn Database,
    env: &dyn Env,
    system_id: &str,
    list: &[&Objective],
    known: &Known<'_>,
) -> Result<Vec<AchievementType>, PluginError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let now = env.now_ms();
    let mut facts = Vec::with_capacity(list.len());
    for objective in list {
        let status = match known.statuses.get(objective.id.as_str()) {
            Some(facts) => *facts,
            None => StatusFacts::of(&compute(db, env, objective)?),
        };
        let current_streak = match known.streaks {
            Some(streaks) => streaks.get(&objective.id).copied().unwrap_or(0),
            None => streaks::get(db, &objective.id)?.map_or(0, |s| s.current),
        };
        let recent = downtime::recent(db, &objective.id, 10)?;
        facts.push(ObjectiveFacts {
            current_streak,
            availability: status.availability,
            remaining_percent: status.remaining_percent,
            total_minutes: status.total_minutes,
            self_minutes: status.self_minutes,
            window_old: objective.created_at <= now - objective.window_days * DAY_MS,
            outage_seconds: whole_outage_seconds(&recent),
        });
    }
    let mut unlocked = Vec::new();
    for achievement in qualifying(&context(&facts)) {
        if achievements::unlock(db, &env.new_id(), system_id, achievement, now)? {
            let payload = json!({ "systemId": system_id, "achievement": achievement.as_str() });
            env.emit_hook(ACHIEVEMENT_HOOK, &payload);
            env.broadcast(ACHIEVEMENT_SIGNAL, &payload);
            unlocked.push(achievement);
        }
    }
    Ok(unlocked)
}

/// The weekly digest (§9 with F17): emits `slo.weekly.digest` unless there are no objectives.
/// Answers whether it emitted.
pub fn run_weekly_digest(db: &dyn Database, env: &dyn Env) -> Result<bool, PluginError> {
    let all = objectives::list(db)?;
    if all.is_empty() {
        return Ok(false);
    }
    let mut rows = Vec::with_capacity(all.len());
    for objective in &all {
        let status = compute(db, env, objective)?;
        rows.push(DigestRow {
            system_name: env.system_name(&objective.system_id),
            availability: status.budget.availability,
            remaining_percent: status.budget.remaining_percent,
            is_breaching: status.budget.is_breaching,
            streak_days: streaks::get(db, &objective.id)?.map_or(0, |s| s.current),
        });
    }
    env.emit_hook(DIGEST_HOOK, &weekly_digest(&rows));
    Ok(true)
}

#[cfg(test)]
mod tests;
