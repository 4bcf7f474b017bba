//! Why a statement failed, classified for the guest.

use rusqlite::ErrorCode;

/// A SQL failure as the `sql` import reports it: never a trap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// Did not parse, or names an unknown table or column.
    #[error("syntax: {0}")]
    Syntax(String),
    /// A constraint was violated.
    #[error("constraint: {0}")]
    Constraint(String),
    /// Not allowed for plugins.
    #[error("refused: {0}")]
    Refused(String),
    /// Parameters do not fit the statement.
    #[error("parameters: {0}")]
    Parameters(String),
    /// The database itself cannot be used: read-only, full, an I/O error, corrupt, gone.
    /// Not the plugin's fault: the host reports the invocation as a host failure (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure.
    #[error("database: {0}")]
    Database(String),
}

impl SqlError {
    /// Classifies a rusqlite error. `denial` is the authorizer's reason when it refused the
    /// statement, which is far more useful than SQLite's bare "not authorized".
    pub fn classify(error: rusqlite::Error, denial: Option<String>) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let text = message.clone().unwrap_or_else(|| failure.to_string());
                match failure.code {
                    ErrorCode::ConstraintViolation => SqlError::Constraint(text),
                    ErrorCode::AuthorizationForStatementDenied => {
                        SqlError::Refused(denial.unwrap_or(text))
                    }
                    ErrorCode::Unknown => SqlError::Syntax(text),
                    ErrorCode::TooBig => SqlError::Refused(text),
                    ErrorCode::OperationInterrupted => SqlError::Database(
                        "statement interrupted: the invocation's deadline passed".into(),
                    ),
                    ErrorCode::ReadOnly
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
                    | ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::PermissionDenied => SqlError::Unavailable(text),
                    _ => SqlError::Database(text),
                }
            }
            rusqlite::Error::SqlInputError {
                msg, sql, offset, ..
            } => SqlError::Syntax(format!("{msg} at offset {offset} in {sql:?}")),
            rusqlite::Error::MultipleStatement => {
                SqlError::Refused("one statement per call: split the SQL into several calls".into())
            }
            rusqlite::Error::InvalidParameterCount(given, expected) => {
                SqlError::Parameters(format!(
                    "the statement has {expected} placeholders but {given} parameters were given"
                ))
            }
            rusqlite::Error::ExecuteReturnedResults => {
                SqlError::Refused("the statement returns rows: use query, not execute".into())
            }
            _ => SqlError::Database(error.to_string()),
        }
    }
}
