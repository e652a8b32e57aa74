//! The isolate's tally of verification failures (see `edgehooks_handlers::inbound::rejections`): ingest
//! counts a forged or unsigned request here, the admin API a refused sign-in, in memory, so it
//! costs no D1 write. The tally is written to D1 (`rejections`) by the flush of `crate::tally`,
//! after a later request's answer and by the cron sweeper every run, so counts are not stranded
//! in an idle isolate.

use std::cell::RefCell;
use std::thread::LocalKey;

use edgehooks_handlers::inbound::rejections::{Bucket, RejectionTally};
use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::tally::Tally;
use worker::D1Database;

use super::Sink;
use crate::clock::now_ms;
use crate::{db, log};

thread_local! {
    static TALLY: RefCell<RejectionTally> = const { RefCell::new(RejectionTally::new()) };
}

impl Sink for Vec<Bucket> {
    fn tally() -> &'static LocalKey<RefCell<Tally<Self>>> {
        &TALLY
    }

    fn is_empty(&self) -> bool {
        <[Bucket]>::is_empty(self)
    }

    async fn write(&self, d1: &D1Database) -> worker::Result<()> {
        db::ingest::add_rejections(d1, self).await
    }

    fn log_written(&self, dropped: u64) {
        log::warn(
            "rejections_flushed",
            serde_json::json!({ "buckets": self.len(), "dropped": dropped }),
        );
    }

    const WRITE_FAILED: &'static str = "rejection_count_failed";
}

/// Count one verification failure of `provider` (no I/O).
pub fn count(provider: Provider, reason: &'static str) {
    TALLY.with(|t| t.borrow_mut().count(provider, reason, now_ms()));
}

/// Count one verification failure of the registry source `name` (no I/O).
pub fn count_registry(name: &str, reason: &'static str) {
    TALLY.with(|t| t.borrow_mut().count_registry(name, reason, now_ms()));
}

/// Count one refused admin sign-in (under `admin`, beside the providers; no I/O).
pub fn count_admin(reason: &'static str) {
    TALLY.with(|t| {
        t.borrow_mut()
            .count_for(edgehooks_handlers::auth::COUNTED_AS, reason, now_ms())
    });
}
