//! What the host measures about its own work, in prometheus-client metric families: every
//! invocation by export and outcome, their latency, and the time spent in the host's SQL.
//! `serve`'s `/metrics` registers these next to what it reads at scrape time (see
//! `serve::metrics`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The labels of an invocation count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvocationLabels {
    /// The export, without arguments (`rpc.handle`, `handlers.on-entity-change`).
    pub export: String,
    /// `ok`, `error` (returned or rejected), `trap` (a trap or a limit) or `host` (the host
    /// failed, the database for example).
    pub outcome: String,
}

/// The label of a latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExportLabels {
    /// The export, without arguments.
    pub export: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The host's own metrics. Cloning shares them (the families are reference-counted).
#[derive(Clone)]
pub struct HostMetrics {
    invocations: Family<InvocationLabels, Counter>,
    latency: Family<ExportLabels, Histogram, fn() -> Histogram>,
    sql_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
}

impl Default for HostMetrics {
    fn default() -> Self {
        HostMetrics {
            invocations: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            sql_seconds: Counter::default(),
        }
    }
}

impl HostMetrics {
    /// Counts one invocation of `export` that ended with `outcome` after `elapsed`.
    pub fn observe(&self, export: &str, outcome: &str, elapsed: Duration) {
        self.invocations
            .get_or_create(&InvocationLabels {
                export: export.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&ExportLabels {
                export: export.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Adds time spent in the host's SQL calls for committed invocations.
    pub fn add_sql(&self, elapsed: Duration) {
        self.sql_seconds.inc_by(elapsed.as_secs_f64());
    }

    /// Registers the families in `registry` (under the `slo_host_` names).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "slo_host_invocations",
            "Plugin invocations by export and outcome",
            self.invocations.clone(),
        );
        registry.register(
            "slo_host_invocation_duration_seconds",
            "Wall time of plugin invocations, instantiation and transaction included",
            self.latency.clone(),
        );
        registry.register(
            "slo_host_sql_seconds",
            "Time committed invocations spent in the host's SQL calls",
            self.sql_seconds.clone(),
        );
    }
}
