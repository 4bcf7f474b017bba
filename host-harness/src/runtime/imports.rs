//! The contract's imports, served to the guest from the invocation's state and the host
//! capabilities. Each function is a thin adapter: the capability modules hold the logic.

use wasmtime::component::Resource;

use crate::bindings::checkstack::plugin::{
    cache, clock, context, entities, hooks, log, platform, queue, signals, sql, types,
};
use crate::capabilities::log::{LogLevel, LogLine};
use crate::capabilities::outbox::{EntityOperation, OutboxEntry};
use crate::capabilities::sql::{SqlError, SqlValue};

use super::columnar;
use super::cursor::OpenCursor;
use super::state::InvocationState;

/// Checks that `text` is one complete JSON value, naming `what` when it is not.
fn check_json(what: &str, text: &str) -> Result<(), types::PluginError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| types::PluginError::Invalid(format!("{what} is not valid JSON: {e}")))
}

fn check_name(what: &str, name: &str) -> Result<(), types::PluginError> {
    if name.trim().is_empty() {
        Err(types::PluginError::Invalid(format!(
            "{what} must not be empty"
        )))
    } else {
        Ok(())
    }
}

impl types::Host for InvocationState {}

/// Longest log line kept; longer ones are cut with a marker.
pub const MAX_LOG_LINE: usize = 16 * 1024;
/// Most log lines one invocation may write; later ones are dropped (with one notice).
pub const MAX_LOG_LINES: usize = 10_000;

impl InvocationState {
    /// Buffers `entry`, refusing it when the invocation's outbox would exceed its byte cap.
    fn buffer(&mut self, entry: OutboxEntry, bytes: usize) -> Result<(), types::PluginError> {
        let total = self.outbox_bytes.saturating_add(bytes);
        if total > self.outbox_limit {
            return Err(types::PluginError::Invalid(format!(
                "the invocation's outbox would hold {total} bytes, over its cap of {} bytes",
                self.outbox_limit
            )));
        }
        self.outbox_bytes = total;
        self.outbox.push(entry);
        Ok(())
    }
}

pub(super) fn to_value(v: sql::SqlValue) -> SqlValue {
    match v {
        sql::SqlValue::Null => SqlValue::Null,
        sql::SqlValue::Integer(n) => SqlValue::Integer(n),
        sql::SqlValue::Real(n) => SqlValue::Real(n),
        sql::SqlValue::Text(s) => SqlValue::Text(s),
        sql::SqlValue::Blob(b) => SqlValue::Blob(b),
    }
}

pub(super) fn to_wit_error(e: SqlError) -> sql::SqlError {
    match e {
        SqlError::Syntax(m) => sql::SqlError::Syntax(m),
        SqlError::Constraint(m) => sql::SqlError::Constraint(m),
        SqlError::Refused(m) => sql::SqlError::Refused(m),
        SqlError::Parameters(m) => sql::SqlError::Parameters(m),
        SqlError::Database(m) | SqlError::Unavailable(m) => sql::SqlError::Database(m),
    }
}

impl InvocationState {
    /// The invocation's transaction, or the refusal for an export that runs without one.
    pub(super) fn transaction(
        &mut self,
    ) -> Result<&mut crate::capabilities::sql::Transaction, sql::SqlError> {
        self.host_transaction().map_err(to_wit_error)
    }

    fn host_transaction(&mut self) -> Result<&mut crate::capabilities::sql::Transaction, SqlError> {
        let export = &self.tag.export;
        self.transaction.as_mut().ok_or_else(|| {
            SqlError::Refused(format!(
                "{export} runs without a database: it must not use SQL"
            ))
        })
    }

    /// Runs `work` on the invocation's transaction, timed into its SQL time.
    pub(super) fn timed_sql<T>(
        &mut self,
        work: impl FnOnce(&mut crate::capabilities::sql::Transaction) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let started = std::time::Instant::now();
        let outcome = self.host_transaction().and_then(work);
        self.sql_time += started.elapsed();
        outcome
    }

    /// Runs a guest query under the 100,000-row cap; the rows stay in the host's form (each
    /// contract version lowers them its own way).
    pub(super) fn guest_rows(
        &mut self,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> Result<crate::capabilities::sql::Rows, SqlError> {
        self.timed_sql(|tx| tx.query(statement, &params))
    }
}

impl sql::Host for InvocationState {
    fn query(
        &mut self,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<sql::Rows, sql::SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(to_value).collect();
        let rows = self.guest_rows(&statement, params).map_err(to_wit_error)?;
        Ok(columnar::to_wit(rows))
    }

    fn open_cursor(
        &mut self,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<Resource<OpenCursor>, sql::SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(to_value).collect();
        InvocationState::open_cursor(self, statement, params)
    }

    fn execute(
        &mut self,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<u64, sql::SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(to_value).collect();
        self.timed_sql(|tx| tx.execute(&statement, &params))
            .map_err(to_wit_error)
    }

    fn savepoint(&mut self) -> Result<u32, sql::SqlError> {
        let mark = self.outbox.mark();
        self.transaction()?.savepoint(mark).map_err(to_wit_error)
    }

    fn release(&mut self, id: u32) -> Result<(), sql::SqlError> {
        self.transaction()?.release(id).map_err(to_wit_error)
    }

