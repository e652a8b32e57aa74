//! The pure core of edgehooks. Everything here is plain Rust with no `worker` dependency, so it
//! compiles natively (fast unit, property and fuzz tests, benchmarks) and to wasm32 (the worker).
//!
//! - [`webhook`]: the types every provider shares: the inbound request view, verification and
//!   parse errors with their stable codes, and the parsed event.
//! - [`providers`]: one module per provider (Stripe, SendGrid, HubSpot, Shopify), each owning its
//!   header format, signed message, event shape and dedupe key, and the dispatch that picks the
//!   provider module and runs verify then parse.
//! - [`routes`]: the table of provider + event type → follow-on steps.
//! - [`downstream`]: planning follow-on steps: what kind of event it is (classified once), then
//!   the request builders for each downstream API and the local D1 actions.
//! - [`lifecycle`]: the step state machine: statuses and the sets each rule uses, an attempt's
//!   end (status, due time, message action), success effects, replay and redrive, and the
//!   claim SQL beside its rule (tested against SQLite).
//! - [`retry`]: error classes and backoff; [`limits`]: per-destination budgets and circuits
//!   (with a single half-open probe, and their SQL); [`recovery`]: waiting without spending
//!   Queues retries, lost attempts, dead letters (and their SQL) and attempt records retried
//!   in place.
//! - [`auth`]: the admin bearer-token check (constant time); [`admin`]: the admin API's
//!   cursor, filters, replay plan and secret scrubbing.
//! - [`config`]: every setting (the [`config::table`]: name, secret or var, default, rule) and
//!   the typed settings read from one lookup, with errors scoped to what they affect.
//! - [`ids`]: content-derived event and step ids.
//! - [`log_level`]: `LOG_LEVEL` and the level of each console line (D1 is the record; the
//!   console is for what needs attention).
//! - [`connections`]: operator-defined connections (source, filter, destination) and `http`
//!   destinations, validated from the admin API's JSON.
//! - [`standard_webhooks`]: signing (and verifying) deliveries per the Standard Webhooks spec.
//! - [`tally`]: counts by key held in memory until a flush is due, bounded (metrics and
//!   rejections are tallies).
//! - [`rejections`]: verification failures tallied in memory and flushed at most once a minute;
//!   [`retention`]: how long rows live and which may never be deleted.
//! - [`backfill`]: recovering missed Stripe events from `GET /v1/events`: when a scheduled run
//!   is due, its window (checkpoint, overlap, 30-day clamp), type filter chunks, cursors, page
//!   URLs, reading list answers, backoff after a failure, and the admin request.
//! - [`request_url`]: the path and decoded query pairs of the request URL string (no `url`
//!   crate in the wasm).
//! - [`sql_number`]: when a number D1 returned is an integer (exact, in the safe range).
//! - [`time`]: the few calendar conversions the providers and builders need (RFC 3339, HTTP
//!   dates, ISO dates from Unix time).

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod backfill;
pub mod config;
pub mod connections;
pub mod dedupe_hints;
pub mod downstream;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod log_level;
pub mod metrics;
pub mod privacy;
pub mod providers;
pub mod recovery;
pub mod rejections;
pub mod request_url;
pub mod retention;
pub mod retry;
pub mod routes;
pub mod sources;
pub mod sql_number;
pub mod standard_webhooks;
pub mod tally;
pub mod time;
pub mod webhook;
