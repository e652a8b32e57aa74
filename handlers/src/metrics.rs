//! Dashboard metrics counted in isolate memory, in minute buckets. Ingest counts each request's
//! outcome (per provider, and per registry source for provider `in` ([`counted_source`]):
//! `accepted`, `duplicate`, `unparsable`, `rejected` with its reason) and
//! the consumer each step's outcome per destination with its latency in a fixed histogram
//! ([`LATENCY_BOUNDS_MS`]), so that p50/p95 come from counts and no per-request row is ever
//! written. The [`MetricsTally`] is a [`Tally`] whose batch is a [`Flush`]: the shell writes it
//! to D1 (`metric_events`, `metric_steps`) when the tally says a flush is due, after a request's
//! answer or a queue batch, and from the cron sweeper, as it does the rejection tally; nothing is
//! added to a webhook's critical path. The tally is bounded ([`MAX_BUCKETS`]); further new
//! buckets are dropped and counted until the next flush. Ingest also counts each request's
//! answer (provider, source, outcome, status) with its latency ([`INGEST_LATENCY_BOUNDS_MS`]) as
//! a running total without a minute; each flush adds everything to `/metrics`' running totals as
//! well ([`sql`]), which [`scrape`] reports in the text format of [`exposition`]; [`analytics`]
//! lays out the Workers Analytics Engine data points.

pub mod analytics;
pub mod dashboard;
pub mod exposition;
pub mod scrape;
pub mod sql;

use serde::Serialize;

use crate::inbound::webhook::Provider;
use crate::tally::{Batch, Count, Tally};

/// Most buckets (events and steps together) held between flushes.
pub const MAX_BUCKETS: usize = 1024;
/// Upper bounds (ms, inclusive) of the latency histogram's buckets; one more bucket holds the
/// rest (slower than the last bound).
pub const LATENCY_BOUNDS_MS: [i64; 9] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];
/// Upper bounds (ms, inclusive) of the ingest latency histogram's buckets (a webhook request
/// from arrival to its answer), finer than a downstream call's; the same number of buckets.
pub const INGEST_LATENCY_BOUNDS_MS: [i64; 9] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500];
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
    bucket_in(&LATENCY_BOUNDS_MS, latency_ms)
}

/// The bucket of histogram `bounds` a latency falls in (past the last bound: the overflow one).
pub fn bucket_in(bounds: &[i64; HISTOGRAM_BUCKETS - 1], latency_ms: i64) -> usize {
    bounds
        .iter()
        .position(|bound| latency_ms <= *bound)
        .unwrap_or(bounds.len())
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
    /// A registry source's name for provider `in`, else `""` (see [`counted_source`]).
    pub source: String,
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
    /// The latencies' sum (ms): a Prometheus histogram's `_sum`.
    pub latency_sum_ms: u64,
}

/// One webhook request's answer as `/metrics` counts it (no minute: requests are kept only as
/// running totals, `metric_request_totals`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestKey {
    pub provider: &'static str,
    /// The source's name (`default` on `/webhooks/{provider}`; see [`source_label`]).
    pub source: String,
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
}

/// A request key's counts in one flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestBucket {
    pub provider: &'static str,
    pub source: String,
    pub outcome: &'static str,
    pub status: u16,
    pub count: u64,
    /// Events these requests stored (new to D1).
    pub stored: u64,
    /// Events these requests carried that D1 already had.
    pub duplicates: u64,
    pub latency_sum_ms: u64,
    /// Over [`INGEST_LATENCY_BOUNDS_MS`].
    pub histogram: Histogram,
}

/// The source label of a request to `/webhooks/{provider}[/{source}]` or `/webhooks/in/{name}`:
/// `default` without a name; the name once the request got past the source's lookup; `unknown`
/// for a name that named no source (`found` false), so a caller cannot mint label values.
pub fn source_label(source: Option<&str>, found: bool) -> String {
    match (source, found) {
        (None, _) => "default".to_string(),
        (Some(name), true) => name.to_string(),
        (Some(_), false) => crate::inbound::sources::UNKNOWN_SOURCE.to_string(),
    }
}

/// The source a minute bucket or a verification failure is counted under: for provider `in`
/// (the registry), the request's source label (the source's name, or `unknown`: see
/// [`source_label`]), so that each registry source is its own subject on the dashboard and in
/// the alerts; `""` for a built-in provider, whose buckets stay one per provider whatever the
/// path (its named sources are not split, so its buckets are as many as before).
pub fn counted_source(provider: Provider, label: &str) -> String {
    match provider {
        Provider::Registry => label.to_string(),
        _ => String::new(),
    }
}

/// What a bucket counts, as the dashboard and the alerts name it: its provider's slug, or
/// `in:<source>` for a registry source's (the notation connections use for it).
pub fn subject(provider: &str, source: &str) -> String {
    if source.is_empty() {
        provider.to_string()
    } else {
        format!("{provider}:{source}")
    }
}

/// What one flush writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flush {
    pub events: Vec<EventBucket>,
    pub steps: Vec<StepBucket>,
    pub requests: Vec<RequestBucket>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.steps.is_empty() && self.requests.is_empty()
    }
}

/// An event bucket's key: its minute, provider, source ([`counted_source`]), outcome and reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    pub minute: i64,
    pub provider: &'static str,
    pub source: String,
    pub outcome: &'static str,
    pub reason: &'static str,
}

