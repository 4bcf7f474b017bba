//! Throwaway PostgreSQL databases for tests and benchmarks.
//!
//! [`fresh_database`] answers the URL of an empty database. With `SLO_TEST_DATABASE_URL` set,
//! it creates the database on that server. Otherwise it starts one PostgreSQL cluster per
//! process from the installed server binaries: `initdb` and `pg_ctl` in a temporary
//! directory, listening on a Unix socket only, with `fsync=off` (a crash loses a test's
//! database, nothing else). As root the server runs as the `postgres` user (`initdb` refuses
//! root), through `runuser`. The cluster is stopped and its directory removed when the
//! process exits. Without binaries and without a URL the error says what to install: a
//! PostgreSQL test never passes without PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, bail, Context};

/// The variable naming an existing server to create test databases on.
pub const DATABASE_URL_VARIABLE: &str = "SLO_TEST_DATABASE_URL";

/// What to do when no PostgreSQL is at hand.
pub const INSTALL_HINT: &str =
    "install PostgreSQL's server binaries (Debian: `apt-get install postgresql`) \
     or set SLO_TEST_DATABASE_URL to a server where the tests may create databases";

/// The URL of a new, empty database, on `SLO_TEST_DATABASE_URL`'s server or on this process's
/// throwaway cluster (started on first use).
pub fn fresh_database() -> anyhow::Result<String> {
    fresh_database_on(&server_url()?)
}

/// The URL of a new, empty database on the server at `server` (a role that may create
/// databases).
pub fn fresh_database_on(server: &str) -> anyhow::Result<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = server.to_owned();
    let name = format!(
        "slo_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = postgres::Client::connect(&server, postgres::NoTls)
        .with_context(|| format!("cannot connect to the test server {server}"))?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&statement)
            .with_context(|| format!("cannot create the test database {name}"))?;
    }
    Ok(with_database(&server, &name))
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(DATABASE_URL_VARIABLE) {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| start_cluster().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("no PostgreSQL for the tests: {e}"))
}

/// The directory of the running throwaway cluster, removed at exit.
static RUNNING: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

extern "C" fn stop_at_exit() {
    let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((bin, dir)) = running {
        let _ = as_server_user(&bin.join("pg_ctl"))
            .args([
                "-D",
                &dir.join("data").to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Where the server binaries are: `SLO_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
/// else `pg_config --bindir`.
pub fn server_binaries() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("SLO_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|bin| bin.join("initdb").exists());
    from_config.ok_or_else(|| {
        anyhow!("PostgreSQL server binaries (initdb, pg_ctl) were not found: {INSTALL_HINT}")
    })
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command for `program`, as the `postgres` user when this process is root.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Stops and removes the clusters of earlier processes that were killed before their exit
/// handler ran (`slo-pg-<pid>` whose process is gone).
fn reap_abandoned(bin: &Path) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("slo-pg-")
            .and_then(|p| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        if alive {
            continue;
        }
        let data = entry.path().join("data");
        let running = data.join("postmaster.pid").exists();
        let stopped = !running
            || as_server_user(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output()
                .is_ok_and(|o| o.status.success());
        if stopped {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn start_cluster() -> anyhow::Result<String> {
    let bin = server_binaries()?;
    reap_abandoned(&bin);
    let dir = std::env::temp_dir().join(format!("slo-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("cannot create the cluster directory")?;
    if running_as_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:postgres").arg(&dir);
                c
            },
            "chown of the cluster directory",
        )?;
    }
    let data = dir.join("data");
    run(
        {
            let mut c = as_server_user(&bin.join("initdb"));
            c.arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]);
            c
        },
        "initdb",
    )?;
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = Some((bin.clone(), dir.clone()));
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe {
        libc::atexit(stop_at_exit);
    }
    let options = format!(
        "-c listen_addresses='' -c unix_socket_directories={} -c port=5432 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    run(
        {
            let mut c = as_server_user(&bin.join("pg_ctl"));
            c.arg("-D")
                .arg(&data)
                .arg("-w")
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-o", &options, "start"]);
            c
        },
        "pg_ctl start",
    )?;
    Ok(format!(
        "postgresql:///postgres?host={}&port=5432&user=postgres",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_url_path() {
        assert_eq!(
            with_database("postgresql:///postgres?host=/tmp/x&port=5432", "t1"),
            "postgresql:///t1?host=/tmp/x&port=5432"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432/db", "t2"),
            "postgres://u:p@h:5432/t2"
        );
        assert_eq!(with_database("postgres://u@h", "t3"), "postgres://u@h/t3");
    }
}
