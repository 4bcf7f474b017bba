//! The simulated platform's state in the host database: one row per system, dependency edge and
//! incident override, and an append-only health history.
//!
//! Every write takes the connection of a transaction the caller already opened, so a platform
//! change commits together with what it causes: its change-log row and its queued deliveries
//! (see `Simulation::platform_change`). After a crash the platform's saved state and the
//! plugin's data therefore never disagree: either the change and its deliveries are there, or
//! neither is. Maintenance windows and the health-service fault are scenario devices and stay
//! in memory.

use serde_json::{json, Value};

use super::services::{HealthStatus, Maintenance};
use crate::capabilities::sql::{Dialect, Row, SqlConnection as Connection, SqlError};
use crate::sql_params;

/// The platform's tables (a host migration, see [`crate::host_schema`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_platform_systems (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    health TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _host_platform_dependencies (
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (source, target)
);
CREATE TABLE IF NOT EXISTS _host_platform_overrides (
    id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS _host_platform_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    status TEXT NOT NULL
);
";

/// Maintenance windows (host migration `0009_platform_maintenance`): recorded through the
/// admin API or a scenario, kept across restarts like the rest of the platform.
pub const MAINTENANCE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_platform_maintenance (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    status TEXT NOT NULL
);
";

/// Records a maintenance window.
pub fn save_maintenance(conn: &Connection, window: &Maintenance) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_platform_maintenance (system_id, start_ms, end_ms, status) VALUES (?, ?, ?, ?)",
        sql_params![
            window.system_id.as_str(),
            window.start_ms,
            window.end_ms,
            window.status.as_str()
        ],
    )?;
    Ok(())
}

/// The table where hosts before the per-row layout kept one JSON snapshot of the platform.
const LEGACY_TABLE: &str = "_host_serve_platform";

/// Creates the platform's tables (idempotent).
pub fn create_tables(conn: &Connection) -> Result<(), SqlError> {
    crate::host_schema::migrate(conn).map(drop)
}

/// Writes a system's name and check health.
pub fn save_system(
    conn: &Connection,
    id: &str,
    name: &str,
    health: HealthStatus,
) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_platform_systems (id, name, health) VALUES (?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, health = excluded.health",
        sql_params![id, name, health.as_str()],
    )?;
    Ok(())
}

/// Deletes a system with its dependency edges and override.
pub fn delete_system(conn: &Connection, id: &str) -> Result<(), SqlError> {
    conn.execute(
        "DELETE FROM _host_platform_systems WHERE id = ?",
        sql_params![id],
    )?;
    conn.execute(
        "DELETE FROM _host_platform_dependencies WHERE source = ? OR target = ?",
        sql_params![id, id],
    )?;
    conn.execute(
        "DELETE FROM _host_platform_overrides WHERE id = ?",
        sql_params![id],
    )?;
    Ok(())
}

/// Appends one health check run to the history.
pub fn append_history(
    conn: &Connection,
    id: &str,
    at: i64,
    status: HealthStatus,
) -> Result<(), SqlError> {
    conn.execute(
        "INSERT INTO _host_platform_history (system_id, at, status) VALUES (?, ?, ?)",
        sql_params![id, at, status.as_str()],
    )?;
    Ok(())
}

/// Adds or removes the edge "source depends on target".
pub fn save_dependency(
    conn: &Connection,
    source: &str,
    target: &str,
    present: bool,
) -> Result<(), SqlError> {
    if present {
        conn.execute(
            "INSERT INTO _host_platform_dependencies (source, target) VALUES (?, ?) \
             ON CONFLICT (source, target) DO NOTHING",
            sql_params![source, target],
        )?;
    } else {
        conn.execute(
            "DELETE FROM _host_platform_dependencies WHERE source = ? AND target = ?",
            sql_params![source, target],
        )?;
    }
    Ok(())
}

/// Sets or clears an incident override.
pub fn save_override(conn: &Connection, id: &str, active: bool) -> Result<(), SqlError> {
    if active {
        conn.execute(
            "INSERT INTO _host_platform_overrides (id) VALUES (?) ON CONFLICT (id) DO NOTHING",
            sql_params![id],
        )?;
    } else {
        conn.execute(
            "DELETE FROM _host_platform_overrides WHERE id = ?",
            sql_params![id],
        )?;
    }
    Ok(())
}

