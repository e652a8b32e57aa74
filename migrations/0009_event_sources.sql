-- Several sources per provider (/webhooks/{provider}/{source}): the source an event arrived on,
-- NULL for the default path. Dedupe stays per provider: a named source's keys are stored scoped
-- (`src:{source}:{key}`), so (provider, dedupe_key) and (provider, content_key) stay unique and
-- events stored before this migration keep deduplicating.
ALTER TABLE events ADD COLUMN source TEXT;
CREATE INDEX events_source ON events (provider, source, received_at);
