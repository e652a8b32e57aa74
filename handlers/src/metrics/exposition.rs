//! The Prometheus text exposition format (version 0.0.4) of metric families: each family's
//! `# HELP` and `# TYPE` lines, then its samples; a label value escaped as the format says
//! (`\` → `\\`, `"` → `\"`, newline → `\n`; the help text: `\` and newline); a histogram as its
//! cumulative `_bucket` lines in ascending `le` order ending with `le="+Inf"`, then `_sum` and
//! `_count` (equal to the `+Inf` bucket by construction). Every value is a whole number; a
//! histogram's bounds and sum are kept in milliseconds and written in seconds ([`seconds`]), by
//! integer arithmetic: no float formatting code in the wasm. Pure: what `GET /metrics` answers
//! is [`render`] of what `super::scrape` builds.

use std::fmt::Write;

/// What the answer's `Content-Type` says.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A sample's labels, in the order they are written.
pub type Labels = Vec<(&'static str, String)>;

/// One metric family: a name, its help line and its samples, all of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Samples,
}

/// A family's samples: counters and gauges carry a value, histograms their buckets.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, u64)>),
    Histogram(Vec<HistogramSample>),
}

/// One histogram's labels and observations (durations): `counts[i]` observations fell at or
/// below `bounds_ms[i]` and above the bound before it; `counts` has one more entry than
/// `bounds_ms`, the observations above the last bound.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub labels: Labels,
    /// Ascending upper bounds in milliseconds (written in seconds).
    pub bounds_ms: Vec<u64>,
    pub counts: Vec<u64>,
    /// The observations' sum in milliseconds (written in seconds).
    pub sum_ms: u64,
}

impl Samples {
    fn type_name(&self) -> &'static str {
        match self {
            Samples::Counter(_) => "counter",
            Samples::Gauge(_) => "gauge",
            Samples::Histogram(_) => "histogram",
        }
    }
}

/// The families as the text format, each family once, in the order given.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.samples.type_name());
        match &family.samples {
            Samples::Counter(samples) | Samples::Gauge(samples) => {
                for (labels, value) in samples {
                    sample_line(&mut out, family.name, "", labels, None, &value.to_string());
                }
            }
            Samples::Histogram(samples) => {
                for sample in samples {
                    histogram_lines(&mut out, family.name, sample);
                }
            }
        }
    }
    out
}

fn histogram_lines(out: &mut String, name: &str, sample: &HistogramSample) {
    let mut cumulative = 0u64;
    let finite = sample.bounds_ms.iter().map(|ms| seconds(*ms));
    let bounds = finite.chain(std::iter::once("+Inf".to_string()));
    for (le, count) in bounds.zip(&sample.counts) {
        cumulative = cumulative.saturating_add(*count);
        let le = Some(("le", le.as_str()));
        sample_line(
            out,
            name,
            "_bucket",
            &sample.labels,
            le,
            &cumulative.to_string(),
        );
    }
    let labels = &sample.labels;
    sample_line(out, name, "_sum", labels, None, &seconds(sample.sum_ms));
    sample_line(out, name, "_count", labels, None, &cumulative.to_string());
}

/// `name{a="x",le="0.5"} value`; no braces without labels.
fn sample_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &Labels,
    le: Option<(&str, &str)>,
    value: &str,
) {
    let pairs = labels.iter().map(|(k, v)| (*k, v.as_str())).chain(le);
    let written: Vec<String> = pairs
        .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
        .collect();
    let _ = match written.is_empty() {
        true => writeln!(out, "{name}{suffix} {value}"),
        false => writeln!(out, "{name}{suffix}{{{}}} {value}", written.join(",")),
    };
}

/// A label value as the format writes it between double quotes.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A help text as the format writes it (a double quote stays as it is).
pub fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Milliseconds as seconds the format reads: `50` → `0.05`, `30000` → `30`, `1234` → `1.234`.
pub fn seconds(ms: u64) -> String {
    let (whole, fraction) = (ms / 1000, ms % 1000);
    match fraction {
        0 => whole.to_string(),
        f => {
            let digits = format!("{f:03}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&'static str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn label_values_are_escaped_as_the_format_says() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("plain é"), "plain é", "anything else as it is");
        assert_eq!(
            escape_help("a \"quoted\" \\ help\nline"),
            "a \"quoted\" \\\\ help\\nline"
        );
    }

    #[test]
    fn counters_and_gauges_have_help_type_and_one_line_per_sample() {
        let families = [
            Family {
                name: "x_total",
                help: "Things.",
                samples: Samples::Counter(vec![
                    (labels(&[("provider", "stripe"), ("source", "a\"b")]), 3),
                    (Labels::new(), 0),
                ]),
            },
            Family {
                name: "x_bytes",
                help: "Size.",
                samples: Samples::Gauge(vec![(Labels::new(), 1024)]),
            },
        ];
        assert_eq!(
            render(&families),
            "# HELP x_total Things.\n# TYPE x_total counter\n\
             x_total{provider=\"stripe\",source=\"a\\\"b\"} 3\nx_total 0\n\
             # HELP x_bytes Size.\n# TYPE x_bytes gauge\nx_bytes 1024\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_in_bound_order_and_ends_with_inf_sum_and_count() {
        let family = Family {
            name: "lat_seconds",
            help: "Latency.",
            samples: Samples::Histogram(vec![HistogramSample {
                labels: labels(&[("destination", "hubspot")]),
                bounds_ms: vec![50, 100, 30_000],
                counts: vec![2, 0, 3, 1],
                sum_ms: 41_250,
            }]),
        };
        let text = render(&[family]);
        let expected = "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n\
            lat_seconds_bucket{destination=\"hubspot\",le=\"0.05\"} 2\n\
            lat_seconds_bucket{destination=\"hubspot\",le=\"0.1\"} 2\n\
            lat_seconds_bucket{destination=\"hubspot\",le=\"30\"} 5\n\
            lat_seconds_bucket{destination=\"hubspot\",le=\"+Inf\"} 6\n\
            lat_seconds_sum{destination=\"hubspot\"} 41.25\n\
            lat_seconds_count{destination=\"hubspot\"} 6\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn milliseconds_are_written_as_seconds() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(5), "0.005");
        assert_eq!(seconds(50), "0.05");
        assert_eq!(seconds(250), "0.25");
        assert_eq!(seconds(1_234), "1.234");
        assert_eq!(seconds(2_500), "2.5");
        assert_eq!(seconds(30_000), "30");
    }

    #[test]
    fn an_empty_family_still_says_what_it_is() {
        let family = Family {
            name: "none_total",
            help: "Nothing yet.",
            samples: Samples::Counter(Vec::new()),
        };
        assert_eq!(
            render(&[family]),
            "# HELP none_total Nothing yet.\n# TYPE none_total counter\n"
        );
    }
}
