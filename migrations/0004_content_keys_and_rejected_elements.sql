-- Dedupe on what a signature covers, and batch elements rejected one by one.

-- A second per-provider dedupe key for providers whose ids travel in unsigned headers
-- (Shopify): hex SHA-256 of the verified body. An insert colliding on either key is a duplicate
-- (`INSERT ... ON CONFLICT DO NOTHING`), so a signed body re-posted with fresh ids or another
-- topic has no second effect. NULL for every other provider and for rejected rows.
ALTER TABLE events ADD COLUMN content_key TEXT;
CREATE UNIQUE INDEX events_content_key ON events (provider, content_key)
  WHERE content_key IS NOT NULL;

-- A malformed element of a verified SendGrid or HubSpot batch is kept as its own rejected row:
-- its position in the batch array (from 0). NULL for whole deliveries and accepted events.
ALTER TABLE events ADD COLUMN batch_index INTEGER;