/// The saved state in the shape of `SimulatedPlatform::snapshot`, or `None` when nothing was
/// ever saved. A database written by an older host (one JSON snapshot in `_host_serve_platform`)
/// is converted to rows first, in one transaction.
pub fn load(conn: &Connection) -> anyhow::Result<Option<Value>> {
    Ok(load_at(conn)?.map(|(state, _)| state))
}

/// [`load`], with the last history row it read (0 when none): later rows are what
/// [`history_since`] answers.
pub fn load_at(conn: &Connection) -> anyhow::Result<Option<(Value, i64)>> {
    create_tables(conn)?;
    migrate_legacy_snapshot(conn)?;
    let read = |sql: &str| -> Result<Vec<Row>, SqlError> { conn.query(sql, &[]) };
    let systems = read("SELECT id, name, health FROM _host_platform_systems ORDER BY id")?
        .iter()
        .map(|r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
            ))
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    if systems.is_empty() {
        return Ok(None);
    }
    let dependencies =
        read("SELECT source, target FROM _host_platform_dependencies ORDER BY source, target")?
            .iter()
            .map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))
            .collect::<Result<Vec<_>, SqlError>>()?;
    let overrides = read("SELECT id FROM _host_platform_overrides ORDER BY id")?
        .iter()
        .map(|r| r.get::<String>(0))
        .collect::<Result<Vec<_>, SqlError>>()?;
    let rows = read("SELECT system_id, at, status, seq FROM _host_platform_history ORDER BY seq")?;
    let last_seq = match rows.last() {
        Some(r) => r.get::<i64>(3)?,
        None => 0,
    };
    let history = rows
        .iter()
        .map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?)))
        .collect::<Result<Vec<_>, SqlError>>()?;
    let maintenance = read(
        "SELECT system_id, start_ms, end_ms, status FROM _host_platform_maintenance ORDER BY seq",
    )?
    .iter()
    .map(|r| {
        Ok(Maintenance {
            system_id: r.get(0)?,
            start_ms: r.get(1)?,
            end_ms: r.get(2)?,
            status: r.get(3)?,
        })
    })
    .collect::<Result<Vec<_>, SqlError>>()?;
    let systems: serde_json::Map<String, Value> = systems
        .into_iter()
        .map(|(id, name, health)| (id, json!({ "name": name, "health": health })))
        .collect();
    Ok(Some((
        json!({
            "systems": systems,
            "dependencies": dependencies,
            "overrides": overrides,
            "maintenance": maintenance,
            "history": history,
            "health_service_down": false,
        }),
        last_seq,
    )))
}

/// One system's saved name and check health, if it is saved.
pub fn load_system(conn: &Connection, id: &str) -> anyhow::Result<Option<(String, HealthStatus)>> {
    let Some(row) = conn.query_row(
        "SELECT name, health FROM _host_platform_systems WHERE id = ?",
        sql_params![id],
    )?
    else {
        return Ok(None);
    };
    let health: HealthStatus = serde_json::from_value(Value::String(row.get(1)?))
        .map_err(|e| anyhow::anyhow!("system {id} has a bad saved health: {e}"))?;
    Ok(Some((row.get(0)?, health)))
}

/// The health history rows after row `seq`, oldest first: (row, system, at, status).
pub fn history_since(
    conn: &Connection,
    seq: i64,
) -> anyhow::Result<Vec<(i64, String, i64, HealthStatus)>> {
    conn.query(
        "SELECT seq, system_id, at, status FROM _host_platform_history WHERE seq > ? ORDER BY seq",
        sql_params![seq],
    )?
    .iter()
    .map(|r| {
        let status: HealthStatus = serde_json::from_value(Value::String(r.get(3)?))
            .map_err(|e| anyhow::anyhow!("history row has a bad health: {e}"))?;
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, status))
    })
    .collect()
}

