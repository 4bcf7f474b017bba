//! The plain-data manifest of [`crate::manifest`] and [`crate::migrations`] as the contract's record.

use super::bindings::exports::checkstack::plugin::manifest as wit;
use crate::manifest::{self as spec, ProcedureKind};
use crate::migrations::MIGRATIONS;

/// The plugin manifest for the host.
pub fn describe() -> wit::PluginManifest {
    wit::PluginManifest {
        id: spec::PLUGIN_ID.into(),
        version: spec::VERSION.into(),
        contract_version: spec::CONTRACT_VERSION.into(),
        display_name: "Service Level Objectives".into(),
        access_rules: spec::ACCESS_RULES
            .iter()
            .map(|r| wit::AccessRule {
                id: r.id.into(),
                description: r.description.into(),
                is_public: r.is_public,
                is_default: r.is_default,
            })
            .collect(),
        entity_kinds: Vec::new(),
        change_derivers: Vec::new(),
        non_reactive: Vec::new(),
        hooks: Vec::new(),
        signals: Vec::new(),
        triggers: Vec::new(),
        entity_subscriptions: Vec::new(),
        hook_subscriptions: Vec::new(),
        queue_consumers: Vec::new(),
        recurring_jobs: Vec::new(),
        migrations: MIGRATIONS
            .iter()
            .map(|m| wit::Migration {
                id: m.id.into(),
                sql: m.sql.into(),
            })
            .collect(),
        procedures: spec::PROCEDURES
            .iter()
            .map(|p| wit::Procedure {
                name: p.name.into(),
                kind: match p.kind {
                    ProcedureKind::Query => wit::ProcedureKind::Query,
                    ProcedureKind::Mutation => wit::ProcedureKind::Mutation,
                },
                access: vec![p.access.into()],
                public: p.public,
                input_schema: None,
            })
            .collect(),
        gitops_kinds: Vec::new(),
        commands: Vec::new(),
    }
}
