//! Operational alerts, decided purely: which conditions hold now ([`rules`]: signature failures
//! over a threshold in five minutes, a provider or registry source silent past its quiet period
//! (each registry source is its own subject, `in:<source>`), dead steps, an open
//! circuit, a backfill that recovered events, the database near its size limit), how they change
//! the stored alerts ([`state`]: one open alert per kind and key, fired and cleared), and when a
//! notice about them may be sent and what it says ([`notify`]: at most one per alert per
//! `ALERT_RENOTIFY_MINUTES`, a global cap per hour, failed sends retried with backoff), each
//! channel (Slack, an `http` destination: [`channel`]) on its own, and the JSON body an `http`
//! destination receives ([`body`]). The shell (the cron's `alerts` module) reads metrics and tables
//! into [`Observations`], applies the changes and sends notices.

pub mod body;
pub mod channel;
pub mod notify;
pub mod rules;
pub mod settings;
pub mod sql;
pub mod state;

#[cfg(test)]
mod channel_sql_tests;
#[cfg(test)]
mod channel_tests;
#[cfg(test)]
mod tests;

use crate::by_name::ByName;
use crate::retention::storage::StorageUse;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertKind {
    SignatureFailures,
    ProviderSilent,
    DeadSteps,
    CircuitOpen,
    BackfillRecovered,
    StorageHigh,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::SignatureFailures,
        AlertKind::ProviderSilent,
        AlertKind::DeadSteps,
        AlertKind::CircuitOpen,
        AlertKind::BackfillRecovered,
        AlertKind::StorageHigh,
    ];

    /// The name stored in `alerts.kind`.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::SignatureFailures => "signature_failures",
            AlertKind::ProviderSilent => "provider_silent",
            AlertKind::DeadSteps => "dead_steps",
            AlertKind::CircuitOpen => "circuit_open",
            AlertKind::BackfillRecovered => "backfill_recovered",
            AlertKind::StorageHigh => "storage_high",
        }
    }

    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The window signature failures are counted over.
pub const SIGNATURE_WINDOW_MS: i64 = 5 * 60_000;
/// How long after a backfill run its "recovered events" alert stays open.
pub const BACKFILL_WINDOW_MS: i64 = 60 * 60_000;
/// Dead steps older than this no longer hold their alert open.
pub const DEAD_WINDOW_MS: i64 = 24 * 3_600_000;

/// Alert settings (from `ALERT_*`, see `crate::settings::table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// Signature failures of one provider and reason in [`SIGNATURE_WINDOW_MS`] that fire.
    pub signature_threshold: u64,
    /// Quiet period (minutes) per subject: a provider slug, or `in:<source>` for one registry
    /// source; a subject not listed is never "silent".
    pub quiet_minutes: ByName<u64>,
    /// At most one notice per alert per this many minutes.
    pub renotify_minutes: u64,
    /// At most this many notices in any hour, all alerts together.
    pub max_per_hour: u64,
    /// `STORAGE_LIMIT_BYTES`: what the storage alert measures the database against.
    pub storage_limit_bytes: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            signature_threshold: 5,
            quiet_minutes: ByName::new(),
            renotify_minutes: 30,
            max_per_hour: 20,
            storage_limit_bytes: crate::retention::storage::DEFAULT_LIMIT_BYTES,
        }
    }
}

impl AlertSettings {
    /// The least time between two notices of one kind and key on a channel (ms).
    pub fn renotify_ms(&self) -> i64 {
        (self.renotify_minutes.min(i64::MAX as u64) as i64).saturating_mul(60_000)
    }
}

/// Signature failures of one provider (and registry source) for one reason in the last
/// [`SIGNATURE_WINDOW_MS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCount {
    pub provider: String,
    /// The registry source's name for provider `in`; `""` otherwise.
    pub source: String,
    pub reason: String,
    pub count: u64,
}

/// Dead steps of one destination with one error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadGroup {
    pub destination: String,
    pub error: String,
    pub count: u64,
}

/// A backfill run that ingested events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRun {
    pub id: String,
    pub provider: String,
    pub ingested: u64,
    pub finished_at_ms: i64,
}

