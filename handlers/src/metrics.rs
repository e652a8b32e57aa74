//! Dashboard metrics counted in isolate memory, in minute buckets. Ingest counts each request's
//! outcome (per provider: `accepted`, `duplicate`, `unparsable`, `rejected` with its reason) and
//! the consumer each step's outcome per destination with its latency in a fixed histogram
//! ([`LATENCY_BOUNDS_MS`]), so that p50/p95 come from counts and no per-request row is ever
//! written. The [`MetricsTally`] is a [`Tally`] whose batch is a [`Flush`]: the shell writes it
//! to D1 (`metric_events`, `metric_steps`) when the tally says a flush is due, after a request's
//! answer or a queue batch, and from the cron sweeper, as it does the rejection tally; nothing is
//! added to a webhook's critical path. The tally is bounded ([`MAX_BUCKETS`]); further new
//! buckets are dropped and counted until the next flush.

pub mod dashboard;

use serde::Serialize;

use crate::tally::{Batch, Count, Tally};

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

/// A tally key: an event bucket (minute, provider, outcome, reason) or a step bucket (minute,
/// destination, outcome). Events and steps share the tally's bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricKey {
    Event(i64, &'static str, &'static str, &'static str),
    Step(i64, String, String),
}

/// A bucket's count and latency histogram (all zero for an event bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub count: u64,
    pub histogram: Histogram,
}

impl Count for Counts {
    fn add(&mut self, other: Counts) {
        self.count = self.count.saturating_add(other.count);
        add_histogram(&mut self.histogram, &other.histogram);
    }

    fn weight(&self) -> u64 {
        self.count
    }
}

impl Batch for Flush {
    type Key = MetricKey;
    type Value = Counts;
    const MAX_KEYS: usize = MAX_BUCKETS;

    fn from_counts(counts: Vec<(MetricKey, Counts)>) -> Flush {
        let mut flush = Flush::default();
        for (key, Counts { count, histogram }) in counts {
            match key {
                MetricKey::Event(minute, provider, outcome, reason) => {
                    flush.events.push(EventBucket {
                        minute,
                        provider,
                        outcome,
                        reason,
                        count,
                    })
                }
                MetricKey::Step(minute, destination, outcome) => flush.steps.push(StepBucket {
                    minute,
                    destination,
                    outcome,
                    count,
                    histogram,
                }),
            }
        }
        flush
    }

    fn into_counts(self) -> impl IntoIterator<Item = (MetricKey, Counts)> {
        let events = self.events.into_iter().map(|b| {
            let key = MetricKey::Event(b.minute, b.provider, b.outcome, b.reason);
            let histogram = [0; HISTOGRAM_BUCKETS];
            (
                key,
                Counts {
                    count: b.count,
                    histogram,
                },
            )
        });
        let steps = self.steps.into_iter().map(|b| {
            let key = MetricKey::Step(b.minute, b.destination, b.outcome);
            (
                key,
                Counts {
                    count: b.count,
                    histogram: b.histogram,
                },
            )
        });
        events.chain(steps)
    }
}

/// Metrics not yet written to D1: one flush writes a [`Flush`].
pub type MetricsTally = Tally<Flush>;

impl MetricsTally {
    /// Count `count` requests' events of `provider` ending in `outcome` (`reason` for rejections).
    pub fn count_event(
        &mut self,
        provider: &'static str,
        outcome: &'static str,
        reason: &'static str,
        count: u64,
        now_ms: i64,
    ) {
        let key = MetricKey::Event(minute_of(now_ms), provider, outcome, reason);
        let histogram = [0; HISTOGRAM_BUCKETS];
        self.add(key, Counts { count, histogram }, now_ms);
    }

    /// Count one step outcome at `destination` that took `latency_ms`.
    pub fn count_step(&mut self, destination: &str, outcome: &str, latency_ms: i64, now_ms: i64) {
        let key = MetricKey::Step(
            minute_of(now_ms),
            destination.to_string(),
            outcome.to_string(),
        );
        let mut histogram = [0; HISTOGRAM_BUCKETS];
        histogram[latency_bucket(latency_ms)] = 1;
        self.add(
            key,
            Counts {
                count: 1,
                histogram,
            },
            now_ms,
        );
    }
}

#[cfg(test)]
mod tests;
