//! The cluster's tables (host migration `0007_cluster`): the instance registry, the version
//! the cluster serves and the components it may serve, the cron firings (one row per job and
//! instant), the platform state's version with its journal (which system each version
//! changed), and the queue's leases and ordering keys.

/// The migration's statements, in SQLite's spelling (see [`crate::host_schema`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _host_instances (
    name TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    address TEXT,
    serving_digest TEXT,
    serving_version TEXT,
    follow_error TEXT,
    holder TEXT
);
CREATE TABLE IF NOT EXISTS _host_cluster_serving (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _host_components (
    digest TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS _host_cron_firings (
    job_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    instance TEXT NOT NULL,
    PRIMARY KEY (job_id, at)
);
CREATE TABLE IF NOT EXISTS _host_platform_version (
    id INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS _host_platform_journal (
    version BIGINT PRIMARY KEY,
    system_id TEXT
);
ALTER TABLE _host_queue_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE _host_queue_jobs ADD COLUMN lease_until BIGINT;
ALTER TABLE _host_queue_jobs ADD COLUMN ordering_key TEXT;
CREATE INDEX IF NOT EXISTS _host_queue_jobs_ordering
    ON _host_queue_jobs (queue, ordering_key, seq)
    WHERE state IN ('queued', 'in_flight');
";
