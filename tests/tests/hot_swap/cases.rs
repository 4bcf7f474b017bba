// The hot-swap tests, included once per backend by `hot_swap.rs` (which defines `BACKEND`
// and the imports).

/// Every table and index in the database, sorted.
fn schema(host: &PluginHost) -> Vec<String> {
    host.services()
        .database
        .checkout()
        .unwrap()
        .schema_objects()
        .unwrap()
}

#[test]
fn the_next_release_swaps_in_with_its_migration_and_procedure_and_rolls_back_at_once() {
    let host = slo_host_on(BACKEND);
    let created = rpc(
        &host,
        "createObjective",
        json!({"systemId": "api", "target": 99.9, "windowDays": 30}),
    )
    .unwrap();
    assert!(rpc(&host, "getPluginInfo", json!({}))
        .unwrap_err()
        .contains("does not exist"));

    let report = host.swap_file(Path::new(SLO_PLUGIN_NEXT_PATH)).unwrap();
    assert_eq!(
        (report.from.version.as_str(), report.to.version.as_str()),
        ("0.1.0", "0.2.0")
    );
    assert_ne!(report.from.digest, report.to.digest);
    assert_eq!(report.migrations_applied, ["0004_downtime_by_system_start"]);
    let info = rpc(&host, "getPluginInfo", json!({})).unwrap();
    assert_eq!(info["version"], "0.2.0");
    // the data written by the old version is served by the new one
    let read = rpc(&host, "getObjective", json!({"id": created["id"]})).unwrap();
    assert_eq!(read["objective"]["id"], created["id"]);

    let (from, to) = host.rollback().unwrap();
    assert_eq!(
        (from.version.as_str(), to.version.as_str()),
        ("0.2.0", "0.1.0")
    );
    assert_eq!(host.plugin().unwrap().version(), "0.1.0");
    assert!(rpc(&host, "getPluginInfo", json!({})).is_err());
    // migrations are not undone: the old version runs on the newer schema
    assert!(schema(&host)
        .iter()
        .any(|name| name == "index slo_downtime_events_system_start_idx"));
    rpc(&host, "listObjectives", json!({})).unwrap();

    // rolling forward again applies nothing new
    let again = host.swap_file(Path::new(SLO_PLUGIN_NEXT_PATH)).unwrap();
    assert!(again.migrations_applied.is_empty());
    let kinds: Vec<&str> = host
        .version_events()
        .iter()
        .map(|e| match e {
            VersionEvent::Swapped { .. } => "swapped",
            VersionEvent::RolledBack { .. } => "rolled back",
            VersionEvent::AutoRolledBack { .. } => "auto",
        })
        .collect();
    assert_eq!(kinds, ["swapped", "rolled back", "swapped"]);
}

fn cache_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slo-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn cached_host(dir: &Path) -> PluginHost {
    let config = HostConfig {
        artifact_cache: Some(dir.to_owned()),
        ..test_config()
    };
    PluginHost::new(config, BACKEND.database()).unwrap()
}

#[test]
fn a_version_seen_before_is_loaded_from_the_artifact_cache() {
    let dir = cache_dir("hits");
    let host = cached_host(&dir);
    let first = host.load_file(Path::new(SLO_PLUGIN_PATH)).unwrap();
    assert_eq!(first.compile_outcome(), CacheOutcome::Miss);
    let next = host.swap_file(Path::new(SLO_PLUGIN_NEXT_PATH)).unwrap();
    assert_eq!(next.compile, CacheOutcome::Miss);
    let back = host.swap_file(Path::new(SLO_PLUGIN_PATH)).unwrap();
    assert_eq!(back.compile, CacheOutcome::Hit);
    // another host process with the same engine configuration shares the cache
    let other = cached_host(&dir);
    let loaded = other.load_file(Path::new(SLO_PLUGIN_NEXT_PATH)).unwrap();
    assert_eq!(loaded.compile_outcome(), CacheOutcome::Hit);
    assert!(rpc(&other, "getPluginInfo", json!({})).is_ok());
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 2, "one artifact per digest");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_cache_entry_is_dropped_and_the_component_compiled() {
    let dir = cache_dir("corrupt");
    let host = cached_host(&dir);
    host.load_file(Path::new(SLO_PLUGIN_PATH)).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not an artifact").unwrap();
    }
    let other = cached_host(&dir);
    let loaded = other.load_file(Path::new(SLO_PLUGIN_PATH)).unwrap();
    assert_eq!(loaded.compile_outcome(), CacheOutcome::Miss);
    rpc(&other, "listObjectives", json!({})).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Swaps to `path` on a fixture host and checks that the refusal changed nothing.
