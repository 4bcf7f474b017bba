//! `time` conditions (host-contract.md §8.1, §8.3): a time-of-day window and weekdays in an
//! IANA time zone, evaluated at the host clock's instant (virtual in scenarios, real in
//! `serve`). Time zones come from chrono-tz's copy of the IANA database.
//!
//! * `after` is inclusive and `before` exclusive, to the second: `{after: "09:00", before:
//!   "17:00"}` holds from 09:00:00 up to 16:59:59.
//! * An `after` later than `before` wraps over midnight: `{after: "22:00", before: "06:00"}`
//!   holds from 22:00 to 05:59:59.
//! * `weekday` lists days as JavaScript numbers them (0 is Sunday … 6 is Saturday) and is
//!   judged on the local date of the instant, as the original's `getDay()` is (so a night
//!   window that wraps into Saturday is a Saturday after midnight).
//! * No `timezone` means UTC (the original used the server's zone; a host's zone is not a
//!   fact a scenario should depend on).

use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

/// A parsed `time` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeWindow {
    /// Local time of day from which it holds (inclusive).
    pub after: Option<NaiveTime>,
    /// Local time of day until which it holds (exclusive).
    pub before: Option<NaiveTime>,
    /// Local weekdays on which it holds, 0 (Sunday) to 6 (Saturday); `None`: every day.
    pub weekdays: Option<Vec<u32>>,
    /// The zone the times and days are read in.
    pub timezone: Tz,
}

const FIELDS: [&str; 4] = ["after", "before", "weekday", "timezone"];

