//! What the SLO plugin declares to the host, as plain data.
//!
//! The component layer turns these tables into the contract's `plugin-manifest`; keeping them
//! here lets native tests check them and keeps the bindings layer thin. Only what the plugin
//! implements is declared: a subscription or procedure appears here together with its handler.

use crate::jobs;
use crate::service::handlers;

/// The plugin id.
pub const PLUGIN_ID: &str = "slo";

/// The plugin's version: the crate's, or the next release's when built with `next`.
pub const VERSION: &str = if cfg!(feature = "next") {
    "0.2.0"
} else {
    env!("CARGO_PKG_VERSION")
};

/// The contract version this plugin is built against (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

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
    query("getBudgetCurve"),
    #[cfg(feature = "next")]
    query("getPluginInfo"),
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

/// A subscription to entity changes of one kind (work-queue delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntitySubscriptionSpec {
    /// Entity kind.
    pub kind: &'static str,
    /// Worker group (unique on the platform).
    pub worker_group: &'static str,
    /// Retries after a failed attempt.
    pub max_retries: u32,
}

/// The four entity-change subscriptions of slo-behaviour.md §7.3.
pub const ENTITY_SUBSCRIPTIONS: &[EntitySubscriptionSpec] = &[
    EntitySubscriptionSpec {
        kind: "health",
        worker_group: handlers::SYSTEM_DOWN,
        max_retries: 3,
    },
    EntitySubscriptionSpec {
        kind: "health",
        worker_group: handlers::SYSTEM_UP,
        max_retries: 3,
    },
    EntitySubscriptionSpec {
        kind: "health",
        worker_group: handlers::UPSTREAM_DOWN,
        max_retries: 3,
    },
    EntitySubscriptionSpec {
        kind: "catalog-system",
        worker_group: handlers::SYSTEM_CLEANUP,
        max_retries: 3,
    },
];

/// The hook subscription: (hook, worker group, max retries).
pub const HOOK_SUBSCRIPTIONS: &[(&str, &str, u32)] =
    &[(handlers::INCIDENT_HOOK, handlers::INCIDENT_DOWNTIME, 3)];

/// Queue consumers: (queue, consumer group, max retries). The refresh job is retried: it
/// carries the refresh chain on while downtime is open (`service::refresh`), and a failed run
/// that became a dead letter would end the chain until the next start or daily run.
pub const QUEUE_CONSUMERS: &[(&str, &str, u32)] = &[
    (handlers::DAILY_QUEUE, "slo-snapshot-worker", 0),
    (handlers::WEEKLY_QUEUE, "slo-digest-worker", 0),
    (handlers::REFRESH_QUEUE, "slo-entity-refresh-worker", 3),
];

/// Recurring jobs: (queue, job id, 5-field UTC cron). The entity refresh is not one: it runs
/// only while downtime is open, as a delayed job that re-enqueues itself (`service::refresh`).
pub const RECURRING_JOBS: &[(&str, &str, &str)] = &[
    (handlers::DAILY_QUEUE, "slo-daily-snapshot-run", "0 0 * * *"),
    (handlers::WEEKLY_QUEUE, "slo-weekly-digest-run", "0 9 * * 1"),
];

/// Hooks the plugin emits.
pub const HOOKS: &[&str] = &[jobs::ACHIEVEMENT_HOOK, jobs::DIGEST_HOOK];

/// Signals the plugin broadcasts.
pub const SIGNALS: &[&str] = &[
    crate::engine::STATUS_CHANGED,
    jobs::STREAK_SIGNAL,
    jobs::ACHIEVEMENT_SIGNAL,
];

/// Tables automations cannot watch: (table, reason, notes).
pub const NON_REACTIVE: &[(&str, &str, &str)] = &[
    (
        "slo_downtime_events",
        "bookkeeping",
        "Append-only downtime history. The live budget/streak is the `slo` entity.",
    ),
    (
        "slo_daily_snapshots",
        "bookkeeping",
        "Append-only daily trend snapshots. The live budget/streak is the `slo` entity.",
    ),
];

