//! Plugin log lines: tagged with plugin, version and export, forwarded to `tracing`, and kept
//! in a bounded in-memory ring so that tests and reports can show what a plugin said.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Severity of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Diagnostic.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

/// One line a plugin wrote (through the `log` import, or to its stdout/stderr).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    /// Plugin id.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// The export that was running, e.g. `rpc.handle(createObjective)`.
    pub export: String,
    /// The invocation, e.g. `slo#1234` (contract 0.2.0's `context.invocation-id`).
    pub invocation: String,
    /// The W3C trace id of the invocation's trace (`context.trace-id`).
    pub trace_id: String,
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
    /// Host clock at the time, epoch ms.
    pub at_ms: i64,
}

/// The shared plugin log.
#[derive(Clone, Debug)]
pub struct PluginLog {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl PluginLog {
    /// A log that keeps the newest `capacity` lines.
    pub fn with_capacity(capacity: usize) -> Self {
        PluginLog {
            lines: Arc::new(Mutex::new(VecDeque::new())),
            capacity,
        }
    }

    /// Records `line` and forwards it to `tracing` under the `plugin` target.
    pub fn record(&self, line: LogLine) {
        let LogLine {
            plugin,
            version,
            export,
            trace_id,
            message,
            ..
        } = &line;
        match line.level {
            LogLevel::Trace => {
                tracing::trace!(target: "plugin", %plugin, %version, %export, %trace_id, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "plugin", %plugin, %version, %export, %trace_id, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "plugin", %plugin, %version, %export, %trace_id, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "plugin", %plugin, %version, %export, %trace_id, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "plugin", %plugin, %version, %export, %trace_id, "{message}")
            }
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// A copy of the kept lines, oldest first.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

impl Default for PluginLog {
    fn default() -> Self {
        PluginLog::with_capacity(10_000)
    }
}
