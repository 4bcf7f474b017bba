//! The host's clock: the virtual clock of scenarios and tests, or the real one.
//!
//! Plugins read it through the `clock` import and through WASI's wall and monotonic clocks,
//! which the sandbox serves from the same source, so a plugin cannot see any other time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A shared clock handle; clones observe the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Arc<Source>,
}

#[derive(Debug)]
enum Source {
    Real,
    Virtual(AtomicI64),
}

impl Clock {
    /// The real wall clock.
    pub fn real() -> Self {
        Clock {
            source: Arc::new(Source::Real),
        }
    }

    /// A virtual clock standing at `start_ms` (epoch milliseconds) until moved.
    pub fn virtual_at(start_ms: i64) -> Self {
        Clock {
            source: Arc::new(Source::Virtual(AtomicI64::new(start_ms))),
        }
    }

    /// Whether this is a virtual clock.
    pub fn is_virtual(&self) -> bool {
        matches!(*self.source, Source::Virtual(_))
    }

    /// The current instant in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &*self.source {
            Source::Real => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Source::Virtual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a virtual clock to `ms`. Time never goes backwards: an earlier instant is an error.
    pub fn set_ms(&self, ms: i64) -> Result<(), ClockError> {
        match &*self.source {
            Source::Real => Err(ClockError::NotVirtual),
            Source::Virtual(now) => {
                let current = now.load(Ordering::SeqCst);
                if ms < current {
                    return Err(ClockError::Backwards {
                        now: current,
                        requested: ms,
                    });
                }
                now.store(ms, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    /// Moves a virtual clock forward by `by`.
    pub fn advance(&self, by: Duration) -> Result<(), ClockError> {
        let by = i64::try_from(by.as_millis()).map_err(|_| ClockError::Overflow)?;
        let target = self.now_ms().checked_add(by).ok_or(ClockError::Overflow)?;
        self.set_ms(target)
    }
}

/// Why the clock could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// Only a virtual clock can be moved.
    #[error("the real clock cannot be moved")]
    NotVirtual,
    /// The requested instant is before the current one.
    #[error("the clock cannot go backwards (now {now} ms, requested {requested} ms)")]
    Backwards {
        /// Current instant.
        now: i64,
        /// Requested instant.
        requested: i64,
    },
    /// The instant does not fit in 64 bits of milliseconds.
    #[error("the clock would overflow")]
    Overflow,
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds (`2026-06-01T00:00:00.000Z`),
/// the form of every instant in reports and platform answers.
pub fn to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 instant into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// WASI wall clock served from a [`Clock`].
pub struct WasiWallClock(pub Clock);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

/// WASI monotonic clock served from a [`Clock`] (nanoseconds since the epoch; never decreases
/// because the host clock never goes backwards).
pub struct WasiMonotonicClock(pub Clock);

impl wasmtime_wasi::HostMonotonicClock for WasiMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.now_ms())
            .unwrap_or(0)
            .saturating_mul(1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_forward_only() {
        let clock = Clock::virtual_at(1_000);
        clock.advance(Duration::from_secs(2)).unwrap();
        assert_eq!(clock.now_ms(), 3_000);
        assert_eq!(
            clock.set_ms(2_000),
            Err(ClockError::Backwards {
                now: 3_000,
                requested: 2_000
            })
        );
        assert_eq!(Clock::real().set_ms(0), Err(ClockError::NotVirtual));
    }
}
