//! What `GET /metrics` reports, built from the running totals and gauges the shell reads
//! (`super::sql`): the families, their names, help, labels and units. Counters come from totals
//! that only grow; the latency histograms are the totals' bucket counts over
//! [`super::INGEST_LATENCY_BOUNDS_MS`] (a webhook request) and [`super::LATENCY_BOUNDS_MS`] (a
//! step's run, its downstream call included), in seconds; the gauges are read at the scrape.
//! Every family is present even before anything was counted, so a dashboard's query finds it.

use super::exposition::{render, Family, HistogramSample, Labels, Samples};
use super::{Histogram, HISTOGRAM_BUCKETS, INGEST_LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS};

/// One `metric_request_totals` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestTotal {
    pub provider: String,
    pub source: String,
    pub outcome: String,
    pub status: u16,
    pub count: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub latency_sum_ms: u64,
    pub histogram: Histogram,
}

/// One `metric_rejection_totals` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RejectionTotal {
    pub provider: String,
    /// A registry source's name (provider `in`); `""` for a built-in provider or `admin`.
    pub source: String,
    pub reason: String,
    pub count: u64,
}

/// One `metric_step_totals` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepTotal {
    pub destination: String,
    pub outcome: String,
    pub count: u64,
    pub latency_sum_ms: u64,
    pub histogram: Histogram,
}

/// Steps of a destination in one status now (`status` empty: parked).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepGauge {
    pub destination: String,
    pub status: String,
    pub count: u64,
}

/// Everything one scrape read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scrape {
    pub requests: Vec<RequestTotal>,
    pub rejections: Vec<RejectionTotal>,
    pub steps: Vec<StepTotal>,
    /// Outstanding steps per destination and status.
    pub outstanding: Vec<StepGauge>,
    /// Parked steps per destination (`status` unused).
    pub parked: Vec<StepGauge>,
    /// The database's size as D1 last reported it, when it did.
    pub database_bytes: Option<u64>,
}

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

fn histogram(
    labels: Labels,
    bounds_ms: &[i64],
    counts: &Histogram,
    sum_ms: u64,
) -> HistogramSample {
    HistogramSample {
        labels,
        bounds_ms: bounds_ms
            .iter()
            .map(|ms| u64::try_from(*ms).unwrap_or(0))
            .collect(),
        counts: counts.to_vec(),
        sum_ms,
    }
}

/// A rejection total's labels: `provider` and `reason`, and `source` for a registry source's
/// (a built-in provider's series keep the labels they always had).
fn rejection_labels(r: &RejectionTotal) -> Labels {
    if r.source.is_empty() {
        labels([("provider", &r.provider), ("reason", &r.reason)])
    } else {
        labels([
            ("provider", &r.provider),
            ("source", &r.source),
            ("reason", &r.reason),
        ])
    }
}

/// Values summed per key (the keys in first-seen order, each once).
fn summed(values: impl Iterator<Item = (Labels, u64)>) -> Vec<(Labels, u64)> {
    let mut out: Vec<(Labels, u64)> = Vec::new();
    for (key, value) in values {
        match out.iter_mut().find(|(held, _)| *held == key) {
            Some((_, total)) => *total = total.saturating_add(value),
            None => out.push((key, value)),
        }
    }
    out
}

impl Scrape {
    /// The answer's body.
    pub fn render(&self) -> String {
        render(&self.families())
    }

    pub fn families(&self) -> Vec<Family> {
        let mut families = self.request_families();
        families.extend(self.step_families());
        if let Some(bytes) = self.database_bytes {
            families.push(Family {
                name: "edgehooks_d1_database_bytes",
                help: "The D1 database's size in bytes as D1 last reported it.",
                samples: Samples::Gauge(vec![(Labels::new(), bytes)]),
            });
        }
        families
    }

