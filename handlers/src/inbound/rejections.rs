//! Verification failures counted in isolate memory. A forged request must cost no D1 write, so
//! the shell adds each failure to a [`RejectionTally`] (per provider, reason and hour bucket;
//! failed admin sign-ins under [`crate::auth::COUNTED_AS`]) and
//! writes the tally to D1 at most once per [`FLUSH_INTERVAL_MS`] (after a later request's answer,
//! and from the cron sweeper so that counts are never stranded in an idle isolate). The tally is
//! bounded: at most [`MAX_BUCKETS`] buckets are held, further new buckets are dropped (and
//! counted as dropped) until the next flush empties it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inbound::webhook::Provider;

/// Minimum time between two flushes triggered by requests.
pub const FLUSH_INTERVAL_MS: i64 = 60_000;
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

/// Counts not yet written to D1.
#[derive(Debug, Default)]
pub struct RejectionTally {
    counts: BTreeMap<(&'static str, &'static str, i64), u64>,
    /// When the oldest unflushed count arrived; `None` when the tally is empty.
    pending_since_ms: Option<i64>,
    last_flush_ms: Option<i64>,
    dropped: u64,
}

impl RejectionTally {
    pub const fn new() -> RejectionTally {
        RejectionTally {
            counts: BTreeMap::new(),
            pending_since_ms: None,
            last_flush_ms: None,
            dropped: 0,
        }
    }

    /// Count one failure of `provider` for `reason` at `now_ms`.
    pub fn count(&mut self, provider: Provider, reason: &'static str, now_ms: i64) {
        self.count_for(provider.slug(), reason, now_ms);
    }

    /// Count one failure of whatever `who` names (a provider's slug, or `admin`).
    pub fn count_for(&mut self, who: &'static str, reason: &'static str, now_ms: i64) {
        let key = (who, reason, hour_of(now_ms));
        if !self.counts.contains_key(&key) && self.counts.len() >= MAX_BUCKETS {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let n = self.counts.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        self.pending_since_ms.get_or_insert(now_ms);
    }

    /// True when a request may flush now: something is pending and neither the oldest pending
    /// count nor the last flush is younger than [`FLUSH_INTERVAL_MS`].
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let Some(since) = self.pending_since_ms else {
            return false;
        };
        let waited = |t: i64| now_ms.saturating_sub(t) >= FLUSH_INTERVAL_MS;
        waited(since) && self.last_flush_ms.is_none_or(waited)
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Take every pending bucket for writing (the tally is empty afterwards, so a concurrent
    /// flush finds nothing to write twice).
    pub fn take(&mut self, now_ms: i64) -> Vec<Bucket> {
        self.last_flush_ms = Some(now_ms);
        self.pending_since_ms = None;
        std::mem::take(&mut self.counts)
            .into_iter()
            .map(|((provider, reason, hour), count)| Bucket {
                provider,
                reason,
                hour,
                count,
            })
            .collect()
    }

    /// Put back buckets whose write failed, so they are written by a later flush.
    pub fn restore(&mut self, buckets: Vec<Bucket>, now_ms: i64) {
        for b in buckets {
            let key = (b.provider, b.reason, b.hour);
            if !self.counts.contains_key(&key) && self.counts.len() >= MAX_BUCKETS {
                self.dropped = self.dropped.saturating_add(b.count);
                continue;
            }
            let n = self.counts.entry(key).or_insert(0);
            *n = n.saturating_add(b.count);
            self.pending_since_ms.get_or_insert(now_ms);
        }
    }

    /// Failures not counted because the tally was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
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
