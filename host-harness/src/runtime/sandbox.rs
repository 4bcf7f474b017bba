//! The WASI context every invocation gets: empty.
//!
//! No preopened directories, no environment variables, no arguments, no stdin, no sockets
//! and no name lookups. Stdout and stderr go to in-memory pipes that the runtime copies into
//! the plugin log. Clocks are the host's clock; randomness is seeded per invocation in
//! deterministic mode so that a scenario draws the same ids on every run.

use rand::SeedableRng;
use rand_xoshiro::SplitMix64;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use crate::capabilities::clock::{Clock, WasiMonotonicClock, WasiWallClock};

/// How much guest output per stream an invocation may write. Writing more closes the stream,
/// and Rust's `println!` then panics: a limit, like the memory cap, reported as a trap.
pub const OUTPUT_CAPACITY: usize = 1 << 20;

/// A built context plus handles on its output pipes.
pub struct Sandbox {
    /// The WASI context.
    pub ctx: WasiCtx,
    /// What the guest wrote to stdout.
    pub stdout: MemoryOutputPipe,
    /// What the guest wrote to stderr (panic messages land here).
    pub stderr: MemoryOutputPipe,
}

/// Builds the empty context. `seed` makes WASI randomness deterministic; `None` keeps
/// wasmtime's fresh random seed.
///
/// The seeded generator is SplitMix64, a tiny, fully specified algorithm, so that another host
/// can serve the same bytes: the JavaScript host in `tests/js-host` implements it too, and the
/// same sequence of invocations then generates the same ids in both hosts.
pub fn sandbox(clock: &Clock, seed: Option<u64>) -> Sandbox {
    let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
    let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .wall_clock(WasiWallClock(clock.clone()))
        .monotonic_clock(WasiMonotonicClock(clock.clone()));
    if let Some(seed) = seed {
        builder
            .secure_random(SplitMix64::seed_from_u64(seed))
            .insecure_random(SplitMix64::seed_from_u64(
                seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
            ))
            .insecure_random_seed(u128::from(seed));
    }
    Sandbox {
        ctx: builder.build(),
        stdout,
        stderr,
    }
}

/// Guest output as text, lossily decoded, without trailing whitespace.
pub fn output_text(pipe: &MemoryOutputPipe) -> String {
    String::from_utf8_lossy(&pipe.contents())
        .trim_end()
        .to_owned()
}
