-- The random token of the delivery (webhook request or backfill page) that stored each event.
-- Ingest's step INSERT, in the same D1 batch as its event INSERT, adds steps only to events
-- carrying its own token, so a duplicate delivery (a retry past the KV hint, a backfill's
-- overlap) never plans steps for an event stored earlier; only an admin replay does
-- (`lifecycle::planned`). Rows stored before this migration have none: no delivery matches.
ALTER TABLE events ADD COLUMN stored_by TEXT;