/// An automation trigger fed by a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerSpec {
    /// Local id.
    pub id: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Description.
    pub description: &'static str,
    /// The hook.
    pub hook: &'static str,
    /// Payload JSON Schema.
    pub payload_schema: &'static str,
    /// Payload field used as the context key.
    pub context_key: Option<&'static str>,
}

/// The two triggers of slo-behaviour.md §15.
pub const TRIGGERS: &[TriggerSpec] = &[
    TriggerSpec {
        id: "achievement.unlocked",
        display_name: "SLO Achievement Unlocked",
        description: "Fired when a system unlocks a new reliability achievement",
        hook: jobs::ACHIEVEMENT_HOOK,
        payload_schema: r#"{"type":"object","properties":{"systemId":{"type":"string"},"achievement":{"enum":["first_steps","iron_uptime","diamond_uptime","budget_miser","clean_sheet","nines_club","cascade_breaker","full_coverage","rapid_recovery"]}},"required":["systemId","achievement"]}"#,
        context_key: Some("systemId"),
    },
    TriggerSpec {
        id: "weekly.digest",
        display_name: "SLO Weekly Digest",
        description: "Weekly summary of SLO performance across all systems (Monday 09:00 UTC)",
        hook: jobs::DIGEST_HOOK,
        payload_schema: r#"{"type":"object","properties":{"totalObjectives":{"type":"number"},"breachingCount":{"type":"number"},"atRiskCount":{"type":"number"},"healthyCount":{"type":"number"},"topPerformers":{"type":"array","items":{"type":"object","properties":{"systemName":{"type":"string"},"availability":{"type":"number"},"streakDays":{"type":"number"}}}},"worstPerformers":{"type":"array","items":{"type":"object","properties":{"systemName":{"type":"string"},"availability":{"type":"number"},"budgetRemainingPercent":{"type":"number"}}}}},"required":["totalObjectives","breachingCount","atRiskCount","healthyCount","topPerformers","worstPerformers"]}"#,
        context_key: None,
    },
];

/// A command-palette entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// Id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Subtitle.
    pub subtitle: &'static str,
    /// Route it opens.
    pub route: &'static str,
    /// Keyboard shortcuts.
    pub shortcuts: &'static [&'static str],
    /// Rule needed to see it.
    pub access: Option<&'static str>,
}

/// The command-palette entries of slo-behaviour.md §7.2.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        id: "create-slo",
        title: "Create SLO",
        subtitle: "Define a new Service Level Objective",
        route: "/slo/config?action=create",
        shortcuts: &[],
        access: Some(MANAGE),
    },
    CommandSpec {
        id: "manage-slos",
        title: "Manage SLOs",
        subtitle: "View and configure Service Level Objectives",
        route: "/slo",
        shortcuts: &["meta+shift+l", "ctrl+shift+l"],
        access: None,
    },
];

/// The procedure called `name`, if this version serves it.
pub fn procedure(name: &str) -> Option<&'static ProcedureSpec> {
    PROCEDURES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_schemas_are_json_and_name_declared_hooks() {
        for t in TRIGGERS {
            let schema: serde_json::Value = serde_json::from_str(t.payload_schema).unwrap();
            assert_eq!(schema["type"], "object", "{}", t.id);
            assert!(HOOKS.contains(&t.hook), "{}", t.id);
        }
        let enum_values = serde_json::from_str::<serde_json::Value>(TRIGGERS[0].payload_schema)
            .unwrap()["properties"]["achievement"]["enum"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(enum_values, crate::core::achievement::ALL.len());
    }

    /// The refresh runs only while downtime is open: no cron fires it every minute.
    #[test]
    fn the_entity_refresh_is_not_a_cron() {
        assert!(RECURRING_JOBS
            .iter()
            .all(|(queue, _, _)| *queue != handlers::REFRESH_QUEUE));
        assert!(QUEUE_CONSUMERS
            .iter()
            .any(|(queue, _, retries)| *queue == handlers::REFRESH_QUEUE && *retries > 0));
    }

    #[test]
    fn every_recurring_job_has_a_consumer() {
        for (queue, _, _) in RECURRING_JOBS {
            assert!(
                QUEUE_CONSUMERS.iter().any(|(q, _, _)| q == queue),
                "{queue}"
            );
        }
    }

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
