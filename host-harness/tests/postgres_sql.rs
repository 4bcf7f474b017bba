//! The `sql` import's meaning on PostgreSQL, statement by statement, on a throwaway cluster:
//! exact types (and a typed refusal where there is none), `?` placeholders, parameters of the
//! wrong type, refusals, real savepoints, and a transaction that survives a failed statement.

use slo_host::capabilities::sql::{
    apply_migrations, Database, MigrationSpec, SqlError, SqlValue, Transaction,
};
use slo_host::postgres_cluster;

fn database() -> Database {
    let url = postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let db = Database::at(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    apply_migrations(
        &db,
        "p",
        &[MigrationSpec {
            id: "0".into(),
            sql: "CREATE TABLE t (id BIGINT PRIMARY KEY, small INTEGER, tiny SMALLINT, \
                  ratio REAL, exact DOUBLE PRECISION, flag BOOLEAN, note TEXT, \
                  label VARCHAR(10), data BYTEA, amount NUMERIC(10, 2));"
                .into(),
        }],
        0,
    )
    .expect("the migration applies");
    db
}

fn begin(db: &Database) -> Transaction {
    Transaction::begin(db.checkout().unwrap(), None).unwrap()
}

#[test]
fn values_map_exactly_and_numeric_is_refused_naming_the_column() {
    let db = database();
    let mut tx = begin(&db);
    tx.execute(
        "INSERT INTO t (id, small, tiny, ratio, exact, flag, note, label, data, amount) \
         VALUES (?, ?, ?, ?, ?, TRUE, ?, ?, ?, 12.5)",
        &[
            SqlValue::Integer(1),
            SqlValue::Integer(70_000),
            SqlValue::Integer(-3),
            SqlValue::Real(0.5),
            SqlValue::Real(99.95),
            SqlValue::Text("it's ? here".into()),
            SqlValue::Text("short".into()),
            SqlValue::Blob(vec![0, 1, 255]),
        ],
    )
    .unwrap();
    let rows = tx
        .query(
            "SELECT small, tiny, ratio, exact, flag, note, label, data, '?' AS q FROM t WHERE id = ?",
            &[SqlValue::Integer(1)],
        )
        .unwrap();
    assert_eq!(
        rows.to_values()[0],
        [
            SqlValue::Integer(70_000),
            SqlValue::Integer(-3),
            SqlValue::Real(0.5),
            SqlValue::Real(99.95),
            SqlValue::Integer(1),
            SqlValue::Text("it's ? here".into()),
            SqlValue::Text("short".into()),
            SqlValue::Blob(vec![0, 1, 255]),
            SqlValue::Text("?".into()),
        ]
    );
    let error = tx.query("SELECT amount FROM t", &[]).unwrap_err();
    assert!(
        matches!(&error, SqlError::Refused(m) if m.contains("amount") && m.contains("numeric")),
        "{error:?}"
    );
    // a cast makes it exact, and the transaction is still usable after the refusal
    let cast = tx
        .query("SELECT CAST(amount AS DOUBLE PRECISION) FROM t", &[])
        .unwrap();
    assert_eq!(cast.to_values()[0][0], SqlValue::Real(12.5));
    tx.commit().unwrap();
}

#[test]
fn a_parameter_of_the_wrong_type_or_count_is_a_parameters_error() {
    let db = database();
    let mut tx = begin(&db);
    let error = tx
        .execute(
            "INSERT INTO t (id) VALUES (?)",
            &[SqlValue::Text("x".into())],
        )
        .unwrap_err();
    assert!(
        matches!(&error, SqlError::Parameters(m) if m.contains("bigint") || m.contains("int8")),
        "{error:?}"
    );
    let error = tx
        .execute("INSERT INTO t (id) VALUES (?)", &[])
        .unwrap_err();
    assert!(matches!(error, SqlError::Parameters(_)), "{error:?}");
    let error = tx
        .execute(
            "INSERT INTO t (id, small) VALUES (?, ?)",
            &[SqlValue::Integer(2), SqlValue::Integer(1 << 40)],
        )
        .unwrap_err();
    assert!(matches!(error, SqlError::Parameters(_)), "{error:?}");
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(2)])
        .expect("the transaction goes on");
    tx.commit().unwrap();
}

