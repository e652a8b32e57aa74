//! The Stripe backfill's shell: fetch pages of `GET {STRIPE_API_BASE}/v1/events` as the core
//! plans them (`edgehooks_handlers::backfill`), store every listed event not already stored
//! through ingest's own insert (same dedupe key, same routes, `origin = 'backfill'`), send the
//! new steps to the queue, and record the run. Driven by the every-minute cron ([`scheduled`]:
//! the Stripe backfill and each shop's reconciliation in the tick's turn order; the core says
//! whether a run is due, the first tick only sets the checkpoint, an unfinished run continues
//! from its cursor, a failure backs off) and by the admin API (`crate::admin`'s `backfill`). A
//! run fetches at most `BACKFILL_MAX_PAGES` pages, and every operation it makes is taken from
//! its invocation's budget first (the core's `backfill::budget`; a tick's runs share one, each
//! within its share): a run that finds it spent stops at its cursor, as at its page bound, new
//! steps it cannot send stay `pending` for the sweeper. Pages pass the Stripe destination's
//! budget and circuit first ([`circuit`]).

use edgehooks_handlers::backfill::budget::OperationBudget;
use edgehooks_handlers::backfill::page::{parse_page, Page};
use edgehooks_handlers::backfill::plan::{listing_chunks, page_url, Cursor};
use edgehooks_handlers::backfill::settings::BackfillSettings;
use edgehooks_handlers::backfill::{failure_code, kept_since, StopReason};
use edgehooks_handlers::downstream::HttpRequestSpec;
use edgehooks_handlers::inbound::dedupe_hints::{self, DeliveryHints};
use edgehooks_handlers::inbound::ids;
use edgehooks_handlers::inbound::webhook::{ParsedEvent, Provider};
use edgehooks_handlers::steps::limits::Limits;
use edgehooks_handlers::steps::retry::parse_retry_after;
use edgehooks_handlers::steps::routes::RouteTable;
use serde_json::{json, Value};
use worker::{D1Database, Env};

mod circuit;
mod schedule;
pub mod shopify;

pub use schedule::scheduled;

use crate::clock::now_ms;
use crate::config::config;
use crate::db;
use crate::db::backfill::RunRecord;
use crate::db::ingest::PlannedEvent;
use crate::downstream::call_reading;
use crate::ingest::facts;
use crate::ingest::hints;
use crate::log;
use crate::steps::dispatch::send_steps;

pub(crate) const PROVIDER: &str = "stripe";
/// A page of 100 events is a few hundred KB; more than this is not a Stripe answer.
const PAGE_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How long one page may take.
const PAGE_TIMEOUT_MS: u64 = 20_000;

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    listed: i64,
    /// Real run: stored now; dry run: not stored yet.
    new: i64,
    duplicates: i64,
    newest: Option<i64>,
    /// `None`: everything was listed.
    cursor: Option<Cursor>,
    error: Option<String>,
    retry_after_secs: Option<u64>,
    /// Stopped because the Stripe circuit or budget said wait (not a failure).
    waiting: bool,
}

impl Progress {
    /// The contract's answer: dry `{listed, missing}`, real `{listed, ingested, duplicates}`; a run
    /// that stopped adds `complete: false`, `next_cursor` (and the error with `retry_after`).
    pub(crate) fn answer(&self, dry_run: bool) -> Value {
        let mut answer = if dry_run {
            json!({ "listed": self.listed, "missing": self.new })
        } else {
            json!({ "listed": self.listed, "ingested": self.new, "duplicates": self.duplicates })
        };
        // A complete run answers exactly the contract's fields; one that stopped says where.
        if let (Some(fields), Some(cursor)) = (answer.as_object_mut(), &self.cursor) {
            fields.insert("complete".into(), json!(false));
            fields.insert("next_cursor".into(), json!(cursor.encode()));
            if let Some(error) = &self.error {
                fields.insert("error".into(), json!(error));
                fields.insert("retry_after".into(), json!(self.retry_after_secs));
            }
        }
        answer
    }

    fn stopped(&mut self, stop: Stop) {
        self.error = Some(stop.error);
        self.retry_after_secs = stop.retry_after_secs;
        self.waiting = stop.waiting;
    }

    /// Count a page that listed `listed` events of which `new` were missing (stored, or on a
    /// dry run counted), the newest of them at `newest`.
    fn add_page(&mut self, listed: i64, new: i64, newest: Option<i64>) {
        self.listed += listed;
        self.new += new;
        self.duplicates += listed - new;
        self.newest = self.newest.max(newest);
    }
}

