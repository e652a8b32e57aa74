-- Stripe backfill (issue 14). Every event says how it arrived: 'webhook' (a verified delivery)
-- or 'backfill' (listed from Stripe's `GET /v1/events` by a reconciliation run). Both share the
-- dedupe key (the event id), so whichever comes second is a duplicate.
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT 'webhook';

-- The scheduled reconciliation's state, one row per provider ('stripe'). Times are Unix ms
-- except `checkpoint` and `run_since` (Unix seconds, Stripe's `created`).
CREATE TABLE backfill_state (
  provider        TEXT PRIMARY KEY,
  checkpoint      INTEGER,           -- newest `created` fully processed; NULL before the first run
  run_since       INTEGER,           -- an unfinished run's lower bound (`created[gte]`)
  run_cursor      TEXT,              -- where it stopped: '<type chunk>:<starting_after id>'
  run_newest      INTEGER,           -- newest `created` the unfinished run has listed
  last_started_at INTEGER,           -- when the last scheduled run began
  not_before      INTEGER NOT NULL DEFAULT 0, -- backoff: no run before this
  failures        INTEGER NOT NULL DEFAULT 0  -- consecutive failed runs (drives the backoff)
);

-- Every backfill run, scheduled or from the admin API: what it listed and ingested. Read by
-- alerts ("a backfill recovered N events": `ingested` of rows with `dry_run = 0`).
CREATE TABLE backfill_runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  provider    TEXT NOT NULL,
  origin      TEXT NOT NULL,         -- scheduled | admin
  dry_run     INTEGER NOT NULL DEFAULT 0,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  since       INTEGER NOT NULL,      -- `created[gte]` used (Unix seconds)
  listed      INTEGER NOT NULL DEFAULT 0,
  ingested    INTEGER NOT NULL DEFAULT 0, -- dry run: how many were missing
  duplicates  INTEGER NOT NULL DEFAULT 0,
  complete    INTEGER NOT NULL DEFAULT 1, -- 0: stopped at its bound or on an error, see cursor
  next_cursor TEXT,
  error       TEXT                   -- stable code (e.g. stripe_http_429), NULL when it went well
);
CREATE INDEX backfill_runs_started ON backfill_runs (provider, started_at);
