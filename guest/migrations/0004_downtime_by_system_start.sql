-- The next release (feature `next`): downtime of a system by start time, for per-system
-- timelines. Additive: the previous release ignores it, so a rollback keeps working.
CREATE INDEX slo_downtime_events_system_start_idx ON slo_downtime_events (system_id, start_time);
