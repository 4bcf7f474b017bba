//! The plugin's typed error, mirroring the contract's `plugin-error` variant.

use std::fmt;

/// An expected failure, with a message that names what was wrong.
///
/// The component layer maps each variant one to one onto the WIT `plugin-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// Malformed input or a failed validation; the message starts with the field name.
    Invalid(String),
    /// An unknown id.
    NotFound(String),
    /// The caller lacks an access rule.
    Denied(String),
    /// A conflict with current state.
    Conflict(String),
    /// A dependency or the database failed.
    Internal(String),
}

impl PluginError {
    /// An `Invalid` error for `field` with a human-readable `message`.
    pub fn invalid_field(field: &str, message: impl fmt::Display) -> Self {
        PluginError::Invalid(format!("{field}: {message}"))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Invalid(m) => write!(f, "invalid: {m}"),
            PluginError::NotFound(m) => write!(f, "not found: {m}"),
            PluginError::Denied(m) => write!(f, "denied: {m}"),
            PluginError::Conflict(m) => write!(f, "conflict: {m}"),
            PluginError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for PluginError {}