    fn request_families(&self) -> Vec<Family> {
        let request = |r: &RequestTotal| {
            let status = r.status.to_string();
            labels([
                ("provider", r.provider.as_str()),
                ("source", r.source.as_str()),
                ("outcome", r.outcome.as_str()),
                ("status", status.as_str()),
            ])
        };
        let per_source =
            |r: &RequestTotal| labels([("provider", &r.provider), ("source", &r.source)]);
        let requests = &self.requests;
        vec![
            Family {
                name: "edgehooks_webhook_requests_total",
                help: "Webhook requests answered, by provider, source, outcome and HTTP status.",
                samples: Samples::Counter(requests.iter().map(|r| (request(r), r.count)).collect()),
            },
            Family {
                name: "edgehooks_webhook_duration_seconds",
                help: "Time from a webhook request's arrival to its answer.",
                samples: Samples::Histogram(
                    requests
                        .iter()
                        .map(|r| {
                            let bounds = &INGEST_LATENCY_BOUNDS_MS;
                            histogram(request(r), bounds, &r.histogram, r.latency_sum_ms)
                        })
                        .collect(),
                ),
            },
            Family {
                name: "edgehooks_events_stored_total",
                help: "Events stored (new to D1), by provider and source.",
                samples: Samples::Counter(summed(
                    requests.iter().map(|r| (per_source(r), r.stored)),
                )),
            },
            Family {
                name: "edgehooks_events_duplicate_total",
                help: "Events delivered again that D1 already had, by provider and source.",
                samples: Samples::Counter(summed(
                    requests.iter().map(|r| (per_source(r), r.duplicates)),
                )),
            },
            Family {
                name: "edgehooks_rejections_total",
                help: "Requests refused for their signature or credential, by provider (admin: \
                       refused admin sign-ins), registry source and reason.",
                samples: Samples::Counter(
                    self.rejections
                        .iter()
                        .map(|r| (rejection_labels(r), r.count))
                        .collect(),
                ),
            },
        ]
    }

    fn step_families(&self) -> Vec<Family> {
        let step =
            |s: &StepTotal| labels([("destination", &s.destination), ("outcome", &s.outcome)]);
        let gauge = |g: &StepGauge| {
            let l = labels([("destination", &g.destination), ("status", &g.status)]);
            (l, g.count)
        };
        vec![
            Family {
                name: "edgehooks_step_outcomes_total",
                help:
                    "Step outcomes (succeeded, retry, dead, skipped, skipped_stale, deferred...) \
                       by destination.",
                samples: Samples::Counter(self.steps.iter().map(|s| (step(s), s.count)).collect()),
            },
            Family {
                name: "edgehooks_step_duration_seconds",
                help: "Time a step's run took, its downstream call included, by destination and \
                       outcome.",
                samples: Samples::Histogram(
                    self.steps
                        .iter()
                        .map(|s| {
                            histogram(step(s), &LATENCY_BOUNDS_MS, &s.histogram, s.latency_sum_ms)
                        })
                        .collect(),
                ),
            },
            Family {
                name: "edgehooks_steps",
                help: "Steps not finished now (pending, enqueued, running, dead), by destination \
                       and status.",
                samples: Samples::Gauge(self.outstanding.iter().map(gauge).collect()),
            },
            Family {
                name: "edgehooks_steps_parked",
                help: "Steps parked behind a paused destination now.",
                samples: Samples::Gauge(
                    self.parked
                        .iter()
                        .map(|g| (labels([("destination", &g.destination)]), g.count))
                        .collect(),
                ),
            },
        ]
    }
}