fn refused(path: &str) -> LoadError {
    refused_on(&fixture_host_on(BACKEND), path)
}

/// [`refused`] on a given fixture host.
fn refused_on(host: &PluginHost, path: &str) -> LoadError {
    host.call_rpc("write", "{}", &Caller::anonymous(&[]))
        .unwrap();
    let schema_before = schema(host);
    let rows_before = host
        .call_rpc("count", "{}", &Caller::anonymous(&[]))
        .unwrap();
    let error = host.swap_file(Path::new(path)).unwrap_err();
    let serving = host.plugin().unwrap();
    assert_eq!(serving.version(), "0.1.0", "the old version still serves");
    assert_eq!(
        serving.digest(),
        slo_host::runtime::digest_of(&std::fs::read(MISBEHAVING_FIXTURE_PATH).unwrap())
    );
    assert_eq!(schema(host), schema_before, "the schema is unchanged");
    assert_eq!(
        host.call_rpc("count", "{}", &Caller::anonymous(&[]))
            .unwrap(),
        rows_before,
        "no row was kept"
    );
    assert!(host.version_events().is_empty());
    error
}

#[test]
fn a_version_whose_init_fails_is_refused_and_its_migration_undone() {
    let error = refused(FIXTURE_INIT_FAILS_PATH);
    assert!(matches!(error, LoadError::Init(_)), "{error}");
    assert!(
        error.to_string().contains("init refuses on purpose"),
        "{error}"
    );
}

#[test]
fn an_init_probe_that_never_returns_is_stopped_by_its_deadline_and_refused() {
    let config = HostConfig {
        init_probe: ProbeBudget {
            deadline: Duration::from_millis(300),
            fuel: 1,
        },
        ..test_config()
    };
    let (_, failure) = init_spins_refused(config);
    assert_eq!(
        failure,
        Failure::Deadline {
            limit: Duration::from_millis(300)
        }
    );
}

/// Swaps a fixture host built with `config` to the version whose `init` never returns; answers
/// the host (still serving the old version) and why the probe was stopped.
fn init_spins_refused(config: HostConfig) -> (PluginHost, Failure) {
    let host = slo_tests::host_on(BACKEND, MISBEHAVING_FIXTURE_PATH, config);
    let error = refused_on(&host, FIXTURE_INIT_SPINS_PATH);
    let LoadError::Init(init) = error else {
        panic!("{error}");
    };
    (host, init.failure)
}

#[test]
fn an_init_probe_is_stopped_by_its_fuel_budget_when_the_engine_meters_fuel() {
    let config = HostConfig {
        engine: EngineOptions {
            fuel: true,
            ..EngineOptions::default()
        },
        limits: Limits {
            fuel: Some(10_000_000_000),
            ..test_config().limits
        },
        init_probe: ProbeBudget {
            deadline: Duration::from_secs(60),
            fuel: 5_000_000,
        },
        ..test_config()
    };
    let (host, failure) = init_spins_refused(config);
    assert_eq!(failure, Failure::FuelExhausted { fuel: 5_000_000 });
    // The healthy next version passes the same probe.
    host.swap_file(Path::new(FIXTURE_SECOND_PATH)).unwrap();
}

#[test]
fn a_version_whose_migration_fails_is_refused_naming_it() {
    let error = refused(FIXTURE_MIGRATION_FAILS_PATH);
    assert!(matches!(error, LoadError::Migration(_)), "{error}");
    assert!(error.to_string().contains("0002_broken"), "{error}");
    assert!(error.to_string().contains("no_such_table"), "{error}");
}

