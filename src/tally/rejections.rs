//! The isolate's tally of verification failures (see `edgehooks_handlers::rejections`): ingest
//! counts a forged or unsigned request here, the admin API a refused sign-in, in memory, so it
//! costs no D1 write. The tally is written to D1 (`rejections`) at most once a minute, after a
//! later request's answer (`waitUntil`), and by the cron sweeper every run, so counts are not
//! stranded in an idle isolate. A failed write puts the counts back for the next flush.

use std::cell::RefCell;

use edgehooks_handlers::rejections::RejectionTally;
use edgehooks_handlers::webhook::Provider;
use worker::{Context, Env};

use crate::clock::now_ms;
use crate::{db, log};

thread_local! {
    static TALLY: RefCell<RejectionTally> = const { RefCell::new(RejectionTally::new()) };
}

/// Count one verification failure of `provider` (no I/O).
pub fn count(provider: Provider, reason: &'static str) {
    TALLY.with(|t| t.borrow_mut().count(provider, reason, now_ms()));
}

/// Count one refused admin sign-in (under `admin`, beside the providers; no I/O).
pub fn count_admin(reason: &'static str) {
    TALLY.with(|t| {
        t.borrow_mut()
            .count_for(edgehooks_handlers::auth::COUNTED_AS, reason, now_ms())
    });
}

/// After a request: write the tally in `waitUntil` if a flush is due (never on the request's
/// own path).
pub fn flush_if_due(env: &Env, ctx: &Context) {
    if TALLY.with(|t| t.borrow().flush_due(now_ms())) {
        let env = env.clone();
        ctx.wait_until(async move { flush(&env).await });
    }
}

/// Write whatever the tally holds to D1 now (the sweeper calls this every run).
pub async fn flush(env: &Env) {
    let now = now_ms();
    let (buckets, dropped) = TALLY.with(|t| {
        let mut tally = t.borrow_mut();
        (tally.take(now), tally.dropped())
    });
    if buckets.is_empty() {
        return;
    }
    let result = match crate::js_binding::d1(env) {
        Ok(db) => db::ingest::add_rejections(&db, &buckets).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => log::warn(
            "rejections_flushed",
            serde_json::json!({ "buckets": buckets.len(), "dropped": dropped }),
        ),
        Err(e) => {
            log::error("rejection_count_failed", &e.to_string());
            TALLY.with(|t| t.borrow_mut().restore(buckets, now));
        }
    }
}
