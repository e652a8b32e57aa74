//! What one cron tick (one `scheduled` invocation) may spend of the platform's per-invocation
//! limits ([`INVOCATION_OPERATIONS`]: every fetch and binding call one operation), pass by pass
//! at worst, from the constants that bound each pass: the tallies' flush, the recovery of
//! overdue steps (`steps::recovery::SWEEP_LIMIT`), retention (`retention::budget::MAX_BATCHES`
//! and one statement per other cleanup), the metric buckets' retention, the reseal
//! (`sealed::reseal::RESEAL_PAGE`) with the fingerprints' re-key (`sealed::fingerprint::REKEY_PAGE`)
//! and the alerting pass with its notices
//! (`alerts::sql::NOTICES_PER_CHANNEL` per channel). Those are [`RESERVED`] first, whichever
//! order they run in; what is left ([`for_tick`]) is the one budget the Stripe backfill and every
//! shop's reconciliation share page by page (`backfill::budget`), so a tick never passes the
//! limits however many shops are due. docs/limits.md has the table.

use crate::alerts::sql::NOTICES_PER_CHANNEL;
use crate::backfill::budget::{
    OperationBudget, INVOCATION_OPERATIONS, SEND_OPERATIONS, STEPS_PER_SEND,
};
use crate::retention::budget::MAX_BATCHES;
use crate::retention::cleanup::Cleanup;
use crate::sealed::fingerprint::REKEY_PAGE;
use crate::sealed::reseal::RESEAL_PAGE;
use crate::steps::recovery::SWEEP_LIMIT;

/// The tallies' flush: the rejection counts (one statement), the dashboard metrics (one batch).
pub const TALLY_FLUSH: u32 = 1 + 1;

/// Recovering overdue steps: their read, the `http` destinations' own maximum attempts (one
/// read), the recovery batch, then one queue send and one marking `enqueued` per 100 steps.
pub const RECOVERY: u32 = 3 + SEND_OPERATIONS * SWEEP_LIMIT.div_ceil(STEPS_PER_SEND as u32);

/// Retention: its deletion batches, then one statement for each other cleanup.
pub const RETENTION: u32 = MAX_BATCHES + (Cleanup::ALL.len() as u32 - 1);

/// `METRICS_RETENTION_DAYS`: one batch.
pub const METRICS_RETENTION: u32 = 1;

/// Sealing plaintext secrets: for destinations and for sources, a read and a write per row;
/// then re-keying sources' unkeyed fingerprints, a read and a write per row.
pub const RESEAL: u32 = 2 * (1 + RESEAL_PAGE as u32) + 1 + REKEY_PAGE as u32;

/// Alerts: the six reads the rules see, the open alerts, the change batch, the `http`
/// channel's destination; per channel (Slack, `http`) the due notices and the hour's count,
/// then per notice its send and its record; the settle.
pub const ALERTS: u32 = 6 + 1 + 1 + 1 + 2 * (2 + 2 * NOTICES_PER_CHANNEL) + 1;

/// Every pass but the backfill's, at worst.
pub const RESERVED: u32 = TALLY_FLUSH + RECOVERY + RETENTION + METRICS_RETENTION + RESEAL + ALERTS;

/// The budget the tick's Stripe backfill and Shopify reconciliations share.
pub fn for_tick() -> OperationBudget {
    OperationBudget::new(INVOCATION_OPERATIONS.saturating_sub(RESERVED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::sql::PENDING_NOTICES;
    use crate::backfill::budget::RUN_AT_LEAST;
    use crate::steps::recovery::sweepable_sql;

    #[test]
    fn each_pass_is_counted_from_the_bounds_its_code_reads() {
        assert_eq!(
            [
                TALLY_FLUSH,
                RECOVERY,
                RETENTION,
                METRICS_RETENTION,
                RESEAL,
                ALERTS
            ],
            [2, 13, 13, 1, 78, 214]
        );
        assert_eq!(RESERVED, 321);
        // The bounds are the ones the SQL and the shell use.
        assert!(PENDING_NOTICES.ends_with(&format!("LIMIT {NOTICES_PER_CHANNEL}")));
        assert!(sweepable_sql().ends_with("LIMIT ?3"));
    }

    #[test]
    fn the_backfill_gets_what_the_other_passes_leave() {
        let budget = for_tick();
        assert_eq!(budget.left() + RESERVED, INVOCATION_OPERATIONS);
        assert_eq!(budget.left(), 679);
        // Room for many runs of a page each in one tick (a shop late in turn still runs).
        assert!(budget.left() / RUN_AT_LEAST >= 40);
    }
}
