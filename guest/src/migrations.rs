//! The plugin's ordered schema migrations, shipped inside the component.
//!
//! Migrations are additive: a released one is never edited or renamed (the host records a
//! checksum and refuses a changed one), and a hot-swap back to an older version must keep
//! working on the newer schema.

/// One migration: a stable id and its SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Stable id, recorded by the host once applied.
    pub id: &'static str,
    /// One or more statements.
    pub sql: &'static str,
}

/// Every migration, in the order the host applies them.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0000_slo_tables",
        sql: include_str!("../migrations/0000_slo_tables.sql"),
    },
    Migration {
        id: "0001_slo_indexes",
        sql: include_str!("../migrations/0001_slo_indexes.sql"),
    },
    Migration {
        id: "0002_downtime_close_reason",
        sql: include_str!("../migrations/0002_downtime_close_reason.sql"),
    },
    Migration {
        id: "0003_slo_entity_states",
        sql: include_str!("../migrations/0003_slo_entity_states.sql"),
    },
    #[cfg(feature = "next")]
    Migration {
        id: "0004_downtime_by_system_start",
        sql: include_str!("../migrations/0004_downtime_by_system_start.sql"),
    },
];
