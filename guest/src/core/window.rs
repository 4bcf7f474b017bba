//! Window math (slo-behaviour.md §4.2): how much of each downtime event falls inside a rolling
//! window, less maintenance, and the per-attribution totals.
//!
//! All arithmetic is in integer epoch milliseconds until the final division, as in the
//! original, so that the f64 results are bit-identical.

/// Who a downtime event is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// The system itself.
    SelfCaused,
    /// An upstream dependency.
    Upstream,
}

impl Attribution {
    /// The wire and storage name: `self` or `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::SelfCaused => "self",
            Attribution::Upstream => "upstream",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "self" => Some(Attribution::SelfCaused),
            "upstream" => Some(Attribution::Upstream),
            _ => None,
        }
    }
}

/// The parts of a downtime event the window math reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpan {
    /// Start, epoch ms.
    pub start_ms: i64,
    /// End, epoch ms; `None` while the event is open.
    pub end_ms: Option<i64>,
    /// Who is blamed.
    pub attribution: Attribution,
    /// The upstream system for upstream events.
    pub upstream_system_id: Option<String>,
    /// Its display name.
    pub upstream_system_name: Option<String>,
}

/// A half-open interval `[start, end)` in epoch ms (a maintenance window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Inclusive start.
    pub start_ms: i64,
    /// Exclusive end.
    pub end_ms: i64,
}

/// Drops empty intervals, sorts by start (stable) and merges overlapping or touching ones.
pub fn merge_intervals(intervals: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = intervals
        .iter()
        .copied()
        .filter(|i| i.end_ms > i.start_ms)
        .collect();
    sorted.sort_by_key(|i| i.start_ms);
    let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
    for interval in sorted {
        match merged.last_mut() {
            Some(last) if interval.start_ms <= last.end_ms => {
                last.end_ms = last.end_ms.max(interval.end_ms)
            }
            _ => merged.push(interval),
        }
    }
    merged
}

/// Seconds of `event` inside `[window_start, window_end]`, open events running to `now`,
/// less the time covered by `maintenance` (`eventWindowSeconds`).
///
/// Worked example (§16.1 #9): an event over the last 4 h with maintenance from 3 h to 1 h ago
/// counts 7 200 s.
pub fn event_window_seconds(
    event: &EventSpan,
    window_start: i64,
    window_end: i64,
    now: i64,
    maintenance: &[Interval],
) -> f64 {
    let end = event.end_ms.unwrap_or(now);
    let eff_start = event.start_ms.max(window_start);
    let eff_end = end.min(window_end);
    if eff_end <= eff_start {
        return 0.0;
    }
    if maintenance.is_empty() {
        return (eff_end - eff_start) as f64 / 1000.0;
    }
    let covered: i64 = merge_intervals(maintenance)
        .iter()
        .map(|hole| (eff_end.min(hole.end_ms) - eff_start.max(hole.start_ms)).max(0))
        .sum();
    (eff_end - eff_start - covered) as f64 / 1000.0
}

/// Downtime of one attribution key (`self`, or one upstream system).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionEntry {
    /// `self` or `upstream`.
    pub attribution: Attribution,
    /// The upstream system, for upstream entries.
    pub upstream_system_id: Option<String>,
    /// Its display name.
    pub upstream_system_name: Option<String>,
    /// Minutes in the window.
    pub total_minutes: f64,
}

/// Windowed downtime totals (`aggregateWindowedDowntime`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowedDowntime {
    /// All downtime, minutes.
    pub total_minutes: f64,
    /// Self-attributed downtime, minutes.
    pub self_minutes: f64,
    /// Upstream-attributed downtime, minutes.
    pub upstream_minutes: f64,
    /// Per key, in first-seen order.
    pub entries: Vec<AttributionEntry>,
}

