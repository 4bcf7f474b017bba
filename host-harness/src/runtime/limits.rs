//! Per-invocation limits: wall-clock deadline, memory cap, optional fuel.

use std::time::Duration;

/// Limits applied to every invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget; a guest still running after it is interrupted (epoch deadline).
    pub deadline: Duration,
    /// Cap on the sum of all linear memories of the instance, in bytes.
    pub memory_bytes: usize,
    /// Cap on table elements per table.
    pub table_elements: usize,
    /// Instruction budget; `None` for unlimited. Needs an engine built with fuel enabled.
    pub fuel: Option<u64>,
    /// Cap on what one invocation may buffer for publication (payload bytes summed over the
    /// outbox), so that host memory stays bounded whatever a plugin does.
    pub outbox_bytes: usize,
}

impl Default for Limits {
    /// 5 s, 64 MiB of linear memory, 100,000 table elements, no fuel budget, 64 MiB of outbox.
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            fuel: None,
            outbox_bytes: 64 << 20,
        }
    }
}

/// The error a memory grow past the cap traps with; the runtime recognises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("linear memory would grow to {wanted} bytes in total, over the cap of {cap} bytes")]
pub struct MemoryCapExceeded {
    /// The cap.
    pub cap: usize,
    /// The total the grow asked for.
    pub wanted: usize,
}

/// A [`wasmtime::ResourceLimiter`] that sums every linear memory of the store against one cap
/// and records the peak.
#[derive(Debug, Clone)]
pub struct MemoryLimiter {
    cap: usize,
    table_elements: usize,
    used: usize,
    peak: usize,
    /// The growth last allowed, undone if wasmtime then fails the grow (past the memory's own
    /// maximum, or the OS refused), so that refused grows leave no phantom bytes.
    pending: usize,
}

impl MemoryLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        MemoryLimiter {
            cap: limits.memory_bytes,
            table_elements: limits.table_elements,
            used: 0,
            peak: 0,
            pending: 0,
        }
    }

    /// The most linear memory the store held at once, in bytes.
    pub fn peak_bytes(&self) -> usize {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = self.used.saturating_sub(current).saturating_add(desired);
        if wanted > self.cap {
            return Err(MemoryCapExceeded {
                cap: self.cap,
                wanted,
            }
            .into());
        }
        self.pending = wanted - self.used.min(wanted);
        self.used = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used -= self.pending.min(self.used);
        self.pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn sums_memories_against_one_cap() {
        let mut limiter = MemoryLimiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        // a second memory: 60 + 30 = 90 fits
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        // growing the second by 20 would make 110
        let err = limiter.memory_growing(30, 50, None).unwrap_err();
        let cap = err.downcast_ref::<MemoryCapExceeded>().unwrap();
        assert_eq!((cap.cap, cap.wanted), (100, 110));
        assert_eq!(limiter.peak_bytes(), 90);
    }

    #[test]
    fn a_failed_grow_leaves_no_phantom_bytes() {
        let mut limiter = MemoryLimiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(limiter.memory_growing(0, 50, None).unwrap());
        // wasmtime allows the grow with us, then fails it (past the memory's own maximum)
        assert!(limiter.memory_growing(50, 90, Some(60)).unwrap());
        limiter
            .memory_grow_failed(wasmtime::format_err!("past maximum"))
            .unwrap();
        // the real total is still 50, so growing to 100 fits
        assert!(limiter.memory_growing(50, 100, None).unwrap());
    }
}
