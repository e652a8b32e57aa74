-- Alert notices per channel (issue 14): Slack (ALERT_SLACK_WEBHOOK_URL) and an `http`
-- destination (ALERT_DESTINATION) deliver each notice independently, one failing neither blocks
-- nor repeats the other. alerts.notice stays the notice due; it is settled (NULL) once every
-- configured channel has delivered it. The per-alert columns notice_attempts, notice_next_at,
-- notice_error and last_notified_at of 0011 are superseded by alert_deliveries (their values are
-- carried over below as the Slack channel's) and no longer written.

-- The structured fields of an alert (JSON: provider, destination, reason, count, ...), for the
-- `http` body. NULL on alerts fired before this migration.
ALTER TABLE alerts ADD COLUMN facts TEXT;

-- One row per alert and channel ('slack' | 'http'): the last notice this channel delivered
-- (sent: 'fired' | 'cleared', NULL before any), when (Unix ms), and its failed attempts, backoff
-- (next_at, Unix ms) and last error code (a held notice: the code, no attempt counted).
CREATE TABLE alert_deliveries (
  alert_id         INTEGER NOT NULL REFERENCES alerts (id),
  channel          TEXT NOT NULL,
  sent             TEXT,
  last_notified_at INTEGER,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_at          INTEGER,
  error            TEXT,
  PRIMARY KEY (alert_id, channel)
) WITHOUT ROWID;

-- Which channel sent each notice (each channel has its own hourly cap).
ALTER TABLE alert_notices ADD COLUMN channel TEXT NOT NULL DEFAULT 'slack';
CREATE INDEX alert_notices_channel_sent ON alert_notices (channel, sent_at);

-- Until now every notice went to Slack: carry each alert's Slack state over. A sent notice
-- cleared alerts.notice, so: nothing pending and cleared → 'cleared' was sent; otherwise, if
-- one was sent at all, it was 'fired'.
INSERT INTO alert_deliveries (alert_id, channel, sent, last_notified_at, attempts, next_at, error)
SELECT id, 'slack',
       CASE WHEN last_notified_at IS NULL THEN NULL
            WHEN notice IS NULL AND cleared_at IS NOT NULL THEN 'cleared'
            ELSE 'fired' END,
       last_notified_at, notice_attempts, notice_next_at, notice_error
FROM alerts WHERE last_notified_at IS NOT NULL OR notice_attempts > 0;

-- Shopify reconciliation (issue 14): an order event's version,
-- 'order:<shop>:<order id>:<updated_at ms, 15 digits>:<topic>' (scoped by source like the dedupe
-- keys), written at ingest with the event. Unique per provider where set: a webhook
-- `orders/updated` and the reconciliation storing the same order version give one event,
-- whichever comes first; the reconciliation skips versions older than one stored (a range over
-- the key's prefix). NULL for every other event.
ALTER TABLE events ADD COLUMN version_key TEXT;
CREATE UNIQUE INDEX events_version ON events (provider, version_key) WHERE version_key IS NOT NULL;
