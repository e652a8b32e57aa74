//! Every SQL statement edgehooks runs against D1, grouped by what it serves: `admin` (the admin
//! API: event pages, timelines, dead letters, replay and redrive resets), `ingest` (ingest:
//! events, planned steps, rejected deliveries, rejection counters), `steps`, `claims`,
//! `attempts` and `sweep` (the step ledger: claims, attempt records, the sweeper's queries),
//! `customers` (the Stripe customers behind customer ids), `versions`, `links` and `local`
//! (what steps maintain: applied ordering versions, contact links; the D1 work of local steps),
//! `privacy` (what a redact removes and an export collects), `health` (per-destination budget
//! window, circuit and half-open probe lease), `backfill` (the Stripe backfill's checkpoint and
//! runs), `access` (named API tokens and the admin audit trail) and `retention` (deleting rows past
//! `RETENTION_DAYS` and leaving their tombstones, expiring exports and tombstones, the storage
//! counts). `rows` reads result rows without serde, `batch_window` shares a D1 batch among the consumer's
//! steps. Callers name the module (`db::steps::claim`), so a call can be followed.
//! Numbers are bound as f64 (D1 rejects BigInt); writes that must be all-or-nothing go through
//! `batch`, which D1 runs as one transaction.
//!
//! Which module writes which table (inserts and updates; `privacy` also scrubs and deletes a
//! person's rows everywhere, `retention` deletes expired rows everywhere):
//!
//! | table | written by |
//! |---|---|
//! | `events` | `ingest` (insert, rejected rows), `retention` (`delete_batch`, `purge_payloads`) |
//! | `steps` | `ingest` (insert, shared with replay), `steps`, `claims`, `attempts`, `sweep` (lifecycle), `admin` (replay, redrive), `connections` (a paused destination's line: join, release) |
//! | `attempts` | `attempts`, `sweep` (lost attempts) |
//! | `rejections` | `ingest` (hourly tallies) |
//! | `stripe_customers` | `customers` (called from ingest's transaction and customer lookups) |
//! | `entity_versions` | `versions` |
//! | `contact_links` | `links`, `local` (deletion) |
//! | `shops`, `suppressions`, `engagement` | `local` |
//! | `destination_health` | `health` |
//! | `privacy_requests` | `privacy`, `retention` (expiry) |
//! | `privacy_progress` | `privacy` (a HubSpot privacy deletion's pages, the core's statements) |
//! | `destinations`, `connections`, `routes_off` | `connections` (admin API) |
//! | `registry_sources` | `sources` (admin API; read by the registry's ingest) |
//! | `metric_events`, `metric_steps` | `metrics` (minute buckets from the isolate's tally) |
//! | `alerts`, `alert_notices` | `alerts` (the cron's alerting pass) |
//! | `backfill_state`, `backfill_runs` | `backfill` (the Stripe backfill; its events go through `ingest`) |
//! | `dedupe_tombstones` | `retention` (written with the deletion, expired; read by `ingest`'s insert) |
//! | `api_tokens`, `admin_audit` | `access` (named tokens, the audit trail), `retention` (expired audit rows) |

pub mod access;
pub mod admin;
pub mod alerts;
pub mod attempts;
pub mod backfill;
pub mod batch_window;
pub mod bulk_replay;
pub mod claims;
pub mod connections;
pub mod customers;
pub mod health;
pub mod ingest;
pub mod links;
pub mod local;
pub mod metrics;
pub mod privacy;
pub mod retention;
pub mod rows;
pub mod sources;
pub mod steps;
pub mod sweep;
pub mod versions;

use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

pub(crate) fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub(crate) fn opt_num(n: Option<i64>) -> JsValue {
    n.map(num).unwrap_or(JsValue::NULL)
}

pub(crate) fn opt_text(s: Option<&str>) -> JsValue {
    s.map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

pub(crate) fn statement(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<D1PreparedStatement> {
    db.prepare(sql).bind(args)
}
