//! The storage check of the health answers: whether the database has reached 80% of
//! `STORAGE_LIMIT_BYTES` ([`ALERT_AT_PERCENT`], the `storage_high` alert's threshold). The size
//! is D1's own `meta.size_after` of the cheapest statement there is (the cron's size probe,
//! `SELECT 1`: no table read), so `/health`, polled often, costs one trivial D1 call. A high
//! database is still serving, so it makes the overall status `degraded`, not `misconfigured`;
//! an unknown size (D1 unread or silent) leaves the status to the configuration checks. The
//! admin detail carries the check with its figures; the public `/health` says only the status.

use serde_json::{json, Value};

use crate::retention::storage::{StorageUse, ALERT_AT_PERCENT};
use crate::settings::ConfigError;

/// The check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageState {
    Ok,
    /// At 80% of the limit or more: serving, degraded.
    High,
    /// D1 could not be read, or gave no size.
    Unknown,
    /// `STORAGE_LIMIT_BYTES` is 0: no storage check.
    Disabled,
    /// `STORAGE_LIMIT_BYTES` does not parse (the problem is listed under `misconfigured`).
    Misconfigured,
}

impl StorageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageState::Ok => "ok",
            StorageState::High => "high",
            StorageState::Unknown => "unknown",
            StorageState::Disabled => "disabled",
            StorageState::Misconfigured => "misconfigured",
        }
    }
}

/// The storage check: its state and the figures it was decided from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageCheck {
    pub state: StorageState,
    pub bytes_used: Option<u64>,
    pub limit_bytes: Option<u64>,
}

/// Whether the check needs the database's size at all (not when it is off or misconfigured):
/// the shell skips the D1 call otherwise.
pub fn needs_size(limit: &Result<u64, ConfigError>) -> bool {
    matches!(limit, Ok(limit_bytes) if *limit_bytes > 0)
}

impl StorageCheck {
    /// Decide from the configured limit and the size read (`None`: unread or unreported).
    pub fn new(limit: Result<u64, ConfigError>, bytes_used: Option<u64>) -> Self {
        let limit_bytes = limit.as_ref().ok().copied();
        let state = match (limit, bytes_used) {
            (Err(_), _) => StorageState::Misconfigured,
            (Ok(0), _) => StorageState::Disabled,
            (Ok(_), None) => StorageState::Unknown,
            (Ok(limit_bytes), Some(bytes_used)) => {
                let usage = StorageUse {
                    bytes_used,
                    limit_bytes,
                };
                match usage.reaches(ALERT_AT_PERCENT) {
                    true => StorageState::High,
                    false => StorageState::Ok,
                }
            }
        };
        StorageCheck {
            state,
            bytes_used,
            limit_bytes,
        }
    }

    /// The admin detail: `{state, bytes_used, limit_bytes, percent, alert_at_percent}`
    /// (`null` where not known).
    pub fn to_json(&self) -> Value {
        let percent = match (self.bytes_used, self.limit_bytes) {
            (Some(bytes_used), Some(limit_bytes)) => StorageUse {
                bytes_used,
                limit_bytes,
            }
            .percent(),
            _ => None,
        };
        json!({
            "state": self.state.as_str(),
            "bytes_used": self.bytes_used,
            "limit_bytes": self.limit_bytes,
            "percent": percent,
            "alert_at_percent": ALERT_AT_PERCENT,
        })
    }
}

/// The overall status: `misconfigured` when a configuration check fails (it stops work),
/// else `degraded` when storage is high (still serving), else `ok`.
pub fn overall_status(config_ok: bool, storage: &StorageCheck) -> &'static str {
    match (config_ok, storage.state) {
        (false, _) => "misconfigured",
        (true, StorageState::High) => "degraded",
        (true, _) => "ok",
    }
}

#[cfg(test)]
mod tests;
