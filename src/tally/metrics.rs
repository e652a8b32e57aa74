//! The isolate's tally of dashboard metrics (see `edgehooks_handlers::metrics`): ingest counts
//! each request's events by outcome and the consumer each step outcome with its latency, in
//! memory, so neither adds a D1 round trip to a webhook or a step. The tally is written to D1
//! (`metric_events`, `metric_steps`, one batch) at most once a minute, after a later request's
//! answer (`waitUntil`) or queue batch, and by the cron sweeper every run before the alerts are
//! evaluated. A failed write puts the counts back for the next flush. What an isolate holds when
//! it is evicted (at most a minute of counts) is lost: the dashboard is approximate, the
//! `events` and `steps` tables stay the record.

use std::cell::RefCell;

use edgehooks_handlers::metrics::MetricsTally;
use edgehooks_handlers::webhook::Provider;
use worker::{Context, Env};

use crate::clock::now_ms;
use crate::error::AppError;
use crate::{db, ingest, log};

thread_local! {
    static TALLY: RefCell<MetricsTally> = const { RefCell::new(MetricsTally::new()) };
}

/// Count `count` events of `provider` ending in `outcome` (`reason`: a rejection's code).
pub fn count_event(provider: Provider, outcome: &'static str, reason: &'static str, count: u64) {
    if count > 0 {
        TALLY.with(|t| {
            t.borrow_mut()
                .count_event(provider.slug(), outcome, reason, count, now_ms())
        });
    }
}

/// Count one refused admin sign-in as a rejection under `admin` (the dashboard's signature
/// failures and their alert read these buckets).
pub fn count_admin_refusal(reason: &'static str) {
    TALLY.with(|t| {
        t.borrow_mut().count_event(
            edgehooks_handlers::auth::COUNTED_AS,
            "rejected",
            reason,
            1,
            now_ms(),
        )
    });
}

/// Count one webhook request: on success its `[new, duplicate, malformed element]` event counts;
/// a failed request once, by its outcome (a rejection with its reason code).
pub fn count_request(provider: Provider, counts: [u64; 3], error: Option<&AppError>) {
    let [new, duplicates, malformed] = counts;
    match error {
        None => {
            count_event(provider, "accepted", "", new);
            count_event(provider, "duplicate", "", duplicates);
            count_event(provider, "unparsable", "", malformed);
        }
        Some(AppError::Verification(reason)) => count_event(provider, "rejected", reason.code(), 1),
        Some(AppError::Unparsable(_)) => count_event(provider, "unparsable", "", malformed.max(1)),
        Some(e) => count_event(provider, ingest::outcome_of(e), "", 1),
    }
}

/// Count one step outcome at `destination` that took `latency_ms`.
pub fn count_step(destination: &str, outcome: &str, latency_ms: i64) {
    TALLY.with(|t| {
        t.borrow_mut()
            .count_step(destination, outcome, latency_ms, now_ms())
    });
}

fn due() -> bool {
    TALLY.with(|t| t.borrow().flush_due(now_ms()))
}

/// After a request: write the tally in `waitUntil` if a flush is due.
pub fn flush_if_due(env: &Env, ctx: &Context) {
    if due() {
        let env = env.clone();
        ctx.wait_until(async move { flush(&env).await });
    }
}

/// After a queue batch (its messages already acked): write the tally if a flush is due.
pub async fn flush_if_due_now(env: &Env) {
    if due() {
        flush(env).await;
    }
}

/// Write whatever the tally holds to D1 now (the sweeper calls this every run).
pub async fn flush(env: &Env) {
    let now = now_ms();
    let (pending, dropped) = TALLY.with(|t| {
        let mut tally = t.borrow_mut();
        (tally.take(now), tally.dropped())
    });
    if pending.is_empty() {
        return;
    }
    let result = match crate::js_binding::d1(env) {
        Ok(d1) => db::metrics::add_metrics(&d1, &pending).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => log::record(
            "metrics_flushed",
            serde_json::json!({
                "event_buckets": pending.events.len(),
                "step_buckets": pending.steps.len(),
                "dropped": dropped,
            }),
        ),
        Err(e) => {
            log::error("metrics_write_failed", &e.to_string());
            TALLY.with(|t| t.borrow_mut().restore(pending, now));
        }
    }
}
