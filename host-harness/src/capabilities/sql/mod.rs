//! The SQL capability: typed values, one transaction per invocation, savepoints, guest
//! restrictions and plugin migrations, on SQLite or PostgreSQL.
//!
//! Plugins write `?` placeholders and portable SQL. Each backend lives in its own module
//! ([`sqlite`], [`postgres`]); [`SqlConnection`] is the backend-neutral connection that the
//! rest of the host uses, for the plugin's statements and for its own.

mod connection;
mod error;
mod guest_policy;
mod migrations;
mod pool;
mod postgres;
mod rows;
mod sqlite;
mod tokens;
mod transaction;
mod value;

pub use connection::{commits_so_far, write_begin_us_so_far, Dialect, SqlConnection};
pub use error::SqlError;
pub use migrations::{
    apply_migrations, apply_migrations_in, MigrationError, MigrationReport, MigrationSpec,
    PLUGIN_MIGRATIONS_TABLE,
};
pub use pool::{Database, DatabaseLocation, PooledConnection};
pub use rows::{CellKind, PagePosition, Rows};
pub use transaction::{Transaction, MAX_CURSOR_ROWS, MAX_ROWS};
pub use value::{FromSqlValue, Row, SqlValue};

/// Prefix of the tables the host owns; plugins can neither read nor write them.
pub const HOST_TABLE_PREFIX: &str = "_host_";