/// What the cron read, as of `now_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    pub now_ms: i64,
    pub signature_failures: Vec<FailureCount>,
    /// When each subject last delivered a verified request (ms), from the minute buckets: each
    /// provider as a whole and each registry source as `in:<source>` ([`last_seen`]).
    pub last_seen_ms: ByName<i64>,
    pub dead: Vec<DeadGroup>,
    /// Destinations whose circuit is open, with when it may close (ms).
    pub open_circuits: Vec<(String, i64)>,
    pub backfills: Vec<BackfillRun>,
    /// The database's size against `STORAGE_LIMIT_BYTES`; `None` when D1 did not say.
    pub storage: Option<StorageUse>,
}

/// The structured fields of an alert, for machines (the `http` body; stored as JSON in
/// `alerts.facts`): which of them a kind sets is listed in docs/contract.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Facts {
    pub provider: Option<String>,
    /// The registry source (provider `in`) a signature or silence alert is about.
    pub source: Option<String>,
    pub destination: Option<String>,
    /// The verification failure code (signature failures) or the step error code (dead steps).
    pub reason: Option<String>,
    /// Failures in the window, dead steps, or events a backfill recovered.
    pub count: Option<u64>,
    pub window_minutes: Option<u64>,
    pub silent_minutes: Option<u64>,
    pub quiet_minutes: Option<u64>,
    /// When an open circuit may close (Unix ms).
    pub open_until: Option<i64>,
    pub backfill_run: Option<String>,
    /// The database's size (storage alerts, bytes).
    pub bytes_used: Option<u64>,
    /// `STORAGE_LIMIT_BYTES` (storage alerts).
    pub bytes_limit: Option<u64>,
}

impl Facts {
    /// The stored form (`alerts.facts`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Read the stored form; a missing or unreadable one (an alert fired before migration
    /// 0013) is empty, as is one with a field of another type (`null` is an absent field).
    /// Read through a `Value`, not a derived `Deserialize` (the wasm's per-type reader,
    /// BENCHMARKS.md issue 25).
    pub fn from_json(text: Option<&str>) -> Facts {
        text.and_then(|t| serde_json::from_str(t).ok())
            .and_then(|value: serde_json::Value| Facts::from_object(value.as_object()?))
            .unwrap_or_default()
    }

    fn from_object(object: &serde_json::Map<String, serde_json::Value>) -> Option<Facts> {
        use serde_json::Value;
        // `Some(None)`: absent or null; `None`: present with another type.
        fn field<T>(
            object: &serde_json::Map<String, Value>,
            name: &str,
            read: fn(&Value) -> Option<T>,
        ) -> Option<Option<T>> {
            match object.get(name) {
                None | Some(Value::Null) => Some(None),
                Some(value) => read(value).map(Some),
            }
        }
        let text = |name| field(object, name, |v| v.as_str().map(str::to_string));
        let count = |name| field(object, name, Value::as_u64);
        Some(Facts {
            provider: text("provider")?,
            source: text("source")?,
            destination: text("destination")?,
            reason: text("reason")?,
            count: count("count")?,
            window_minutes: count("window_minutes")?,
            silent_minutes: count("silent_minutes")?,
            quiet_minutes: count("quiet_minutes")?,
            open_until: field(object, "open_until", Value::as_i64)?,
            backfill_run: text("backfill_run")?,
            bytes_used: count("bytes_used")?,
            bytes_limit: count("bytes_limit")?,
        })
    }
}

/// When each subject last sent, from `(provider, source, minute end in ms)` rows: a provider
/// as a whole (the latest of its rows, whatever the source) and each registry source on its own
/// (`in:<source>`, see [`crate::metrics::subject`]).
pub fn last_seen(rows: impl IntoIterator<Item = (String, String, i64)>) -> ByName<i64> {
    let mut seen = ByName::new();
    let mut note = |subject: &str, ms: i64| {
        let latest = seen.entry(subject);
        *latest = ms.max(*latest);
    };
    for (provider, source, ms) in rows {
        note(&provider, ms);
        if !source.is_empty() {
            note(&crate::metrics::subject(&provider, &source), ms);
        }
    }
    seen
}

/// A condition that holds now: an alert of `kind` for `key` should be open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: AlertKind,
    pub key: String,
    pub detail: String,
    pub facts: Facts,
}

/// A stored alert that has not cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub key: String,
    pub detail: String,
}