/// Sums `events` (in the given order) over the window; events contributing nothing get no
/// entry. Keys are `self` and one per upstream system id (a missing id is its own key), the
/// first event of a key fixing the entry's names.
///
/// Worked example (§16.1 #7): a self event [now−2h, now−1h] and an upstream event
/// [now−3h, now−2h] give 60 self minutes, 60 upstream minutes, 120 in total, two entries.
pub fn aggregate_windowed_downtime(
    events: &[EventSpan],
    window_start: i64,
    window_end: i64,
    now: i64,
    maintenance: &[Interval],
) -> WindowedDowntime {
    let (mut total, mut own, mut upstream) = (0.0_f64, 0.0_f64, 0.0_f64);
    // (key, entry, seconds)
    let mut keyed: Vec<(Option<Option<&str>>, AttributionEntry, f64)> = Vec::new();
    for event in events {
        let seconds = event_window_seconds(event, window_start, window_end, now, maintenance);
        if seconds <= 0.0 {
            continue;
        }
        total += seconds;
        let key = match event.attribution {
            Attribution::SelfCaused => {
                own += seconds;
                None
            }
            Attribution::Upstream => {
                upstream += seconds;
                Some(event.upstream_system_id.as_deref())
            }
        };
        match keyed.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, sum)) => *sum += seconds,
            None => keyed.push((
                key,
                AttributionEntry {
                    attribution: event.attribution,
                    upstream_system_id: event.upstream_system_id.clone(),
                    upstream_system_name: event.upstream_system_name.clone(),
                    total_minutes: 0.0,
                },
                seconds,
            )),
        }
    }
    WindowedDowntime {
        total_minutes: total / 60.0,
        self_minutes: own / 60.0,
        upstream_minutes: upstream / 60.0,
        entries: keyed
            .into_iter()
            .map(|(_, mut entry, seconds)| {
                entry.total_minutes = seconds / 60.0;
                entry
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.1, now = 2026-06-04T00:00:00.000Z, window = [now−30d, now].
    use super::*;

    const NOW: i64 = 1_780_531_200_000;
    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;
    const START: i64 = NOW - 30 * D;

    fn event(start: i64, end: Option<i64>) -> EventSpan {
        EventSpan {
            start_ms: start,
            end_ms: end,
            attribution: Attribution::SelfCaused,
            upstream_system_id: None,
            upstream_system_name: None,
        }
    }

    fn upstream(start: i64, end: Option<i64>, id: &str, name: &str) -> EventSpan {
        EventSpan {
            attribution: Attribution::Upstream,
            upstream_system_id: Some(id.into()),
            upstream_system_name: Some(name.into()),
            ..event(start, end)
        }
    }

    fn seconds(e: &EventSpan, maintenance: &[Interval]) -> f64 {
        event_window_seconds(e, START, NOW, NOW, maintenance)
    }

    fn hole(start: i64, end: i64) -> Interval {
        Interval {
            start_ms: start,
            end_ms: end,
        }
    }

    #[test]
    fn now_is_2026_06_04() {
        assert_eq!(
            crate::core::time::to_rfc3339(NOW),
            "2026-06-04T00:00:00.000Z"
        );
    }

    #[test]
    fn v1_to_v5_event_seconds() {
        assert_eq!(seconds(&event(NOW - 60 * D, None), &[]), 2_592_000.0);
        assert_eq!(seconds(&event(NOW - 2 * H, None), &[]), 7_200.0);
        assert_eq!(seconds(&event(NOW - 40 * D, Some(NOW - 35 * D)), &[]), 0.0);
        assert_eq!(
            seconds(&event(NOW - 31 * D, Some(NOW - 29 * D)), &[]),
            86_400.0
        );
        assert_eq!(
            seconds(&event(NOW - 5 * D, Some(NOW - 5 * D + 3 * H)), &[]),
            10_800.0
        );
    }

    #[test]
    fn v6_to_v8_aggregates() {
        let whole = aggregate_windowed_downtime(&[event(NOW - 60 * D, None)], START, NOW, NOW, &[]);
        assert_eq!(
            (whole.self_minutes, whole.total_minutes),
            (43_200.0, 43_200.0)
        );

        let mixed = aggregate_windowed_downtime(
            &[
                event(NOW - 2 * H, Some(NOW - H)),
                upstream(NOW - 3 * H, Some(NOW - 2 * H), "up-1", "Upstream"),
            ],
            START,
            NOW,
            NOW,
            &[],
        );
        assert_eq!(
            (
                mixed.self_minutes,
                mixed.upstream_minutes,
                mixed.total_minutes
            ),
            (60.0, 60.0, 120.0)
        );
        assert_eq!(mixed.entries.len(), 2);
        assert_eq!(
            mixed.entries[1].upstream_system_name.as_deref(),
            Some("Upstream")
        );

        let old = aggregate_windowed_downtime(
            &[event(NOW - 40 * D, Some(NOW - 35 * D))],
            START,
            NOW,
            NOW,
            &[],
        );
        assert_eq!(old.total_minutes, 0.0);
        assert!(old.entries.is_empty());
    }

    #[test]
    fn v9_to_v12_maintenance_holes() {
        let e = event(NOW - 4 * H, Some(NOW));
        assert_eq!(seconds(&e, &[hole(NOW - 3 * H, NOW - H)]), 7_200.0);
        assert_eq!(seconds(&e, &[hole(NOW - 6 * H, NOW - 3 * H)]), 10_800.0);
        assert_eq!(
            seconds(
                &e,
                &[
                    hole(NOW - 3 * H, NOW - 3 * H / 2),
                    hole(NOW - 2 * H, NOW - H)
                ]
            ),
            7_200.0
        );
        assert_eq!(seconds(&e, &[hole(NOW - 10 * H, NOW - 8 * H)]), 14_400.0);
        // derived: touching holes merge
        assert_eq!(
            seconds(
                &e,
                &[
                    hole(NOW - 4 * H, NOW - 3 * H),
                    hole(NOW - 3 * H, NOW - 2 * H)
                ]
            ),
            7_200.0
        );
    }

    #[test]
    fn v13_v14_maintenance_applies_to_every_total() {
        let both = aggregate_windowed_downtime(
            &[
                event(NOW - 2 * H, Some(NOW)),
                upstream(NOW - 2 * H, Some(NOW), "up-1", "Upstream"),
            ],
            START,
            NOW,
            NOW,
            &[hole(NOW - H, NOW)],
        );
        assert_eq!(
            (both.self_minutes, both.upstream_minutes, both.total_minutes),
            (60.0, 60.0, 120.0)
        );

        let covered = aggregate_windowed_downtime(
            &[event(NOW - 2 * H, Some(NOW))],
            START,
            NOW,
            NOW,
            &[hole(NOW - 3 * H, NOW)],
        );
        assert_eq!(covered.total_minutes, 0.0);
        assert!(covered.entries.is_empty());
    }

    #[test]
    fn upstream_entries_group_by_system_and_keep_the_first_name() {
        let agg = aggregate_windowed_downtime(
            &[
                upstream(NOW - 3 * H, Some(NOW - 2 * H), "db", "Primary DB"),
                event(NOW - 2 * H, Some(NOW - H)),
                upstream(NOW - H, Some(NOW), "db", "renamed"),
            ],
            START,
            NOW,
            NOW,
            &[],
        );
        assert_eq!(agg.entries.len(), 2);
        assert_eq!(agg.entries[0].total_minutes, 120.0);
        assert_eq!(
            agg.entries[0].upstream_system_name.as_deref(),
            Some("Primary DB")
        );
        assert_eq!(agg.entries[1].attribution, Attribution::SelfCaused);
    }
}
