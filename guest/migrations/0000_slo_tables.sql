-- The five tables of slo-behaviour.md §2, in SQL that SQLite and PostgreSQL both accept.
-- Instants are BIGINT epoch milliseconds (UTC); booleans are INTEGER 0/1; JSON is TEXT.
CREATE TABLE slo_objectives (
    id TEXT PRIMARY KEY,
    system_id TEXT NOT NULL,
    health_check_configuration_id TEXT,
    target DOUBLE PRECISION NOT NULL,
    window_days INTEGER NOT NULL,
    dependency_exclusion TEXT NOT NULL DEFAULT 'strict',
    excluded_dependency_ids TEXT,
    exclude_maintenance_windows INTEGER NOT NULL DEFAULT 0,
    burn_rate_warning_percent DOUBLE PRECISION NOT NULL DEFAULT 50,
    burn_rate_critical_percent DOUBLE PRECISION NOT NULL DEFAULT 80,
    burn_rate_fast_burn_multiplier DOUBLE PRECISION NOT NULL DEFAULT 5,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE slo_downtime_events (
    id TEXT PRIMARY KEY,
    objective_id TEXT NOT NULL REFERENCES slo_objectives (id) ON DELETE CASCADE,
    system_id TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    duration_seconds DOUBLE PRECISION,
    attribution_type TEXT NOT NULL,
    upstream_system_id TEXT,
    upstream_system_name TEXT,
    source TEXT
);

CREATE TABLE slo_daily_snapshots (
    id TEXT PRIMARY KEY,
    objective_id TEXT NOT NULL REFERENCES slo_objectives (id) ON DELETE CASCADE,
    date BIGINT NOT NULL,
    availability_percent DOUBLE PRECISION NOT NULL,
    budget_consumed_minutes DOUBLE PRECISION NOT NULL,
    budget_remaining_percent DOUBLE PRECISION NOT NULL,
    burn_rate DOUBLE PRECISION,
    streak_days INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE slo_streaks (
    objective_id TEXT PRIMARY KEY REFERENCES slo_objectives (id) ON DELETE CASCADE,
    system_id TEXT NOT NULL,
    current_streak INTEGER NOT NULL DEFAULT 0,
    best_streak INTEGER NOT NULL DEFAULT 0,
    streak_start BIGINT,
    best_streak_end BIGINT,
    -- The UTC day (midnight, epoch ms) of the last streak change: a streak changes at most
    -- once per UTC day (decisions F23).
    last_evaluated_day BIGINT
);

CREATE TABLE slo_achievements (
    id TEXT PRIMARY KEY,
    system_id TEXT NOT NULL,
    achievement TEXT NOT NULL,
    unlocked_at BIGINT NOT NULL
);
