-- Retention at volume (issue 23): what retention remembers of an event it deletes.
--
-- A tombstone keeps a deleted event's dedupe keys for a window per provider (Stripe 30 days,
-- SendGrid and HubSpot 2, Shopify 90: handlers/src/retention/tombstones.rs says why), counted
-- from when the event was first received. Retention writes it in the transaction that deletes
-- the event; ingest's insert treats a live tombstone (expires_at after now) as a stored event,
-- on either key, so a redelivery after retention is a duplicate. No payload, type or account.
-- The sweeper deletes tombstones past expires_at. Keys are stored as the event stored them (a
-- named source's scoped, `src:{source}:{key}`), so a tombstone is per provider and source.
CREATE TABLE dedupe_tombstones (
  provider    TEXT NOT NULL,
  dedupe_key  TEXT NOT NULL,
  content_key TEXT,                 -- Shopify: the signed body's digest (events.content_key)
  received_at INTEGER NOT NULL,     -- when the event was first received (Unix ms)
  expires_at  INTEGER NOT NULL,     -- received_at + the provider's window (Unix ms)
  PRIMARY KEY (provider, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX dedupe_tombstones_content ON dedupe_tombstones (provider, content_key)
  WHERE content_key IS NOT NULL;
CREATE INDEX dedupe_tombstones_expiry ON dedupe_tombstones (expires_at);
