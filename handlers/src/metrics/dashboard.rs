//! The dashboard's numbers from minute buckets: the window an admin asks for (`1h` or `24h`),
//! series per provider and outcome (a registry source's buckets count under provider `in` and,
//! by name, under `sources` too), signature failures per provider (registry: per source) and
//! reason, and per
//! destination its step outcomes with p50/p95 latency from the summed histograms. Points are
//! sparse `[minute, count]` pairs (Unix seconds at the minute's start); minutes without
//! traffic are absent.

use serde::Serialize;

use super::{add_histogram, percentile, Histogram, HISTOGRAM_BUCKETS};
use crate::by_name::ByName;

/// The windows the endpoint serves, in minutes.
pub fn window_minutes(window: &str) -> Option<i64> {
    match window {
        "1h" => Some(60),
        "24h" => Some(24 * 60),
        _ => None,
    }
}

/// One event bucket as read back.
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    pub minute: i64,
    pub provider: &'a str,
    /// A registry source's name (provider `in`), else `""`.
    pub source: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub count: u64,
}

/// One step bucket as read back.
#[derive(Debug, Clone)]
pub struct StepRow<'a> {
    pub minute: i64,
    pub destination: &'a str,
    pub outcome: &'a str,
    pub count: u64,
    pub histogram: Histogram,
}

/// A series over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Series {
    pub total: u64,
    pub points: Vec<(i64, u64)>,
}

impl Series {
    fn add(&mut self, minute: i64, count: u64) {
        self.total = self.total.saturating_add(count);
        match self.points.last_mut() {
            Some((m, n)) if *m == minute => *n = n.saturating_add(count),
            _ => self.points.push((minute, count)),
        }
    }
}

/// One destination's steps over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DestinationSteps {
    /// Outcome → series.
    pub outcomes: ByName<Series>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// Per minute p95 (ms) of the minutes with calls.
    pub p95_points: Vec<(i64, i64)>,
    #[serde(skip)]
    histogram: Histogram,
    /// Per minute histograms while building, in minute order (then `p95_points`).
    #[serde(skip)]
    minutes: Vec<(i64, Histogram)>,
}

impl DestinationSteps {
    /// The histogram of `minute`'s calls, added in minute order if it is new. A sorted `Vec`
    /// rather than a map keyed by destination and minute: one map type fewer in the wasm.
    fn minute_histogram(&mut self, minute: i64) -> &mut Histogram {
        let at = match self.minutes.binary_search_by_key(&minute, |(m, _)| *m) {
            Ok(at) => at,
            Err(at) => {
                self.minutes.insert(at, (minute, [0; HISTOGRAM_BUCKETS]));
                at
            }
        };
        &mut self.minutes[at].1
    }
}

/// The dashboard body's metric part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    /// provider → outcome → series (rejections all under `rejected`).
    pub events: ByName<ByName<Series>>,
    /// Registry source name → outcome → series: provider `in`'s events, source by source.
    pub sources: ByName<ByName<Series>>,
    /// `provider:reason` (a registry source: `in:<source>:<reason>`) → series.
    pub signature_failures: ByName<Series>,
    pub steps: ByName<DestinationSteps>,
    /// Steps that ended `dead`, all destinations.
    pub dead: Series,
}

