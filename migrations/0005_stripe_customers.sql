-- The Stripe customers edgehooks knows, so that steps about a subscription or an invoice that
-- names its customer only by id (`"customer": "cus_..."`) can reach the person. Learned at
-- ingest from events that carry the customer (checkout sessions' `customer_details`, invoices'
-- `customer_email`/`customer_name`, `customer.*` events) and from `GET /v1/customers/{id}`
-- lookups a step made. `as_of` (Unix ms: the event's own time, or the lookup's) orders the
-- sources: an older event never overwrites what a newer one or a lookup said.
-- Also: attempts.outcome gains `resolved` (a customer lookup that succeeded; the step goes on)
-- and steps.status gains `skipped` (the event does not call for the step; last_error holds the
-- reason code). Neither column has a CHECK constraint, so no schema change is needed for them.
CREATE TABLE stripe_customers (
  id          TEXT PRIMARY KEY,            -- cus_...
  email       TEXT,
  name        TEXT,
  phone       TEXT,
  deleted     INTEGER NOT NULL DEFAULT 0,  -- 1: Stripe deleted the customer
  source      TEXT NOT NULL,               -- the event type that taught it, or 'lookup'
  as_of       INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
