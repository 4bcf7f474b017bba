//! What plugin SQL may do, decided from its tokens: the PostgreSQL backend's counterpart of
//! SQLite's authorizer (which sees the compiled statement and stays the check there).
//!
//! The refusals are the same on both backends, with the same words: transaction control,
//! session settings and server commands, schema changes outside migrations, temporary
//! objects, triggers and functions, and the host's own tables (checked by name for both).

use super::error::SqlError;
use super::tokens::{self, Token};

/// Why transaction control is refused (shared with the SQLite authorizer).
pub const TRANSACTION_CONTROL: &str =
    "transaction control belongs to the host: each invocation is one transaction; \
     use the sql savepoint/release/rollback-to functions";

/// Why a schema change outside a migration is refused (shared with the SQLite authorizer).
pub const SCHEMA_OUTSIDE_MIGRATIONS: &str =
    "schema changes (CREATE, ALTER, DROP) belong in the plugin's migrations";

/// Why temporary objects are refused (shared with the SQLite authorizer).
pub const TEMPORARY_OBJECTS: &str =
    "temporary tables, indexes, views and triggers are not allowed for plugins";

/// Why triggers are refused (shared with the SQLite authorizer).
pub const TRIGGERS: &str = "triggers are not allowed for plugins";

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// In an invocation: data statements only.
    Invocation,
    /// In a migration: schema changes too.
    Migration,
}

/// Refuses `statement` (one statement's tokens) when a plugin may not run it in `context`.
pub fn check(statement: &[Token<'_>], context: Context) -> Result<(), SqlError> {
    let words = tokens::words(statement);
    let first = words.first().map(String::as_str).unwrap_or("");
    let refused = |reason: String| Err(SqlError::Refused(reason));
    match first {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"
        | "PREPARE" => return refused(TRANSACTION_CONTROL.into()),
        "SET" | "RESET" | "SHOW" | "DISCARD" => {
            return refused(format!(
                "{first}: session settings are not allowed for plugins"
            ))
        }
        "LOAD" | "LISTEN" | "UNLISTEN" | "NOTIFY" | "COPY" | "DO" | "CALL" | "VACUUM"
        | "ANALYZE" | "ANALYSE" | "CLUSTER" | "REINDEX" | "LOCK" | "GRANT" | "REVOKE"
        | "CHECKPOINT" | "DECLARE" | "FETCH" | "MOVE" | "CLOSE" | "DEALLOCATE" | "EXECUTE"
        | "IMPORT" | "COMMENT" | "REFRESH" | "SECURITY" | "REASSIGN" | "TRUNCATE" | "ATTACH"
        | "DETACH" | "PRAGMA" => return refused(format!("{first} is not allowed for plugins")),
        "CREATE" | "ALTER" | "DROP" => check_schema_change(&words, context)?,
        "SELECT" if words.iter().any(|w| w == "INTO") => {
            return refused(format!("SELECT … INTO: {SCHEMA_OUTSIDE_MIGRATIONS}"))
        }
        _ => {}
    }
    for word in &words {
        if word.starts_with("PG_")
            || word.starts_with("LO_")
            || word.starts_with("DBLINK")
            || word == "SET_CONFIG"
        {
            return refused(format!(
                "{} is not allowed for plugins: it reaches the server, not the plugin's tables",
                word.to_ascii_lowercase()
            ));
        }
    }
    Ok(())
}

fn check_schema_change(words: &[String], context: Context) -> Result<(), SqlError> {
    let refused = |reason: String| Err(SqlError::Refused(reason));
    if context == Context::Invocation {
        return refused(SCHEMA_OUTSIDE_MIGRATIONS.into());
    }
    // The object kind: the first word after the verb that is not a modifier.
    let object = words
        .iter()
        .skip(1)
        .map(String::as_str)
        .find(|w| !matches!(*w, "UNIQUE" | "OR" | "REPLACE" | "IF" | "NOT" | "EXISTS"))
        .unwrap_or("");
    match object {
        "TEMP" | "TEMPORARY" => refused(TEMPORARY_OBJECTS.into()),
        "TRIGGER" => refused(TRIGGERS.into()),
        "TABLE" | "INDEX" | "VIEW" => Ok(()),
        other => refused(format!(
            "{} {other} is not allowed for plugins: migrations create tables, indexes and views",
            words[0]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(sql: &str, context: Context) -> Result<(), SqlError> {
        let statements = tokens::statements(sql).unwrap();
        check(&statements[0], context)
    }

    #[test]
    fn data_statements_pass() {
        for sql in [
            "SELECT a FROM t WHERE b = ?",
            "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING",
            "UPDATE t SET a = ? WHERE b = 'SET'",
            "WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)",
        ] {
            assert_eq!(verdict(sql, Context::Invocation), Ok(()), "{sql}");
        }
    }

    #[test]
    fn server_and_session_statements_are_refused() {
        for sql in [
            "BEGIN",
            "commit",
            "SAVEPOINT x",
            "SET search_path = x",
            "COPY t TO '/tmp/x'",
            "SELECT pg_sleep(10)",
            "SELECT set_config('a', 'b', false)",
            "SELECT * INTO t2 FROM t",
            "CREATE TABLE x (a TEXT)",
            "TRUNCATE t",
        ] {
            assert!(
                matches!(verdict(sql, Context::Invocation), Err(SqlError::Refused(_))),
                "{sql}"
            );
        }
    }

    #[test]
    fn migrations_create_tables_indexes_and_views_only() {
        for sql in [
            "CREATE TABLE x (a TEXT)",
            "CREATE UNIQUE INDEX IF NOT EXISTS i ON x (a) WHERE a IS NULL",
            "ALTER TABLE x ADD COLUMN b TEXT",
            "DROP INDEX i",
        ] {
            assert_eq!(verdict(sql, Context::Migration), Ok(()), "{sql}");
        }
        for sql in [
            "CREATE TEMP TABLE x (a TEXT)",
            "CREATE TRIGGER t AFTER INSERT ON x EXECUTE FUNCTION f()",
            "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
            "CREATE EXTENSION dblink",
        ] {
            assert!(
                matches!(verdict(sql, Context::Migration), Err(SqlError::Refused(_))),
                "{sql}"
            );
        }
    }
}
