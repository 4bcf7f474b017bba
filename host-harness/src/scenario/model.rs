//! A scenario as the runner sees it once parsed: its steps, the actions they take and the
//! expectations they check (scenario-format.md).

use serde_json::Value;

use crate::platform::HealthStatus;

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Virtual clock start, epoch ms.
    pub start_ms: i64,
    /// Seed of every id and random value.
    pub seed: u64,
    /// Catalog systems: (id, name).
    pub systems: Vec<(String, String)>,
    /// Dependencies: (source, target) — source depends on target.
    pub dependencies: Vec<(String, String)>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Optional fault injection: deliver every queue job, entity change and hook twice.
    pub duplicate_deliveries: bool,
    /// Optional fault injection: deliver the newest due copy first (reorders every group).
    pub reorder_deliveries: bool,
    /// Simulated host instances (optional `instances`, default 1): a broadcast subscription
    /// receives one copy per instance.
    pub instances: u32,
    /// The directory `swap_plugin` paths are relative to (the scenario file's; set by
    /// [`parse_file`]; the working directory when `None`).
    pub base_dir: Option<std::path::PathBuf>,
}

/// One step with its optional label.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// Label shown in reports.
    pub label: Option<String>,
}

/// Who calls an RPC in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerName {
    /// `slo.read` and `slo.manage`.
    Admin,
    /// `slo.read`.
    Reader,
    /// No rules.
    Anonymous,
}

/// An RPC call in a step or an expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcCall {
    /// Procedure.
    pub procedure: String,
    /// JSON input (strings may hold `${name.path}` references).
    pub input: Value,
    /// Caller.
    pub caller: CallerName,
}

/// The report sections an expectation can read.
pub const REPORT_SECTIONS: &[&str] = &[
    "downtimeEvents",
    "hooks",
    "signals",
    "entityChanges",
    "triggerEvents",
    "automationRuns",
    "versionEvents",
    "snapshots",
    "streaks",
    "achievements",
    "deadLetters",
    "invocations",
    "objectives",
];

/// Where an expectation's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The result of an RPC made at that moment.
    Rpc(RpcCall),
    /// A report section as it stands.
    Report(String),
}

/// The check an expectation makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// JSON equality (numbers exact).
    Equals(Value),
    /// Numeric closeness.
    Approx {
        /// Expected value.
        value: f64,
        /// Absolute tolerance.
        tolerance: f64,
    },
    /// Strictly greater.
    Gt(f64),
    /// Strictly less.
    Lt(f64),
    /// Array length.
    Length(usize),
    /// An array element matching the object as a subset.
    Contains(Value),
}

/// An expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Where the value comes from.
    pub source: Source,
    /// Dotted path into it.
    pub path: Option<String>,
    /// The check.
    pub check: Check,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Move the clock forward by this many ms.
    Advance(i64),
    /// Move the clock to this instant.
    At(i64),
    /// Change a system's health.
    Health {
        /// System.
        system: String,
        /// Status.
        status: HealthStatus,
    },
    /// Delete a catalog system.
    DeleteSystem(String),
    /// Add a catalog system.
    AddSystem {
        /// Id.
        id: String,
        /// Name.
        name: String,
    },
    /// Add or remove a dependency edge.
    Dependency {
        /// The dependent.
        source: String,
        /// Its upstream.
        target: String,
        /// Remove instead of add.
        remove: bool,
    },
    /// Record a maintenance window.
    Maintenance {
        /// System.
        system: String,
        /// Start, epoch ms.
        start: i64,
        /// End, epoch ms.
        end: i64,
        /// Status.
        status: String,
    },
    /// Set or clear an incident override.
    Incident {
        /// Systems.
        systems: Vec<String>,
        /// Active or cleared.
        active: bool,
    },
    /// Call a procedure.
    Rpc {
        /// The call.
        call: RpcCall,
        /// Name to store the result under.
        name: Option<String>,
        /// Expected error code.
        expect_error: Option<String>,
    },
    /// Enqueue a queue's recurring job now.
    RunJob(String),
    /// Hot-swap the plugin to the component at this path (relative to the scenario file).
    SwapPlugin(String),
    /// Register an automation.
    Automation {
        /// Its id.
        id: String,
        /// Its condition (validated), if any.
        when: Option<Value>,
        /// The qualified trigger whose events start it, if any.
        trigger: Option<String>,
        /// The trigger-level `for:` dwell (a duration, validated), if any.
        dwell: Option<Value>,
    },
    /// Assert.
    Expect(Expectation),
}

impl Action {
    /// The step kind's key in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Advance(_) => "advance",
            Action::At(_) => "at",
            Action::Health { .. } => "health",
            Action::DeleteSystem(_) => "delete_system",
            Action::AddSystem { .. } => "add_system",
            Action::Dependency { .. } => "dependency",
            Action::Maintenance { .. } => "maintenance",
            Action::Incident { .. } => "incident",
            Action::Rpc { .. } => "rpc",
            Action::RunJob(_) => "run_job",
            Action::SwapPlugin(_) => "swap_plugin",
            Action::Automation { .. } => "automation",
            Action::Expect(_) => "expect",
        }
    }
}
