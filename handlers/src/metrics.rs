//! Dashboard metrics counted in isolate memory, in minute buckets. Ingest counts each request's
//! outcome (per provider: `accepted`, `duplicate`, `unparsable`, `rejected` with its reason) and
//! the consumer each step's outcome per destination with its latency in a fixed histogram
//! ([`LATENCY_BOUNDS_MS`]), so that p50/p95 come from counts and no per-request row is ever
//! written. The shell writes the tally to D1 (`metric_events`, `metric_steps`) at most once per
//! [`FLUSH_INTERVAL_MS`] after a request's answer or a queue batch, and from the cron sweeper, as
//! it does the rejection tally; nothing is added to a webhook's critical path. The tally is
//! bounded ([`MAX_BUCKETS`]); further new buckets are dropped and counted until the next flush.

pub mod dashboard;

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::inbound::rejections::FLUSH_INTERVAL_MS;

/// Most buckets (events and steps together) held between flushes.
pub const MAX_BUCKETS: usize = 1024;
/// Upper bounds (ms, inclusive) of the latency histogram's buckets; one more bucket holds the
/// rest (slower than the last bound).
pub const LATENCY_BOUNDS_MS: [i64; 9] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];
/// Number of histogram buckets (the bounds plus the overflow bucket).
pub const HISTOGRAM_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;
/// Days of minute buckets the sweeper keeps.
pub const DEFAULT_RETENTION_DAYS: u64 = 7;

/// A latency histogram: counts per bucket of [`LATENCY_BOUNDS_MS`].
pub type Histogram = [u64; HISTOGRAM_BUCKETS];

/// The minute bucket (Unix seconds at the start of the minute) of a time in Unix milliseconds.
pub fn minute_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000) * 60
}

/// The histogram bucket a latency falls in.
pub fn latency_bucket(latency_ms: i64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|bound| latency_ms <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// The `q` quantile (0 < q ≤ 1) of a histogram, as the upper bound of the bucket holding it
/// (the overflow bucket answers the last bound: "at least that"). `None` for an empty histogram.
pub fn percentile(histogram: &Histogram, q: f64) -> Option<i64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile among the sorted latencies, 1-based (nearest-rank method).
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0u64;
    for (index, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(LATENCY_BOUNDS_MS[index.min(LATENCY_BOUNDS_MS.len() - 1)]);
        }
    }
    LATENCY_BOUNDS_MS.last().copied()
}

/// Add one histogram into another.
pub fn add_histogram(into: &mut Histogram, from: &Histogram) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

/// One row of `metric_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventBucket {
    pub minute: i64,
    pub provider: &'static str,
    pub outcome: &'static str,
    /// The verification failure's code for `rejected`, else `""`.
    pub reason: &'static str,
    pub count: u64,
}

/// One row of `metric_steps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepBucket {
    pub minute: i64,
    pub destination: String,
    pub outcome: String,
    pub count: u64,
    pub histogram: Histogram,
}

/// What one flush writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flush {
    pub events: Vec<EventBucket>,
    pub steps: Vec<StepBucket>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.steps.is_empty()
    }
}

type EventKey = (i64, &'static str, &'static str, &'static str);
type StepKey = (i64, String, String);

/// Counts not yet written to D1.
#[derive(Debug, Default)]
pub struct MetricsTally {
    events: BTreeMap<EventKey, u64>,
    steps: BTreeMap<StepKey, (u64, Histogram)>,
    pending_since_ms: Option<i64>,
    last_flush_ms: Option<i64>,
    dropped: u64,
}

impl MetricsTally {
    pub const fn new() -> MetricsTally {
        MetricsTally {
            events: BTreeMap::new(),
            steps: BTreeMap::new(),
            pending_since_ms: None,
            last_flush_ms: None,
            dropped: 0,
        }
    }

    fn full(&self) -> bool {
        self.events.len() + self.steps.len() >= MAX_BUCKETS
    }

    /// Count `count` requests' events of `provider` ending in `outcome` (`reason` for rejections).
    pub fn count_event(
        &mut self,
        provider: &'static str,
        outcome: &'static str,
        reason: &'static str,
        count: u64,
        now_ms: i64,
    ) {
        self.add_event(
            (minute_of(now_ms), provider, outcome, reason),
            count,
            now_ms,
        );
    }

    fn add_event(&mut self, key: EventKey, count: u64, now_ms: i64) {
        if !self.events.contains_key(&key) && self.full() {
            self.dropped = self.dropped.saturating_add(count);
            return;
        }
        let n = self.events.entry(key).or_insert(0);
        *n = n.saturating_add(count);
        self.pending_since_ms.get_or_insert(now_ms);
    }

    /// Count one step outcome at `destination` that took `latency_ms`.
    pub fn count_step(&mut self, destination: &str, outcome: &str, latency_ms: i64, now_ms: i64) {
        let key = (
            minute_of(now_ms),
            destination.to_string(),
            outcome.to_string(),
        );
        if !self.steps.contains_key(&key) && self.full() {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let (count, histogram) = self.steps.entry(key).or_insert((0, [0; HISTOGRAM_BUCKETS]));
        *count = count.saturating_add(1);
        let bucket = &mut histogram[latency_bucket(latency_ms)];
        *bucket = bucket.saturating_add(1);
        self.pending_since_ms.get_or_insert(now_ms);
    }

    /// True when something is pending and neither it nor the last flush is younger than
    /// [`FLUSH_INTERVAL_MS`].
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let Some(since) = self.pending_since_ms else {
            return false;
        };
        let waited = |t: i64| now_ms.saturating_sub(t) >= FLUSH_INTERVAL_MS;
        waited(since) && self.last_flush_ms.is_none_or(waited)
    }

    /// Take every pending bucket for writing.
    pub fn take(&mut self, now_ms: i64) -> Flush {
        self.last_flush_ms = Some(now_ms);
        self.pending_since_ms = None;
        let events = std::mem::take(&mut self.events)
            .into_iter()
            .map(|((minute, provider, outcome, reason), count)| EventBucket {
                minute,
                provider,
                outcome,
                reason,
                count,
            })
            .collect();
        let steps = std::mem::take(&mut self.steps)
            .into_iter()
            .map(
                |((minute, destination, outcome), (count, histogram))| StepBucket {
                    minute,
                    destination,
                    outcome,
                    count,
                    histogram,
                },
            )
            .collect();
        Flush { events, steps }
    }

    /// Put back a flush whose write failed.
    pub fn restore(&mut self, flush: Flush, now_ms: i64) {
        for b in flush.events {
            self.add_event((b.minute, b.provider, b.outcome, b.reason), b.count, now_ms);
        }
        for b in flush.steps {
            let key = (b.minute, b.destination, b.outcome);
            if !self.steps.contains_key(&key) && self.full() {
                self.dropped = self.dropped.saturating_add(b.count);
                continue;
            }
            let (count, histogram) = self.steps.entry(key).or_insert((0, [0; HISTOGRAM_BUCKETS]));
            *count = count.saturating_add(b.count);
            add_histogram(histogram, &b.histogram);
            self.pending_since_ms.get_or_insert(now_ms);
        }
    }

    /// Counts not kept because the tally was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests;