/// Why a run stopped before listing everything.
struct Stop {
    error: String,
    retry_after_secs: Option<u64>,
    /// The circuit or budget said wait: not a failure.
    waiting: bool,
}

impl Stop {
    fn failed(error: String) -> Stop {
        Stop {
            error,
            retry_after_secs: None,
            waiting: false,
        }
    }

    /// A page call that did not answer 2xx: its failure code, and the `Retry-After` it sent.
    fn call_failed(error: String, retry_after: Option<&str>) -> Stop {
        Stop {
            error,
            retry_after_secs: retry_after.and_then(|v| parse_retry_after(v, now_ms() / 1000)),
            waiting: false,
        }
    }

    /// The gate said wait `secs` (circuit open or budget spent): not a failure.
    fn waiting(error: String, secs: u64) -> Stop {
        Stop {
            error,
            retry_after_secs: Some(secs),
            waiting: true,
        }
    }
}

/// How an invocation that stopped early ends for the schedule: a wait or a failure.
fn stop_reason(progress: &Progress) -> Option<StopReason> {
    progress.error.as_ref().map(|_| match progress.waiting {
        true => StopReason::Wait {
            secs: progress.retry_after_secs.unwrap_or(1),
        },
        false => StopReason::Failed {
            retry_after_secs: progress.retry_after_secs,
        },
    })
}

/// Fetch and read one page, through the Stripe destination's gate.
async fn fetch_page(
    db: &D1Database,
    settings: &BackfillSettings,
    limits: Limits,
    url: String,
) -> Result<Page, Stop> {
    let probing = circuit::pass(db, limits, now_ms())
        .await
        .map_err(|wait| Stop::waiting(wait.reason.into(), wait.secs))?;
    let spec = HttpRequestSpec {
        method: "GET",
        url,
        headers: vec![(
            "Authorization".into(),
            format!("Bearer {}", settings.api.token),
        )],
        body: String::new(),
    };
    let outcome = call_reading(&spec, PAGE_TIMEOUT_MS, PAGE_BODY_LIMIT).await;
    circuit::record(db, limits, outcome.status, probing, now_ms()).await;
    match (outcome.status, outcome.body) {
        (Some(200..=299), Some(body)) => {
            parse_page(&body, settings.source.as_deref()).map_err(|e| Stop::failed(e.code()))
        }
        (status, _) => Err(Stop::call_failed(
            failure_code(status),
            outcome.retry_after.as_deref(),
        )),
    }
}

/// Fetch up to `max_pages` pages from `cursor` on, while `budget` lets a page through, and store
/// (or, dry, count) what is missing.
pub(crate) async fn run_pages(
    env: &Env,
    db: &D1Database,
    settings: &BackfillSettings,
    (since, cursor): (i64, Cursor),
    dry_run: bool,
    budget: &mut OperationBudget,
) -> Progress {
    let consumer = config(env).consumer().ok();
    let limits = circuit::stripe_limits(consumer.as_ref(), PAGE_TIMEOUT_MS);
    let mut progress = Progress {
        cursor: Some(cursor),
        ..Progress::default()
    };
    // The types the routes and the connections in force take. Known limit: connections changed
    // between two bounded invocations of one run can regroup the chunks under its cursor.
    let chunks = match crate::ingest::routing::current(db).await {
        Ok(routing) => listing_chunks(&settings.routes, &routing.connections),
        Err(_) => {
            progress.stopped(Stop::failed("d1_unavailable".into()));
            return progress;
        }
    };
    for _ in 0..settings.max_pages {
        let Some(cursor) = progress.cursor.clone() else {
            break;
        };
        let Some(types) = chunks.get(cursor.chunk) else {
            progress.cursor = None;
            break;
        };
        if !budget.next_page() {
            break;
        }
        let url = page_url(&settings.api.base_url, since, types, &cursor);
        let stored = match fetch_page(db, settings, limits, url).await {
            Ok(page) if dry_run => count_missing(db, &page.events).await.map(|new| (page, new)),
            Ok(page) => ingest(env, db, settings, &page.events, budget)
                .await
                .map(|new| (page, new)),
            Err(stop) => {
                progress.stopped(stop);
                break;
            }
        };
        let Ok((page, new)) = stored.inspect_err(|e| log::error("d1_write_failed", &e.to_string()))
        else {
            progress.stopped(Stop::failed("d1_unavailable".into()));
            break;
        };
        progress.add_page(page.events.len() as i64, new, page.newest_created());
        progress.cursor = cursor.after_page(page.has_more, page.last_id(), chunks.len());
    }
    progress
}

