//! Running an export of the serving plugin: the invoke wrappers, the invocation counts and the
//! crash policy's bookkeeping.

use super::*;

/// Invocation counts, overall and per export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationCounts {
    /// Every invocation.
    pub total: u64,
    /// Those that trapped or hit a limit.
    pub traps: u64,
    /// Those that returned `err` or were rejected.
    pub errors: u64,
    /// Per export name (without arguments).
    pub by_export: BTreeMap<String, u64>,
    /// Per serving version, `<version> <digest>`.
    pub by_version: BTreeMap<String, u64>,
    /// Wall time of the invocations that committed, instantiation included, in µs. Not
    /// serialised: reports stay deterministic.
    #[serde(skip)]
    pub committed_time_us: u64,
    /// Of which in the host's SQL calls, in µs (not serialised either).
    #[serde(skip)]
    pub committed_sql_us: u64,
}

impl PluginHost {
    /// Runs an export of `plugin` in a transaction, publishes its outbox after commit and
    /// counts it. `export` names it in errors and logs (`rpc.handle(x)`).
    pub fn invoke<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
    ) -> Result<R, InvocationError> {
        self.invoke_then(plugin, export, call, |_, _| Ok(()))
    }

    /// [`PluginHost::invoke`] with a host step in the invocation's transaction before it
    /// commits (see [`Runtime::invoke_then`]).
    pub fn invoke_then<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        self.invoke_around(plugin, export, |_| Ok(()), call, before_commit)
    }

    /// The general form (see [`Runtime::invoke_around`]): counts the invocation, publishes its
    /// outbox after commit, and applies the crash policy.
    pub fn invoke_around<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        before_call: impl FnOnce(Option<&Transaction>) -> Result<(), Failure>,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        self.invoke_in(
            plugin,
            export,
            TransactionMode::Transaction,
            before_call,
            call,
            before_commit,
        )
    }

    /// Runs an export in a read-only transaction (query procedures, entity reads, derivers).
    pub fn invoke_read_only<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        call: impl ExportCall<R>,
    ) -> Result<R, InvocationError> {
        self.invoke_in(
            plugin,
            export,
            TransactionMode::ReadOnly,
            |_| Ok(()),
            call,
            |_, _| Ok(()),
        )
    }

    /// The invocation plan of an `init` probe: a transaction, under [`ProbeBudget`].
    pub(super) fn probe_plan(&self) -> InvocationPlan {
        let mut limits = self.runtime.limits();
        limits.deadline = self.init_probe.deadline;
        if self.runtime.engine().options().fuel {
            limits.fuel = Some(self.init_probe.fuel);
        }
        InvocationPlan {
            mode: TransactionMode::Transaction,
            limits: Some(limits),
        }
    }

    pub(super) fn invoke_in<R>(
        &self,
        plugin: &LoadedPlugin,
        export: &str,
        plan: impl Into<InvocationPlan>,
        before_call: impl FnOnce(Option<&Transaction>) -> Result<(), Failure>,
        call: impl ExportCall<R>,
        before_commit: impl FnOnce(&R, Option<&Transaction>) -> Result<(), Failure>,
    ) -> Result<R, InvocationError> {
        let started = std::time::Instant::now();
        let result = self.runtime.invoke_around(
            &plugin.compiled,
            &plugin.identity,
            &self.services,
            export,
            plan,
            before_call,
            call,
            before_commit,
        );
        let export_name = export.split('(').next().unwrap_or(export);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => match e.failure {
                Failure::Returned { .. } | Failure::Rejected { .. } => "error",
                Failure::Host { .. } => "host",
                _ => "trap",
            },
        };
        self.metrics
            .observe(export_name, outcome, started.elapsed());
        match result {
            Ok(Invoked {
                value,
                outbox,
                durable,
                stats,
            }) => {
                self.count(plugin, export_name, &Ok(()));
                self.add_time(&stats);
                self.note_outcome(plugin, false);
                self.publish(plugin, export, outbox, durable);
                Ok(value)
            }
            Err(error) => {
                self.count(plugin, export_name, &Err(error.failure.clone()));
                match error.failure {
                    // Expected, typed outcomes: the caller handles them.
                    Failure::Returned { .. } | Failure::Rejected { .. } => {
                        self.note_outcome(plugin, false);
                        tracing::debug!("{error}")
                    }
                    Failure::Host { .. } => tracing::warn!("{error}"),
                    _ => {
                        tracing::warn!("{error}");
                        self.note_outcome(plugin, true);
                    }
                }
                Err(error)
            }
        }
    }

    pub(super) fn add_time(&self, stats: &crate::runtime::InvocationStats) {
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.committed_time_us = counts
            .committed_time_us
            .saturating_add(micros(stats.elapsed));
        counts.committed_sql_us = counts.committed_sql_us.saturating_add(micros(stats.sql));
        self.metrics.add_sql(stats.sql);
    }

    pub(super) fn count(&self, plugin: &LoadedPlugin, export: &str, outcome: &Result<(), Failure>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total += 1;
        *counts.by_export.entry(export.to_owned()).or_default() += 1;
        *counts
            .by_version
            .entry(format!("{} {}", plugin.version(), plugin.digest()))
            .or_default() += 1;
        match outcome {
            Ok(()) => {}
            Err(Failure::Returned { .. } | Failure::Rejected { .. }) => counts.errors += 1,
            Err(_) => counts.traps += 1,
        }
    }

    /// The host's metrics (invocations by export and outcome, latency, host SQL time).
    pub fn metrics(&self) -> &super::metrics::HostMetrics {
        &self.metrics
    }

    /// Invocation counts so far.
    pub fn invocation_counts(&self) -> InvocationCounts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
