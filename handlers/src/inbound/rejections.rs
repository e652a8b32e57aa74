//! Verification failures counted in isolate memory. A forged request must cost no D1 write, so
//! the shell adds each failure to a [`RejectionTally`] (per provider, source, reason and hour
//! bucket: the source is a registry source's name for provider `in`, `""` for a built-in
//! provider; failed admin sign-ins under [`crate::auth::COUNTED_AS`]), a [`Tally`] whose batch is
//! the `rejections` rows ([`ADD_BUCKETS`]), and writes it to D1 when the tally says a flush is
//! due (after a later request's answer) and from the cron sweeper, so that counts are never
//! stranded in an idle isolate. At most [`MAX_BUCKETS`] buckets are held; further new buckets
//! are dropped (and counted as dropped) until the next flush empties it.

use serde::Serialize;

use crate::inbound::webhook::Provider;
use crate::tally::{Batch, Tally};

/// Most buckets the tally holds between flushes (providers and registry sources × 7 reasons ×
/// a few hours).
pub const MAX_BUCKETS: usize = 256;

/// Add ?1, the JSON array of a flush's buckets, to `rejections` (one statement whatever the
/// number of buckets).
pub const ADD_BUCKETS: &str = "INSERT INTO rejections (provider, source, reason, hour, count) \
     SELECT json_extract(value, '$.provider'), json_extract(value, '$.source'), \
     json_extract(value, '$.reason'), json_extract(value, '$.hour'), \
     json_extract(value, '$.count') FROM json_each(?1) WHERE true \
     ON CONFLICT (provider, source, reason, hour) DO UPDATE SET count = count + excluded.count";

/// Failures per provider, source and reason since hour ?1 (Unix seconds), most first, with the
/// last hour each was seen in (the admin API's `rejections`).
pub const COUNTS_SINCE: &str = "SELECT provider, source, reason, SUM(count) AS count, \
     MAX(hour) AS last_hour FROM rejections WHERE hour >= ?1 GROUP BY provider, source, reason \
     ORDER BY count DESC, provider, source, reason";

/// One counter row, as stored in D1's `rejections` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub provider: &'static str,
    /// A registry source's name for provider `in`; `""` otherwise.
    pub source: String,
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
    /// Who (a provider's slug, or `admin`), source, reason, hour.
    type Key = (&'static str, String, &'static str, i64);
    type Value = u64;
    const MAX_KEYS: usize = MAX_BUCKETS;

    fn from_counts(counts: Vec<(Self::Key, u64)>) -> Vec<Bucket> {
        counts
            .into_iter()
            .map(|((provider, source, reason, hour), count)| Bucket {
                provider,
                source,
                reason,
                hour,
                count,
            })
            .collect()
    }

    fn into_counts(self) -> impl IntoIterator<Item = (Self::Key, u64)> {
        self.into_iter()
            .map(|b| ((b.provider, b.source, b.reason, b.hour), b.count))
    }
}

impl RejectionTally {
    /// Count one failure of a built-in `provider` for `reason` at `now_ms` (its source is not
    /// counted: one subject per provider).
    pub fn count(&mut self, provider: Provider, reason: &'static str, now_ms: i64) {
        self.count_for(provider.slug(), reason, now_ms);
    }

    /// Count one failure of the registry source `name` (provider `in`) for `reason`.
    pub fn count_registry(&mut self, name: &str, reason: &'static str, now_ms: i64) {
        let key = (
            Provider::Registry.slug(),
            name.to_string(),
            reason,
            hour_of(now_ms),
        );
        self.add(key, 1, now_ms);
    }

    /// Count one failure of whatever `who` names (a provider's slug, or `admin`).
    pub fn count_for(&mut self, who: &'static str, reason: &'static str, now_ms: i64) {
        self.add((who, String::new(), reason, hour_of(now_ms)), 1, now_ms);
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
            source: String::new(),
            reason: "signature_mismatch",
            hour,
            count: 3
        }));
        assert!(buckets.contains(&Bucket {
            provider: "stripe",
            source: String::new(),
            reason: "signature_mismatch",
            hour: hour + 3600,
            count: 1
        }));
        assert!(tally.is_empty());
        assert_eq!(hour % 3600, 0);
    }

    #[test]
    fn each_registry_source_is_counted_on_its_own() {
        let mut tally = RejectionTally::new();
        tally.count_registry("github-main", "signature_mismatch", T0);
        tally.count_registry("github-main", "signature_mismatch", T0);
        tally.count_registry("linear", "signature_mismatch", T0);
        let counted: Vec<(&str, String, u64)> = tally
            .take(T0)
            .into_iter()
            .map(|b| (b.provider, b.source, b.count))
            .collect();
        assert_eq!(
            counted,
            vec![
                ("in", "github-main".to_string(), 2),
                ("in", "linear".to_string(), 1)
            ]
        );
    }

    /// The flush's statement and the admin API's read, against the migrations in SQLite.
    #[test]
    fn buckets_add_up_per_source_in_d1_and_read_back_per_source() {
        let db = crate::steps::lifecycle::sql_tests::database(); // up: test: the migrations in SQLite
        let mut tally = RejectionTally::new();
        tally.count_registry("github-main", "signature_mismatch", T0);
        tally.count_registry("linear", "signature_mismatch", T0);
        tally.count(Provider::Stripe, "signature_mismatch", T0);
        let buckets = tally.take(T0);
        let json = serde_json::to_string(&buckets).unwrap();
        db.execute(ADD_BUCKETS, [&json]).unwrap();
        db.execute(ADD_BUCKETS, [&json]).unwrap();
        let mut query = db.prepare(COUNTS_SINCE).unwrap();
        let rows: Vec<(String, String, i64)> = query
            .query_map([hour_of(T0)], |r| Ok((r.get(0)?, r.get(1)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let row = |p: &str, s: &str| (p.to_string(), s.to_string(), 2);
        assert_eq!(
            rows,
            vec![
                row("in", "github-main"),
                row("in", "linear"),
                row("stripe", "")
            ]
        );
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
            source: String::new(),
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
