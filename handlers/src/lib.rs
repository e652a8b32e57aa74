//! The pure core of edgehooks. Everything here is plain Rust with no `worker` dependency, so it
//! compiles natively (fast unit, property and fuzz tests, benchmarks) and to wasm32 (the worker).
//!
//! The modules stand on floors; each imports only the floors below it (`scripts/check-imports.mjs`
//! keeps it so; the few imports that run back up say why, `// up: <why>`):
//!
//! - Ground: [`settings`] (every setting: the [`settings::table`] of names, secret or var,
//!   defaults and rules, the value parsers, and the [`settings::Config`] reader over one lookup;
//!   each feature reads its own typed settings in an `impl Config` beside it); [`time`] (RFC
//!   3339, HTTP dates, ISO dates from Unix time); [`sql_number`] (when a number D1 returned is an
//!   integer); [`json_pointer`] (RFC 6901 pointer text, read one way by filters, transforms and
//!   the event search); [`log_level`] (`LOG_LEVEL` and the level of each console line); [`auth`] (the
//!   admin bearer-token check, constant time); [`step_kind`] (the step vocabulary: `StepKind`
//!   and `Destination`, shared by the routes and the downstream builders); [`sealed`] (secrets
//!   sealed at rest under `SECRETS_KEY`: the stored format and the key); [`json_lists`] (the
//!   small JSON lists the worker stores, read without a typed deserializer).
//! - [`inbound`]: what arrives: the request view, errors with their stable codes and the parsed
//!   event ([`inbound::webhook`]), one module per provider and the verify-then-parse dispatch
//!   ([`inbound::providers`]), named sources, content-derived ids, dedupe hints, rejections
//!   tallied and flushed, and the request URL's path and query pairs.
//! - [`downstream`]: what kind of event it is (classified once), the request builders for each
//!   downstream API and the local D1 actions.
//! - [`steps`]: a step's life: the routes (provider + event type → steps), the lifecycle
//!   (statuses and their sets, claims, an attempt's end, effects, replay, redrive, with their
//!   SQL), retry classes and backoff, per-destination budgets and circuits, recovery (waiting,
//!   lost attempts, dead letters) and the lease and grace timings.
//! - [`standard_webhooks`]: signing (and verifying) deliveries per the Standard Webhooks spec;
//!   [`connections`]: operator-defined connections (source, filter, destination) and `http`
//!   destinations; [`retention`]: how long rows live and which may never be deleted;
//!   [`privacy`]: forgetting a contact.
//! - [`access`]: team access to the admin API (roles, the route → role table, named tokens,
//!   Cloudflare Access JWTs) and its audit trail.
//! - [`admin`]: the admin API's cursor, filters, replay plans and secret scrubbing; [`alerts`]
//!   and [`metrics`]; [`backfill`]: recovering missed Stripe events and reconciling Shopify
//!   orders.
//! - Composites for the shell's entry points: [`ingest`] (what one provider's ingest reads:
//!   keys, ingest settings, routes), [`consumer`] (what the queue consumer reads), [`health`]
//!   (every configuration check by name, for `/health` and the admin API) and [`cron_budget`]
//!   (what each pass of a cron tick may spend, and the budget its backfill runs share).
//! - [`tally`]: counts by key held in memory until a flush is due, bounded (the metrics and the
//!   rejections are tallies), on the ground floor.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod auth;
pub mod backfill;
pub mod by_name;
pub mod connections;
pub mod consumer;
pub mod cron_budget;
pub mod downstream;
pub mod health;
pub mod inbound;
pub mod ingest;
pub mod json_lists;
pub mod json_pointer;
pub mod log_level;
pub mod metrics;
pub mod privacy;
pub mod retention;
pub mod sealed;
pub mod settings;
pub mod sql_number;
pub mod standard_webhooks;
pub mod step_kind;
pub mod steps;
pub mod tally;
pub mod time;