#[test]
fn a_version_built_for_another_contract_is_refused_naming_both() {
    let error = refused(FIXTURE_FUTURE_CONTRACT_PATH);
    assert_eq!(
        error.to_string(),
        "invalid manifest: plugin misbehaving was built against contract 0.9.0, this host serves 0.1.0 and 0.2.0"
    );
}

#[test]
fn a_swap_to_another_plugin_is_refused() {
    let error = refused(SLO_PLUGIN_PATH);
    assert_eq!(
        error.to_string(),
        "the component is plugin \"slo\", but the serving plugin is \"misbehaving\": a swap keeps the plugin id"
    );
}

#[test]
fn a_version_that_keeps_trapping_is_rolled_back_automatically() {
    let config = HostConfig {
        rollback_after_traps: Some(3),
        ..test_config()
    };
    let host = PluginHost::new(config, BACKEND.database()).unwrap();
    host.load_file(Path::new(MISBEHAVING_FIXTURE_PATH)).unwrap();
    host.swap_file(Path::new(FIXTURE_SECOND_PATH)).unwrap();
    let call = |procedure: &str| host.call_rpc(procedure, "{}", &Caller::anonymous(&[]));
    // two traps, a success (the streak restarts), two traps: still serving
    for procedure in ["trap", "trap", "count", "trap", "trap"] {
        let _ = call(procedure);
    }
    assert_eq!(host.plugin().unwrap().version(), "0.1.1");
    // a typed error is not a trap
    let _ = call("write-then-error");
    assert_eq!(host.plugin().unwrap().version(), "0.1.1");
    for _ in 0..3 {
        assert!(call("trap").is_err());
    }
    assert_eq!(host.plugin().unwrap().version(), "0.1.0", "rolled back");
    let last = host.version_events().last().cloned().unwrap();
    let VersionEvent::AutoRolledBack { from, to, traps } = last else {
        panic!("{last:?}")
    };
    assert_eq!(
        (from.version.as_str(), to.version.as_str(), traps),
        ("0.1.1", "0.1.0", 3)
    );
    // the restored version serves
    call("count").unwrap();
}

/// Latency summary in milliseconds.
fn summary(samples: &mut [f64]) -> String {
    if samples.is_empty() {
        return "none".into();
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "n={} min={:.2} median={:.2} p99={:.2} max={:.2}",
        samples.len(),
        samples[0],
        pick(0.5),
        pick(0.99),
        samples[samples.len() - 1]
    )
}

/// The load test: RPC readers and a writer on threads, health transitions that open
/// and close downtime through the simulated platform, and a swapper alternating the current
/// and the next release 24 times, with the artifact cache on. Nothing may fail, every
/// transition's downtime must exist exactly once, and both versions must have served.
#[test]
fn swapping_back_and_forth_under_load_loses_nothing() {
    swap_back_and_forth_under_load(SLO_PLUGIN_PATH, SLO_PLUGIN_NEXT_PATH, "load");
}

/// The same load across contract versions: the frozen 0.1.0 build of the SLO plugin and the
/// current one (contract 0.2.0), swapped both ways 24 times. Each swap changes the binding the
/// host calls through; no call may fail and no outage may be lost or doubled.
#[test]
fn swapping_across_contract_versions_under_load_loses_nothing() {
    swap_back_and_forth_under_load(FROZEN_SLO_PLUGIN_0_1_PATH, SLO_PLUGIN_PATH, "contracts");
}

