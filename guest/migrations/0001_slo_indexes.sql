-- The indexes of slo-behaviour.md §2 (the original's migration 0003), plus the unique keys
-- that make the daily job and achievement unlocks idempotent (decisions F23, F24).
CREATE INDEX slo_objectives_system_id_idx ON slo_objectives (system_id);
CREATE INDEX slo_downtime_events_open_by_objective_idx ON slo_downtime_events (objective_id) WHERE end_time IS NULL;
CREATE INDEX slo_downtime_events_open_by_system_idx ON slo_downtime_events (system_id) WHERE end_time IS NULL;
CREATE INDEX slo_downtime_events_objective_start_idx ON slo_downtime_events (objective_id, start_time);
-- F23: one snapshot per objective and UTC day (replaces the original's non-unique index).
CREATE UNIQUE INDEX slo_daily_snapshots_objective_date_idx ON slo_daily_snapshots (objective_id, date);
-- F24: one achievement per system and type (replaces the original's non-unique index).
CREATE UNIQUE INDEX slo_achievements_system_achievement_idx ON slo_achievements (system_id, achievement);
