-- Running totals for GET /metrics (issue 27): Prometheus counters must never go down, so they are
-- not summed from the minute buckets retention deletes. Each flush of an isolate's tally adds to
-- these rows in the same D1 batch as its minute buckets (no write per request); retention never
-- touches them. Latencies: h0..h9 as in metric_steps (for requests over 5, 10, 25, 50, 100, 250,
-- 500, 1000, 2500 ms and above), latency_sum_ms their sum.

-- Webhook requests per provider, source ('default', a name, or 'unknown'), outcome and the
-- HTTP status answered; stored and duplicates: the events those requests stored or found.
CREATE TABLE metric_request_totals (
  provider TEXT NOT NULL,
  source   TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  status   INTEGER NOT NULL,
  count      INTEGER NOT NULL DEFAULT 0,
  stored     INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  latency_sum_ms INTEGER NOT NULL DEFAULT 0,
  h0 INTEGER NOT NULL DEFAULT 0, h1 INTEGER NOT NULL DEFAULT 0, h2 INTEGER NOT NULL DEFAULT 0,
  h3 INTEGER NOT NULL DEFAULT 0, h4 INTEGER NOT NULL DEFAULT 0, h5 INTEGER NOT NULL DEFAULT 0,
  h6 INTEGER NOT NULL DEFAULT 0, h7 INTEGER NOT NULL DEFAULT 0, h8 INTEGER NOT NULL DEFAULT 0,
  h9 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, source, outcome, status)
) WITHOUT ROWID;

-- Verification failures per provider and reason ('admin': refused admin sign-ins).
CREATE TABLE metric_rejection_totals (
  provider TEXT NOT NULL,
  reason   TEXT NOT NULL,
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, reason)
) WITHOUT ROWID;

-- Step outcomes per destination (as metric_steps, without the minute).
CREATE TABLE metric_step_totals (
  destination TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  count       INTEGER NOT NULL DEFAULT 0,
  latency_sum_ms INTEGER NOT NULL DEFAULT 0,
  h0 INTEGER NOT NULL DEFAULT 0, h1 INTEGER NOT NULL DEFAULT 0, h2 INTEGER NOT NULL DEFAULT 0,
  h3 INTEGER NOT NULL DEFAULT 0, h4 INTEGER NOT NULL DEFAULT 0, h5 INTEGER NOT NULL DEFAULT 0,
  h6 INTEGER NOT NULL DEFAULT 0, h7 INTEGER NOT NULL DEFAULT 0, h8 INTEGER NOT NULL DEFAULT 0,
  h9 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (destination, outcome)
) WITHOUT ROWID;
