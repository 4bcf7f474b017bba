//! The plain-data manifest of [`crate::manifest`] and [`crate::migrations`] as the contract's record.

use super::bindings::exports::checkstack::plugin::manifest as wit;
use crate::manifest::{self as spec, ProcedureKind};
use crate::migrations::MIGRATIONS;
use crate::service::{entity, gitops};

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
        entity_kinds: vec![wit::EntityKind {
            kind: entity::KIND.into(),
            state_schema: entity::STATE_SCHEMA.into(),
        }],
        change_derivers: vec![entity::KIND.into()],
        non_reactive: spec::NON_REACTIVE
            .iter()
            .map(|(name, reason, notes)| wit::NonReactiveDeclaration {
                name: (*name).into(),
                reason: (*reason).into(),
                notes: (*notes).into(),
            })
            .collect(),
        hooks: spec::HOOKS.iter().map(|h| (*h).into()).collect(),
        signals: spec::SIGNALS.iter().map(|s| (*s).into()).collect(),
        triggers: spec::TRIGGERS
            .iter()
            .map(|t| wit::Trigger {
                id: t.id.into(),
                display_name: t.display_name.into(),
                description: t.description.into(),
                category: "SLO".into(),
                hook: t.hook.into(),
                payload_schema: t.payload_schema.into(),
                context_key: t.context_key.map(Into::into),
            })
            .collect(),
        entity_subscriptions: spec::ENTITY_SUBSCRIPTIONS
            .iter()
            .map(|e| wit::EntitySubscription {
                kind: e.kind.into(),
                worker_group: e.worker_group.into(),
                delivery: wit::DeliveryMode::WorkQueue,
                max_retries: e.max_retries,
            })
            .collect(),
        hook_subscriptions: spec::HOOK_SUBSCRIPTIONS
            .iter()
            .map(|(hook, group, retries)| wit::HookSubscription {
                hook: (*hook).into(),
                worker_group: (*group).into(),
                delivery: wit::DeliveryMode::WorkQueue,
                max_retries: *retries,
            })
            .collect(),
        queue_consumers: spec::QUEUE_CONSUMERS
            .iter()
            .map(|(queue, group, retries)| wit::QueueConsumer {
                queue: (*queue).into(),
                consumer_group: (*group).into(),
                max_retries: *retries,
            })
            .collect(),
        recurring_jobs: spec::RECURRING_JOBS
            .iter()
            .map(|(queue, job_id, cron)| wit::RecurringJob {
                queue: (*queue).into(),
                job_id: (*job_id).into(),
                cron: (*cron).into(),
                payload: r#"{"trigger":"scheduled"}"#.into(),
            })
            .collect(),
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
        gitops_kinds: vec![wit::GitopsKind {
            api_version: gitops::API_VERSION.into(),
            kind: gitops::KIND.into(),
            spec_schema: gitops::SPEC_SCHEMA.into(),
        }],
        commands: spec::COMMANDS
            .iter()
            .map(|c| wit::Command {
                id: c.id.into(),
                title: c.title.into(),
                subtitle: c.subtitle.into(),
                icon: "Target".into(),
                route: c.route.into(),
                shortcuts: c.shortcuts.iter().map(|s| (*s).into()).collect(),
                access: c.access.iter().map(|a| (*a).into()).collect(),
            })
            .collect(),
    }
}
