//! Why a statement failed, classified for the guest (the same on both backends).

/// Why a write is refused in a read-only invocation.
pub const READ_ONLY_DENIAL: &str =
    "this invocation is read-only (a query procedure, an entity read or a \
     deriver): writes belong in a mutation";

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
    /// A statement stopped because the invocation's deadline passed.
    pub fn interrupted() -> Self {
        SqlError::Database("statement interrupted: the invocation's deadline passed".into())
    }

    /// More than one statement in one call.
    pub fn multiple_statements() -> Self {
        SqlError::Refused("one statement per call: split the SQL into several calls".into())
    }

    /// The number of parameters does not match the placeholders.
    pub fn parameter_count(given: usize, expected: usize) -> Self {
        SqlError::Parameters(format!(
            "the statement has {expected} placeholders but {given} parameters were given"
        ))
    }

    /// A query returned more rows than one call may carry.
    pub fn too_many_rows(max_rows: usize) -> Self {
        SqlError::Refused(too_many_rows_reason(max_rows))
    }

    /// `execute` was given a statement that returns rows.
    pub fn returns_rows() -> Self {
        SqlError::Refused("the statement returns rows: use query, not execute".into())
    }

    /// Whether the statement stopped at the invocation's deadline.
    pub fn is_interrupted(&self) -> bool {
        *self == Self::interrupted()
    }
}

/// Why a query's rows were refused (see [`SqlError::too_many_rows`]).
pub fn too_many_rows_reason(max_rows: usize) -> String {
    format!(
        "the query returns more than {max_rows} rows: page it with LIMIT, or read it through \
         sql.open-cursor (contract 0.2.0)"
    )
}
