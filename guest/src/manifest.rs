//! What the SLO plugin declares to the host, as plain data.
//!
//! The component layer turns these tables into the contract's `plugin-manifest`; keeping them
//! here lets native tests check them and keeps the bindings layer thin. Only what the plugin
//! implements is declared: a subscription or procedure appears here together with its handler.

/// The plugin id.
pub const PLUGIN_ID: &str = "slo";

/// The plugin's version, from its crate.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The contract version this plugin is built against (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Read access to objectives, statuses, events, snapshots, streaks and achievements.
pub const READ: &str = "slo.read";
/// Create, update and delete objectives.
pub const MANAGE: &str = "slo.manage";

/// An access rule the plugin defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRuleSpec {
    /// Short id.
    pub id: &'static str,
    /// Shown to administrators.
    pub description: &'static str,
    /// Granted to anonymous callers by default.
    pub is_public: bool,
    /// Granted to new roles by default.
    pub is_default: bool,
}

/// The access rules of slo-behaviour.md §1 (`slo.read` is seeded public and default).
pub const ACCESS_RULES: &[AccessRuleSpec] = &[
    AccessRuleSpec {
        id: READ,
        description: "View service level objectives and their status",
        is_public: true,
        is_default: true,
    },
    AccessRuleSpec {
        id: MANAGE,
        description: "Create, update and delete service level objectives",
        is_public: false,
        is_default: false,
    },
];

/// Whether a procedure reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcedureKind {
    /// Never writes.
    Query,
    /// Writes.
    Mutation,
}

/// An RPC procedure and the access rules a caller needs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcedureSpec {
    /// The procedure name.
    pub name: &'static str,
    /// Query or mutation.
    pub kind: ProcedureKind,
    /// The rule a caller must hold.
    pub access: &'static str,
    /// Open to anonymous callers (if the anonymous role holds the rule).
    pub public: bool,
}

/// The procedures this version serves.
pub const PROCEDURES: &[ProcedureSpec] = &[
    query("listObjectives"),
    query("getObjective"),
    query("getObjectivesForSystem"),
    query("getBulkObjectivesForSystems"),
    mutation("createObjective"),
    mutation("updateObjective"),
    mutation("deleteObjective"),
    query("getDowntimeEvents"),
    query("getDailySnapshots"),
    query("getStreaks"),
    query("getAchievements"),
    query("getRecentMilestones"),
    query("getSystemSignals"),
];

/// A public read procedure needing `slo.read`.
const fn query(name: &'static str) -> ProcedureSpec {
    ProcedureSpec {
        name,
        kind: ProcedureKind::Query,
        access: READ,
        public: true,
    }
}

/// A signed-in write procedure needing `slo.manage`.
const fn mutation(name: &'static str) -> ProcedureSpec {
    ProcedureSpec {
        name,
        kind: ProcedureKind::Mutation,
        access: MANAGE,
        public: false,
    }
}

/// The procedure called `name`, if this version serves it.
pub fn procedure(name: &str) -> Option<&'static ProcedureSpec> {
    PROCEDURES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_procedure_uses_a_declared_rule_and_mutations_need_manage() {
        for p in PROCEDURES {
            assert!(ACCESS_RULES.iter().any(|r| r.id == p.access), "{}", p.name);
            if p.kind == ProcedureKind::Mutation {
                assert_eq!(p.access, MANAGE, "{}", p.name);
                assert!(!p.public, "{}", p.name);
            }
        }
    }
}
