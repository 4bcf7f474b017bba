//! The one wasmtime engine configuration the host uses, and the epoch ticker that makes
//! wall-clock deadlines work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine};

/// How often the epoch advances; deadlines are measured in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine-wide options (everything else is per invocation, see [`super::Limits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Meter instructions so that invocations can have a fuel budget (deterministic limits
    /// for tests). Costs some speed, so it is off unless asked for.
    pub fuel: bool,
    /// Allocate instances from wasmtime's pooling allocator (slots reserved once, reused by
    /// every invocation) instead of on demand. See [`pooling_supported`].
    pub pooling: bool,
}

/// Pooling slots: enough for every invocation the host runs at once.
pub const POOLED_INSTANCES: u32 = 64;

/// Largest linear memory a pooled slot holds (the host's default memory cap).
pub const POOLED_MEMORY_BYTES: usize = 64 << 20;

/// The shared engine configuration: component model on, epoch interruption for deadlines,
/// fuel when asked for, sync host calls, and the pooling allocator when asked for.
pub fn engine_config(options: EngineOptions) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(options.fuel);
    config.max_wasm_stack(1 << 20);
    if options.pooling {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(POOLED_INSTANCES)
            .total_core_instances(POOLED_INSTANCES * 4)
            .total_memories(POOLED_INSTANCES * 2)
            .total_tables(POOLED_INSTANCES * 4)
            .max_memory_size(POOLED_MEMORY_BYTES)
            .table_elements(100_000);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Whether this machine can build a pooling engine (it reserves virtual memory for every slot
/// up front, which a restricted address space refuses): `Err` says why not.
pub fn pooling_supported() -> Result<(), String> {
    let options = EngineOptions {
        pooling: true,
        ..EngineOptions::default()
    };
    Engine::new(&engine_config(options))
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// An engine plus the background thread that advances its epoch every [`EPOCH_TICK`].
/// The thread stops when the `SandboxEngine` is dropped.
pub struct SandboxEngine {
    engine: Engine,
    options: EngineOptions,
    stop: Arc<AtomicBool>,
}

impl SandboxEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(options: EngineOptions) -> wasmtime::Result<Self> {
        let engine = Engine::new(&engine_config(options))?;
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(SandboxEngine {
            engine,
            options,
            stop,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The options it was built with.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// Epoch ticks that cover `deadline` (at least one).
    pub fn ticks_for(deadline: Duration) -> u64 {
        let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

impl Drop for SandboxEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
