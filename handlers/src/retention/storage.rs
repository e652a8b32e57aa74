//! How close the database is to D1's size limit. D1 refuses writes once a database reaches its
//! plan's maximum (10 GB on Workers Paid, 500 MB on Free), and ingest then answers 503 to every
//! delivery; the size comes from D1 itself (every query's `meta.size_after`, the database's size
//! in bytes) and the limit from `STORAGE_LIMIT_BYTES` (default [`DEFAULT_LIMIT_BYTES`]). The
//! `storage_high` alert fires at [`ALERT_AT_PERCENT`] of the limit and clears below
//! [`CLEAR_BELOW_PERCENT`], so a database hovering at the threshold does not flap. The admin
//! API's report adds how many events (and tombstones) the database holds and what a stored
//! event costs on average.

use serde_json::{json, Value};

/// D1's maximum database size on Workers Paid, counted in decimal gigabytes (the smaller
/// reading of "10 GB").
pub const DEFAULT_LIMIT_BYTES: u64 = 10_000_000_000;
/// The alert fires when the database reaches this share of the limit.
pub const ALERT_AT_PERCENT: u64 = 80;
/// An open alert clears once the database is back under this share.
pub const CLEAR_BELOW_PERCENT: u64 = 75;

/// The database's size against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUse {
    pub bytes_used: u64,
    /// `STORAGE_LIMIT_BYTES`; 0 turns the alert off.
    pub limit_bytes: u64,
}

impl StorageUse {
    /// The share of the limit used, in whole percent rounded down; `None` without a limit.
    /// (Integers only: a float printed or serialized would link float formatting into the wasm.)
    pub fn percent(&self) -> Option<u64> {
        let percent =
            (u128::from(self.bytes_used) * 100).checked_div(u128::from(self.limit_bytes))?;
        Some(u64::try_from(percent).unwrap_or(u64::MAX))
    }

    /// Whether at least `percent` of the limit is used (exact, in integers); never without a
    /// limit.
    pub fn reaches(&self, percent: u64) -> bool {
        self.limit_bytes > 0
            && u128::from(self.bytes_used) * 100
                >= u128::from(self.limit_bytes) * u128::from(percent)
    }
}

/// The admin API's storage report (`GET /admin/api/storage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageReport {
    /// `None` when D1 did not say (an answer without `meta.size_after`).
    pub bytes_used: Option<u64>,
    pub limit_bytes: u64,
    pub events: u64,
    pub tombstones: u64,
}

impl StorageReport {
    /// `{bytes_used, limit_bytes, percent, events, bytes_per_event, tombstones, alert_at_percent}`;
    /// `percent` (whole, rounded down) and `bytes_per_event` are `null` when they cannot be
    /// computed.
    pub fn to_json(&self) -> Value {
        let usage = self.bytes_used.map(|bytes_used| StorageUse {
            bytes_used,
            limit_bytes: self.limit_bytes,
        });
        let per_event = match (self.bytes_used, self.events) {
            (Some(bytes), events) if events > 0 => Some(bytes / events),
            _ => None,
        };
        json!({
            "bytes_used": self.bytes_used,
            "limit_bytes": self.limit_bytes,
            "percent": usage.and_then(|u| u.percent()),
            "events": self.events,
            "bytes_per_event": per_event,
            "tombstones": self.tombstones,
            "alert_at_percent": ALERT_AT_PERCENT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_threshold_are_exact() {
        let at = |bytes_used| StorageUse {
            bytes_used,
            limit_bytes: DEFAULT_LIMIT_BYTES,
        };
        assert_eq!(at(8_000_000_000).percent(), Some(80));
        assert!(at(8_000_000_000).reaches(ALERT_AT_PERCENT));
        assert!(!at(7_999_999_999).reaches(ALERT_AT_PERCENT));
        assert_eq!(at(7_999_999_999).percent(), Some(79));
        assert_eq!(at(1_234_567_890).percent(), Some(12));
        assert_eq!(at(u64::MAX).percent(), Some(184_467_440_737));
        let off = StorageUse {
            bytes_used: 10,
            limit_bytes: 0,
        };
        assert_eq!(off.percent(), None);
        assert!(!off.reaches(0));
    }

    #[test]
    fn the_report_divides_what_it_can() {
        let report = StorageReport {
            bytes_used: Some(9_000_000),
            limit_bytes: 10_000_000,
            events: 3_000,
            tombstones: 12,
        };
        assert_eq!(
            report.to_json(),
            json!({ "bytes_used": 9_000_000, "limit_bytes": 10_000_000, "percent": 90,
                    "events": 3_000, "bytes_per_event": 3_000, "tombstones": 12,
                    "alert_at_percent": 80 })
        );
        let unknown = StorageReport {
            bytes_used: None,
            events: 0,
            ..report
        };
        let json = unknown.to_json();
        assert_eq!(json["percent"], Value::Null);
        assert_eq!(json["bytes_per_event"], Value::Null);
    }
}
