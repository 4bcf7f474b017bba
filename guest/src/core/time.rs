//! Instants as integer epoch milliseconds, and their RFC 3339 form in API payloads.
//!
//! Storage keeps instants as integer epoch milliseconds (a BIGINT column): SQLite and
//! PostgreSQL both order them correctly and no time-zone conversion can creep in.

use chrono::{DateTime, SecondsFormat};

/// One day in milliseconds; the original uses this everywhere (no calendar or DST logic).
pub const DAY_MS: i64 = 86_400_000;

/// Formats `ms` as RFC 3339 UTC with milliseconds, e.g. `2026-06-01T00:00:00.000Z`.
///
/// Instants outside chrono's range (about ±262,000 years) cannot come from the host's clock;
/// they are rendered as the raw number so that nothing panics on odd stored data.
pub fn to_rfc3339(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// Parses an RFC 3339 instant into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        assert_eq!(to_rfc3339(1_780_272_000_123), "2026-06-01T00:00:00.123Z");
    }

    #[test]
    fn parses_back_what_it_formats() {
        assert_eq!(
            parse_rfc3339("2026-06-01T00:00:00.123Z"),
            Some(1_780_272_000_123)
        );
        assert_eq!(parse_rfc3339("not a date"), None);
    }
}
