//! The frozen contract 0.1.0's imports, served by the current ones.
//!
//! Each 0.1.0 import converts its arguments to the current types, calls the 0.2.0 import of
//! the same name and converts the answer back, so both versions share one implementation and
//! cannot drift. The one real difference is `sql.query`: 0.1.0 answers a list per row.

use crate::bindings::checkstack::plugin as current;
use crate::bindings::v0_1::checkstack::plugin::{
    cache, clock, entities, hooks, log, platform, queue, signals, sql, types,
};
use crate::capabilities::sql::SqlValue;

use super::imports::to_wit_error;
use super::state::InvocationState;

/// A current plugin error as 0.1.0's (the variants are the same).
fn error(e: current::types::PluginError) -> types::PluginError {
    use current::types::PluginError as E;
    match e {
        E::Invalid(m) => types::PluginError::Invalid(m),
        E::NotFound(m) => types::PluginError::NotFound(m),
        E::Denied(m) => types::PluginError::Denied(m),
        E::Conflict(m) => types::PluginError::Conflict(m),
        E::Internal(m) => types::PluginError::Internal(m),
    }
}

fn sql_error(e: current::sql::SqlError) -> sql::SqlError {
    use current::sql::SqlError as E;
    match e {
        E::Syntax(m) => sql::SqlError::Syntax(m),
        E::Constraint(m) => sql::SqlError::Constraint(m),
        E::Refused(m) => sql::SqlError::Refused(m),
        E::Parameters(m) => sql::SqlError::Parameters(m),
        E::Database(m) => sql::SqlError::Database(m),
    }
}

fn value(v: sql::SqlValue) -> SqlValue {
    match v {
        sql::SqlValue::Null => SqlValue::Null,
        sql::SqlValue::Integer(n) => SqlValue::Integer(n),
        sql::SqlValue::Real(n) => SqlValue::Real(n),
        sql::SqlValue::Text(s) => SqlValue::Text(s),
        sql::SqlValue::Blob(b) => SqlValue::Blob(b),
    }
}

fn wit_value(v: SqlValue) -> sql::SqlValue {
    match v {
        SqlValue::Null => sql::SqlValue::Null,
        SqlValue::Integer(n) => sql::SqlValue::Integer(n),
        SqlValue::Real(n) => sql::SqlValue::Real(n),
        SqlValue::Text(s) => sql::SqlValue::Text(s),
        SqlValue::Blob(b) => sql::SqlValue::Blob(b),
    }
}

impl types::Host for InvocationState {}

impl sql::Host for InvocationState {
    fn query(
        &mut self,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<sql::Rows, sql::SqlError> {
        let params = params.into_iter().map(value).collect();
        let rows = self
            .guest_rows(&statement, params)
            .map_err(|e| sql_error(to_wit_error(e)))?;
        let values = rows.to_values();
        Ok(sql::Rows {
            columns: rows.columns,
            rows: values
                .into_iter()
                .map(|row| row.into_iter().map(wit_value).collect())
                .collect(),
        })
    }

    fn execute(
        &mut self,
        statement: String,
        params: Vec<sql::SqlValue>,
    ) -> Result<u64, sql::SqlError> {
        let params: Vec<SqlValue> = params.into_iter().map(value).collect();
        self.timed_sql(|tx| tx.execute(&statement, &params))
            .map_err(|e| sql_error(to_wit_error(e)))
    }

    fn savepoint(&mut self) -> Result<u32, sql::SqlError> {
        current::sql::Host::savepoint(self).map_err(sql_error)
    }

    fn release(&mut self, id: u32) -> Result<(), sql::SqlError> {
        current::sql::Host::release(self, id).map_err(sql_error)
    }

    fn rollback_to(&mut self, id: u32) -> Result<(), sql::SqlError> {
        current::sql::Host::rollback_to(self, id).map_err(sql_error)
    }
}

impl queue::Host for InvocationState {
    fn enqueue(
        &mut self,
        queue: String,
        payload: String,
        options: queue::EnqueueOptions,
    ) -> Result<String, types::PluginError> {
        let options = current::queue::EnqueueOptions {
            job_id: options.job_id,
            delay_ms: options.delay_ms,
            priority: options.priority,
        };
        current::queue::Host::enqueue(self, queue, payload, options).map_err(error)
    }
}

impl hooks::Host for InvocationState {
    fn emit(&mut self, hook_id: String, payload: String) -> Result<(), types::PluginError> {
        current::hooks::Host::emit(self, hook_id, payload).map_err(error)
    }
}

impl entities::Host for InvocationState {
    fn request(
        &mut self,
        kind: String,
        id: String,
        op: types::EntityOp,
    ) -> Result<(), types::PluginError> {
        let op = match op {
            types::EntityOp::Mutate(json) => current::types::EntityOp::Mutate(json),
            types::EntityOp::Remove(json) => current::types::EntityOp::Remove(json),
        };
        current::entities::Host::request(self, kind, id, op).map_err(error)
    }
}

impl platform::Host for InvocationState {
    fn call(
        &mut self,
        plugin_id: String,
        procedure: String,
        input: String,
    ) -> Result<String, types::PluginError> {
        current::platform::Host::call(self, plugin_id, procedure, input).map_err(error)
    }
}

impl signals::Host for InvocationState {
    fn broadcast(&mut self, signal_id: String, payload: String) -> Result<(), types::PluginError> {
        current::signals::Host::broadcast(self, signal_id, payload).map_err(error)
    }
}

impl cache::Host for InvocationState {
    fn get(&mut self, key: String) -> Option<String> {
        current::cache::Host::get(self, key)
    }

    fn set(&mut self, key: String, value: String, ttl_ms: u64) {
        current::cache::Host::set(self, key, value, ttl_ms)
    }

    fn invalidate(&mut self, keys: Vec<String>) {
        current::cache::Host::invalidate(self, keys)
    }
}

impl log::Host for InvocationState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => current::log::Level::Trace,
            log::Level::Debug => current::log::Level::Debug,
            log::Level::Info => current::log::Level::Info,
            log::Level::Warn => current::log::Level::Warn,
            log::Level::Error => current::log::Level::Error,
        };
        current::log::Host::write(self, level, message)
    }
}

impl clock::Host for InvocationState {
    fn now_ms(&mut self) -> i64 {
        current::clock::Host::now_ms(self)
    }
}
