-- Why an event was closed: NULL for a normal close, 'orphan' when the orphan reconcile closed
-- it at a recovery instant found later (decisions F29 excludes those from rapid_recovery).
-- Additive: older plugin versions ignore the column.
ALTER TABLE slo_downtime_events ADD COLUMN close_reason TEXT;
