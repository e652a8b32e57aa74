-- edgehooks schema. Table names and step status values are contract (DESIGN.md §7): admins
-- query them with `wrangler d1 execute`. Times are Unix milliseconds unless the name says so.

-- One row per accepted event (and per rejected delivery kept for admins, status 'rejected').
CREATE TABLE events (
  id            TEXT PRIMARY KEY,             -- derived from provider + dedupe_key
  provider      TEXT NOT NULL,
  dedupe_key    TEXT NOT NULL,
  type          TEXT NOT NULL,
  account       TEXT,
  occurred_at   INTEGER,                      -- provider's own event time
  received_at   INTEGER NOT NULL,
  status        TEXT NOT NULL,                -- accepted | rejected
  key_index     INTEGER,                      -- which configured secret verified it
  payload       TEXT,                         -- this event's JSON; NULL once redacted or purged
  payload_bytes INTEGER NOT NULL DEFAULT 0,
  error         TEXT,                         -- parse error code for rejected deliveries
  redacted_at   INTEGER,
  UNIQUE (provider, dedupe_key)
);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_type ON events (provider, type, received_at);

-- Follow-on work planned for an event. status: pending | enqueued | running | succeeded |
-- skipped_stale | dead.
CREATE TABLE steps (
  id              TEXT PRIMARY KEY,           -- event id + ':' + step name; the idempotency key
  event_id        TEXT NOT NULL REFERENCES events (id),
  name            TEXT NOT NULL,
  destination     TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_status     INTEGER,                    -- last downstream HTTP status
  last_error      TEXT,
  idempotency_key TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (event_id, name)
);
CREATE INDEX steps_status ON steps (status, updated_at);
CREATE INDEX steps_destination ON steps (destination, status);

-- Every downstream call a step made.
CREATE TABLE attempts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  step_id     TEXT NOT NULL REFERENCES steps (id),
  n           INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status      INTEGER,                        -- HTTP status; NULL for network errors/timeouts
  outcome     TEXT NOT NULL,                  -- succeeded | retry | dead
  error       TEXT
);
CREATE INDEX attempts_step ON attempts (step_id, n);

-- Verification failures counted per provider, reason and hour; never the attacker's payload.
CREATE TABLE rejections (
  provider TEXT NOT NULL,
  reason   TEXT NOT NULL,
  hour     INTEGER NOT NULL,                  -- Unix seconds at the start of the hour
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, reason, hour)
);