/// A dry run's page: how many of its events are not stored.
async fn count_missing(db: &D1Database, events: &[ParsedEvent]) -> worker::Result<i64> {
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    let stored = db::backfill::count_stored(db, PROVIDER, &keys).await?;
    Ok(events.len() as i64 - stored)
}

/// Plan `events` exactly as a webhook of them would be (routes, switches and connections), store
/// them with origin `backfill` (for `source`; `None` is the default one) and send the new steps
/// that `budget` covers (the rest, or a failed send, leave them `pending`: the sweeper sends
/// them). Returns, per event, whether it was new.
pub(super) async fn store_backfilled(
    env: &Env,
    db: &D1Database,
    (provider, source): (Provider, Option<&str>),
    routes: &RouteTable,
    events: &[&ParsedEvent],
    budget: &mut OperationBudget,
) -> worker::Result<Vec<bool>> {
    let routing = crate::ingest::routing::current(db).await?;
    let planned: Vec<PlannedEvent> = events
        .iter()
        .map(|event| PlannedEvent {
            id: ids::event_id(provider, &event.dedupe_key),
            event,
            steps: routing.plan(routes, &facts(provider, event)),
        })
        .collect();
    let inserted = db::ingest::insert_backfilled(db, provider, source, now_ms(), &planned).await?;
    let mut step_ids: Vec<String> = planned
        .iter()
        .zip(&inserted)
        .filter(|(_, is_new)| **is_new)
        .flat_map(|(plan, _)| plan.step_ids())
        .collect();
    step_ids.truncate(budget.steps_to_send(step_ids.len()));
    send_steps(env, db, &step_ids).await;
    Ok(inserted)
}

/// Store a page's events as ingest does (one D1 batch per chunk: an event and its planned
/// steps together), send the new steps and remember the hints of events D1 had already (the
/// core's `inbound::dedupe_hints::to_write`), as many as `budget` allows. Returns how many were
/// new.
async fn ingest(
    env: &Env,
    db: &D1Database,
    settings: &BackfillSettings,
    events: &[ParsedEvent],
    budget: &mut OperationBudget,
) -> worker::Result<i64> {
    let listed: Vec<&ParsedEvent> = events.iter().collect();
    let stored_as = (Provider::Stripe, settings.source.as_deref());
    let inserted = store_backfilled(env, db, stored_as, &settings.routes, &listed, budget).await?;
    let keys: Vec<String> = events
        .iter()
        .map(|e| dedupe_hints::event_hint(Provider::Stripe, &e.dedupe_key))
        .collect();
    let ttl = config(env)
        .provider(Provider::Stripe)
        .map_or(60, |c| c.settings.hint_ttl_secs);
    let mut keys = dedupe_hints::to_write(DeliveryHints::PerEvent(keys), &inserted);
    keys.truncate(budget.hint_puts(keys.len()));
    hints::remember(env, &keys, ttl).await;
    Ok(inserted.iter().filter(|n| **n).count() as i64)
}

/// The earliest `since` retention allows at `now_ms` (the core's `kept_since`): a run never
/// lists what retention may have deleted. A broken `RETENTION_DAYS` stops retention, so the
/// default is a safe bound then.
pub(crate) fn retention_kept_since(env: &Env, now_ms: i64) -> i64 {
    let days = config(env)
        .retention_days()
        .unwrap_or(edgehooks_handlers::retention::DEFAULT_RETENTION_DAYS);
    kept_since(edgehooks_handlers::retention::cutoff_ms(now_ms, days))
}

/// Record a Stripe run in `backfill_runs` (and log it).
pub(crate) async fn record(
    db: &D1Database,
    origin: &str,
    dry_run: bool,
    started: i64,
    since: i64,
    progress: &Progress,
) {
    record_as(db, PROVIDER, origin, dry_run, started, since, progress).await;
}

/// Record a run of `provider` (`stripe`, `shopify`, `shopify:<source>`).
pub(crate) async fn record_as(
    db: &D1Database,
    provider: &str,
    origin: &str,
    dry_run: bool,
    started: i64,
    since: i64,
    progress: &Progress,
) {
    let run = RunRecord {
        provider: provider.into(),
        origin: origin.into(),
        dry_run,
        started_at: started,
        finished_at: now_ms(),
        since,
        listed: progress.listed,
        ingested: progress.new,
        duplicates: progress.duplicates,
        complete: progress.cursor.is_none(),
        next_cursor: progress.cursor.as_ref().map(Cursor::encode),
        error: progress.error.clone(),
    };
    log::record(
        "backfill",
        serde_json::to_value(&run).unwrap_or(Value::Null),
    );
    if let Err(e) = db::backfill::record_backfill_run(db, &run).await {
        log::error("d1_write_failed", &e.to_string());
    }
}
