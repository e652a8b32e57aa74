-- Ordering that holds under concurrency, and a single probe for half-open circuits.

-- The entity a step overwrites (the core's entity key, e.g. `stripe:subscription:sub_123`),
-- stored at ingest. A step's claim is one conditional statement that sees every accepted step
-- of its entity: an older event's step ends `skipped_stale` while a newer one is live, and no
-- two steps of one entity call downstream at the same time. NULL: the step has no ordering.
ALTER TABLE steps ADD COLUMN entity TEXT;
CREATE INDEX steps_entity ON steps (entity, name) WHERE entity IS NOT NULL;

-- Half-open circuit: after the cool-down exactly one step (`probe_step`) may call, until its
-- lease `probe_until` (Unix ms) runs out; a success closes the circuit, a failure re-opens it.
ALTER TABLE destination_health ADD COLUMN probe_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destination_health ADD COLUMN probe_step TEXT;
