//! Timing helpers: interleaved batches so that two contenders measured in one run see the same
//! machine (the same noise, the same thermal state), and medians instead of means.

use std::time::{Duration, Instant};

/// Per-call time of one contender: the median (and fastest) batch mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median over batches of the per-call mean.
    pub median: Duration,
    /// The fastest batch's per-call mean.
    pub best: Duration,
}

impl Timing {
    fn of(mut per_call: Vec<Duration>) -> Timing {
        per_call.sort();
        Timing {
            median: per_call[per_call.len() / 2],
            best: per_call[0],
        }
    }
}

/// Runs `a` and `b` in `batches` alternating batches of `per_batch` calls each (after one
/// warm-up batch each) and answers their timings.
pub fn interleaved(
    batches: usize,
    per_batch: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    mut tick: impl FnMut(),
) -> (Timing, Timing) {
    let per_batch = per_batch.max(1);
    for _ in 0..per_batch {
        a();
        b();
    }
    let mut times_a = Vec::with_capacity(batches);
    let mut times_b = Vec::with_capacity(batches);
    for _ in 0..batches.max(1) {
        times_a.push(batch(per_batch, &mut a));
        times_b.push(batch(per_batch, &mut b));
        tick();
    }
    (Timing::of(times_a), Timing::of(times_b))
}

fn batch(calls: usize, f: &mut impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        f();
    }
    started.elapsed() / u32::try_from(calls).unwrap_or(u32::MAX)
}

/// `d` in microseconds with one decimal, for tables.
pub fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// `d` in milliseconds with one decimal, for tables.
pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `a / b` as a ratio.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}