/// Build the dashboard from rows sorted by minute.
pub fn build(events: &[EventRow], steps: &[StepRow]) -> Dashboard {
    let mut d = Dashboard::default();
    for row in events {
        d.events
            .entry(row.provider)
            .entry(row.outcome)
            .add(row.minute, row.count);
        if !row.source.is_empty() {
            d.sources
                .entry(row.source)
                .entry(row.outcome)
                .add(row.minute, row.count);
        }
        if row.outcome == "rejected" {
            let subject = super::subject(row.provider, row.source);
            d.signature_failures
                .entry(&format!("{subject}:{}", row.reason))
                .add(row.minute, row.count);
        }
    }
    for row in steps {
        let dest = d.steps.entry(row.destination);
        dest.outcomes.entry(row.outcome).add(row.minute, row.count);
        add_histogram(&mut dest.histogram, &row.histogram);
        add_histogram(dest.minute_histogram(row.minute), &row.histogram);
        if row.outcome == "dead" {
            d.dead.add(row.minute, row.count);
        }
    }
    for dest in d.steps.values_mut() {
        dest.p95_points = std::mem::take(&mut dest.minutes)
            .into_iter()
            .filter_map(|(minute, histogram)| Some((minute, percentile(&histogram, 0.95)?)))
            .collect();
        dest.p50_ms = percentile(&dest.histogram, 0.5);
        dest.p95_ms = percentile(&dest.histogram, 0.95);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_one_hour_or_a_day() {
        assert_eq!(window_minutes("1h"), Some(60));
        assert_eq!(window_minutes("24h"), Some(1440));
        assert_eq!(window_minutes("7d"), None);
    }

    #[test]
    fn series_and_percentiles_from_buckets() {
        let events = [
            EventRow {
                minute: 60,
                provider: "stripe",
                source: "",
                outcome: "accepted",
                reason: "",
                count: 2,
            },
            EventRow {
                minute: 60,
                provider: "stripe",
                source: "",
                outcome: "rejected",
                reason: "signature_mismatch",
                count: 1,
            },
            EventRow {
                minute: 60,
                provider: "stripe",
                source: "",
                outcome: "rejected",
                reason: "timestamp_out_of_tolerance",
                count: 1,
            },
            EventRow {
                minute: 120,
                provider: "stripe",
                source: "",
                outcome: "accepted",
                reason: "",
                count: 3,
            },
        ];
        let mut fast = [0; HISTOGRAM_BUCKETS];
        fast[0] = 9;
        let mut slow = [0; HISTOGRAM_BUCKETS];
        slow[6] = 1;
        let steps = [
            StepRow {
                minute: 60,
                destination: "hubspot",
                outcome: "succeeded",
                count: 9,
                histogram: fast,
            },
            StepRow {
                minute: 120,
                destination: "hubspot",
                outcome: "dead",
                count: 1,
                histogram: slow,
            },
        ];
        let d = build(&events, &steps);
        let accepted = &d.events["stripe"]["accepted"];
        assert_eq!(
            (accepted.total, accepted.points.clone()),
            (5, vec![(60, 2), (120, 3)])
        );
        assert_eq!(d.events["stripe"]["rejected"].points, vec![(60, 2)]);
        assert_eq!(d.signature_failures["stripe:signature_mismatch"].total, 1);
        let hubspot = &d.steps["hubspot"];
        assert_eq!((hubspot.p50_ms, hubspot.p95_ms), (Some(50), Some(5_000)));
        assert_eq!(hubspot.p95_points, vec![(60, 50), (120, 5_000)]);
        assert_eq!(d.dead.points, vec![(120, 1)]);
        assert!(
            d.sources.is_empty(),
            "built-in providers are no registry source"
        );
    }

    #[test]
    fn registry_sources_are_shown_by_name_and_their_failures_name_them() {
        let row = |source, outcome, reason, count| EventRow {
            minute: 60,
            provider: "in",
            source,
            outcome,
            reason,
            count,
        };
        let events = [
            row("github-main", "accepted", "", 2),
            row("github-main", "rejected", "signature_mismatch", 1),
            row("linear", "accepted", "", 5),
        ];
        let d = build(&events, &[]);
        assert_eq!(
            d.events["in"]["accepted"].total, 7,
            "provider in as a whole"
        );
        assert_eq!(d.sources["github-main"]["accepted"].total, 2);
        assert_eq!(d.sources["linear"]["accepted"].total, 5);
        assert_eq!(
            d.signature_failures["in:github-main:signature_mismatch"].total,
            1
        );
        assert_eq!(d.signature_failures.len(), 1);
    }
}
