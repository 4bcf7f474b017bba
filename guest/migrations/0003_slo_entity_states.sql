-- The `slo` entity's state as watchers last saw it: one row per objective, written by the
-- entity's `apply` and answered by its `read`, so that the framework's prev snapshot (a read
-- before apply) is the state before the change. Additive: older plugin versions ignore it.
CREATE TABLE slo_entity_states (
    objective_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
