//! The isolate's in-memory tallies (the core's `edgehooks_handlers::tally::Tally`): `metrics`
//! (dashboard minute buckets) and `rejections` (verification failures and refused admin
//! sign-ins), counted without I/O. This module is the one binding that writes either to D1: after
//! a request's answer in `waitUntil` ([`flush_if_due`]) or a queue batch ([`flush_if_due_now`])
//! when the tally says a flush is due, and by the cron sweeper every run ([`flush`]). A failed
//! write puts the counts back for the next flush. What an isolate holds when it is evicted (at
//! most a minute of counts) is lost.

pub mod metrics;
pub mod rejections;

use std::cell::RefCell;
use std::thread::LocalKey;

use edgehooks_handlers::inbound::rejections::Bucket;
use edgehooks_handlers::metrics::Flush;
use edgehooks_handlers::tally::{Batch, Tally};
use worker::{Context, D1Database, Env};

use crate::clock::now_ms;
use crate::log;

/// A tally's batch as the shell writes it: where the isolate holds the tally, the D1 write, and
/// the log lines of a flush.
pub trait Sink: Batch + 'static {
    /// The isolate's tally of this batch.
    fn tally() -> &'static LocalKey<RefCell<Tally<Self>>>;
    /// Whether the batch holds nothing.
    fn is_empty(&self) -> bool;
    /// Write the batch to D1.
    async fn write(&self, d1: &D1Database) -> worker::Result<()>;
    /// Log a written batch (`dropped`: what the full tally could not count).
    fn log_written(&self, dropped: u64);
    /// The log event of a failed write.
    const WRITE_FAILED: &'static str;
}

/// The dashboard metrics' batch (`metrics`).
pub type Metrics = Flush;
/// The verification failures' batch (`rejections`).
pub type Rejections = Vec<Bucket>;

fn due<S: Sink>() -> bool {
    S::tally().with(|t| t.borrow().flush_due(now_ms()))
}

/// After a request: write the tally in `waitUntil` if a flush is due (never on the request's
/// own path).
pub fn flush_if_due<S: Sink>(env: &Env, ctx: &Context) {
    if due::<S>() {
        let env = env.clone();
        ctx.wait_until(async move { flush::<S>(&env).await });
    }
}

/// After a queue batch (its messages already acked): write the tally if a flush is due.
pub async fn flush_if_due_now<S: Sink>(env: &Env) {
    if due::<S>() {
        flush::<S>(env).await;
    }
}

/// Write whatever the tally holds to D1 now (the sweeper calls this every run).
pub async fn flush<S: Sink>(env: &Env) {
    let now = now_ms();
    let (batch, dropped) = S::tally().with(|t| {
        let mut tally = t.borrow_mut();
        (tally.take(now), tally.dropped())
    });
    if batch.is_empty() {
        return;
    }
    let result = match crate::js_binding::d1(env) {
        Ok(d1) => batch.write(&d1).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => batch.log_written(dropped),
        Err(e) => {
            log::error(S::WRITE_FAILED, &e.to_string());
            S::tally().with(|t| t.borrow_mut().restore(batch, now));
        }
    }
}
