//! Typed failures of plugin invocations.

use std::fmt;
use std::time::Duration;

use crate::bindings::types as wit;

/// An expected failure reported by a plugin (or by the host on the plugin's behalf), mirroring
/// the contract's `plugin-error`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "code", content = "message", rename_all = "kebab-case")]
pub enum PluginError {
    /// Malformed input or failed validation.
    Invalid(String),
    /// Unknown id or procedure.
    NotFound(String),
    /// Missing access rule.
    Denied(String),
    /// Conflicting state.
    Conflict(String),
    /// Anything else.
    Internal(String),
}

impl PluginError {
    /// The contract's code: `invalid`, `not-found`, `denied`, `conflict` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid",
            PluginError::NotFound(_) => "not-found",
            PluginError::Denied(_) => "denied",
            PluginError::Conflict(_) => "conflict",
            PluginError::Internal(_) => "internal",
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            PluginError::Invalid(m)
            | PluginError::NotFound(m)
            | PluginError::Denied(m)
            | PluginError::Conflict(m)
            | PluginError::Internal(m) => m,
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for PluginError {}

impl From<wit::PluginError> for PluginError {
    fn from(e: wit::PluginError) -> Self {
        match e {
            wit::PluginError::Invalid(m) => PluginError::Invalid(m),
            wit::PluginError::NotFound(m) => PluginError::NotFound(m),
            wit::PluginError::Denied(m) => PluginError::Denied(m),
            wit::PluginError::Conflict(m) => PluginError::Conflict(m),
            wit::PluginError::Internal(m) => PluginError::Internal(m),
        }
    }
}

impl From<PluginError> for wit::PluginError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Invalid(m) => wit::PluginError::Invalid(m),
            PluginError::NotFound(m) => wit::PluginError::NotFound(m),
            PluginError::Denied(m) => wit::PluginError::Denied(m),
            PluginError::Conflict(m) => wit::PluginError::Conflict(m),
            PluginError::Internal(m) => wit::PluginError::Internal(m),
        }
    }
}

/// Why an invocation did not succeed. In every case its transaction was rolled back and
/// nothing it buffered was published.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Failure {
    /// The host refused the call before it reached the plugin (unknown procedure, missing rule).
    Rejected {
        /// The typed reason.
        error: PluginError,
    },
    /// The plugin returned an `err`.
    Returned {
        /// The plugin's error.
        error: PluginError,
    },
    /// The plugin trapped (a bug: a panic, an out-of-bounds access…).
    Trap {
        /// The trap and, for a panic, the panic message the guest printed.
        message: String,
    },
    /// The invocation ran past its wall-clock deadline and was interrupted.
    Deadline {
        /// The deadline.
        #[serde(with = "millis")]
        limit: Duration,
    },
    /// The plugin tried to grow its linear memories past the cap.
    MemoryCap {
        /// The cap, in bytes, summed over all linear memories.
        limit_bytes: usize,
    },
    /// The plugin used up its instruction (fuel) budget.
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// The host itself failed (database unavailable, commit refused, instantiation failed).
    Host {
        /// What failed.
        message: String,
    },
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

impl Failure {
    /// A short code: the plugin error's code for `Rejected`/`Returned`, else `trap`,
    /// `deadline`, `memory`, `fuel` or `host`.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Rejected { error } | Failure::Returned { error } => error.code(),
            Failure::Trap { .. } => "trap",
            Failure::Deadline { .. } => "deadline",
            Failure::MemoryCap { .. } => "memory",
            Failure::FuelExhausted { .. } => "fuel",
            Failure::Host { .. } => "host",
        }
    }

    /// The typed plugin error, for `Rejected` and `Returned`.
    pub fn plugin_error(&self) -> Option<&PluginError> {
        match self {
            Failure::Rejected { error } | Failure::Returned { error } => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Rejected { error } => write!(f, "rejected by the host: {error}"),
            Failure::Returned { error } => write!(f, "returned {error}"),
            Failure::Trap { message } => write!(f, "trapped: {message}"),
            Failure::Deadline { limit } => {
                write!(
                    f,
                    "interrupted: ran past its {} ms deadline",
                    limit.as_millis()
                )
            }
            Failure::MemoryCap { limit_bytes } => {
                write!(
                    f,
                    "stopped: linear memory would exceed the cap of {limit_bytes} bytes"
                )
            }
            Failure::FuelExhausted { fuel } => {
                write!(f, "stopped: used up its fuel budget of {fuel}")
            }
            Failure::Host { message } => write!(f, "host failure: {message}"),
        }
    }
}

/// A failed invocation, naming the plugin, its version and the export.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InvocationError {
    /// Plugin id.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// The export, e.g. `rpc.handle(createObjective)`.
    pub export: String,
    /// What went wrong.
    pub failure: Failure,
}

impl InvocationError {
    /// The failure's short code (see [`Failure::code`]).
    pub fn code(&self) -> &'static str {
        self.failure.code()
    }
}

impl fmt::Display for InvocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {}@{}, {}: {}",
            self.plugin, self.version, self.export, self.failure
        )
    }
}

impl std::error::Error for InvocationError {}