fn swap_back_and_forth_under_load(base: &str, next: &str, name: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use slo_host::platform::{HealthStatus, Simulation};

    const SWAPS: usize = 24;
    const OUTAGES: usize = 8;
    let dir = cache_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = HostConfig {
        artifact_cache: Some(dir.join("artifacts")),
        rollback_after_traps: None,
        ..test_config()
    };
    let base = std::fs::read(base).unwrap();
    let next = std::fs::read(next).unwrap();
    let mut sim =
        Simulation::start(config, match BACKEND {
            Backend::Sqlite => Database::file(&dir.join("host.db")).unwrap(),
            Backend::Postgres => BACKEND.database(),
        }, &base).unwrap();
    for (id, name) in [("api", "Public API"), ("web", "Web"), ("db", "Primary DB")] {
        sim.add_system(id, name).unwrap();
    }
    sim.settle().unwrap();
    let host = sim.host_handle();
    let objective = |system: &str| {
        rpc(
            &host,
            "createObjective",
            json!({"systemId": system, "target": 99.9, "windowDays": 30}),
        )
        .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let watched = objective("api");
    let _other = objective("db");
    let written = objective("web");
    let sim = Arc::new(Mutex::new(sim));
    let stop = AtomicBool::new(false);
    let pauses: Mutex<Vec<f64>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut swap_cold: Vec<f64> = Vec::new();
    let mut swap_cached: Vec<f64> = Vec::new();

    let timed = |procedure: &str, input: Value| {
        let started = Instant::now();
        let outcome = rpc(&host, procedure, input);
        pauses
            .lock()
            .unwrap()
            .push(started.elapsed().as_secs_f64() * 1000.0);
        if let Err(e) = outcome {
            failures.lock().unwrap().push(format!("{procedure}: {e}"));
        }
    };
    // The readers and the writer pause between calls; on PostgreSQL, where every statement is
    // a round trip, longer, so that the writer's changes do not outrun the settling driver
    // (the test measures swaps under load, not the driver's throughput: see row 5).
    let pause = std::time::Duration::from_millis(match BACKEND {
        Backend::Sqlite => 3,
        Backend::Postgres => 20,
    });
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    timed("listObjectives", json!({}));
                    timed("getObjective", json!({"id": watched}));
                    std::thread::sleep(pause);
                }
            });
        }
        scope.spawn(|| {
            let mut target = 99.0;
            while !stop.load(Ordering::SeqCst) {
                timed("updateObjective", json!({"id": written, "target": target}));
                target = if target > 99.8 { 99.0 } else { target + 0.1 };
                std::thread::sleep(pause);
            }
        });
        let health = scope.spawn(|| {
            for _ in 0..OUTAGES {
                for status in [HealthStatus::Unhealthy, HealthStatus::Healthy] {
                    let mut sim = sim.lock().unwrap();
                    sim.set_health("api", status).unwrap();
                    sim.settle().unwrap();
                    let now = sim.clock().now_ms();
                    sim.advance_to(now + 60_000).unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        for i in 0..SWAPS {
            let bytes = if i % 2 == 0 { &next } else { &base };
            let report = host.swap_bytes(bytes).unwrap();
            let ms = report.elapsed.as_secs_f64() * 1000.0;
            match report.compile {
                CacheOutcome::Hit => swap_cached.push(ms),
                _ => swap_cold.push(ms),
            }
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        health.join().unwrap();
        stop.store(true, Ordering::SeqCst);
    });

    let mut sim = Arc::try_unwrap(sim).ok().unwrap().into_inner().unwrap();
    sim.settle().unwrap();
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let counts = sim.host().invocation_counts();
    assert_eq!((counts.errors, counts.traps), (0, 0), "{counts:?}");
    assert!(sim.queue().dead_letters().unwrap().is_empty());
    let versions: Vec<&String> = counts.by_version.keys().collect();
    assert_eq!(versions.len(), 2, "both versions served: {versions:?}");
    // every outage opened exactly one event, closed a minute later
    let events = rpc(
        sim.host(),
        "getDowntimeEvents",
        json!({"objectiveId": watched, "limit": 1000}),
    )
    .unwrap();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), OUTAGES, "{events:#?}");
    assert!(
        events.iter().all(|e| e["durationSeconds"] == 60.0),
        "{events:#?}"
    );
    assert_eq!(
        host.version_events().len(),
        SWAPS,
        "every swap recorded, none automatic"
    );
    println!(
        "swap load test ({name}): {SWAPS} swaps, {OUTAGES} outages, {} invocations ({:?})",
        counts.total, counts.by_version
    );
    println!("  swap latency, compiled: {}", summary(&mut swap_cold));
    println!("  swap latency, cached:   {}", summary(&mut swap_cached));
    println!(
        "  RPC latency during swaps: {}",
        summary(&mut pauses.lock().unwrap())
    );
    std::fs::remove_dir_all(&dir).ok();
}
