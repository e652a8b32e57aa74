-- State the follow-on steps keep: ordering guards, the HubSpot <-> Stripe contact mapping,
-- shops, privacy requests, SendGrid suppressions and engagement, and per-destination health
-- (circuit breaker and request budget). Times are Unix milliseconds.

-- Last event time applied per (entity, step): an older event for the same entity is
-- `skipped_stale` instead of overwriting newer state.
CREATE TABLE entity_versions (
  entity      TEXT NOT NULL,
  step        TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  event_id    TEXT NOT NULL,
  PRIMARY KEY (entity, step)
);

-- HubSpot contact <-> Stripe customer, learned from our own successful contact upserts.
-- `last_pushed` holds what we last wrote to HubSpot (JSON), to recognise our own echoes.
CREATE TABLE contact_links (
  hubspot_contact_id TEXT PRIMARY KEY,
  email              TEXT,
  stripe_customer_id TEXT,
  firstname          TEXT,
  lastname           TEXT,
  last_pushed        TEXT,
  pushed_at          INTEGER,
  deleted_at         INTEGER,
  updated_at         INTEGER NOT NULL
);
CREATE INDEX contact_links_email ON contact_links (email);

-- Shopify shops seen; `app/uninstalled` marks them inactive.
CREATE TABLE shops (
  shop_domain    TEXT PRIMARY KEY,
  active         INTEGER NOT NULL DEFAULT 1,
  uninstalled_at INTEGER,
  updated_at     INTEGER NOT NULL
);

-- Every privacy request handled (customers/redact, shop/redact, customers/data_request).
CREATE TABLE privacy_requests (
  event_id        TEXT PRIMARY KEY,
  topic           TEXT NOT NULL,
  shop_domain     TEXT,
  customer_id     TEXT,
  customer_email  TEXT,
  events_affected INTEGER NOT NULL,
  export          TEXT,                      -- for data requests: the customer's stored events
  done_at         INTEGER NOT NULL
);

-- SendGrid suppressions (bounce, dropped, spamreport, unsubscribe, group_unsubscribe).
CREATE TABLE suppressions (
  email      TEXT NOT NULL,
  reason     TEXT NOT NULL,
  event_id   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (email, reason)
);

-- SendGrid engagement counters (delivered, open, click) per address.
CREATE TABLE engagement (
  email   TEXT NOT NULL,
  kind    TEXT NOT NULL,
  count   INTEGER NOT NULL DEFAULT 0,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (email, kind)
);

-- Per-destination circuit breaker and request budget.
CREATE TABLE destination_health (
  destination          TEXT PRIMARY KEY,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  open_until           INTEGER NOT NULL DEFAULT 0,
  window_start         INTEGER NOT NULL DEFAULT 0,
  window_count         INTEGER NOT NULL DEFAULT 0
);
