//! The isolate's tally of dashboard metrics (see `edgehooks_handlers::metrics`): ingest counts
//! each request's events by outcome and the consumer each step outcome with its latency, in
//! memory, so neither adds a D1 round trip to a webhook or a step. The tally is written to D1
//! (`metric_events`, `metric_steps`, one batch) by the flush of `crate::tally`, after a later
//! request's answer or queue batch and by the cron sweeper every run before the alerts are
//! evaluated. What an isolate loses when it is evicted makes the dashboard approximate: the
//! `events` and `steps` tables stay the record.

use std::cell::RefCell;
use std::thread::LocalKey;

use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::metrics::{counted_source, Flush, MetricsTally, RequestKey};
use edgehooks_handlers::tally::Tally;
use worker::D1Database;

use super::Sink;
use crate::clock::now_ms;
use crate::error::AppError;
use crate::{db, ingest, log};

thread_local! {
    static TALLY: RefCell<MetricsTally> = const { RefCell::new(MetricsTally::new()) };
}

impl Sink for Flush {
    fn tally() -> &'static LocalKey<RefCell<Tally<Self>>> {
        &TALLY
    }

    fn is_empty(&self) -> bool {
        Flush::is_empty(self)
    }

    async fn write(&self, d1: &D1Database) -> worker::Result<()> {
        db::metrics::add_metrics(d1, self).await
    }

    fn log_written(&self, dropped: u64) {
        log::record(
            "metrics_flushed",
            serde_json::json!({
                "event_buckets": self.events.len(),
                "step_buckets": self.steps.len(),
                "request_totals": self.requests.len(),
                "dropped": dropped,
            }),
        );
    }

    const WRITE_FAILED: &'static str = "metrics_write_failed";
}

/// Count `count` events of `provider` (and `source`: a registry source's name, else `""`)
/// ending in `outcome` (`reason`: a rejection's code).
fn count_event(provider: Provider, source: &str, [outcome, reason]: [&'static str; 2], count: u64) {
    if count > 0 {
        TALLY.with(|t| {
            t.borrow_mut()
                .count_event([provider.slug(), outcome, reason], source, count, now_ms())
        });
    }
}

/// Count one refused admin sign-in as a rejection under `admin` (the dashboard's signature
/// failures and their alert read these buckets).
pub fn count_admin_refusal(reason: &'static str) {
    TALLY.with(|t| {
        t.borrow_mut().count_event(
            [edgehooks_handlers::auth::COUNTED_AS, "rejected", reason],
            "",
            1,
            now_ms(),
        )
    });
}

/// Count one webhook request of `provider` (`source`: its source label, counted for a registry
/// source only, see `counted_source`): on success its `[new, duplicate, malformed element]`
/// event counts; a failed request once, by its outcome (a rejection with its reason code).
pub fn count_request(provider: Provider, source: &str, counts: [u64; 3], error: Option<&AppError>) {
    let source = counted_source(provider, source);
    let count = |outcome, reason, n| count_event(provider, &source, [outcome, reason], n);
    let [new, duplicates, malformed] = counts;
    match error {
        None => {
            count("accepted", "", new);
            count("duplicate", "", duplicates);
            count("unparsable", "", malformed);
        }
        Some(AppError::Verification(reason)) => count("rejected", reason.code(), 1),
        Some(AppError::Unparsable(_)) => count("unparsable", "", malformed.max(1)),
        Some(e) => count(ingest::outcome_of(e), "", 1),
    }
}

/// Count one webhook request's answer (`/metrics`' running totals) after `latency_ms`, with the
/// events it stored and found stored.
pub fn count_answer(key: RequestKey, stored_and_duplicates: [u64; 2], latency_ms: i64) {
    TALLY.with(|t| {
        t.borrow_mut()
            .count_request(key, stored_and_duplicates, latency_ms, now_ms())
    });
}

/// Count one step outcome at `destination` that took `latency_ms`.
pub fn count_step(destination: &str, outcome: &str, latency_ms: i64) {
    TALLY.with(|t| {
        t.borrow_mut()
            .count_step(destination, outcome, latency_ms, now_ms())
    });
}
