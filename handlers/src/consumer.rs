//! What the queue consumer reads: the retry policy, the downstream call timeout (refused when a
//! call that long could outlive the running lease), the circuit's cool-down override and the
//! stored events a privacy deletion scans per run, the page size of a paused destination's
//! drain and the built-in destinations' request budgets (`RATE_LIMITS_JSON`). It sits above [`crate::steps`] and [`crate::connections`], whose settings it gathers
//! for the one consumer that uses them all.

use crate::settings::table::*;
use crate::settings::{Config, ConfigError};
use crate::steps::limits::budgets::Budgets;
use crate::steps::limits::Wait;
use crate::steps::recovery::record_retries_fit;
use crate::steps::retry::RetryPolicy;

/// Consumer settings: retry policy, downstream timeout, and the circuit's cool-down when
/// `CIRCUIT_COOL_DOWN_SECONDS` overrides the per-destination default.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    pub policy: RetryPolicy,
    pub timeout_ms: u64,
    pub cool_down_ms: Option<i64>,
    /// `PRIVACY_PAGE_EVENTS`: stored events a privacy request (HubSpot deletion, Shopify redact
    /// or export) scans per pass and run (at least 1; see `crate::privacy`).
    pub privacy_page_events: u64,
    /// Parked steps one release of a drain sends (`DRAIN_PAGE_SIZE`, within 1..=100).
    pub drain_page: u32,
    /// The built-in destinations' request budgets (`RATE_LIMITS_JSON` over the published ones).
    pub budgets: Budgets,
}

/// How a step waits while the consumer's settings are broken: `enqueued` with this reason in
/// D1 and looked at again after `secs` from a fresh message (a wait, never a Queues retry, so
/// `max_retries` does not end it), so that fixing the setting lets it run.
pub const MISCONFIGURED_WAIT: Wait = Wait {
    secs: 300,
    reason: "misconfigured",
};

/// Time allowed for the D1 round trips of an attempt's record and its retries.
const RECORD_ROUND_TRIPS_MS: i64 = 60_000;

impl<L: Fn(&str) -> Option<String>> Config<L> {
    pub fn consumer(&self) -> Result<ConsumerSettings, ConfigError> {
        let max_attempts = self.number(MAX_ATTEMPTS)?;
        Ok(ConsumerSettings {
            policy: RetryPolicy {
                base_secs: self.number(RETRY_BASE_SECONDS)?,
                cap_secs: RetryPolicy::default().cap_secs,
                max_attempts: u32::try_from(max_attempts.max(1)).unwrap_or(u32::MAX),
            },
            timeout_ms: self.call_timeout_ms()?,
            cool_down_ms: self.cool_down_ms()?,
            privacy_page_events: self.number(PRIVACY_PAGE_EVENTS)?.max(1),
            drain_page: self.drain_page_size()?,
            budgets: self.budgets()?,
        })
    }

    /// `RATE_LIMITS_JSON`: budgets replacing the published ones, by destination.
    fn budgets(&self) -> Result<Budgets, ConfigError> {
        let text = self.text(RATE_LIMITS_JSON).unwrap_or_default();
        Budgets::parse(&text).map_err(|e| ConfigError {
            setting: RATE_LIMITS_JSON,
            detail: if e.field.is_empty() {
                e.detail.to_string()
            } else {
                format!("`{}` {}", e.field, e.detail)
            },
        })
    }

    /// `DRAIN_PAGE_SIZE`, brought within 1..=100 (one `sendBatch`).
    pub fn drain_page_size(&self) -> Result<u32, ConfigError> {
        Ok(crate::connections::drain::page_size(
            self.number(DRAIN_PAGE_SIZE)?,
        ))
    }

    /// `DOWNSTREAM_TIMEOUT_MS`, refused when a call that long plus the in-place retries of its
    /// record would outlive the running lease (then another delivery could run the step again
    /// while this one still holds it).
    fn call_timeout_ms(&self) -> Result<u64, ConfigError> {
        let timeout_ms = self.number(DOWNSTREAM_TIMEOUT_MS)?;
        if !record_retries_fit(timeout_ms, self.running_lease_ms, RECORD_ROUND_TRIPS_MS) {
            return Err(ConfigError {
                setting: DOWNSTREAM_TIMEOUT_MS,
                detail: "must leave time to record the attempt within the 15-minute running lease"
                    .into(),
            });
        }
        Ok(timeout_ms)
    }

    /// `CIRCUIT_COOL_DOWN_SECONDS` in ms; `None` (the per-destination default) when unset.
    fn cool_down_ms(&self) -> Result<Option<i64>, ConfigError> {
        if self.text(CIRCUIT_COOL_DOWN_SECONDS).is_none() {
            return Ok(None);
        }
        let secs = self.number(CIRCUIT_COOL_DOWN_SECONDS)?;
        Ok(Some(
            i64::try_from(secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        ))
    }
}