#[test]
fn refusals_match_sqlite_and_leave_the_transaction_usable() {
    let db = database();
    let mut tx = begin(&db);
    for statement in [
        "COMMIT",
        "SAVEPOINT x",
        "SET search_path = public",
        "SELECT pg_sleep(1)",
        "CREATE TABLE later (x TEXT)",
        "SELECT * FROM _host_queue_jobs",
        "SELECT 1; SELECT 2",
        "SELECT $1",
    ] {
        let error = tx.query(statement, &[]).unwrap_err();
        assert!(
            matches!(error, SqlError::Refused(_)),
            "{statement}: {error:?}"
        );
    }
    let error = tx.query("SELEC 1", &[]).unwrap_err();
    assert!(matches!(error, SqlError::Syntax(_)), "{error:?}");
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(3)])
        .expect("still usable");
    tx.commit().unwrap();
}

#[test]
fn savepoints_are_real_and_a_constraint_error_does_not_abort_the_transaction() {
    let db = database();
    let mut tx = begin(&db);
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(1)])
        .unwrap();
    let sp = tx.savepoint(0).unwrap();
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(2)])
        .unwrap();
    tx.rollback_to(sp).unwrap();
    let error = tx
        .execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(1)])
        .unwrap_err();
    assert!(matches!(error, SqlError::Constraint(_)), "{error:?}");
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(4)])
        .unwrap();
    tx.commit().unwrap();
    let mut read = Transaction::begin_read_only(db.checkout().unwrap(), None).unwrap();
    let ids = read.query("SELECT id FROM t ORDER BY id", &[]).unwrap();
    assert_eq!(
        ids.to_values(),
        [[SqlValue::Integer(1)], [SqlValue::Integer(4)]],
        "the rolled-back row is gone, the rows around the conflict stayed"
    );
    let error = read.execute("DELETE FROM t", &[]).unwrap_err();
    assert!(
        matches!(&error, SqlError::Refused(m) if m.contains("read-only")),
        "{error:?}"
    );
}

#[test]
fn a_statement_running_at_the_deadline_is_cancelled_and_nothing_stays() {
    let db = database();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let mut tx = Transaction::begin(db.checkout().unwrap(), Some(deadline)).unwrap();
    tx.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(9)])
        .unwrap();
    let endless =
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n";
    let error = tx.query(endless, &[]).unwrap_err();
    assert!(error.is_interrupted(), "{error:?}");
    drop(tx); // the invocation fails: nothing is committed
    let mut read = Transaction::begin_read_only(db.checkout().unwrap(), None).unwrap();
    assert!(read.query("SELECT id FROM t", &[]).unwrap().is_empty());
}

/// PostgreSQL aborts a transaction at a failed statement and then answers `COMMIT` with a
/// rollback, not an error: the host must not take that for a commit.
#[test]
fn a_failed_host_statement_fails_the_commit_instead_of_a_quiet_rollback() {
    let db = database();
    let tx = begin(&db);
    let conn = tx.host_connection().unwrap();
    conn.execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(1)])
        .unwrap();
    let duplicate = conn
        .execute("INSERT INTO t (id) VALUES (?)", &[SqlValue::Integer(1)])
        .unwrap_err();
    assert!(
        matches!(duplicate, SqlError::Constraint(_)),
        "{duplicate:?}"
    );
    let error = tx.commit().unwrap_err();
    assert!(error.to_string().contains("aborted"), "{error}");
    let mut read = Transaction::begin_read_only(db.checkout().unwrap(), None).unwrap();
    assert!(read.query("SELECT id FROM t", &[]).unwrap().is_empty());
}