    fn rollback_to(&mut self, id: u32) -> Result<(), sql::SqlError> {
        let mark = self.transaction()?.rollback_to(id).map_err(to_wit_error)?;
        self.outbox.rollback_to(mark);
        Ok(())
    }
}

impl queue::Host for InvocationState {
    fn enqueue(
        &mut self,
        queue: String,
        payload: String,
        options: queue::EnqueueOptions,
    ) -> Result<String, types::PluginError> {
        check_name("queue name", &queue)?;
        check_json("queue payload", &payload)?;
        let (job_id, dedupe) = match options.job_id {
            Some(id) => {
                check_name("job id", &id)?;
                (id, true)
            }
            None => {
                self.jobs_made += 1;
                (
                    format!("{}:{}-{}", queue, self.tag.sequence, self.jobs_made),
                    false,
                )
            }
        };
        let bytes = queue.len() + payload.len() + job_id.len();
        self.buffer(
            OutboxEntry::Enqueue {
                queue,
                payload,
                job_id: job_id.clone(),
                dedupe,
                delay_ms: options.delay_ms.unwrap_or(0),
                priority: options.priority.unwrap_or(0),
            },
            bytes,
        )?;
        Ok(job_id)
    }
}

impl hooks::Host for InvocationState {
    fn emit(&mut self, hook_id: String, payload: String) -> Result<(), types::PluginError> {
        check_name("hook id", &hook_id)?;
        check_json("hook payload", &payload)?;
        let bytes = hook_id.len() + payload.len();
        self.buffer(OutboxEntry::Hook { hook_id, payload }, bytes)
    }
}

impl entities::Host for InvocationState {
    fn request(
        &mut self,
        kind: String,
        id: String,
        op: types::EntityOp,
    ) -> Result<(), types::PluginError> {
        check_name("entity kind", &kind)?;
        check_name("entity id", &id)?;
        let op = match op {
            types::EntityOp::Mutate(json) => {
                check_json("mutation operation", &json)?;
                EntityOperation::Mutate(json)
            }
            types::EntityOp::Remove(json) => {
                check_json("removal operation", &json)?;
                EntityOperation::Remove(json)
            }
        };
        self.outbox
            .push(OutboxEntry::EntityRequest { kind, id, op });
        Ok(())
    }
}

impl platform::Host for InvocationState {
    fn call(
        &mut self,
        plugin_id: String,
        procedure: String,
        input: String,
    ) -> Result<String, types::PluginError> {
        check_json("platform call input", &input)?;
        self.services
            .platform
            .call(&plugin_id, &procedure, &input)
            .map_err(Into::into)
    }
}

impl signals::Host for InvocationState {
    fn broadcast(&mut self, signal_id: String, payload: String) -> Result<(), types::PluginError> {
        check_name("signal id", &signal_id)?;
        check_json("signal payload", &payload)?;
        let bytes = signal_id.len() + payload.len();
        self.buffer(OutboxEntry::Signal { signal_id, payload }, bytes)
    }
}

impl cache::Host for InvocationState {
    fn get(&mut self, key: String) -> Option<String> {
        match self.outbox.pending_cache_value(&key) {
            Some(pending) => pending,
            None => self.services.cache.get(&self.tag.plugin, &key),
        }
    }

    fn set(&mut self, key: String, value: String, ttl_ms: u64) {
        // A malformed value is dropped (with a log line) rather than cached: `set` has no
        // error channel and a cache miss is always safe.
        if let Err(e) = check_json("cache value", &value) {
            self.write_log(LogLevel::Warn, format!("cache.set({key}) ignored: {e:?}"));
            return;
        }
        self.outbox
            .push(OutboxEntry::CacheSet { key, value, ttl_ms });
    }

    fn invalidate(&mut self, keys: Vec<String>) {
        // Invalidations are never dropped (a stale cache entry is worse than a full outbox);
        // they still count against the cap for later entries.
        self.outbox_bytes = self
            .outbox_bytes
            .saturating_add(keys.iter().map(String::len).sum());
        self.outbox.push(OutboxEntry::CacheInvalidate { keys });
    }
}

impl InvocationState {
    pub(crate) fn write_log(&mut self, level: LogLevel, mut message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                message =
                    format!("log limit of {MAX_LOG_LINES} lines reached; later lines are dropped");
            } else {
                return;
            }
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" … (truncated)");
        }
        self.services.log.record(LogLine {
            plugin: self.tag.plugin.clone(),
            version: self.tag.version.clone(),
            export: self.tag.export.clone(),
            invocation: self.invocation_id(),
            trace_id: self.trace_id.clone(),
            level,
            message,
            at_ms: self.services.clock.now_ms(),
        });
    }
}

impl log::Host for InvocationState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.write_log(level, message);
    }
}

impl clock::Host for InvocationState {
    fn now_ms(&mut self) -> i64 {
        self.services.clock.now_ms()
    }
}

impl context::Host for InvocationState {
    fn current(&mut self) -> context::CallContext {
        context::CallContext {
            invocation_id: self.invocation_id(),
            export: self.tag.export.clone(),
            caller: self.caller.clone().unwrap_or_else(system_caller),
            trace_id: self.trace_id.clone(),
        }
    }

    fn deadline_remaining_ms(&mut self) -> u64 {
        self.deadline.map_or(u64::MAX, |deadline| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// The `system` principal: who runs deliveries, jobs, entity work and start-up.
fn system_caller() -> types::Caller {
    types::Caller {
        kind: types::CallerKind::System,
        id: None,
        access_rules: Vec::new(),
    }
}
