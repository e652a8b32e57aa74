//! How much the worker writes to the console (`LOG_LEVEL`), and the level of each line it can
//! write. D1 is the record of every accepted event and every step attempt (the admin API reads
//! them there), so a line per accepted request or per successful step repeats what D1 holds:
//! those are `info`. What D1 does not hold, or what needs someone's attention, is `warn`
//! (forged or refused requests, failed attempts that will be retried, alerts, work the sweeper
//! had to recover) or `error` (5xx answers, dead steps, storage and configuration failures).
//! The default, `warn`, keeps the console (and Workers Logs, billed per line) for what matters;
//! `info` adds one line per request and per step attempt, for debugging and tests.

use crate::settings::table::LOG_LEVEL;
use crate::settings::{Config, ConfigError};

/// A line's level, and the threshold `LOG_LEVEL` sets (a line is written when its level is at
/// or above the threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// The threshold when `LOG_LEVEL` is unset or blank.
pub const DEFAULT: LogLevel = LogLevel::Warn;

impl LogLevel {
    /// `info`, `warn` or `error` (any case; `debug` reads as `info`, `warning` as `warn`).
    /// `None` for anything else.
    pub fn parse(value: &str) -> Option<LogLevel> {
        match value.trim().to_ascii_lowercase().as_str() {
            "debug" | "info" => Some(LogLevel::Info),
            "warn" | "warning" => Some(LogLevel::Warn),
            "error" => Some(LogLevel::Error),
            _ => None,
        }
    }

    /// The threshold a configured value sets: unset or blank is [`DEFAULT`]; a value that is
    /// not a level logs everything (a typo must not hide lines).
    pub fn threshold(value: Option<&str>) -> LogLevel {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT,
            Some(v) => LogLevel::parse(v).unwrap_or(LogLevel::Info),
        }
    }

    /// Whether a line of this level is written under `threshold`.
    pub fn passes(self, threshold: LogLevel) -> bool {
        self >= threshold
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// An ingest request's line by the status it was answered with: 2xx/3xx are in D1 (`info`),
/// 4xx were refused and are not (`warn`), 5xx need attention (`error`).
pub fn request_level(status: u16) -> LogLevel {
    match status {
        500.. => LogLevel::Error,
        400..=499 => LogLevel::Warn,
        _ => LogLevel::Info,
    }
}

/// A step attempt's line by its outcome (the step's status after it, or `deferred`) and whether
/// it carries an error code: done, skipped or put off is in D1 (`info`), an attempt that failed
/// and will be retried (still unfinished, with an error) is `warn`, a step that ended `dead` is
/// `error`.
pub fn step_level(outcome: &str, has_error: bool) -> LogLevel {
    match outcome {
        "dead" => LogLevel::Error,
        "pending" | "enqueued" | "running" if has_error => LogLevel::Warn,
        _ => LogLevel::Info,
    }
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `LOG_LEVEL`: the threshold of console lines (see [`crate::log_level`]); a value that is
    /// not a level logs everything (`/health` names the setting).
    pub fn log_level(&self) -> LogLevel {
        LogLevel::threshold(self.raw(LOG_LEVEL).as_deref())
    }

    /// `LOG_LEVEL` checked: an error when it is set to something that is not a level.
    pub fn log_level_checked(&self) -> Result<LogLevel, ConfigError> {
        match self.text(LOG_LEVEL) {
            None => Ok(DEFAULT),
            Some(v) => LogLevel::parse(&v).ok_or(ConfigError {
                setting: LOG_LEVEL,
                detail: "must be info, warn or error".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_their_aliases() {
        assert_eq!(LogLevel::parse("INFO"), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse(" debug "), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse("Warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("error"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("verbose"), None);
    }

    #[test]
    fn the_table_default_is_the_default_level() {
        let default = crate::settings::table::default_of(LOG_LEVEL);
        assert_eq!(LogLevel::parse(default), Some(DEFAULT));
    }

    #[test]
    fn unset_is_the_default_and_a_typo_logs_everything() {
        assert_eq!(LogLevel::threshold(None), LogLevel::Warn);
        assert_eq!(LogLevel::threshold(Some("  ")), LogLevel::Warn);
        assert_eq!(LogLevel::threshold(Some("eror")), LogLevel::Info);
        assert_eq!(LogLevel::threshold(Some("error")), LogLevel::Error);
    }

    #[test]
    fn a_line_passes_at_or_above_the_threshold() {
        assert!(LogLevel::Warn.passes(LogLevel::Info));
        assert!(LogLevel::Warn.passes(LogLevel::Warn));
        assert!(!LogLevel::Info.passes(LogLevel::Warn));
        assert!(!LogLevel::Warn.passes(LogLevel::Error));
        assert!(LogLevel::Error.passes(LogLevel::Error));
    }

    #[test]
    fn requests_are_levelled_by_status() {
        assert_eq!(request_level(200), LogLevel::Info);
        assert_eq!(request_level(401), LogLevel::Warn);
        assert_eq!(request_level(413), LogLevel::Warn);
        assert_eq!(request_level(503), LogLevel::Error);
    }

    #[test]
    fn step_attempts_are_levelled_by_outcome() {
        // Skips and deferrals carry their reason in the error field: still `info`.
        for quiet in ["succeeded", "skipped", "skipped_stale", "deferred"] {
            assert_eq!(step_level(quiet, true), LogLevel::Info, "{quiet}");
            assert_eq!(step_level(quiet, false), LogLevel::Info, "{quiet}");
        }
        assert_eq!(step_level("enqueued", false), LogLevel::Info);
        assert_eq!(step_level("enqueued", true), LogLevel::Warn);
        assert_eq!(step_level("dead", false), LogLevel::Error);
    }
}