/// A tally key: an event bucket, a step bucket (minute, destination, outcome) or a request's
/// running total. All share the tally's bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricKey {
    Event(EventKey),
    Step(i64, String, String),
    Request(RequestKey),
}

/// A bucket's count, latency histogram and the latencies' sum (zero for an event bucket), and a
/// request's events stored and duplicate (zero but for a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub count: u64,
    pub histogram: Histogram,
    pub latency_sum_ms: u64,
    pub stored: u64,
    pub duplicates: u64,
}

impl Counts {
    /// One thing counted that took `latency_ms`, in the histogram of `bounds`.
    fn one(bounds: &[i64; HISTOGRAM_BUCKETS - 1], latency_ms: i64) -> Counts {
        let mut histogram = [0; HISTOGRAM_BUCKETS];
        histogram[bucket_in(bounds, latency_ms)] = 1;
        Counts {
            count: 1,
            histogram,
            latency_sum_ms: u64::try_from(latency_ms).unwrap_or(0),
            ..Counts::default()
        }
    }
}

impl Count for Counts {
    fn add(&mut self, other: Counts) {
        self.count = self.count.saturating_add(other.count);
        add_histogram(&mut self.histogram, &other.histogram);
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(other.latency_sum_ms);
        self.stored = self.stored.saturating_add(other.stored);
        self.duplicates = self.duplicates.saturating_add(other.duplicates);
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
        for (key, counts) in counts {
            let Counts {
                count, histogram, ..
            } = counts;
            match key {
                MetricKey::Event(key) => flush.events.push(EventBucket {
                    minute: key.minute,
                    provider: key.provider,
                    source: key.source,
                    outcome: key.outcome,
                    reason: key.reason,
                    count,
                }),
                MetricKey::Step(minute, destination, outcome) => flush.steps.push(StepBucket {
                    minute,
                    destination,
                    outcome,
                    count,
                    histogram,
                    latency_sum_ms: counts.latency_sum_ms,
                }),
                MetricKey::Request(key) => flush.requests.push(RequestBucket {
                    provider: key.provider,
                    source: key.source,
                    outcome: key.outcome,
                    status: key.status,
                    count,
                    stored: counts.stored,
                    duplicates: counts.duplicates,
                    latency_sum_ms: counts.latency_sum_ms,
                    histogram,
                }),
            }
        }
        flush
    }

    fn into_counts(self) -> impl IntoIterator<Item = (MetricKey, Counts)> {
        let events = self.events.into_iter().map(|b| {
            let key = MetricKey::Event(EventKey {
                minute: b.minute,
                provider: b.provider,
                source: b.source,
                outcome: b.outcome,
                reason: b.reason,
            });
            let counts = Counts {
                count: b.count,
                ..Counts::default()
            };
            (key, counts)
        });
        let steps = self.steps.into_iter().map(|b| {
            let key = MetricKey::Step(b.minute, b.destination, b.outcome);
            let counts = Counts {
                count: b.count,
                histogram: b.histogram,
                latency_sum_ms: b.latency_sum_ms,
                ..Counts::default()
            };
            (key, counts)
        });
        let requests = self.requests.into_iter().map(|b| {
            let counts = Counts {
                count: b.count,
                histogram: b.histogram,
                latency_sum_ms: b.latency_sum_ms,
                stored: b.stored,
                duplicates: b.duplicates,
            };
            let key = RequestKey {
                provider: b.provider,
                source: b.source,
                outcome: b.outcome,
                status: b.status,
            };
            (MetricKey::Request(key), counts)
        });
        events.chain(steps).chain(requests)
    }
}

/// Metrics not yet written to D1: one flush writes a [`Flush`].
pub type MetricsTally = Tally<Flush>;

impl MetricsTally {
    /// Count `count` requests' events of `provider` (and `source`: [`counted_source`]) ending in
    /// `outcome` (`reason` for rejections).
    pub fn count_event(
        &mut self,
        [provider, outcome, reason]: [&'static str; 3],
        source: &str,
        count: u64,
        now_ms: i64,
    ) {
        let key = MetricKey::Event(EventKey {
            minute: minute_of(now_ms),
            provider,
            source: source.to_string(),
            outcome,
            reason,
        });
        let counts = Counts {
            count,
            ..Counts::default()
        };
        self.add(key, counts, now_ms);
    }

    /// Count one webhook request answered as `key` after `latency_ms`, which stored `stored`
    /// events and found `duplicates` already stored.
    pub fn count_request(
        &mut self,
        key: RequestKey,
        [stored, duplicates]: [u64; 2],
        latency_ms: i64,
        now_ms: i64,
    ) {
        let counts = Counts {
            stored,
            duplicates,
            ..Counts::one(&INGEST_LATENCY_BOUNDS_MS, latency_ms)
        };
        self.add(MetricKey::Request(key), counts, now_ms);
    }

    /// Count one step outcome at `destination` that took `latency_ms`.
    pub fn count_step(&mut self, destination: &str, outcome: &str, latency_ms: i64, now_ms: i64) {
        let key = MetricKey::Step(
            minute_of(now_ms),
            destination.to_string(),
            outcome.to_string(),
        );
        self.add(key, Counts::one(&LATENCY_BOUNDS_MS, latency_ms), now_ms);
    }
}

#[cfg(test)]
mod tests;