/// A histogram read back as a JSON array text (`json_array(h0, …)`); anything else is empty.
pub fn histogram_of(text: &str) -> Histogram {
    let values: Vec<u64> = serde_json::from_str(text).unwrap_or_default();
    let mut histogram = [0; HISTOGRAM_BUCKETS];
    for (slot, value) in histogram.iter_mut().zip(values) {
        *slot = value;
    }
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        outcome: &str,
        status: u16,
        count: u64,
        stored: u64,
        duplicates: u64,
    ) -> RequestTotal {
        let mut histogram = [0; HISTOGRAM_BUCKETS];
        histogram[2] = count;
        RequestTotal {
            provider: "stripe".into(),
            source: "default".into(),
            outcome: outcome.into(),
            status,
            count,
            stored,
            duplicates,
            latency_sum_ms: 20 * count,
            histogram,
        }
    }

    fn line_of<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn requests_give_counters_per_key_and_events_per_source() {
        let scrape = Scrape {
            requests: vec![
                request("accepted", 200, 3, 3, 0),
                request("duplicate", 200, 1, 0, 1),
                request("rejected", 401, 2, 0, 0),
            ],
            ..Scrape::default()
        };
        let text = scrape.render();
        let labels = "provider=\"stripe\",source=\"default\"";
        assert_eq!(
            line_of(&text, &format!("edgehooks_webhook_requests_total{{{labels},outcome=\"rejected\"")),
            Some(format!("edgehooks_webhook_requests_total{{{labels},outcome=\"rejected\",status=\"401\"}} 2").as_str())
        );
        assert_eq!(
            line_of(&text, "edgehooks_events_stored_total{"),
            Some(format!("edgehooks_events_stored_total{{{labels}}} 3").as_str()),
            "one line per provider and source"
        );
        assert_eq!(
            line_of(&text, "edgehooks_events_duplicate_total{"),
            Some(format!("edgehooks_events_duplicate_total{{{labels}}} 1").as_str())
        );
        let accepted = format!("{labels},outcome=\"accepted\",status=\"200\"");
        assert!(
            text.contains(&format!(
                "edgehooks_webhook_duration_seconds_bucket{{{accepted},le=\"0.025\"}} 3\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "edgehooks_webhook_duration_seconds_bucket{{{accepted},le=\"0.01\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "edgehooks_webhook_duration_seconds_sum{{{accepted}}} 0.06\n"
        )));
        assert!(text.contains(&format!(
            "edgehooks_webhook_duration_seconds_count{{{accepted}}} 3\n"
        )));
    }

    #[test]
    fn a_registry_sources_rejections_carry_its_source_and_a_providers_keep_their_labels() {
        let rejection = |provider: &str, source: &str, count| RejectionTotal {
            provider: provider.into(),
            source: source.into(),
            reason: "signature_mismatch".into(),
            count,
        };
        let scrape = Scrape {
            rejections: vec![
                rejection("stripe", "", 2),
                rejection("in", "github-main", 3),
            ],
            ..Scrape::default()
        };
        let text = scrape.render();
        assert!(
            text.contains(
                "edgehooks_rejections_total{provider=\"stripe\",reason=\"signature_mismatch\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("edgehooks_rejections_total{provider=\"in\",source=\"github-main\",reason=\"signature_mismatch\"} 3\n"),
            "{text}"
        );
    }

    #[test]
    fn every_family_is_there_before_anything_was_counted() {
        let text = Scrape::default().render();
        for name in [
            "edgehooks_webhook_requests_total counter",
            "edgehooks_webhook_duration_seconds histogram",
            "edgehooks_events_stored_total counter",
            "edgehooks_events_duplicate_total counter",
            "edgehooks_rejections_total counter",
            "edgehooks_step_outcomes_total counter",
            "edgehooks_step_duration_seconds histogram",
            "edgehooks_steps gauge",
            "edgehooks_steps_parked gauge",
        ] {
            assert!(text.contains(&format!("# TYPE {name}\n")), "{name}");
        }
        assert!(
            !text.contains("edgehooks_d1_database_bytes"),
            "unknown size: no gauge"
        );
    }

    #[test]
    fn steps_give_outcomes_latency_in_seconds_and_gauges() {
        let mut histogram = [0; HISTOGRAM_BUCKETS];
        histogram[0] = 1;
        histogram[9] = 1;
        let scrape = Scrape {
            steps: vec![StepTotal {
                destination: "hubspot".into(),
                outcome: "dead".into(),
                count: 2,
                latency_sum_ms: 31_010,
                histogram,
            }],
            outstanding: vec![StepGauge {
                destination: "hubspot".into(),
                status: "dead".into(),
                count: 2,
            }],
            parked: vec![StepGauge {
                destination: "crm".into(),
                status: String::new(),
                count: 4,
            }],
            database_bytes: Some(4096),
            ..Scrape::default()
        };
        let text = scrape.render();
        let l = "destination=\"hubspot\",outcome=\"dead\"";
        assert!(text.contains(&format!("edgehooks_step_outcomes_total{{{l}}} 2\n")));
        assert!(text.contains(&format!(
            "edgehooks_step_duration_seconds_bucket{{{l},le=\"0.05\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "edgehooks_step_duration_seconds_bucket{{{l},le=\"30\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "edgehooks_step_duration_seconds_bucket{{{l},le=\"+Inf\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "edgehooks_step_duration_seconds_sum{{{l}}} 31.01\n"
        )));
        assert!(text.contains("edgehooks_steps{destination=\"hubspot\",status=\"dead\"} 2\n"));
        assert!(text.contains("edgehooks_steps_parked{destination=\"crm\"} 4\n"));
        assert!(text.contains("edgehooks_d1_database_bytes 4096\n"));
    }

    #[test]
    fn a_histogram_column_text_is_read_leniently() {
        assert_eq!(histogram_of("[1,2,3,4,5,6,7,8,9,10]")[9], 10);
        assert_eq!(histogram_of("not json"), [0; HISTOGRAM_BUCKETS]);
        assert_eq!(histogram_of("[1]")[0], 1);
    }
}
