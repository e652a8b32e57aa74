-- Connections and http destinations managed at runtime through the admin API (issue 13), and
-- the default routes an operator turned off. Ingest reads these (cached in isolate memory for
-- at most 5 s); the consumer reads a destination's row each time it runs one of its steps.

-- An http destination. `config` is its validated JSON as the admin API took it, with `secrets`
-- (whsec_ strings, newest first): it is never returned by any API or page. The other columns
-- repeat what lists and queries need.
CREATE TABLE destinations (
  name         TEXT PRIMARY KEY,
  type         TEXT NOT NULL DEFAULT 'http',
  url          TEXT NOT NULL,
  config       TEXT NOT NULL,             -- JSON: url, secrets, timeout_ms, max_attempts, rate_per_sec
  timeout_ms   INTEGER NOT NULL,
  max_attempts INTEGER,                   -- NULL: the global MAX_ATTEMPTS
  rate_per_sec INTEGER,                   -- NULL: unlimited
  paused       INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);

-- A connection: source (provider, optional account) + filter (types, conditions) + target (an
-- http destination's name or a built-in step kind).
CREATE TABLE connections (
  name        TEXT PRIMARY KEY,
  provider    TEXT NOT NULL,
  account     TEXT,
  types       TEXT NOT NULL DEFAULT '[]',  -- JSON array of type patterns (`*` wildcards)
  conditions  TEXT NOT NULL DEFAULT '[]',  -- JSON array of conditions by JSON pointer
  target      TEXT NOT NULL,               -- http destination name or built-in step kind
  enabled     INTEGER NOT NULL DEFAULT 1,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX connections_target ON connections (target);

-- A default route (provider + event type + step) an operator turned off.
CREATE TABLE routes_off (
  provider    TEXT NOT NULL,
  event_type  TEXT NOT NULL,
  step        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (provider, event_type, step)
);
