//! WASI sleeps that cannot outlast the invocation.
//!
//! Host calls are synchronous, so a guest blocked in `wasi:io/poll.block` on a long
//! `monotonic-clock.subscribe-duration` (what `std::thread::sleep` does) would park the host
//! thread where no epoch check can reach it, holding its transaction. The runtime replaces the
//! two subscribe functions with ones whose pollables become ready at the invocation's
//! deadline at the latest; when the guest resumes, the epoch deadline interrupts it.

use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};

use super::state::InvocationState;

/// The monotonic-clock interface whose functions are replaced (the version wasmtime-wasi serves).
pub const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

struct CappedSleep {
    until: tokio::time::Instant,
}

#[async_trait::async_trait]
impl Pollable for CappedSleep {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.until).await;
    }
}

fn subscribe_capped(
    state: &mut InvocationState,
    duration: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let deadline = state.deadline.unwrap_or_else(Instant::now);
    let until = Instant::now()
        .checked_add(duration)
        .map_or(deadline, |t| t.min(deadline));
    let sleep = state.table.push(CappedSleep {
        until: tokio::time::Instant::from_std(until),
    })?;
    subscribe(&mut state.table, sleep)
}

/// Replaces `subscribe-duration` and `subscribe-instant` in `linker` (after WASI is linked).
pub fn cap_wasi_sleeps(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, InvocationState>, (nanos,): (u64,)| {
            Ok((subscribe_capped(
                store.data_mut(),
                Duration::from_nanos(nanos),
            )?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, InvocationState>, (when,): (u64,)| {
            let state = store.data_mut();
            let now = u64::try_from(state.services.clock.now_ms())
                .unwrap_or(0)
                .saturating_mul(1_000_000);
            Ok((subscribe_capped(
                state,
                Duration::from_nanos(when.saturating_sub(now)),
            )?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
