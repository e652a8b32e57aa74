-- Shopify order versions (0013) collide only across origins: a webhook and the reconciliation
-- storing the same version give one event (the events INSERT checks for a row of the other
-- origin with that key, `backfill::shopify::version::other_origin_absent`), while two webhooks
-- of one version (two changes within the same second of `updated_at`) are two Shopify events
-- with their own ids and are both stored. The index stays for that check and the
-- reconciliation's range reads, no longer unique.
DROP INDEX IF EXISTS events_version;
CREATE INDEX events_version ON events (provider, version_key) WHERE version_key IS NOT NULL;
