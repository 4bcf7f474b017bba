//! Builds the plugin components (the SLO plugin and the test fixtures) for `wasm32-wasip2`,
//! so that `cargo run` and `cargo test` need no manual step, as wasmtime's own
//! `test-programs` do. The components go to `<target>/wasm-guests`, a target directory of
//! their own (a nested cargo must not wait on the outer build's lock), and their paths are
//! passed to the crate as `SLO_PLUGIN_WASM` and `FIXTURE_MISBEHAVING_WASM`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "wasm-guest";

/// (cargo package, artifact file stem, env var handed to the crate)
const GUESTS: &[(&str, &str, &str)] = &[
    ("slo-plugin", "slo_plugin", "SLO_PLUGIN_WASM"),
    (
        "misbehaving-plugin",
        "misbehaving_plugin",
        "FIXTURE_MISBEHAVING_WASM",
    ),
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

    let mut command = Command::new(&cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        command.args(["-p", package]);
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
            "building the plugin components for {TARGET} failed ({status}); see the output above"
        );
    }

    for (_, stem, var) in GUESTS {
        let wasm = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{stem}.wasm"));
        assert!(
            wasm.exists(),
            "expected component {} after the build",
            wasm.display()
        );
        println!("cargo:rustc-env={var}={}", wasm.display());
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
