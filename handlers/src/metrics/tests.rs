//! Minute keys, histogram buckets, percentiles from counts, and the tally's flush/restore.

use super::*;

const T0: i64 = 1_700_000_000_000;

#[test]
fn minute_keys_start_the_minute() {
    assert_eq!(minute_of(T0) % 60, 0);
    assert_eq!(minute_of(T0), minute_of(T0 - (T0 % 60_000)));
    assert_eq!(minute_of(59_999), 0);
    assert_eq!(minute_of(60_000), 60);
    assert_eq!(minute_of(-1), -60, "before the epoch rounds down");
}

#[test]
fn latencies_fall_in_their_bucket() {
    assert_eq!(latency_bucket(0), 0);
    assert_eq!(latency_bucket(50), 0);
    assert_eq!(latency_bucket(51), 1);
    assert_eq!(latency_bucket(1_000), 4);
    assert_eq!(latency_bucket(30_000), 8);
    assert_eq!(latency_bucket(30_001), 9);
    assert_eq!(latency_bucket(i64::MAX), HISTOGRAM_BUCKETS - 1);
}

#[test]
fn percentiles_come_from_counts() {
    let mut h = [0; HISTOGRAM_BUCKETS];
    assert_eq!(percentile(&h, 0.5), None);
    // 90 fast calls (≤ 50 ms), 8 at ≤ 500 ms, 2 slower than 30 s.
    h[0] = 90;
    h[3] = 8;
    h[9] = 2;
    assert_eq!(percentile(&h, 0.5), Some(50));
    assert_eq!(
        percentile(&h, 0.9),
        Some(50),
        "rank 90 is the last fast call"
    );
    assert_eq!(percentile(&h, 0.95), Some(500));
    assert_eq!(
        percentile(&h, 0.99),
        Some(30_000),
        "overflow answers the last bound"
    );
    let mut one = [0; HISTOGRAM_BUCKETS];
    one[5] = 1;
    assert_eq!(percentile(&one, 0.5), Some(2_500));
    assert_eq!(percentile(&one, 0.0), Some(2_500), "rank is at least one");
}

#[test]
fn the_tally_counts_per_minute_and_flushes_once_a_minute() {
    let mut tally = MetricsTally::new();
    assert!(!tally.flush_due(T0));
    tally.count_event(["stripe", "accepted", ""], "", 3, T0);
    tally.count_event(["stripe", "accepted", ""], "", 2, T0 + 1);
    tally.count_event(["stripe", "rejected", "signature_mismatch"], "", 1, T0);
    tally.count_event(["stripe", "accepted", ""], "", 1, T0 + 60_000);
    tally.count_step("hubspot", "succeeded", 40, T0);
    tally.count_step("hubspot", "succeeded", 700, T0);
    assert!(!tally.flush_due(T0 + 59_999));
    assert!(tally.flush_due(T0 + 60_000));
    let flush = tally.take(T0 + 60_000);
    assert!(tally.take(T0 + 60_000).is_empty());
    assert_eq!(flush.events.len(), 3);
    assert!(flush.events.contains(&EventBucket {
        minute: minute_of(T0),
        provider: "stripe",
        source: String::new(),
        outcome: "accepted",
        reason: "",
        count: 5
    }));
    let step = &flush.steps[0];
    assert_eq!(
        (step.count, step.histogram[0], step.histogram[4]),
        (2, 1, 1)
    );
}

#[test]
fn a_failed_write_is_restored_to_its_own_minutes_and_the_tally_is_bounded() {
    let mut tally = MetricsTally::new();
    tally.count_event(["shopify", "duplicate", ""], "", 4, T0);
    tally.count_step("slack", "dead", 10, T0);
    let flush = tally.take(T0);
    tally.count_event(["shopify", "duplicate", ""], "", 1, T0 + 120_000);
    tally.restore(flush, T0 + 120_000);
    let again = tally.take(T0 + 120_000);
    let minutes: Vec<(i64, u64)> = again.events.iter().map(|b| (b.minute, b.count)).collect();
    assert_eq!(
        minutes,
        vec![(minute_of(T0), 4), (minute_of(T0 + 120_000), 1)]
    );
    assert_eq!(again.steps[0].count, 1);

    for i in 0..(MAX_BUCKETS as i64 + 5) {
        tally.count_step("hubspot", "succeeded", 1, T0 + i * 60_000);
    }
    assert_eq!(tally.dropped(), 5);
    assert_eq!(tally.take(T0).steps.len(), MAX_BUCKETS);
}

#[test]
fn registry_sources_are_counted_apart_and_built_in_providers_as_one() {
    assert_eq!(
        counted_source(Provider::Registry, "github-main"),
        "github-main"
    );
    assert_eq!(counted_source(Provider::Registry, "unknown"), "unknown");
    assert_eq!(
        counted_source(Provider::Stripe, "eu"),
        "",
        "a built-in path is its provider"
    );
    let mut tally = MetricsTally::new();
    tally.count_event(["in", "accepted", ""], "github-main", 2, T0);
    tally.count_event(["in", "accepted", ""], "linear", 1, T0);
    tally.count_event(["in", "accepted", ""], "github-main", 1, T0 + 1);
    let sources: Vec<(String, u64)> = tally
        .take(T0)
        .events
        .into_iter()
        .map(|b| (b.source, b.count))
        .collect();
    assert_eq!(
        sources,
        vec![("github-main".to_string(), 3), ("linear".to_string(), 1)]
    );
}
