//! The backfill's cron part ([`scheduled`]): the Stripe backfill and each shop's reconciliation
//! take their turn in the tick's order (the core's `backfill::budget::turn_order`), each within
//! its share of the tick's operation budget (`cron_budget`); a run its share cannot open is put
//! off, untouched, to a later tick. For each run the core says whether it is due (the first tick
//! only sets its checkpoint); a due run lists from its window (an unfinished run's cursor, or from
//! its checkpoint) through `run_pages` or `run_shop_pages`, then its state moves as the core's
//! `after_run` says (continue, back off, wait or move the checkpoint) and the run is recorded.

use edgehooks_handlers::backfill::budget::{turn_order, OperationBudget};
use edgehooks_handlers::backfill::plan::Cursor;
use edgehooks_handlers::backfill::settings::BackfillSettings;
use edgehooks_handlers::backfill::shopify::settings::ShopifyBackfillSettings;
use edgehooks_handlers::backfill::shopify::ShopAccess;
use edgehooks_handlers::backfill::{
    after_run, clamp_since, initial_state, since_for_run, tick, RunEnd, State, Tick,
};
use edgehooks_handlers::settings::ConfigError;
use edgehooks_handlers::steps::retry::RetryPolicy;
use serde_json::json;
use worker::{D1Database, Env};

use super::shopify::run_shop_pages;
use super::{record_as, retention_kept_since, run_pages, stop_reason, Progress, PROVIDER};
use crate::clock::now_ms;
use crate::config::config;
use crate::{db, log};

/// One reconciliation of a tick.
enum Due<'a> {
    Stripe(&'a BackfillSettings),
    Shop(&'a ShopifyBackfillSettings, &'a ShopAccess),
}

/// The cron's part: the Stripe backfill and each shop's reconciliation, in the turn order of the
/// tick scheduled at `scheduled_ms` (the core's `turn_order`), each within its share of `budget`
/// (the tick's). A run whose share cannot open it is put off, untouched, to a later tick.
pub async fn scheduled(
    env: &Env,
    db: &D1Database,
    budget: &mut OperationBudget,
    scheduled_ms: i64,
) {
    let stripe = enabled(config(env).backfill());
    let shopify = enabled(config(env).shopify_backfill());
    let mut runs: Vec<Due> = stripe.iter().map(Due::Stripe).collect();
    if let Some(settings) = &shopify {
        runs.extend(settings.shops.iter().map(|shop| Due::Shop(settings, shop)));
    }
    let mut put_off = 0;
    for (turn, index) in turn_order(runs.len(), scheduled_ms).enumerate() {
        let mut share = budget.share(runs.len() - turn);
        match runs.get(index) {
            Some(due) if share.open_run() => {
                let tick = scheduled_due(env, db, due, &mut share).await;
                share.close_run(tick);
            }
            _ => put_off += 1,
        }
        budget.absorb(share);
    }
    if put_off > 0 {
        log::record("backfill_put_off", json!({ "runs": put_off }));
    }
}

/// A reconciliation's settings, `None` when it is disabled or misconfigured (logged).
fn enabled<T>(settings: Result<Option<T>, ConfigError>) -> Option<T> {
    settings.unwrap_or_else(|e| {
        log::error("misconfigured", &e.to_string());
        None
    })
}

impl Due<'_> {
    /// Its `backfill_state` / `backfill_runs` key: `stripe`, `shopify` or `shopify:<source>`.
    fn key(&self) -> String {
        match self {
            Due::Stripe(_) => PROVIDER.into(),
            Due::Shop(_, access) => access.state_key(),
        }
    }

    fn interval_secs(&self) -> u64 {
        match self {
            Due::Stripe(settings) => settings.interval_secs,
            Due::Shop(settings, _) => settings.interval_secs,
        }
    }
}

/// One cron tick of a reconciliation: set its checkpoint on the first tick, wait when the core
/// says it is not due, or run (or continue) it, its pages within `budget`, then store where it
/// stands and record the run. Returns what the core said (a failed state read: `Wait`).
async fn scheduled_due(
    env: &Env,
    db: &D1Database,
    due: &Due<'_>,
    budget: &mut OperationBudget,
) -> Tick {
    let key = due.key();
    let window = match begin_run(env, db, &key, due.interval_secs()).await {
        Ok(window) => window,
        Err(tick) => return tick,
    };
    let at = (window.since, window.cursor.clone());
    let progress = match *due {
        Due::Stripe(settings) => run_pages(env, db, settings, at, false, budget).await,
        Due::Shop(settings, access) => {
            run_shop_pages(env, db, (settings, access), at, false, budget).await
        }
    };
    end_run(env, db, &key, &window, &progress).await;
    Tick::Run
}

/// A due run's tick: the state it read, when it began, and where it lists from.
struct Window {
    state: State,
    started: i64,
    since: i64,
    cursor: Cursor,
    newest: Option<i64>,
}

/// Read the state under `key` and ask the core about this tick: a run's window, or what it said
/// instead (not due, or a failed read: `Wait`; the first tick: `Initialize`, checkpoint saved).
async fn begin_run(
    env: &Env,
    db: &D1Database,
    key: &str,
    interval_secs: u64,
) -> Result<Window, Tick> {
    let started = now_ms();
    let state = db::backfill::backfill_state(db, key)
        .await
        .map_err(|e| log::error("d1_read_failed", &e.to_string()))
        .map_err(|_| Tick::Wait)?;
    match tick(&state, started, interval_secs) {
        Tick::Run => Ok(window(env, state, started, interval_secs)),
        Tick::Wait => Err(Tick::Wait),
        Tick::Initialize => {
            let saved = db::backfill::save_backfill_state(db, key, &initial_state(started)).await;
            if let Err(e) = saved {
                log::error("d1_write_failed", &e.to_string());
            }
            Err(Tick::Initialize)
        }
    }
}

/// Where a run due at `started` lists from: its unfinished run's place, or a new window.
fn window(env: &Env, state: State, started: i64, interval_secs: u64) -> Window {
    let kept = retention_kept_since(env, started);
    let (since, cursor, newest) = match &state.resume {
        Some(r) => (
            clamp_since(r.since, started / 1000, kept),
            r.cursor.clone(),
            r.newest,
        ),
        None => (
            since_for_run(state.checkpoint, started / 1000, interval_secs, kept),
            Cursor::default(),
            None,
        ),
    };
    Window {
        state,
        started,
        since,
        cursor,
        newest,
    }
}

/// Store where the run under `key` stands after `progress` (the core's `after_run`) and record it.
async fn end_run(env: &Env, db: &D1Database, key: &str, window: &Window, progress: &Progress) {
    let policy = config(env)
        .consumer()
        .map_or(RetryPolicy::default(), |c| c.policy);
    let end = RunEnd {
        since: window.since,
        cursor: progress.cursor.clone(),
        newest: window.newest.max(progress.newest),
        stop: stop_reason(progress),
    };
    let random = js_sys::Math::random();
    let next = after_run(
        &window.state,
        &end,
        window.started,
        now_ms(),
        &policy,
        random,
    );
    if let Err(e) = db::backfill::save_backfill_state(db, key, &next).await {
        log::error("d1_write_failed", &e.to_string());
    }
    let (started, since) = (window.started, window.since);
    record_as(db, key, "scheduled", false, started, since, progress).await;
}
