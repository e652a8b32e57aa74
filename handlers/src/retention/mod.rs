//! How long edgehooks keeps what it stored, what it may never delete, and what it must remember
//! once a row is gone. `RETENTION_DAYS` (at least one day) bounds the life of events, their steps
//! and attempts; the sweeper deletes rows past it in bounded batches ([`budget`]: several
//! transactions per cron tick within a row budget), and never the rows (nor the payload) of an
//! event that still has a step outside [`DONE_STEP_STATUSES`] (waiting, running or `dead`: an
//! admin must be able to see and redrive it). Deleting an event leaves a small tombstone of its
//! dedupe keys for a window per provider ([`tombstones`]), so a redelivery after retention is
//! still a duplicate. Every cleanup of a sweep runs on its own ([`cleanup`]): one failing never
//! skips the others. The statements are [`sql`] (tested against the migrations); how close the
//! database is to D1's size limit is [`storage`]. Data-request exports expire after
//! [`EXPORT_TTL_MS`].

pub mod budget;
pub mod cleanup;
pub mod sql;
pub mod storage;
pub mod tombstones;

#[cfg(test)]
mod sql_tests;

use crate::settings::table::RETENTION_DAYS as RETENTION_SETTING;
use crate::settings::{number, Config, ConfigError};
use crate::steps::lifecycle::{sql_in, StepStatus, FINISHED};

pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// A shorter retention could delete an event before its steps had a chance to finish.
pub const MIN_RETENTION_DAYS: u64 = 1;
/// A data-request export is kept this long for the shop owner, then dropped.
pub const EXPORT_TTL_MS: i64 = 30 * 86_400_000;

/// Step statuses that are finished for good: the lifecycle's [`FINISHED`]. `dead` is not: it
/// waits for an admin.
pub const DONE_STEP_STATUSES: [StepStatus; 3] = FINISHED;

/// `('succeeded', 'skipped', 'skipped_stale')`, for `status IN …` / `NOT IN …`.
pub fn done_statuses_sql() -> String {
    sql_in(&DONE_STEP_STATUSES)
}

/// `RETENTION_DAYS`: a whole number of days, at least [`MIN_RETENTION_DAYS`].
pub fn retention_days(raw: Option<&str>) -> Result<u64, ConfigError> {
    let days = number(RETENTION_SETTING, raw, DEFAULT_RETENTION_DAYS)?;
    if days < MIN_RETENTION_DAYS {
        return Err(ConfigError {
            setting: RETENTION_SETTING,
            detail: format!("must be at least {MIN_RETENTION_DAYS} day"),
        });
    }
    Ok(days)
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `RETENTION_DAYS` (at least one day), for the sweeper.
    pub fn retention_days(&self) -> Result<u64, ConfigError> {
        retention_days(self.raw(RETENTION_SETTING).as_deref())
    }
}

/// Rows received before this time (Unix ms) are past retention.
pub fn cutoff_ms(now_ms: i64, days: u64) -> i64 {
    let span = i64::try_from(days)
        .unwrap_or(i64::MAX)
        .saturating_mul(86_400_000);
    now_ms.saturating_sub(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_at_least_one_day() {
        assert_eq!(retention_days(None), Ok(30));
        assert_eq!(retention_days(Some(" 1 ")), Ok(1));
        let zero = retention_days(Some("0")).unwrap_err();
        assert_eq!(zero.setting, "RETENTION_DAYS");
        assert!(zero.detail.contains("at least 1"));
        assert!(retention_days(Some("-3")).is_err());
    }

    #[test]
    fn cutoff_and_done_statuses() {
        assert_eq!(cutoff_ms(10 * 86_400_000, 3), 7 * 86_400_000);
        assert_eq!(cutoff_ms(0, u64::MAX), -i64::MAX, "saturates, never wraps");
        assert_eq!(
            done_statuses_sql(),
            "('succeeded', 'skipped', 'skipped_stale')"
        );
        assert!(!DONE_STEP_STATUSES.contains(&StepStatus::Dead));
    }
}
