//! The data points written to Workers Analytics Engine where the optional `METRICS` binding is
//! configured: one per webhook request and one per step outcome, in one layout so a single SQL
//! query reads both. `index1` is `webhook:<provider>` or `step:<destination>` (Analytics Engine
//! samples per index, so each provider's and destination's points are kept in proportion);
//! blobs: `blob1` kind (`webhook` | `step`), `blob2` provider, `blob3` source, `blob4`
//! destination, `blob5` outcome, `blob6` the HTTP status (`""` when none); doubles: `double1`
//! latency in ms, `double2` count (1), `double3` events stored, `double4` duplicates. Pure: the
//! shell (`src/analytics.rs`) hands the point to the binding.

/// One Analytics Engine data point.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub index: String,
    pub blobs: [String; 6],
    pub doubles: [f64; 4],
}

/// A webhook request's point.
pub struct RequestPoint<'a> {
    pub provider: &'a str,
    pub source: &'a str,
    pub outcome: &'a str,
    pub status: u16,
    pub latency_ms: i64,
    pub stored: u64,
    pub duplicates: u64,
}

impl RequestPoint<'_> {
    pub fn point(&self) -> DataPoint {
        DataPoint {
            index: format!("webhook:{}", self.provider),
            blobs: [
                "webhook".into(),
                self.provider.into(),
                self.source.into(),
                String::new(),
                self.outcome.into(),
                self.status.to_string(),
            ],
            doubles: [
                self.latency_ms as f64,
                1.0,
                self.stored as f64,
                self.duplicates as f64,
            ],
        }
    }
}

/// A step outcome's point (`provider`: its event's, when known).
pub fn step_point(
    provider: Option<&str>,
    destination: &str,
    outcome: &str,
    status: Option<u16>,
    latency_ms: i64,
) -> DataPoint {
    DataPoint {
        index: format!("step:{destination}"),
        blobs: [
            "step".into(),
            provider.unwrap_or_default().into(),
            String::new(),
            destination.into(),
            outcome.into(),
            status.map(|s| s.to_string()).unwrap_or_default(),
        ],
        doubles: [latency_ms as f64, 1.0, 0.0, 0.0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_point_has_its_labels_in_fixed_blobs_and_its_numbers_in_doubles() {
        let point = RequestPoint {
            provider: "stripe",
            source: "default",
            outcome: "accepted",
            status: 200,
            latency_ms: 42,
            stored: 3,
            duplicates: 1,
        }
        .point();
        assert_eq!(point.index, "webhook:stripe");
        assert_eq!(
            point.blobs,
            ["webhook", "stripe", "default", "", "accepted", "200"].map(String::from)
        );
        assert_eq!(point.doubles, [42.0, 1.0, 3.0, 1.0]);
    }

    #[test]
    fn a_step_point_shares_the_layout() {
        let point = step_point(Some("stripe"), "hubspot", "dead", Some(500), 1_200);
        assert_eq!(point.index, "step:hubspot");
        assert_eq!(
            point.blobs,
            ["step", "stripe", "", "hubspot", "dead", "500"].map(String::from)
        );
        assert_eq!(point.doubles, [1_200.0, 1.0, 0.0, 0.0]);
        let unknown = step_point(None, "sendgrid", "skipped", None, 0);
        assert_eq!(unknown.blobs[1], "");
        assert_eq!(unknown.blobs[5], "");
    }
}