impl TimeWindow {
    /// Parses `{after?, before?, weekday?, timezone?}`; every error names its field.
    pub fn parse(inner: &Value) -> Result<Self, String> {
        let map = inner
            .as_object()
            .ok_or("time: expected an object {after?, before?, weekday?, timezone?}")?;
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!("time.{unknown}: unknown field"));
        }
        let clock = |key: &str| -> Result<Option<NaiveTime>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => NaiveTime::parse_from_str(text, "%H:%M")
                    .map(Some)
                    .map_err(|_| format!("time.{key}: expected HH:mm, got {text:?}")),
                Some(other) => Err(format!("time.{key}: expected HH:mm, got {other}")),
            }
        };
        let weekdays = match map.get("weekday") {
            None | Some(Value::Null) => None,
            Some(Value::Array(days)) if !days.is_empty() => Some(
                days.iter()
                    .map(|d| {
                        d.as_u64()
                            .filter(|d| *d <= 6)
                            .map(|d| d as u32)
                            .ok_or_else(|| {
                                format!("time.weekday: {d} is not a day from 0 (Sunday) to 6")
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(
                    "time.weekday: expected a non-empty list of days 0 (Sunday) to 6".into(),
                )
            }
        };
        let timezone = match map.get("timezone") {
            None | Some(Value::Null) => Tz::UTC,
            Some(Value::String(name)) => Tz::from_str(name)
                .map_err(|_| format!("time.timezone: unknown IANA time zone {name:?}"))?,
            Some(other) => return Err(format!("time.timezone: expected a zone name, got {other}")),
        };
        let window = TimeWindow {
            after: clock("after")?,
            before: clock("before")?,
            weekdays,
            timezone,
        };
        if window.after.is_none() && window.before.is_none() && window.weekdays.is_none() {
            return Err("time: needs after, before or weekday".into());
        }
        Ok(window)
    }

    fn local(&self, at_ms: i64) -> Option<DateTime<Tz>> {
        DateTime::from_timestamp_millis(at_ms).map(|t| t.with_timezone(&self.timezone))
    }

    /// Whether the window holds at the instant `at_ms`.
    pub fn holds(&self, at_ms: i64) -> bool {
        let Some(local) = self.local(at_ms) else {
            return false;
        };
        let day = local.weekday().num_days_from_sunday();
        if self
            .weekdays
            .as_ref()
            .is_some_and(|days| !days.contains(&day))
        {
            return false;
        }
        let t = local.time();
        match (self.after, self.before) {
            (None, None) => true,
            (Some(a), None) => t >= a,
            (None, Some(b)) => t < b,
            (Some(a), Some(b)) if a <= b => a <= t && t < b,
            (Some(a), Some(b)) => t >= a || t < b,
        }
    }

    /// The first instant after `at_ms` at which [`TimeWindow::holds`] may change: the next
    /// local `after` or `before` time, or the next local midnight when weekdays are named.
    /// A local time that a daylight-saving change skips is reached at the end of the gap; one
    /// that occurs twice, at its first occurrence.
    pub fn next_change(&self, at_ms: i64) -> Option<i64> {
        let local = self.local(at_ms)?;
        let mut times: Vec<NaiveTime> = self.after.into_iter().chain(self.before).collect();
        if self.weekdays.is_some() {
            times.push(NaiveTime::MIN);
        }
        (0..=2)
            .filter_map(|days| local.date_naive().checked_add_signed(Duration::days(days)))
            .flat_map(|date| times.iter().filter_map(move |t| self.instant_of(date, *t)))
            .filter(|instant| *instant > at_ms)
            .min()
    }

    /// The instant the local `date` and `time` name in the zone.
    fn instant_of(&self, date: NaiveDate, time: NaiveTime) -> Option<i64> {
        let wall = date.and_time(time);
        // Gaps last at most a few hours: walk forward a minute at a time to their end.
        (0..=24 * 60).find_map(|minutes| {
            match self
                .timezone
                .from_local_datetime(&(wall + Duration::minutes(minutes)))
            {
                LocalResult::Single(t) => Some(t.timestamp_millis()),
                LocalResult::Ambiguous(first, _) => Some(first.timestamp_millis()),
                LocalResult::None => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("an instant")
            .timestamp_millis()
    }

    fn window(value: Value) -> TimeWindow {
        TimeWindow::parse(&value).expect("a window")
    }

    #[test]
    fn bounds_are_inclusive_then_exclusive_and_wrap_over_midnight() {
        let day = window(json!({"after": "09:00", "before": "17:00"}));
        assert!(!day.holds(ms("2026-06-01T08:59:59Z")));
        assert!(day.holds(ms("2026-06-01T09:00:00Z")));
        assert!(day.holds(ms("2026-06-01T16:59:59Z")));
        assert!(!day.holds(ms("2026-06-01T17:00:00Z")));
        let night = window(json!({"after": "22:00", "before": "06:00"}));
        assert!(night.holds(ms("2026-06-01T23:30:00Z")));
        assert!(night.holds(ms("2026-06-02T05:59:00Z")));
        assert!(!night.holds(ms("2026-06-02T06:00:00Z")));
        assert!(!night.holds(ms("2026-06-02T12:00:00Z")));
    }

    #[test]
    fn weekdays_are_local_days_numbered_from_sunday() {
        // 2026-06-05 is a Friday; at 23:30 UTC it is already Saturday in Tokyo.
        let fridays = window(json!({"weekday": [5], "timezone": "Asia/Tokyo"}));
        assert!(fridays.holds(ms("2026-06-05T10:00:00Z")));
        assert!(!fridays.holds(ms("2026-06-05T23:30:00Z")));
        assert_eq!(
            fridays.next_change(ms("2026-06-05T10:00:00Z")),
            Some(ms("2026-06-05T15:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_days_move_the_utc_instants() {
        // Berlin springs forward on 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
        let early = window(json!({"after": "02:30", "timezone": "Europe/Berlin"}));
        // 02:30 does not exist that night: the window opens when the gap ends, 03:00 CEST.
        assert_eq!(
            early.next_change(ms("2026-03-28T23:00:00Z")),
            Some(ms("2026-03-29T01:00:00Z"))
        );
        let evening =
            window(json!({"after": "22:00", "before": "06:00", "timezone": "Europe/Berlin"}));
        // The night of the autumn change: 22:00 CEST is 20:00 UTC, 06:00 CET is 05:00 UTC.
        assert_eq!(
            evening.next_change(ms("2026-10-24T12:00:00Z")),
            Some(ms("2026-10-24T20:00:00Z"))
        );
        assert_eq!(
            evening.next_change(ms("2026-10-24T20:00:00Z")),
            Some(ms("2026-10-25T05:00:00Z"))
        );
        assert!(evening.holds(ms("2026-10-25T04:59:59Z")));
        assert!(!evening.holds(ms("2026-10-25T05:00:00Z")));
    }

    #[test]
    fn errors_name_the_field() {
        let error = |v: Value| TimeWindow::parse(&v).expect_err("refused");
        assert!(error(json!({"after": "9am"})).starts_with("time.after:"));
        assert!(error(json!({"weekday": [7]})).starts_with("time.weekday:"));
        assert!(error(json!({"after": "09:00", "timezone": "Mars/Olympus"}))
            .starts_with("time.timezone: unknown IANA time zone"));
        assert!(error(json!({"at": "09:00"})).starts_with("time.at:"));
        assert!(error(json!({})).starts_with("time: needs"));
    }
}
