-- Privacy and retention. A data-request export is a copy of a person's data: it expires
-- (Unix ms), after which the sweeper drops it; a later redact of that person drops it at once.
-- Exports made before this migration expire 30 days after they were made.
ALTER TABLE privacy_requests ADD COLUMN export_expires_at INTEGER;
UPDATE privacy_requests SET export_expires_at = done_at + 2592000000 WHERE export IS NOT NULL;
