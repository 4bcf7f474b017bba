//! Builds the plugin components (the SLO plugin and the test fixtures) for `wasm32-wasip2`,
//! so that `cargo run` and `cargo test` need no manual step, as wasmtime's own
//! `test-programs` do. The components are built in `<target>/wasm-guests`, a target directory
//! of their own (a nested cargo must not wait on the outer build's lock), copied to
//! `<target>/wasm-guests/components/`, and their paths passed to the crate in env vars
//! (`SLO_PLUGIN_WASM`, `SLO_PLUGIN_NEXT_WASM`, `FIXTURE_MISBEHAVING_WASM`, …).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "wasm-guest";

/// One component to build: the cargo package, its features, the artifact's file stem, and the
/// env var that hands the component's path to the crate.
struct Guest {
    package: &'static str,
    features: &'static str,
    stem: &'static str,
    var: &'static str,
}

/// Every component, built in this order into one target directory (a variant rebuilds only its
/// own crate; each artifact is copied under its env var's name before the next build).
const GUESTS: &[Guest] = &[
    Guest {
        package: "slo-plugin",
        features: "",
        stem: "slo_plugin",
        var: "SLO_PLUGIN_WASM",
    },
    Guest {
        package: "misbehaving-plugin",
        features: "",
        stem: "misbehaving_plugin",
        var: "FIXTURE_MISBEHAVING_WASM",
    },
    // The runtime's floor, for the per-invocation overhead benchmark.
    Guest {
        package: "empty-plugin",
        features: "",
        stem: "empty_plugin",
        var: "FIXTURE_EMPTY_WASM",
    },
    // The next SLO release, for the hot-swap tests.
    Guest {
        package: "slo-plugin",
        features: "next",
        stem: "slo_plugin",
        var: "SLO_PLUGIN_NEXT_WASM",
    },
    // A second healthy version of the fixture.
    Guest {
        package: "misbehaving-plugin",
        features: "second",
        stem: "misbehaving_plugin",
        var: "FIXTURE_SECOND_WASM",
    },
    // Versions of the fixture that a swap must refuse.
    Guest {
        package: "misbehaving-plugin",
        features: "init-fails",
        stem: "misbehaving_plugin",
        var: "FIXTURE_INIT_FAILS_WASM",
    },
    Guest {
        package: "misbehaving-plugin",
        features: "init-spins",
        stem: "misbehaving_plugin",
        var: "FIXTURE_INIT_SPINS_WASM",
    },
    Guest {
        package: "misbehaving-plugin",
        features: "migration-fails",
        stem: "misbehaving_plugin",
        var: "FIXTURE_MIGRATION_FAILS_WASM",
    },
    Guest {
        package: "misbehaving-plugin",
        features: "future-contract",
        stem: "misbehaving_plugin",
        var: "FIXTURE_FUTURE_CONTRACT_WASM",
    },
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host-harness lives inside the workspace")
        .to_path_buf();
    for watched in [
        "wit",
        "guest/src",
        "guest/migrations",
        "guest/Cargo.toml",
        "tests/fixtures",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=SLO_GUEST_CARGO");

    let cargo = env::var("SLO_GUEST_CARGO")
        .or_else(|_| env::var("CARGO"))
        .unwrap_or_else(|_| "cargo".into());
    ensure_target_installed();

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-guests");

    let components = target_dir.join("components");
    std::fs::create_dir_all(&components).expect("create the components directory");
    for guest in GUESTS {
        build(&cargo, &root, &target_dir, guest);
        let built = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", guest.stem));
        assert!(
            built.exists(),
            "expected component {} after the build",
            built.display()
        );
        let copy = components.join(format!("{}.wasm", guest.var.to_lowercase()));
        std::fs::copy(&built, &copy)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", built.display(), copy.display()));
        println!("cargo:rustc-env={}={}", guest.var, copy.display());
    }
}

/// Builds one component with a nested cargo.
fn build(cargo: &str, root: &Path, target_dir: &Path, guest: &Guest) {
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "-p",
            guest.package,
            "--target-dir",
        ])
        .arg(target_dir);
    if !guest.features.is_empty() {
        command.args(["--features", guest.features]);
    }
    // The outer build's flags, wrappers (clippy, coverage) and target settings are for the host.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CLIPPY_ARGS",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    if !status.success() {
        panic!(
            "building {} ({}) for {TARGET} failed ({status}); see the output above",
            guest.package,
            if guest.features.is_empty() {
                "default features"
            } else {
                guest.features
            }
        );
    }
}

/// Installs the wasm32-wasip2 standard library through rustup when it is missing.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(Path::exists) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed ({other:?})"
        ),
    }
}