/// Converts the single-snapshot layout of earlier hosts into rows, then drops it. Only SQLite
/// databases can hold it: the PostgreSQL backend came after the per-row layout.
fn migrate_legacy_snapshot(conn: &Connection) -> anyhow::Result<()> {
    if conn.dialect() != Dialect::Sqlite {
        return Ok(());
    }
    let exists = conn.query_row(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
        sql_params![LEGACY_TABLE],
    )?;
    if exists.is_none() {
        return Ok(());
    }
    let text: Option<String> = conn
        .query_row(
            &format!("SELECT snapshot FROM {LEGACY_TABLE} WHERE id = 1"),
            &[],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    conn.in_write_transaction(|conn| -> anyhow::Result<()> {
        if let Some(text) = text {
            let snapshot: Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the saved platform state is not JSON: {e}"))?;
            import_snapshot(conn, &snapshot)?;
        }
        conn.batch(&format!("DROP TABLE {LEGACY_TABLE}"))?;
        Ok(())
    })
}

fn import_snapshot(conn: &Connection, snapshot: &Value) -> anyhow::Result<()> {
    let health = |v: &Value| -> anyhow::Result<HealthStatus> {
        serde_json::from_value(v.clone())
            .map_err(|e| anyhow::anyhow!("the saved platform state has a bad health: {e}"))
    };
    if let Some(systems) = snapshot["systems"].as_object() {
        for (id, system) in systems {
            let name = system["name"].as_str().unwrap_or(id);
            save_system(conn, id, name, health(&system["health"])?)?;
        }
    }
    for edge in snapshot["dependencies"].as_array().into_iter().flatten() {
        if let (Some(s), Some(t)) = (edge[0].as_str(), edge[1].as_str()) {
            save_dependency(conn, s, t, true)?;
        }
    }
    for id in snapshot["overrides"].as_array().into_iter().flatten() {
        if let Some(id) = id.as_str() {
            save_override(conn, id, true)?;
        }
    }
    for run in snapshot["history"].as_array().into_iter().flatten() {
        if let (Some(id), Some(at)) = (run[0].as_str(), run[1].as_i64()) {
            append_history(conn, id, at, health(&run[2])?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> crate::capabilities::sql::PooledConnection {
        let db = crate::capabilities::sql::Database::in_memory().unwrap();
        let conn = db.checkout().unwrap();
        create_tables(&conn).unwrap();
        conn
    }

    #[test]
    fn nothing_saved_loads_as_none() {
        assert_eq!(load(&memory()).unwrap(), None);
    }

    #[test]
    fn rows_load_in_the_snapshot_shape() {
        let conn = memory();
        save_system(&conn, "db", "Database", HealthStatus::Healthy).unwrap();
        save_system(&conn, "api", "API", HealthStatus::Healthy).unwrap();
        save_system(&conn, "api", "API", HealthStatus::Unhealthy).unwrap();
        save_dependency(&conn, "api", "db", true).unwrap();
        save_override(&conn, "db", true).unwrap();
        append_history(&conn, "api", 5, HealthStatus::Unhealthy).unwrap();
        let loaded = load(&conn).unwrap().unwrap();
        assert_eq!(loaded["systems"]["api"]["health"], "unhealthy");
        assert_eq!(loaded["dependencies"], json!([["api", "db"]]));
        assert_eq!(loaded["overrides"], json!(["db"]));
        assert_eq!(loaded["history"], json!([["api", 5, "unhealthy"]]));
        delete_system(&conn, "db").unwrap();
        let loaded = load(&conn).unwrap().unwrap();
        assert_eq!(loaded["dependencies"], json!([]));
        assert_eq!(loaded["overrides"], json!([]));
        assert!(loaded["systems"].get("db").is_none());
    }

    #[test]
    fn a_legacy_snapshot_becomes_rows() {
        let conn = memory();
        conn.batch(
            "CREATE TABLE _host_serve_platform (id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);
             INSERT INTO _host_serve_platform VALUES (1, '{\"systems\": {\"api\": {\"name\": \"API\", \"health\": \"degraded\"}}, \"dependencies\": [], \"overrides\": [], \"maintenance\": [], \"history\": [[\"api\", 3, \"degraded\"]], \"health_service_down\": false}');",
        )
        .unwrap();
        let loaded = load(&conn).unwrap().unwrap();
        assert_eq!(loaded["systems"]["api"]["health"], "degraded");
        assert_eq!(loaded["history"], json!([["api", 3, "degraded"]]));
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = '_host_serve_platform'",
                &[],
            )
            .unwrap()
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(left, 0);
    }
}
