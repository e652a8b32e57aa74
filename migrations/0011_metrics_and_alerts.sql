-- Dashboard metrics in minute buckets (Unix seconds at the start of the minute), written from
-- the isolate's tally at most once a minute; kept METRICS_RETENTION_DAYS by the sweeper.
-- outcome: accepted | duplicate | unparsable | rejected (reason: the verification failure code,
-- '' otherwise).
CREATE TABLE metric_events (
  minute   INTEGER NOT NULL,
  provider TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  reason   TEXT NOT NULL DEFAULT '',
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, provider, outcome, reason)
) WITHOUT ROWID;

-- Step outcomes per destination and minute (succeeded, retry, dead, skipped, skipped_stale,
-- deferred...), with the latency histogram: h0..h9 count outcomes whose latency was at most
-- 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000 ms, and above (h9).
CREATE TABLE metric_steps (
  minute      INTEGER NOT NULL,
  destination TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  count       INTEGER NOT NULL DEFAULT 0,
  h0 INTEGER NOT NULL DEFAULT 0, h1 INTEGER NOT NULL DEFAULT 0, h2 INTEGER NOT NULL DEFAULT 0,
  h3 INTEGER NOT NULL DEFAULT 0, h4 INTEGER NOT NULL DEFAULT 0, h5 INTEGER NOT NULL DEFAULT 0,
  h6 INTEGER NOT NULL DEFAULT 0, h7 INTEGER NOT NULL DEFAULT 0, h8 INTEGER NOT NULL DEFAULT 0,
  h9 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, destination, outcome)
) WITHOUT ROWID;

-- Alerts: one row per firing (the history); at most one open (cleared_at NULL) per kind and key.
-- notice: the notice still to send ('fired' | 'cleared'), NULL when none is due; a failed send
-- counts notice_attempts, keeps notice_error and waits until notice_next_at (Unix ms).
CREATE TABLE alerts (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  kind             TEXT NOT NULL,
  key              TEXT NOT NULL,
  detail           TEXT NOT NULL,
  fired_at         INTEGER NOT NULL,
  cleared_at       INTEGER,
  last_notified_at INTEGER,
  notice           TEXT,
  notice_attempts  INTEGER NOT NULL DEFAULT 0,
  notice_next_at   INTEGER,
  notice_error     TEXT
);
CREATE UNIQUE INDEX alerts_open ON alerts (kind, key) WHERE cleared_at IS NULL;
CREATE INDEX alerts_fired ON alerts (fired_at);
CREATE INDEX alerts_notice ON alerts (notice) WHERE notice IS NOT NULL;

-- Every notice sent (for the global hourly cap and the admin page).
CREATE TABLE alert_notices (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  state    TEXT NOT NULL,
  sent_at  INTEGER NOT NULL
);
CREATE INDEX alert_notices_sent ON alert_notices (sent_at);
