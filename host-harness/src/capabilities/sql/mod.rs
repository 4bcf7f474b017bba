//! The SQL capability on SQLite: typed values, one transaction per invocation, savepoints,
//! guest restrictions and plugin migrations.
//!
//! Dialect-specific behaviour stays in this module so that the same import can later be served
//! by PostgreSQL: plugins write `?` placeholders and portable SQL; this layer binds them.

mod connection;
mod error;
mod migrations;
mod pool;
mod transaction;
mod value;

pub use connection::{commits_so_far, SqlConnection};
pub use error::SqlError;
pub use migrations::{
    apply_migrations, apply_migrations_in, MigrationError, MigrationReport, MigrationSpec,
};
pub use pool::{Database, DatabaseLocation};
pub use transaction::Transaction;
pub use value::{Rows, SqlValue};
