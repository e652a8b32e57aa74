//! Verification failures counted in isolate memory. A forged request must cost no D1 write, so
//! the shell adds each failure to a [`RejectionTally`] (per provider, reason and hour bucket;
//! failed admin sign-ins under [`crate::auth::COUNTED_AS`]), a [`Tally`] whose batch is the
//! `rejections` rows, and writes it to D1 when the tally says a flush is due (after a later
//! request's answer) and from the cron sweeper, so that counts are never stranded in an idle
//! isolate. At most [`MAX_BUCKETS`] buckets are held; further new buckets are dropped (and
//! counted as dropped) until the next flush empties it.

use serde::Serialize;

use crate::inbound::webhook::Provider;
use crate::tally::{Batch, Tally};

/// Most buckets the tally holds between flushes (4 providers × 7 reasons × a few hours).
pub const MAX_BUCKETS: usize = 256;

/// One counter row, as stored in D1's `rejections` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub provider: &'static str,
    pub reason: &'static str,
    /// Unix seconds at the start of the hour.
    pub hour: i64,
    pub count: u64,
}

/// The hour bucket (Unix seconds at the start of the hour) of a time in Unix milliseconds.
pub fn hour_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(3_600_000) * 3600
}

/// Verification failures not yet written to D1: one flush writes its buckets.
pub type RejectionTally = Tally<Vec<Bucket>>;

impl Batch for Vec<Bucket> {
    /// Who (a provider's slug, or `admin`), reason, hour.
    type Key = (&'static str, &'static str, i64);
    type Value = u64;
    const MAX_KEYS: usize = MAX_BUCKETS;

    fn from_counts(counts: Vec<(Self::Key, u64)>) -> Vec<Bucket> {
        counts
            .into_iter()
            .map(|((provider, reason, hour), count)| Bucket {
                provider,
                reason,
                hour,
                count,
            })
            .collect()
    }

    fn into_counts(self) -> impl IntoIterator<Item = (Self::Key, u64)> {
        self.into_iter()
            .map(|b| ((b.provider, b.reason, b.hour), b.count))
    }
}

impl RejectionTally {
    /// Count one failure of `provider` for `reason` at `now_ms`.
    pub fn count(&mut self, provider: Provider, reason: &'static str, now_ms: i64) {
        self.count_for(provider.slug(), reason, now_ms);
    }

    /// Count one failure of whatever `who` names (a provider's slug, or `admin`).
    pub fn count_for(&mut self, who: &'static str, reason: &'static str, now_ms: i64) {
        self.add((who, reason, hour_of(now_ms)), 1, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn counts_per_provider_reason_and_hour() {
        let mut tally = RejectionTally::new();
        for _ in 0..3 {
            tally.count(Provider::Stripe, "signature_mismatch", T0);
        }
        tally.count(Provider::Stripe, "missing_signature", T0);
        tally.count(Provider::Stripe, "signature_mismatch", T0 + 3_600_000);
        tally.count(Provider::Shopify, "signature_mismatch", T0);
        let buckets = tally.take(T0);
        let hour = hour_of(T0);
        assert_eq!(buckets.len(), 4);
        assert!(buckets.contains(&Bucket {
            provider: "stripe",
            reason: "signature_mismatch",
            hour,
            count: 3
        }));
        assert!(buckets.contains(&Bucket {
            provider: "stripe",
            reason: "signature_mismatch",
            hour: hour + 3600,
            count: 1
        }));
        assert!(tally.is_empty());
        assert_eq!(hour % 3600, 0);
    }

    #[test]
    fn failed_admin_sign_ins_are_counted_beside_the_providers() {
        let mut tally = RejectionTally::new();
        tally.count_for(crate::auth::COUNTED_AS, "token_mismatch", T0);
        tally.count_for(crate::auth::COUNTED_AS, "token_mismatch", T0);
        tally.count(Provider::Stripe, "signature_mismatch", T0);
        let buckets = tally.take(T0);
        assert!(buckets.contains(&Bucket {
            provider: "admin",
            reason: "token_mismatch",
            hour: hour_of(T0),
            count: 2
        }));
        assert_eq!(buckets.len(), 2);
    }

    #[test]
    fn a_flush_is_due_at_most_once_a_minute() {
        let mut tally = RejectionTally::new();
        assert!(!tally.flush_due(T0), "nothing pending");
        tally.count(Provider::Stripe, "signature_mismatch", T0);
        assert!(
            !tally.flush_due(T0 + 59_999),
            "the first count starts the minute"
        );
        assert!(tally.flush_due(T0 + 60_000));
        tally.take(T0 + 60_000);
        assert!(!tally.flush_due(T0 + 200_000), "flushed and nothing new");
        tally.count(Provider::Stripe, "signature_mismatch", T0 + 60_001);
        assert!(
            !tally.flush_due(T0 + 119_999),
            "a minute since the last flush"
        );
        assert!(tally.flush_due(T0 + 120_001));
    }

    #[test]
    fn failed_writes_are_restored_and_the_tally_is_bounded() {
        let mut tally = RejectionTally::new();
        tally.count(Provider::HubSpot, "signature_mismatch", T0);
        let taken = tally.take(T0);
        tally.count(Provider::HubSpot, "signature_mismatch", T0);
        tally.restore(taken, T0);
        assert_eq!(tally.take(T0)[0].count, 2);

        for i in 0..(MAX_BUCKETS as i64 + 10) {
            tally.count(Provider::Stripe, "signature_mismatch", T0 + i * 3_600_000);
        }
        assert_eq!(tally.dropped(), 10);
        assert_eq!(tally.take(T0).len(), MAX_BUCKETS);
    }
}
